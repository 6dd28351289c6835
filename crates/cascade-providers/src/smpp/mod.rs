//! SMS over SMPP 3.4.
//!
//! - [`SmscConnection`] / [`SmppProvider`]: the ESME side. Each configured SMSC gets its
//!   binds (`cascade_smpp::driver::EsmeClient`); SMS steps are routed to an SMSC by
//!   destination prefix, turned into `submit_sm` PDUs ([`submit`]), and the SMSC's
//!   delivery receipts become reports ([`receipt`]), acknowledged only once recorded.
//! - [`SmscSimulator`]: the sandbox's SMSC, an SMPP server scripted by the scenario rules.
//! - [`metrics`]: per-bind state and counters in the Prometheus text format.

mod connector;
pub mod metrics;
pub mod receipt;
pub mod settings;
mod simulator;
pub mod submit;

pub use connector::{SmppProvider, SmscConnection};
pub use settings::{BindModeSetting, Gsm7Coding, LongMessages, ReceiptIds, Routes, SmscSettings};
pub use simulator::{PROVIDER_PREFIX as SIMULATOR_PROVIDER_PREFIX, SmscSimulator};

/// Vendor-specific TLVs (SMPP 3.4 reserves 0x1400–0x3FFF for them) with which the sandbox
/// SMSC passes a scenario's texts along with a receipt. Cascade reads them only from its
/// own simulator: a real SMSC may use the same tags for something else.
pub mod vendor_tlv {
    /// The scenario event's `detailedStatus` (C-octet string).
    pub const DETAILED_STATUS: u16 = 0x1501;
    /// The scenario event's `description` (C-octet string).
    pub const DESCRIPTION: u16 = 0x1502;
    /// The scenario's `operator` (C-octet string).
    pub const OPERATOR: u16 = 0x1503;
    /// Sent by Cascade's connector to the simulator only: Cascade's message id (C-octet
    /// string), so that a resend after a restart is recognised as the same message — the
    /// idempotent submit real SMSCs do not offer.
    pub const CLIENT_REF: u16 = 0x1504;
}
