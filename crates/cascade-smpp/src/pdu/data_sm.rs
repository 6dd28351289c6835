//! `data_sm` and `data_sm_resp` (SMPP 3.4 §4.7): a message whose content lives in TLVs
//! (`message_payload`). SMSCs may send it instead of `deliver_sm`, receipts included, so an
//! ESME must at least decode and answer it.

use bytes::{BufMut, BytesMut};

use super::consts::esm_class_is_receipt;
use super::submit_sm::{decode_message_id_resp, encode_message_id_resp};
use super::wire::{Reader, max, put_c_string, put_tlvs};
use super::{COctetString, CommandStatus, TlvList};
use crate::error::{EncodeError, FieldError};

/// `data_sm`. Addresses may be up to 64 characters; the message is in the
/// `message_payload` TLV.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataSm {
    /// SMS application service (max 5 characters).
    pub service_type: COctetString,
    /// TON of `source_addr`.
    pub source_addr_ton: u8,
    /// NPI of `source_addr`.
    pub source_addr_npi: u8,
    /// Originator (max 64 characters).
    pub source_addr: COctetString,
    /// TON of `destination_addr`.
    pub dest_addr_ton: u8,
    /// NPI of `destination_addr`.
    pub dest_addr_npi: u8,
    /// Recipient (max 64 characters).
    pub destination_addr: COctetString,
    /// `ESM_CLASS_*`; the receipt type bits mark a delivery receipt.
    pub esm_class: u8,
    /// `REGISTERED_DELIVERY_*`.
    pub registered_delivery: u8,
    /// `DATA_CODING_*`.
    pub data_coding: u8,
    /// Optional parameters; `message_payload` carries the message.
    pub tlvs: TlvList,
}

impl DataSm {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, FieldError> {
        Ok(DataSm {
            service_type: r.c_string("service_type", max::SERVICE_TYPE)?,
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.c_string("source_addr", max::DATA_SM_ADDR)?,
            dest_addr_ton: r.u8("dest_addr_ton")?,
            dest_addr_npi: r.u8("dest_addr_npi")?,
            destination_addr: r.c_string("destination_addr", max::DATA_SM_ADDR)?,
            esm_class: r.u8("esm_class")?,
            registered_delivery: r.u8("registered_delivery")?,
            data_coding: r.u8("data_coding")?,
            tlvs: r.tlvs()?,
        })
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_c_string(out, "service_type", max::SERVICE_TYPE, &self.service_type)?;
        out.put_u8(self.source_addr_ton);
        out.put_u8(self.source_addr_npi);
        put_c_string(out, "source_addr", max::DATA_SM_ADDR, &self.source_addr)?;
        out.put_u8(self.dest_addr_ton);
        out.put_u8(self.dest_addr_npi);
        put_c_string(
            out,
            "destination_addr",
            max::DATA_SM_ADDR,
            &self.destination_addr,
        )?;
        out.put_u8(self.esm_class);
        out.put_u8(self.registered_delivery);
        out.put_u8(self.data_coding);
        put_tlvs(out, &self.tlvs)
    }

    /// True for a delivery receipt or an intermediate notification.
    pub fn is_receipt(&self) -> bool {
        esm_class_is_receipt(self.esm_class)
    }

    /// The message octets (`message_payload`), empty when absent.
    pub fn message(&self) -> &[u8] {
        self.tlvs.message_payload().map_or(&[], |p| &p[..])
    }
}

/// `data_sm_resp`: `message_id` plus optional TLVs. An empty error response has an empty
/// body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataSmResp {
    /// The SMSC's id for the message (max 64 characters); empty from an ESME.
    pub message_id: COctetString,
    /// Optional parameters (`delivery_failure_reason`, `network_error_code`, ...).
    pub tlvs: TlvList,
}

impl DataSmResp {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, FieldError> {
        decode_message_id_resp(r).map(|(message_id, tlvs)| DataSmResp { message_id, tlvs })
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
    use super::super::consts::*;
    use super::super::testing::{assert_decode_error, assert_wire};
    use super::super::{Pdu, PduBody, Tlv};
    use super::*;

    #[test]
    fn data_sm_bytes() {
        let data = DataSm {
            source_addr_ton: TON_INTERNATIONAL,
            source_addr_npi: NPI_ISDN,
            source_addr: "3069".into(),
            destination_addr: "123".into(),
            esm_class: ESM_CLASS_DELIVERY_RECEIPT,
            tlvs: TlvList::new().with(Tlv::message_state(2)),
            ..DataSm::default()
        };
        assert!(data.is_receipt());
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x26, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0B,
            0x00,
            0x01, 0x01, b'3', b'0', b'6', b'9', 0x00,
            0x00, 0x00, b'1', b'2', b'3', 0x00,
            0x04, 0x00, 0x00,
            0x04, 0x27, 0x00, 0x01, 0x02,
        ];
        assert_wire(&Pdu::new(11, PduBody::DataSm(data)), &wire);
    }

    #[test]
    fn data_sm_addresses_may_be_64_characters() {
        let long = "1".repeat(64);
        let data = DataSm {
            source_addr: long.as_str().into(),
            ..DataSm::default()
        };
        let mut out = BytesMut::new();
        assert!(crate::codec::encode(&Pdu::new(1, PduBody::DataSm(data)), &mut out).is_ok());
    }

    #[test]
    fn data_sm_resp_bytes() {
        let resp = DataSmResp {
            message_id: "m1".into(),
            tlvs: TlvList::new(),
        };
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x13, 0x80, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0B,
            b'm', b'1', 0x00,
        ];
        assert_wire(&Pdu::new(11, PduBody::DataSmResp(resp)), &wire);
    }

    #[test]
    fn truncated_data_sm_names_the_field() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0B,
            0x00, 0x01, 0x01, b'3', 0x00, 0x00, 0x00, b'1', 0x00, 0x04,
        ];
        assert_decode_error(
            &wire,
            FieldError::TooShort {
                field: "registered_delivery",
                needed: 1,
                available: 0,
            },
        );
    }
}
