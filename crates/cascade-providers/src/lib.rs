//! Channel connectors: adapters behind the `Provider` port of `cascade_core::ports`,
//! delivering reports to its `ReportSink`. Today: SMS over SMPP 3.4 ([`smpp`]).
//!
//! This crate depends on the domain and the SMPP protocol crate only — never on the store,
//! the runtime or the API. The sandbox providers, which keep their state in the store,
//! live in `cascade-sandbox`.

pub mod smpp;
