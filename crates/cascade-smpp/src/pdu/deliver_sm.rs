//! `deliver_sm` and `deliver_sm_resp` (SMPP 3.4 §4.6): mobile-originated messages and
//! delivery receipts from the SMSC.

use bytes::BytesMut;

use super::consts::esm_class_is_receipt;
use super::sm::short_message_pdu;
use super::submit_sm::{decode_message_id_resp, encode_message_id_resp};
use super::wire::Reader;
use super::{COctetString, CommandStatus, TlvList};
use crate::error::{EncodeError, FieldError};

short_message_pdu! {
    /// `deliver_sm`: a message from the SMSC. A delivery receipt when
    /// [`DeliverSm::is_receipt`] (esm_class message type 0x04 or 0x20); then
    /// `short_message` holds the Appendix B text and/or the TLVs carry
    /// `receipted_message_id` / `message_state` / `network_error_code` (see
    /// [`DeliveryReceipt`](crate::receipt::DeliveryReceipt)). Otherwise a
    /// mobile-originated message.
    DeliverSm
}

impl DeliverSm {
    /// True for a delivery receipt or an intermediate notification.
    pub fn is_receipt(&self) -> bool {
        esm_class_is_receipt(self.esm_class)
    }
}

/// `deliver_sm_resp`. SMPP 3.4 sets `message_id` to NULL (empty); any value and TLVs are
/// tolerated on decode. An empty error response has an empty body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliverSmResp {
    /// Unused in SMPP 3.4: empty.
    pub message_id: COctetString,
    /// Optional parameters (not in SMPP 3.4; tolerated).
    pub tlvs: TlvList,
}

impl DeliverSmResp {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, FieldError> {
        decode_message_id_resp(r).map(|(message_id, tlvs)| DeliverSmResp { message_id, tlvs })
    }

    pub(crate) fn encode(
        &self,
        status: CommandStatus,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        encode_message_id_resp(status, &self.message_id, &self.tlvs, out)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::consts::*;
    use super::super::testing::assert_wire;
    use super::super::{Pdu, PduBody, Tlv};
    use super::*;

    const RECEIPT_TEXT: &[u8] = b"id:1A2B sub:001 dlvrd:001 submit date:2501011200 \
done date:2501011201 stat:DELIVRD err:000 text:Hi";

    #[test]
    fn deliver_sm_receipt_bytes() {
        let receipt = DeliverSm {
            source_addr_ton: TON_INTERNATIONAL,
            source_addr_npi: NPI_ISDN,
            source_addr: "306912345678".into(),
            dest_addr_ton: TON_ALPHANUMERIC,
            dest_addr_npi: NPI_UNKNOWN,
            destination_addr: "Cascade".into(),
            esm_class: ESM_CLASS_DELIVERY_RECEIPT,
            short_message: Bytes::from_static(RECEIPT_TEXT),
            tlvs: TlvList::new()
                .with(Tlv::receipted_message_id(&"1A2B".into()))
                .with(Tlv::message_state(2)),
            ..DeliverSm::default()
        };
        assert!(receipt.is_receipt());
        let mut wire: Vec<u8> = vec![
            0x00, 0x00, 0x00, 0xA4, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x01, 0x00,
        ];
        wire.extend_from_slice(b"\0\x01\x01306912345678\0\x05\x00Cascade\0");
        wire.extend_from_slice(b"\x04\x00\x00\0\0\x00\x00\x00\x00");
        wire.push(0x62);
        wire.extend_from_slice(RECEIPT_TEXT);
        wire.extend_from_slice(b"\x00\x1E\x00\x051A2B\0");
        wire.extend_from_slice(b"\x04\x27\x00\x01\x02");
        assert_wire(&Pdu::new(256, PduBody::DeliverSm(receipt)), &wire);
    }

    #[test]
    fn deliver_sm_resp_bytes() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x11, 0x80, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
            0x00,
        ];
        assert_wire(
            &Pdu::new(256, PduBody::DeliverSmResp(DeliverSmResp::default())),
            &wire,
        );
    }

    #[test]
    fn mobile_originated_is_not_a_receipt() {
        let mo = DeliverSm {
            esm_class: ESM_CLASS_UDHI,
            ..DeliverSm::default()
        };
        assert!(!mo.is_receipt());
    }
}
