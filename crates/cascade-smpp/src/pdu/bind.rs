//! `bind_transmitter`, `bind_receiver`, `bind_transceiver` and their responses (SMPP 3.4
//! §4.1). The three requests share one body ([`Bind`]), the three responses another
//! ([`BindResp`]); [`BindMode`] picks the command.

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::wire::{Reader, max, put_c_string, put_tlvs};
use super::{COctetString, CommandId, CommandStatus, PduBody, TlvList};
use crate::error::{EncodeError, FieldError};

/// Which of the three binds: what the ESME may do on the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BindMode {
    /// Submit only (`bind_transmitter`).
    Transmitter,
    /// Receive `deliver_sm` only (`bind_receiver`).
    Receiver,
    /// Both (`bind_transceiver`, the default).
    #[default]
    Transceiver,
}

impl BindMode {
    /// True when the ESME may send `submit_sm` / `data_sm` on this bind.
    pub fn can_transmit(self) -> bool {
        matches!(self, BindMode::Transmitter | BindMode::Transceiver)
    }

    /// True when the SMSC may send `deliver_sm` / `data_sm` on this bind.
    pub fn can_receive(self) -> bool {
        matches!(self, BindMode::Receiver | BindMode::Transceiver)
    }

    /// The bind request body for this mode.
    pub fn request(self, bind: Bind) -> PduBody {
        match self {
            BindMode::Transmitter => PduBody::BindTransmitter(bind),
            BindMode::Receiver => PduBody::BindReceiver(bind),
            BindMode::Transceiver => PduBody::BindTransceiver(bind),
        }
    }

    /// The bind response body for this mode.
    pub fn response(self, resp: BindResp) -> PduBody {
        match self {
            BindMode::Transmitter => PduBody::BindTransmitterResp(resp),
            BindMode::Receiver => PduBody::BindReceiverResp(resp),
            BindMode::Transceiver => PduBody::BindTransceiverResp(resp),
        }
    }

    /// The request command id for this mode.
    pub fn command_id(self) -> CommandId {
        match self {
            BindMode::Transmitter => CommandId::BIND_TRANSMITTER,
            BindMode::Receiver => CommandId::BIND_RECEIVER,
            BindMode::Transceiver => CommandId::BIND_TRANSCEIVER,
        }
    }

    /// Splits a bind request body into its mode and fields.
    pub fn from_request(body: &PduBody) -> Option<(BindMode, &Bind)> {
        match body {
            PduBody::BindTransmitter(b) => Some((BindMode::Transmitter, b)),
            PduBody::BindReceiver(b) => Some((BindMode::Receiver, b)),
            PduBody::BindTransceiver(b) => Some((BindMode::Transceiver, b)),
            _ => None,
        }
    }

    /// Splits a bind response body into its mode and fields.
    pub fn from_response(body: &PduBody) -> Option<(BindMode, &BindResp)> {
        match body {
            PduBody::BindTransmitterResp(b) => Some((BindMode::Transmitter, b)),
            PduBody::BindReceiverResp(b) => Some((BindMode::Receiver, b)),
            PduBody::BindTransceiverResp(b) => Some((BindMode::Transceiver, b)),
            _ => None,
        }
    }
}

/// Body of the three bind requests.
///
/// `Debug` prints the password as `"***"` so a PDU can be logged.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bind {
    /// ESME identity (max 15 characters).
    pub system_id: COctetString,
    /// Password (max 8 characters).
    pub password: COctetString,
    /// ESME type, often empty (max 12 characters).
    pub system_type: COctetString,
    /// SMPP version the ESME speaks: `0x34` for 3.4.
    pub interface_version: u8,
    /// TON of `address_range`.
    pub addr_ton: u8,
    /// NPI of `address_range`.
    pub addr_npi: u8,
    /// Addresses served by a receiver bind, often empty (max 40 characters).
    pub address_range: COctetString,
}

impl Bind {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, FieldError> {
        let bind = Bind {
            system_id: r.c_string("system_id", max::SYSTEM_ID)?,
            password: r.c_string("password", max::PASSWORD)?,
            system_type: r.c_string("system_type", max::SYSTEM_TYPE)?,
            interface_version: r.u8("interface_version")?,
            addr_ton: r.u8("addr_ton")?,
            addr_npi: r.u8("addr_npi")?,
            address_range: r.c_string("address_range", max::ADDRESS_RANGE)?,
        };
        r.finish()?;
        Ok(bind)
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_c_string(out, "system_id", max::SYSTEM_ID, &self.system_id)?;
        put_c_string(out, "password", max::PASSWORD, &self.password)?;
        put_c_string(out, "system_type", max::SYSTEM_TYPE, &self.system_type)?;
        out.put_u8(self.interface_version);
        out.put_u8(self.addr_ton);
        out.put_u8(self.addr_npi);
        put_c_string(
            out,
            "address_range",
            max::ADDRESS_RANGE,
            &self.address_range,
        )
    }
}

