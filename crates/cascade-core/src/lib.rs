//! Cascade's domain and engine. Pure code only: nothing here reads a clock, touches a
//! socket or a file. Time comes in as an argument ([`Clock`] is only the interface the
//! runtime's clocks implement); effects go out as commands. The ports the connectors
//! implement ([`ports`]) are declared here so that the runtime and the connectors depend
//! on the domain, never on each other.

pub mod address;
pub mod callback_policy;
pub mod callbacks;
pub mod channel;
pub mod fields;
pub mod flow;
pub mod idempotency;
pub mod ids;
pub mod inbound;
pub mod machines;
pub mod money;
pub mod ports;
pub mod pricing;
pub mod reasons;
pub mod sandbox;
pub mod search;
pub mod sip_outcome;
pub mod sms;
pub mod time;
pub mod tracking;
pub mod ttl;

pub use address::{Msisdn, SenderId, SipUri};
pub use channel::{Channel, StatusKind};
pub use ids::FlowId;
pub use money::Micros;
pub use time::{Clock, Timestamp};

/// An error and its sources on one line (`a: b: c`), for logs and timeline details.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
