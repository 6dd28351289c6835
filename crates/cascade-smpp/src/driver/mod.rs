//! Tokio drivers for the sans-IO sessions (feature `tokio`).
//!
//! - [`EsmeClient`]: one ESME bind over TCP or TLS. It owns the socket, runs the
//!   [`EsmeSession`](crate::EsmeSession) loop, queues submits the window or a throttling pause
//!   cannot take yet, and reconnects with capped back-off until shut down. Callers hold a
//!   cheap `Clone` handle; every `submit` resolves with the final fate of that one
//!   `submit_sm`.
//! - [`SmscServer`]: an SMPP server for the SMSC simulator: a listener plus one
//!   [`SmscSession`](crate::SmscSession) task per connection, reporting binds and submits as
//!   [`ServerEvent`]s and taking the owner's answers through its handle.
//!
//! Both drivers only move bytes and time; every protocol decision stays in the sessions.
//! Time comes from tokio's clock (`tokio::time::Instant::now()`, converted to
//! `std::time::Instant`), so deadlines given to the drivers must come from the same clock;
//! the two agree unless a test pauses tokio's time.

mod client;
mod server;
mod transport;

use std::time::Instant;

pub use client::{
    AckError, BindState, ClientEvent, ClientOptions, ClientStats, ConfigError, ConnSeq, EsmeClient,
    ShutdownOutcome, Submission, SubmitError, SubmitOptions, SubmitOutcome,
};
pub use server::{ConnId, DeliverOutcome, Delivery, ServerError, ServerEvent, SmscServer};
pub use transport::Target;

/// The `rustls` the drivers are built with, for callers that bring their own TLS
/// configuration ([`ClientOptions::tls_config`], [`SmscServer::bind_tls`]).
pub use rustls;

/// Now, on tokio's clock (which `tokio::time::pause` controls in tests).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A `sleep_until` target for an optional wake-up; callers disable the branch when `None`.
fn sleep_target(at: Option<Instant>) -> tokio::time::Instant {
    tokio::time::Instant::from_std(at.unwrap_or_else(now))
}

/// The earliest of some optional instants.
fn earliest(times: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    times.into_iter().flatten().min()
}
