//! The sandbox: providers that behave like real ones — ids at once, reports later,
//! matched by provider message id — with behaviour scripted by the scenario rules of
//! `/sandbox/scenarios` (`cascade_core::sandbox` decides which rule a send follows and
//! what it reports).
//!
//! - [`SandboxProvider`]: Viber and Voice steps, behind the same `Provider` port the real
//!   connectors implement; [`run_reporter_until_stopped`] delivers the reports they owe.
//! - [`SmscSimulator`]: the sandbox SMSC, an SMPP 3.4 server on loopback that Cascade's
//!   own SMPP connector binds to (so sandbox SMS take the production path), as can any
//!   other ESME.
//!
//! Their state — the rules, what they received, the reports they still owe — lives in the
//! store, so a restart of Cascade does not make the "provider" forget a report, just as a
//! real provider would retry its webhook. This is the only adapter that needs the store.

mod provider;
mod reporter;
mod smsc;

pub use provider::{SandboxProvider, provider_name};
pub use reporter::run_reporter_until_stopped;
pub use smsc::{PROVIDER_PREFIX as SIMULATOR_PROVIDER_PREFIX, SmscSimulator};