impl fmt::Debug for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bind")
            .field("system_id", &self.system_id)
            .field("password", &"***")
            .field("system_type", &self.system_type)
            .field(
                "interface_version",
                &format_args!("{:#04x}", self.interface_version),
            )
            .field("addr_ton", &self.addr_ton)
            .field("addr_npi", &self.addr_npi)
            .field("address_range", &self.address_range)
            .finish()
    }
}

/// Body of the three bind responses: the SMSC's `system_id` and optional TLVs
/// (`sc_interface_version`).
///
/// An error response (non-zero `command_status`) may come with an empty body; it decodes to
/// an empty `system_id`, and an empty value with no TLVs is encoded as an empty body when the
/// status is not `ESME_ROK`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindResp {
    /// SMSC identity (max 15 characters).
    pub system_id: COctetString,
    /// Optional parameters; `sc_interface_version` is the one SMPP 3.4 defines here.
    pub tlvs: TlvList,
}

impl BindResp {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, FieldError> {
        if r.remaining() == 0 {
            return Ok(BindResp::default());
        }
        Ok(BindResp {
            system_id: r.c_string("system_id", max::SYSTEM_ID)?,
            tlvs: r.tlvs()?,
        })
    }

    pub(crate) fn encode(
        &self,
        status: CommandStatus,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if !status.is_ok() && self.system_id.is_empty() && self.tlvs.is_empty() {
            return Ok(());
        }
        put_c_string(out, "system_id", max::SYSTEM_ID, &self.system_id)?;
        put_tlvs(out, &self.tlvs)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_decode_error, assert_wire};
    use super::super::{Pdu, Tlv};
    use super::*;

    fn bind() -> Bind {
        Bind {
            system_id: "cascade".into(),
            password: "secret".into(),
            system_type: "".into(),
            interface_version: 0x34,
            addr_ton: 0,
            addr_npi: 0,
            address_range: "".into(),
        }
    }

    #[test]
    fn bind_transceiver_bytes() {
        let pdu = Pdu::new(1, PduBody::BindTransceiver(bind()));
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            b'c', b'a', b's', b'c', b'a', b'd', b'e', 0x00,
            b's', b'e', b'c', b'r', b'e', b't', 0x00,
            0x00,
            0x34, 0x00, 0x00,
            0x00,
        ];
        assert_wire(&pdu, &wire);
    }

    #[test]
    fn bind_transceiver_resp_with_sc_interface_version() {
        let resp = BindResp {
            system_id: "SMSC".into(),
            tlvs: TlvList::new().with(Tlv::sc_interface_version(0x34)),
        };
        let pdu = Pdu::new(1, PduBody::BindTransceiverResp(resp));
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x1A, 0x80, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            b'S', b'M', b'S', b'C', 0x00,
            0x02, 0x10, 0x00, 0x01, 0x34,
        ];
        assert_wire(&pdu, &wire);
    }

    #[test]
    fn failed_bind_resp_has_empty_body() {
        let pdu = Pdu::with_status(
            7,
            CommandStatus::ESME_RBINDFAIL,
            PduBody::BindTransmitterResp(BindResp::default()),
        );
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x10, 0x80, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x0D, 0x00, 0x00, 0x00, 0x07,
        ];
        assert_wire(&pdu, &wire);
    }

    #[test]
    fn over_long_system_id_names_the_field() {
        #[rustfmt::skip]
        let mut wire = vec![
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
        ];
        wire.extend_from_slice(b"0123456789abcdefXYZ\0pw\0\0\x34\0\0\0");
        assert_decode_error(
            &wire,
            FieldError::CStringTooLong {
                field: "system_id",
                max: 16,
            },
        );
    }

    #[test]
    fn password_is_not_in_debug_output() {
        let text = format!("{:?}", bind());
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("***"));
    }

    #[test]
    fn mode_helpers() {
        assert!(BindMode::Transceiver.can_transmit() && BindMode::Transceiver.can_receive());
        assert!(!BindMode::Receiver.can_transmit());
        assert!(!BindMode::Transmitter.can_receive());
        let body = BindMode::Receiver.request(bind());
        assert_eq!(body.command_id(), CommandId::BIND_RECEIVER);
        assert_eq!(
            BindMode::from_request(&body).map(|(m, _)| m),
            Some(BindMode::Receiver)
        );
    }
}
