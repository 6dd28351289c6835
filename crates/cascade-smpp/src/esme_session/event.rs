//! What an ESME session reports: events, refusals, close reasons.

use std::time::Instant;

use crate::error::{DecodeError, EncodeError};
use crate::pdu::{AlertNotification, COctetString, CommandStatus, DataSm, DeliverSm, Pdu, TlvList};
use crate::receipt::DeliveryReceipt;

/// Where a session is in its life. Moves only forward:
/// `Binding → Bound → Unbinding → Closed` (any state may jump to `Closed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Bind sent, waiting for its response.
    Binding,
    /// Bound: submits are accepted.
    Bound,
    /// Unbind sent, waiting for its response; no new submits.
    Unbinding,
    /// Over. Flush `poll_transmit`, then close the socket.
    Closed,
}

/// Something the owner of an [`EsmeSession`](super::EsmeSession) must know about, drained
/// with `poll_event`. `Closed` is always the last event of a session, and comes once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EsmeEvent {
    /// The bind succeeded.
    Bound {
        /// The SMSC's `system_id`.
        system_id: COctetString,
        /// The `sc_interface_version` TLV, when the SMSC sent one.
        sc_interface_version: Option<u8>,
    },
    /// The SMSC refused the bind (or answered it with `generic_nack`). `Closed` follows.
    BindFailed {
        /// The SMSC's reason.
        status: CommandStatus,
    },
    /// `submit_sm` `seq` was accepted.
    Submitted {
        /// The sequence number `submit` returned.
        seq: u32,
        /// The SMSC's id: receipts refer to it (see
        /// [`MessageIdForm`](crate::receipt::MessageIdForm)).
        message_id: COctetString,
    },
    /// `submit_sm` `seq` was refused for good (any status but the two throttling ones), or
    /// answered with `generic_nack`.
    SubmitRejected {
        /// The sequence number.
        seq: u32,
        /// The SMSC's reason.
        status: CommandStatus,
    },
    /// `submit_sm` `seq` was refused with `ESME_RTHROTTLED` or `ESME_RMSGQFUL`: it was not
    /// taken. New submits return `Paused` until `until`; resubmit it then. `Resumed` marks
    /// the end of the pause.
    Throttled {
        /// The sequence number.
        seq: u32,
        /// `ESME_RTHROTTLED` or `ESME_RMSGQFUL`.
        status: CommandStatus,
        /// End of the pause.
        until: Instant,
    },
    /// The pause after a throttling response is over.
    Resumed,
    /// No response to `submit_sm` `seq` within `response_timeout`. **Outcome unknown**: the
    /// SMSC may have taken it, and a late response comes as `UnexpectedResponse`.
    /// Resubmitting risks a duplicate.
    SubmitTimedOut {
        /// The sequence number.
        seq: u32,
    },
    /// The session closed while `submit_sm` `seq` was in flight. **Outcome unknown**, as
    /// for `SubmitTimedOut`. One event per in-flight submit, just before `Closed`.
    SubmitAborted {
        /// The sequence number.
        seq: u32,
    },
    /// A delivery receipt (`deliver_sm` or `data_sm` with the receipt bits). Already
    /// answered with `ESME_ROK`.
    Receipt {
        /// Text and TLVs merged.
        receipt: DeliveryReceipt,
        /// The PDU it came in.
        message: IncomingMessage,
    },
    /// A mobile-originated message. Already answered with `ESME_ROK`.
    MobileOriginated {
        /// The PDU it came in.
        message: IncomingMessage,
    },
    /// An `alert_notification` (no response exists for it).
    Alert {
        /// Its body.
        alert: AlertNotification,
    },
    /// No PDU (not even an `enquire_link_resp`) arrived within `enquire_link_timeout` of an
    /// `enquire_link`. `Closed` follows.
    LinkLost,
    /// Our `unbind` was answered. `Closed` follows.
    Unbound,
    /// The SMSC sent `unbind`; it has been answered. `Closed` follows.
    PeerUnbound,
    /// A `generic_nack` that matches nothing in flight.
    GenericNack {
        /// Its sequence number (the PDU it refers to).
        seq: u32,
        /// The SMSC's reason.
        status: CommandStatus,
    },
    /// A response with no request waiting for it (e.g. a `submit_sm_resp` after
    /// `SubmitTimedOut`: its `message_id` is still worth recording).
    UnexpectedResponse {
        /// The whole PDU.
        pdu: Pdu,
    },
    /// The peer sent something undecodable. A malformed request was answered with
    /// `generic_nack`; a fatal framing error closes the session.
    ProtocolError {
        /// What was wrong.
        error: DecodeError,
    },
    /// The session is over; see the reason. Flush `poll_transmit`, then close the socket.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a session closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The bind was refused (see `BindFailed`).
    BindFailed(CommandStatus),
    /// No bind response within `bind_timeout`.
    BindTimedOut,
    /// Our unbind was answered.
    Unbound,
    /// The peer unbound.
    PeerUnbound,
    /// No unbind response within `unbind_timeout`.
    UnbindTimedOut,
    /// `unbind` was called before the bind completed: closed without unbinding.
    Cancelled,
    /// The keep-alive went unanswered.
    LinkLost,
    /// The driver reported the connection gone (`handle_disconnect`).
    Disconnected,
    /// The peer broke the framing (`command_length` out of range).
    ProtocolViolation,
}

