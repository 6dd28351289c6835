//! `enquire_link` and `enquire_link_resp` (SMPP 3.4 §4.11): the keep-alive, header only.

use super::wire::Reader;
use super::{Pdu, PduBody};
use crate::error::FieldError;

/// Both PDUs have no body; anything after the header is an error.
pub(super) fn decode(r: Reader, body: PduBody) -> Result<PduBody, FieldError> {
    r.finish()?;
    Ok(body)
}

impl Pdu {
    /// `enquire_link` with this sequence number.
    pub fn enquire_link(sequence_number: u32) -> Pdu {
        Pdu::new(sequence_number, PduBody::EnquireLink)
    }

    /// `enquire_link_resp` (`ESME_ROK`) answering the `enquire_link` with this sequence number.
    pub fn enquire_link_resp(sequence_number: u32) -> Pdu {
        Pdu::new(sequence_number, PduBody::EnquireLinkResp)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_decode_error, assert_wire};
    use super::*;

    #[test]
    fn enquire_link_bytes() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
        ];
        assert_wire(&Pdu::enquire_link(5), &wire);
    }

    #[test]
    fn enquire_link_resp_bytes() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x10, 0x80, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF,
        ];
        assert_wire(&Pdu::enquire_link_resp(0x7FFF_FFFF), &wire);
    }

    #[test]
    fn enquire_link_with_body_is_rejected() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
            0x00,
        ];
        assert_decode_error(&wire, FieldError::TrailingBytes { count: 1 });
    }
}
