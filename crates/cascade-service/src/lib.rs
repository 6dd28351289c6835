//! Cascade's application services, between the HTTP API and the store:
//!
//! - [`runtime`]: drives the pure engine — hands submit jobs to providers, fires durable
//!   timers, takes provider reports in.
//! - [`tenancy`]: accounts, applications, Viber senders (used by the admin API and CLI).
//! - [`credentials`]: secrets, access tokens and the admin token.

pub mod clock;
pub mod credentials;
pub mod leases;
pub mod runtime;
pub mod tenancy;

pub use runtime::{Runtime, RuntimeConfig};