/// Why [`EsmeSession::submit`](super::EsmeSession::submit) did not send. Nothing was sent;
/// the message is still the caller's to place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitRefused {
    /// The window is full: wait for a `Submitted`/`SubmitRejected`/... event.
    #[error("window full")]
    WindowFull,
    /// Not bound (still binding, closed, or bound as receiver only).
    #[error("not bound for transmitting")]
    NotBound,
    /// Throttled or over the throughput cap: try again at `until`.
    #[error("paused until {until:?}")]
    Paused {
        /// When a submit may succeed.
        until: Instant,
    },
    /// Unbinding: this session takes no more submits.
    #[error("closing")]
    Closing,
    /// The PDU breaks an SMPP limit (field too long, ...).
    #[error("invalid submit_sm: {0}")]
    Invalid(EncodeError),
}

/// A message the SMSC pushed: `deliver_sm`, or `data_sm`, with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncomingMessage {
    /// Came as `deliver_sm`.
    DeliverSm {
        /// Its sequence number.
        seq: u32,
        /// Its body.
        pdu: DeliverSm,
    },
    /// Came as `data_sm`.
    DataSm {
        /// Its sequence number.
        seq: u32,
        /// Its body.
        pdu: DataSm,
    },
}

impl IncomingMessage {
    /// Sequence number of the PDU.
    pub fn seq(&self) -> u32 {
        match self {
            IncomingMessage::DeliverSm { seq, .. } | IncomingMessage::DataSm { seq, .. } => *seq,
        }
    }

    /// Originator address.
    pub fn source_addr(&self) -> &COctetString {
        match self {
            IncomingMessage::DeliverSm { pdu, .. } => &pdu.source_addr,
            IncomingMessage::DataSm { pdu, .. } => &pdu.source_addr,
        }
    }

    /// Type of number of the originator address (1: international).
    pub fn source_addr_ton(&self) -> u8 {
        match self {
            IncomingMessage::DeliverSm { pdu, .. } => pdu.source_addr_ton,
            IncomingMessage::DataSm { pdu, .. } => pdu.source_addr_ton,
        }
    }

    /// Recipient address.
    pub fn destination_addr(&self) -> &COctetString {
        match self {
            IncomingMessage::DeliverSm { pdu, .. } => &pdu.destination_addr,
            IncomingMessage::DataSm { pdu, .. } => &pdu.destination_addr,
        }
    }

    /// `esm_class`.
    pub fn esm_class(&self) -> u8 {
        match self {
            IncomingMessage::DeliverSm { pdu, .. } => pdu.esm_class,
            IncomingMessage::DataSm { pdu, .. } => pdu.esm_class,
        }
    }

    /// `data_coding`.
    pub fn data_coding(&self) -> u8 {
        match self {
            IncomingMessage::DeliverSm { pdu, .. } => pdu.data_coding,
            IncomingMessage::DataSm { pdu, .. } => pdu.data_coding,
        }
    }

    /// Message octets (`short_message`, else `message_payload`).
    pub fn message(&self) -> &[u8] {
        match self {
            IncomingMessage::DeliverSm { pdu, .. } => pdu.message(),
            IncomingMessage::DataSm { pdu, .. } => pdu.message(),
        }
    }

    /// Optional parameters.
    pub fn tlvs(&self) -> &TlvList {
        match self {
            IncomingMessage::DeliverSm { pdu, .. } => &pdu.tlvs,
            IncomingMessage::DataSm { pdu, .. } => &pdu.tlvs,
        }
    }
}
