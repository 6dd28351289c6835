//! What an SMSC session reports.

use crate::error::{DecodeError, EncodeError};
use crate::esme_session::CloseReason;
use crate::pdu::{Bind, BindMode, CommandStatus, DataSm, Pdu, SubmitSm};

/// Something the owner of an [`SmscSession`](super::SmscSession) must act on or know,
/// drained with `poll_event`. `Closed` is always the last event, and comes once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmscEvent {
    /// (`BindPolicy::Manual` only.) An ESME asks to bind: answer with `accept_bind` or
    /// `reject_bind`.
    BindRequested {
        /// Which bind.
        mode: BindMode,
        /// Its fields (`Debug` hides the password).
        bind: Bind,
    },
    /// The ESME is bound.
    Bound {
        /// Which bind.
        mode: BindMode,
        /// Its fields.
        bind: Bind,
    },
    /// A bind was refused (the ESME may try again on the same connection).
    BindRejected {
        /// Which bind.
        mode: BindMode,
        /// The status sent.
        status: CommandStatus,
    },
    /// A `submit_sm`: answer it with `accept(seq, message_id)` or `reject(seq, status)`.
    SubmitReceived {
        /// Its sequence number, the key for `accept`/`reject`.
        seq: u32,
        /// The PDU body.
        submit: SubmitSm,
    },
    /// A `data_sm` from the ESME: answer it like a submit.
    DataSmReceived {
        /// Its sequence number.
        seq: u32,
        /// The PDU body.
        data: DataSm,
    },
    /// The ESME acknowledged `deliver_sm` `seq` with `ESME_ROK`.
    DeliverAcked {
        /// The sequence number `send_deliver_sm` returned.
        seq: u32,
    },
    /// The ESME answered `deliver_sm` `seq` with an error (or `generic_nack`).
    DeliverRejected {
        /// The sequence number.
        seq: u32,
        /// The ESME's reason.
        status: CommandStatus,
    },
    /// No answer to `deliver_sm` `seq` within `response_timeout`.
    DeliverTimedOut {
        /// The sequence number.
        seq: u32,
    },
    /// The session closed while `deliver_sm` `seq` was unanswered.
    DeliverAborted {
        /// The sequence number.
        seq: u32,
    },
    /// Nothing arrived within `enquire_link_timeout` of an `enquire_link`. `Closed` follows.
    LinkLost,
    /// Our `unbind` was answered. `Closed` follows.
    Unbound,
    /// The ESME unbound; it has been answered. `Closed` follows.
    PeerUnbound,
    /// A `generic_nack` that matches nothing in flight.
    GenericNack {
        /// Its sequence number.
        seq: u32,
        /// The ESME's reason.
        status: CommandStatus,
    },
    /// A response with no request waiting for it.
    UnexpectedResponse {
        /// The whole PDU.
        pdu: Pdu,
    },
    /// The ESME sent something undecodable (answered with `generic_nack` when possible).
    ProtocolError {
        /// What was wrong.
        error: DecodeError,
    },
    /// The session is over. Flush `poll_transmit`, then close the socket.
    Closed {
        /// Why (same reasons as the ESME side; `BindTimedOut` means the ESME never bound).
        reason: CloseReason,
    },
}

/// Why [`SmscSession::send_deliver_sm`](super::SmscSession::send_deliver_sm) did not send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliverRefused {
    /// Not bound, or bound as transmitter only.
    #[error("ESME not bound for receiving")]
    NotBound,
    /// Too many `deliver_sm` unanswered.
    #[error("window full")]
    WindowFull,
    /// Unbinding.
    #[error("closing")]
    Closing,
    /// The PDU breaks an SMPP limit.
    #[error("invalid deliver_sm: {0}")]
    Invalid(EncodeError),
}
