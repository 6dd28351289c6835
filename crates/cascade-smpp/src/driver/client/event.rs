//! What a client tells its owner, through the `UnboundedReceiver<ClientEvent>` that
//! [`EsmeClient::connect`](super::EsmeClient::connect) returns.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ConnSeq, ShutdownOutcome};
use crate::error::DecodeError;
use crate::esme_session::{CloseReason, IncomingMessage};
use crate::pdu::{AlertNotification, COctetString, CommandStatus, Pdu};
use crate::receipt::DeliveryReceipt;

/// Something the owner of an [`EsmeClient`](super::EsmeClient) should know or act on.
/// Submit fates are not here: each one resolves its own
/// [`Submission`](super::Submission). `Stopped` is the last event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Connection `connection` is bound; submits flow.
    Bound {
        /// Which connection.
        connection: u64,
        /// The SMSC's `system_id`.
        system_id: COctetString,
        /// The `sc_interface_version` TLV, when the SMSC sent one.
        sc_interface_version: Option<u8>,
    },
    /// The SMSC refused the bind (wrong credentials, ...). The client retries with back-off;
    /// `Disconnected` follows.
    BindFailed {
        /// Which connection.
        connection: u64,
        /// The SMSC's reason.
        status: CommandStatus,
    },
    /// The TCP connect or the TLS handshake failed; the next try is in `retry_in`.
    ConnectFailed {
        /// What failed.
        error: Arc<io::Error>,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// Connection `connection` is over. Its in-flight submits have resolved `Aborted` (or
    /// earlier); queued submits without `wait_for_bind` have failed `NotBound`.
    Disconnected {
        /// Which connection.
        connection: u64,
        /// Why the session closed (`Unbound` after our unbind, `PeerUnbound`, `LinkLost`,
        /// `Disconnected` for EOF or an I/O error, ...).
        reason: CloseReason,
        /// The I/O error, when one ended it.
        error: Option<Arc<io::Error>>,
        /// Delay before reconnecting; `None` when the client is stopping.
        retry_in: Option<Duration>,
    },
    /// The SMSC answered `ESME_RTHROTTLED` / `ESME_RMSGQFUL`: the bind pauses until
    /// `until`, and the throttled submit is resent then.
    Throttled {
        /// The SMSC's status.
        status: CommandStatus,
        /// End of the pause.
        until: Instant,
    },
    /// The throttling pause is over.
    Resumed,
    /// A delivery receipt. With `manual_deliver_ack`, answer it with
    /// [`EsmeClient::ack_incoming`](super::EsmeClient::ack_incoming)`(seq, ..)` once it is
    /// stored; otherwise it has been answered `ESME_ROK` already.
    Receipt {
        /// The PDU's reference, for `ack_incoming`.
        seq: ConnSeq,
        /// Text and TLVs merged.
        receipt: DeliveryReceipt,
        /// The PDU it came in.
        message: IncomingMessage,
    },
    /// A mobile-originated message; acknowledged as for `Receipt`.
    MobileOriginated {
        /// The PDU's reference, for `ack_incoming`.
        seq: ConnSeq,
        /// The PDU it came in.
        message: IncomingMessage,
    },
    /// An `alert_notification`.
    Alert {
        /// Which connection.
        connection: u64,
        /// Its body.
        alert: AlertNotification,
    },
    /// A `submit_sm_resp` no caller received: it came after
    /// [`SubmitError::TimedOut`](super::SubmitError::TimedOut) for `seq`, or the caller had
    /// dropped its `Submission`. Its `message_id` is what receipts will refer to.
    LateSubmitResponse {
        /// The submit's reference (as in `SubmitError::TimedOut`).
        seq: ConnSeq,
        /// The SMSC's status.
        status: CommandStatus,
        /// The SMSC's id (empty when refused).
        message_id: COctetString,
    },
    /// Any other response that matched no request.
    UnexpectedResponse {
        /// Which connection.
        connection: u64,
        /// The whole PDU.
        pdu: Pdu,
    },
    /// The SMSC sent something undecodable (answered with `generic_nack` when possible; a
    /// framing error closes the connection).
    ProtocolError {
        /// Which connection.
        connection: u64,
        /// What was wrong.
        error: DecodeError,
    },
    /// The client has stopped for good; nothing follows.
    Stopped {
        /// How the last session ended.
        outcome: ShutdownOutcome,
    },
}
