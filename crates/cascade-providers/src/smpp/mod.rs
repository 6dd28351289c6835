//! SMS over SMPP 3.4: the ESME side.
//!
//! - [`SmscConnection`] ([`connection`]): one configured SMSC and its binds
//!   (`cascade_smpp::driver::EsmeClient`); its submit path ([`submit_path`]) turns a step
//!   into `submit_sm` PDUs ([`submit`]) and remembers parts already accepted; what its binds
//!   receive ([`events`]) — delivery receipts become reports ([`receipt`]), acknowledged only
//!   once recorded.
//! - [`SmppProvider`] ([`provider`]): the connector on its own, routing each SMS step to an SMSC; the server puts its SMSCs in a `ChannelProviders` instead (failover between them).
//! - [`metrics`]: per-bind state and counters for `/metrics`; [`latency`]: submit times for
//!   the submit → receipt latency.

mod connection;
mod events;
mod latency;
pub mod metrics;
mod provider;
pub mod receipt;
pub mod recovery;
pub mod settings;
pub mod submit;
mod submit_path;

pub use connection::SmscConnection;
pub use provider::SmppProvider;
pub use settings::{BindModeSetting, Gsm7Coding, LongMessages, ReceiptIds, SmscSettings};
