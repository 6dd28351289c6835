//! Channel connectors: adapters behind the `Provider` port of `cascade_core::ports`,
//! delivering reports to its `ReportSink`: SMS over SMPP 3.4 ([`smpp`]), Viber through
//! providers' HTTP APIs ([`http`]), and failover between the providers of a channel.
//!
//! This crate depends on the domain, the SMPP protocol crate and pacing only — never on the store,
//! the runtime or the API. The sandbox providers, which keep their state in the store,
//! live in `cascade-sandbox`.

pub mod http;
pub mod sip;
pub mod smpp;
