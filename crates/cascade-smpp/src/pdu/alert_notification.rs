//! `alert_notification` (SMPP 3.4 §4.12): the SMSC tells the ESME that a mobile it asked
//! about (`set_dpf`) is reachable again. Decoded so it can be reported; it has no response.

use bytes::{BufMut, BytesMut};

use super::wire::{Reader, max, put_c_string, put_tlvs};
use super::{COctetString, TlvList};
use crate::error::{EncodeError, FieldError};

/// Body of `alert_notification`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertNotification {
    /// TON of `source_addr`.
    pub source_addr_ton: u8,
    /// NPI of `source_addr`.
    pub source_addr_npi: u8,
    /// The mobile that became available (max 64 characters).
    pub source_addr: COctetString,
    /// TON of `esme_addr`.
    pub esme_addr_ton: u8,
    /// NPI of `esme_addr`.
    pub esme_addr_npi: u8,
    /// The ESME address the alert is for (max 64 characters).
    pub esme_addr: COctetString,
    /// Optional parameters (`ms_availability_status`).
    pub tlvs: TlvList,
}

impl AlertNotification {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, FieldError> {
        Ok(AlertNotification {
            source_addr_ton: r.u8("source_addr_ton")?,
            source_addr_npi: r.u8("source_addr_npi")?,
            source_addr: r.c_string("source_addr", max::DATA_SM_ADDR)?,
            esme_addr_ton: r.u8("esme_addr_ton")?,
            esme_addr_npi: r.u8("esme_addr_npi")?,
            esme_addr: r.c_string("esme_addr", max::DATA_SM_ADDR)?,
            tlvs: r.tlvs()?,
        })
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(self.source_addr_ton);
        out.put_u8(self.source_addr_npi);
        put_c_string(out, "source_addr", max::DATA_SM_ADDR, &self.source_addr)?;
        out.put_u8(self.esme_addr_ton);
        out.put_u8(self.esme_addr_npi);
        put_c_string(out, "esme_addr", max::DATA_SM_ADDR, &self.esme_addr)?;
        put_tlvs(out, &self.tlvs)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::assert_wire;
    use super::super::{Pdu, PduBody, Tlv, tag};
    use super::*;

    #[test]
    fn alert_notification_bytes() {
        let alert = AlertNotification {
            source_addr_ton: 1,
            source_addr_npi: 1,
            source_addr: "3069".into(),
            esme_addr: "C".into(),
            tlvs: TlvList::new().with(Tlv::new(tag::MS_AVAILABILITY_STATUS, vec![0])),
            ..AlertNotification::default()
        };
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04,
            0x01, 0x01, b'3', b'0', b'6', b'9', 0x00,
            0x00, 0x00, b'C', 0x00,
            0x04, 0x22, 0x00, 0x01, 0x00,
        ];
        assert_wire(&Pdu::new(4, PduBody::AlertNotification(alert)), &wire);
    }
}
