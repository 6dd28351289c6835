//! SMPP 3.4 PDUs: one file per command family, dispatched by [`PduBody`].
//!
//! A [`Pdu`] is the header fields that matter to a session (`command_status`,
//! `sequence_number`) plus a typed body; `command_id` follows from the body and
//! `command_length` is computed by [`encode`](crate::codec::encode).
//!
//! Commands this crate does not model (`query_sm`, `cancel_sm`, `replace_sm`,
//! `submit_multi` and anything vendor-specific) decode to [`PduBody::Unknown`] with their raw
//! body, so nothing panics and a session can answer `generic_nack` (`ESME_RINVCMDID`).

mod alert_notification;
mod bind;
mod command_id;
pub mod consts;
mod data_sm;
mod deliver_sm;
mod enquire_link;
mod generic_nack;
mod header;
mod octet;
mod outbind;
mod sm;
mod status;
mod submit_sm;
mod tlv;
mod unbind;
pub(crate) mod wire;

use bytes::{Bytes, BytesMut};

pub use alert_notification::AlertNotification;
pub use bind::{Bind, BindMode, BindResp};
pub use command_id::CommandId;
pub use data_sm::{DataSm, DataSmResp};
pub use deliver_sm::{DeliverSm, DeliverSmResp};
pub use header::{HEADER_LEN, Header};
pub use octet::COctetString;
pub use outbind::Outbind;
pub use status::CommandStatus;
pub use submit_sm::{SubmitSm, SubmitSmResp};
pub use tlv::{NetworkErrorCode, Tlv, TlvList, tag};
pub use wire::max;

use crate::error::{EncodeError, FieldError};
use wire::Reader;

/// One SMPP PDU: header fields plus typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// `ESME_ROK` on requests; the outcome on responses.
    pub command_status: CommandStatus,
    /// Correlates a response with its request.
    pub sequence_number: u32,
    /// The command and its fields.
    pub body: PduBody,
}

/// The body of a PDU, one variant per SMPP 3.4 command this crate models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PduBody {
    /// `bind_transmitter`.
    BindTransmitter(Bind),
    /// `bind_transmitter_resp`.
    BindTransmitterResp(BindResp),
    /// `bind_receiver`.
    BindReceiver(Bind),
    /// `bind_receiver_resp`.
    BindReceiverResp(BindResp),
    /// `bind_transceiver`.
    BindTransceiver(Bind),
    /// `bind_transceiver_resp`.
    BindTransceiverResp(BindResp),
    /// `outbind`: the SMSC asks the ESME to bind (as receiver).
    Outbind(Outbind),
    /// `unbind`.
    Unbind,
    /// `unbind_resp`.
    UnbindResp,
    /// `enquire_link`.
    EnquireLink,
    /// `enquire_link_resp`.
    EnquireLinkResp,
    /// `generic_nack`: the peer could not decode one of our PDUs (or did not know it).
    GenericNack,
    /// `submit_sm`.
    SubmitSm(SubmitSm),
    /// `submit_sm_resp`.
    SubmitSmResp(SubmitSmResp),
    /// `deliver_sm`: mobile-originated message or delivery receipt.
    DeliverSm(DeliverSm),
    /// `deliver_sm_resp`.
    DeliverSmResp(DeliverSmResp),
    /// `data_sm`.
    DataSm(DataSm),
    /// `data_sm_resp`.
    DataSmResp(DataSmResp),
    /// `alert_notification`.
    AlertNotification(AlertNotification),
    /// Any command id not listed above, with its raw body.
    Unknown {
        /// The command id from the header.
        command_id: CommandId,
        /// The body octets after the header.
        body: Bytes,
    },
}

