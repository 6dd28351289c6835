//! `submit_sm` and `submit_sm_resp` (SMPP 3.4 §4.4).

use bytes::BytesMut;

use super::sm::short_message_pdu;
use super::wire::{Reader, max, put_c_string, put_tlvs};
use super::{COctetString, CommandStatus, TlvList};
use crate::error::{EncodeError, FieldError};

short_message_pdu! {
    /// `submit_sm`: one short message (or one part of a concatenated one) from the ESME.
    ///
    /// Long messages: either split with a UDH in `short_message` and `esm_class |=
    /// ESM_CLASS_UDHI`, or add the SAR TLVs (`sar_msg_ref_num`, `sar_total_segments`,
    /// `sar_segment_seqnum`), or send the whole text in the `message_payload` TLV with an
    /// empty `short_message` — whichever the SMSC supports.
    SubmitSm
}

/// `submit_sm_resp`: the SMSC's `message_id` for the submitted message.
///
/// SMPP 3.4 says the body is absent when `command_status` is not `ESME_ROK`; such a body
/// decodes to an empty `message_id`, and an empty `message_id` with no TLVs is encoded as an
/// empty body for a non-zero status. TLVs are accepted (SMPP 5.0 SMSCs send them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubmitSmResp {
    /// The SMSC's id for the message (max 64 characters), the key receipts refer to.
    pub message_id: COctetString,
    /// Optional parameters (not in SMPP 3.4; tolerated).
    pub tlvs: TlvList,
}

impl SubmitSmResp {
    /// A response carrying `message_id` and no TLVs.
    pub fn new(message_id: impl Into<COctetString>) -> Self {
        SubmitSmResp {
            message_id: message_id.into(),
            tlvs: TlvList::new(),
        }
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, FieldError> {
        decode_message_id_resp(r).map(|(message_id, tlvs)| SubmitSmResp { message_id, tlvs })
    }

    pub(crate) fn encode(
        &self,
        status: CommandStatus,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        encode_message_id_resp(status, &self.message_id, &self.tlvs, out)
    }
}

/// `message_id` + TLVs, both optional for an error response. Shared by the three `*_sm_resp`.
pub(super) fn decode_message_id_resp(
    r: &mut Reader,
) -> Result<(COctetString, TlvList), FieldError> {
    if r.remaining() == 0 {
        return Ok((COctetString::new(), TlvList::new()));
    }
    Ok((r.c_string("message_id", max::MESSAGE_ID)?, r.tlvs()?))
}

/// Inverse of [`decode_message_id_resp`]: nothing at all for an empty error response.
pub(super) fn encode_message_id_resp(
    status: CommandStatus,
    message_id: &COctetString,
    tlvs: &TlvList,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if !status.is_ok() && message_id.is_empty() && tlvs.is_empty() {
        return Ok(());
    }
    put_c_string(out, "message_id", max::MESSAGE_ID, message_id)?;
    put_tlvs(out, tlvs)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::consts::*;
    use super::super::testing::{assert_decode_error, assert_wire};
    use super::super::{Pdu, PduBody, Tlv};
    use super::*;

    fn submit() -> SubmitSm {
        SubmitSm {
            source_addr_ton: TON_ALPHANUMERIC,
            source_addr_npi: NPI_UNKNOWN,
            source_addr: "Cascade".into(),
            dest_addr_ton: TON_INTERNATIONAL,
            dest_addr_npi: NPI_ISDN,
            destination_addr: "306912345678".into(),
            esm_class: ESM_CLASS_UDHI,
            registered_delivery: REGISTERED_DELIVERY_FINAL,
            validity_period: "000001000000000R".into(),
            data_coding: DATA_CODING_DEFAULT,
            short_message: Bytes::from_static(b"\x05\x00\x03\x2A\x02\x01Hi"),
            tlvs: TlvList::new()
                .with(Tlv::sar_msg_ref_num(0x002A))
                .with(Tlv::user_message_reference(7)),
            ..SubmitSm::default()
        }
    }

    #[test]
    fn submit_sm_with_tlvs_bytes() {
        let pdu = Pdu::new(2, PduBody::SubmitSm(submit()));
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x58, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
            0x00,                                           // service_type ""
            0x05, 0x00, b'C', b'a', b's', b'c', b'a', b'd', b'e', 0x00,
            0x01, 0x01, b'3', b'0', b'6', b'9', b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8', 0x00,
            0x40, 0x00, 0x00,                               // esm_class, protocol_id, priority
            0x00,                                           // schedule_delivery_time ""
            b'0', b'0', b'0', b'0', b'0', b'1', b'0', b'0', b'0', b'0', b'0', b'0', b'0', b'0', b'0', b'R', 0x00,
            0x01, 0x00, 0x00, 0x00,                         // registered_delivery .. sm_default_msg_id
            0x08, 0x05, 0x00, 0x03, 0x2A, 0x02, 0x01, b'H', b'i',
            0x02, 0x0C, 0x00, 0x02, 0x00, 0x2A,             // sar_msg_ref_num
            0x02, 0x04, 0x00, 0x02, 0x00, 0x07,             // user_message_reference
        ];
        assert_wire(&pdu, &wire);
    }

    #[test]
    fn submit_sm_resp_bytes() {
        let pdu = Pdu::new(2, PduBody::SubmitSmResp(SubmitSmResp::new("1A2B")));
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x15, 0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
            b'1', b'A', b'2', b'B', 0x00,
        ];
        assert_wire(&pdu, &wire);
    }

    #[test]
    fn throttled_submit_sm_resp_has_empty_body() {
        let pdu = Pdu::with_status(
            3,
            CommandStatus::ESME_RTHROTTLED,
            PduBody::SubmitSmResp(SubmitSmResp::default()),
        );
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x10, 0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x58, 0x00, 0x00, 0x00, 0x03,
        ];
        assert_wire(&pdu, &wire);
    }

    #[test]
    fn sm_length_beyond_body() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x0A, b'h', b'i',
        ];
        assert_decode_error(
            &wire,
            FieldError::TooShort {
                field: "short_message",
                needed: 10,
                available: 2,
            },
        );
    }

    #[test]
    fn over_long_destination_is_refused_on_encode() {
        let mut sm = submit();
        sm.destination_addr = "1234567890123456789012".into();
        let mut out = BytesMut::new();
        let err = crate::codec::encode(&Pdu::new(1, PduBody::SubmitSm(sm)), &mut out);
        assert_eq!(
            err,
            Err(EncodeError::CStringTooLong {
                field: "destination_addr",
                length: 22,
                max: 21
            })
        );
        assert!(out.is_empty(), "a failed encode leaves nothing behind");
    }

    #[test]
    fn message_prefers_short_message_then_payload() {
        let mut sm = submit();
        assert_eq!(sm.message(), &sm.short_message[..]);
        sm.short_message = Bytes::new();
        sm.tlvs.push(Tlv::message_payload(&b"long text"[..]));
        assert_eq!(sm.message(), b"long text");
    }
}
