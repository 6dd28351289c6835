//! SMPP 3.4 protocol core for Cascade: bytes in, bytes out.
//!
//! This crate never touches a socket, a clock or a runtime. It has four parts:
//!
//! - [`pdu`] — the SMPP 3.4 PDUs, one file per command family, behind the dispatching
//!   [`Pdu`]/[`PduBody`] pair. Unknown command ids decode to [`PduBody::Unknown`] instead of
//!   failing.
//! - [`codec`] — [`decode`] (`Ok(None)` means "need more bytes") and [`encode`]. Errors name
//!   the field that failed ([`DecodeError`], [`FieldError`], [`EncodeError`]).
//! - [`receipt`] — tolerant parsing of the Appendix B delivery-receipt text, merged with the
//!   receipt TLVs, and message-id normalisation (hex vs decimal, case, leading zeros).
//! - [`esme_session`] and [`smsc_session`] — sans-IO state machines for the client (ESME) and
//!   the server (SMSC, for the simulator). Inputs are `handle_*` calls, outputs are drained
//!   with `poll_*` calls; time is passed in as [`std::time::Instant`] and only moves forward.
//!
//! A thin driver (tokio or anything else) owns the socket and runs the loop described on
//! [`EsmeSession`]. With the `tokio` feature, [`driver`] is that driver: `EsmeClient`
//! (TCP/TLS, submit queue, reconnects) and `SmscServer` (for the simulator).

#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]
#![warn(missing_docs)]

pub mod codec;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod error;
pub mod esme_session;
mod link;
pub mod pdu;
pub mod receipt;
mod sequence;
pub mod smsc_session;
mod timer;
pub mod vendor_tlv;
mod window;

pub use codec::{DEFAULT_MAX_PDU_LEN, decode, encode};
pub use error::{AnswerError, DecodeError, EncodeError, FieldError};
pub use esme_session::{
    CloseReason, EsmeConfig, EsmeEvent, EsmeSession, IncomingMessage, SessionState, SubmitRefused,
    ThroughputLimit,
};
pub use pdu::{
    BindMode, COctetString, CommandId, CommandStatus, Header, Pdu, PduBody, Tlv, TlvList,
};
pub use receipt::{DeliveryReceipt, MessageIdForm, ReceiptState};
pub use smsc_session::{BindPolicy, DeliverRefused, SmscConfig, SmscEvent, SmscSession};