impl PduBody {
    /// The `command_id` this body is sent with.
    pub fn command_id(&self) -> CommandId {
        match self {
            PduBody::BindTransmitter(_) => CommandId::BIND_TRANSMITTER,
            PduBody::BindTransmitterResp(_) => CommandId::BIND_TRANSMITTER_RESP,
            PduBody::BindReceiver(_) => CommandId::BIND_RECEIVER,
            PduBody::BindReceiverResp(_) => CommandId::BIND_RECEIVER_RESP,
            PduBody::BindTransceiver(_) => CommandId::BIND_TRANSCEIVER,
            PduBody::BindTransceiverResp(_) => CommandId::BIND_TRANSCEIVER_RESP,
            PduBody::Outbind(_) => CommandId::OUTBIND,
            PduBody::Unbind => CommandId::UNBIND,
            PduBody::UnbindResp => CommandId::UNBIND_RESP,
            PduBody::EnquireLink => CommandId::ENQUIRE_LINK,
            PduBody::EnquireLinkResp => CommandId::ENQUIRE_LINK_RESP,
            PduBody::GenericNack => CommandId::GENERIC_NACK,
            PduBody::SubmitSm(_) => CommandId::SUBMIT_SM,
            PduBody::SubmitSmResp(_) => CommandId::SUBMIT_SM_RESP,
            PduBody::DeliverSm(_) => CommandId::DELIVER_SM,
            PduBody::DeliverSmResp(_) => CommandId::DELIVER_SM_RESP,
            PduBody::DataSm(_) => CommandId::DATA_SM,
            PduBody::DataSmResp(_) => CommandId::DATA_SM_RESP,
            PduBody::AlertNotification(_) => CommandId::ALERT_NOTIFICATION,
            PduBody::Unknown { command_id, .. } => *command_id,
        }
    }

    /// Decodes the body of a PDU whose header is `header`. `body` is exactly the octets after
    /// the header.
    pub(crate) fn decode(header: &Header, body: Bytes) -> Result<PduBody, FieldError> {
        let mut r = Reader::new(body);
        let body = match header.command_id {
            CommandId::BIND_TRANSMITTER => PduBody::BindTransmitter(Bind::decode(&mut r)?),
            CommandId::BIND_RECEIVER => PduBody::BindReceiver(Bind::decode(&mut r)?),
            CommandId::BIND_TRANSCEIVER => PduBody::BindTransceiver(Bind::decode(&mut r)?),
            CommandId::BIND_TRANSMITTER_RESP => {
                PduBody::BindTransmitterResp(BindResp::decode(&mut r)?)
            }
            CommandId::BIND_RECEIVER_RESP => PduBody::BindReceiverResp(BindResp::decode(&mut r)?),
            CommandId::BIND_TRANSCEIVER_RESP => {
                PduBody::BindTransceiverResp(BindResp::decode(&mut r)?)
            }
            CommandId::OUTBIND => PduBody::Outbind(Outbind::decode(&mut r)?),
            CommandId::UNBIND => unbind::decode(r, PduBody::Unbind)?,
            CommandId::UNBIND_RESP => unbind::decode(r, PduBody::UnbindResp)?,
            CommandId::ENQUIRE_LINK => enquire_link::decode(r, PduBody::EnquireLink)?,
            CommandId::ENQUIRE_LINK_RESP => enquire_link::decode(r, PduBody::EnquireLinkResp)?,
            CommandId::GENERIC_NACK => generic_nack::decode(r)?,
            CommandId::SUBMIT_SM => PduBody::SubmitSm(SubmitSm::decode(&mut r)?),
            CommandId::SUBMIT_SM_RESP => PduBody::SubmitSmResp(SubmitSmResp::decode(&mut r)?),
            CommandId::DELIVER_SM => PduBody::DeliverSm(DeliverSm::decode(&mut r)?),
            CommandId::DELIVER_SM_RESP => PduBody::DeliverSmResp(DeliverSmResp::decode(&mut r)?),
            CommandId::DATA_SM => PduBody::DataSm(DataSm::decode(&mut r)?),
            CommandId::DATA_SM_RESP => PduBody::DataSmResp(DataSmResp::decode(&mut r)?),
            CommandId::ALERT_NOTIFICATION => {
                PduBody::AlertNotification(AlertNotification::decode(&mut r)?)
            }
            command_id => PduBody::Unknown {
                command_id,
                body: r.rest(),
            },
        };
        Ok(body)
    }

