//! What a client call returns: submit fates, errors, and the shutdown outcome.

use std::fmt;
use std::time::Instant;

use crate::error::EncodeError;
use crate::esme_session::CloseReason;
use crate::pdu::{COctetString, CommandStatus};

/// A sequence number together with the connection it was used on. Sequence numbers start
/// again on every connection, so alone they are ambiguous across reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnSeq {
    /// Which connection of this client (1 for the first, counting up on every reconnect).
    pub connection: u64,
    /// The PDU's sequence number on that connection.
    pub seq: u32,
}

impl fmt::Display for ConnSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.connection, self.seq)
    }
}

/// The SMSC's final answer to one `submit_sm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Taken: receipts will refer to `message_id` (see
    /// [`MessageIdForm`](crate::receipt::MessageIdForm)).
    Accepted {
        /// The SMSC's id for the message.
        message_id: COctetString,
    },
    /// Refused for good (any status but the throttling ones, which the client retries).
    Rejected {
        /// The SMSC's reason.
        status: CommandStatus,
    },
}

/// Why a submit has no [`SubmitOutcome`]. Two groups, and the difference matters:
///
/// - **never sent** (`NotBound`, `Throttled`, `Expired`, `Closed`, `Invalid`): the message
///   is still the caller's to place elsewhere;
/// - **fate unknown** (`TimedOut`, `Aborted`): the SMSC may have taken it; resending risks
///   a duplicate. See [`SubmitError::is_fate_unknown`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// Not bound for transmitting (connecting, reconnecting, or a receiver-only bind), or
    /// the link went down before the submit could be sent. Never sent.
    #[error("not bound")]
    NotBound,
    /// The SMSC throttled this bind and the caller asked not to wait
    /// ([`SubmitOptions::fail_when_throttled`](super::SubmitOptions::fail_when_throttled)).
    /// Not taken; the pause lasts until `until`.
    #[error("throttled until {until:?}")]
    Throttled {
        /// End of the pause.
        until: Instant,
    },
    /// The submit's deadline passed while it waited in the client's queue. Never sent.
    #[error("deadline passed before sending")]
    Expired,
    /// No response within `response_timeout`. **Fate unknown**; a late response arrives as
    /// [`ClientEvent::LateSubmitResponse`](super::ClientEvent::LateSubmitResponse) with
    /// this `seq`.
    #[error("no response to submit_sm {seq}")]
    TimedOut {
        /// The submit's sequence number.
        seq: ConnSeq,
    },
    /// The connection was lost while the submit was in flight (or the client's task was
    /// aborted). **Fate unknown**, and no late response will come.
    #[error("connection lost while in flight")]
    Aborted,
    /// The client was shut down before the submit was sent. Never sent.
    #[error("client closed")]
    Closed,
    /// The `submit_sm` breaks an SMPP limit (a field too long, ...). Never sent.
    #[error("invalid submit_sm: {0}")]
    Invalid(EncodeError),
}

impl SubmitError {
    /// True when the SMSC may have taken the message (`TimedOut`, `Aborted`).
    pub fn is_fate_unknown(&self) -> bool {
        matches!(self, SubmitError::TimedOut { .. } | SubmitError::Aborted)
    }
}

/// Why [`EsmeClient::ack_incoming`](super::EsmeClient::ack_incoming) did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The connection that carried the message is closed; the SMSC will deliver it again on
    /// a later bind.
    #[error("the connection of {seq} is closed")]
    Gone {
        /// The message's reference.
        seq: ConnSeq,
    },
    /// No message with this sequence number waits for an answer (already answered, or
    /// `manual_deliver_ack` is off).
    #[error("no incoming message {seq} awaits an answer")]
    Unknown {
        /// The message's reference.
        seq: ConnSeq,
    },
    /// The client has stopped.
    #[error("client closed")]
    Closed,
}

/// Why [`EsmeClient::connect`](super::EsmeClient::connect) refused to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The bind does not encode (`system_id` over 15 characters, `password` over 8, ...).
    #[error("invalid bind: {0}")]
    Bind(EncodeError),
    /// TLS is on and the server name is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {name:?}")]
    ServerName {
        /// The name given.
        name: String,
    },
}

/// How [`EsmeClient::shutdown`](super::EsmeClient::shutdown) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownOutcome {
    /// The client was bound, sent `unbind`, and the SMSC answered it.
    Unbound,
    /// No bound session at the time (connecting, binding, or waiting to reconnect): stopped
    /// without unbinding.
    NotBound,
    /// The last session ended some other way while stopping (unbind unanswered, peer
    /// unbound first, link lost).
    Closed {
        /// Why it closed.
        reason: CloseReason,
    },
    /// The task did not stop within `shutdown_timeout` and was aborted.
    TimedOut,
}