    /// Appends the body's octets. `status` decides whether an error response carries a body.
    pub(crate) fn encode(
        &self,
        status: CommandStatus,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        match self {
            PduBody::BindTransmitter(b)
            | PduBody::BindReceiver(b)
            | PduBody::BindTransceiver(b) => b.encode(out),
            PduBody::BindTransmitterResp(b)
            | PduBody::BindReceiverResp(b)
            | PduBody::BindTransceiverResp(b) => b.encode(status, out),
            PduBody::Outbind(b) => b.encode(out),
            PduBody::Unbind
            | PduBody::UnbindResp
            | PduBody::EnquireLink
            | PduBody::EnquireLinkResp
            | PduBody::GenericNack => Ok(()),
            PduBody::SubmitSm(b) => b.encode(out),
            PduBody::SubmitSmResp(b) => b.encode(status, out),
            PduBody::DeliverSm(b) => b.encode(out),
            PduBody::DeliverSmResp(b) => b.encode(status, out),
            PduBody::DataSm(b) => b.encode(out),
            PduBody::DataSmResp(b) => b.encode(status, out),
            PduBody::AlertNotification(b) => b.encode(out),
            PduBody::Unknown { body, .. } => {
                out.extend_from_slice(body);
                Ok(())
            }
        }
    }
}

impl Pdu {
    /// A request (or a successful response): `command_status` = `ESME_ROK`.
    pub fn new(sequence_number: u32, body: PduBody) -> Self {
        Pdu {
            command_status: CommandStatus::ESME_ROK,
            sequence_number,
            body,
        }
    }

    /// A PDU with an explicit status (error responses).
    pub fn with_status(sequence_number: u32, command_status: CommandStatus, body: PduBody) -> Self {
        Pdu {
            command_status,
            sequence_number,
            body,
        }
    }

    /// The `command_id` this PDU is sent with.
    pub fn command_id(&self) -> CommandId {
        self.body.command_id()
    }

    /// True for responses and `generic_nack` (bit 31 of the command id).
    pub fn is_response(&self) -> bool {
        self.command_id().is_response()
    }
}

/// Assertions shared by the per-PDU byte-vector tests.
#[cfg(test)]
pub(crate) mod testing {
    use bytes::BytesMut;

    use super::Pdu;
    use crate::codec::{decode, encode};
    use crate::error::{DecodeError, FieldError};

    /// `pdu` encodes to exactly `wire`, and `wire` decodes to exactly `pdu`.
    pub(crate) fn assert_wire(pdu: &Pdu, wire: &[u8]) {
        let mut out = BytesMut::new();
        encode(pdu, &mut out).expect("encodes");
        assert_eq!(&out[..], wire, "encoded bytes");
        let mut buf = BytesMut::from(wire);
        assert_eq!(
            decode(&mut buf, 1 << 16),
            Ok(Some(pdu.clone())),
            "decoded PDU"
        );
        assert!(buf.is_empty(), "whole frame consumed");
    }

    /// `wire` (whose first four bytes are overwritten with its length) fails with `expected`,
    /// and the frame is consumed.
    pub(crate) fn assert_decode_error(wire: &[u8], expected: FieldError) {
        let mut bytes = wire.to_vec();
        let len = u32::try_from(bytes.len()).expect("test vectors are small");
        bytes[..4].copy_from_slice(&len.to_be_bytes());
        let mut buf = BytesMut::from(&bytes[..]);
        match decode(&mut buf, 1 << 16) {
            Err(DecodeError::Malformed { error, .. }) => assert_eq!(error, expected),
            other => panic!("expected Malformed({expected:?}), got {other:?}"),
        }
        assert!(buf.is_empty(), "malformed frame consumed");
    }
}
