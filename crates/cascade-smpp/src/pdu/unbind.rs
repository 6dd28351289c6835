//! `unbind` and `unbind_resp` (SMPP 3.4 §4.2): header only.

use super::wire::Reader;
use super::{Pdu, PduBody};
use crate::error::FieldError;

/// Both PDUs have no body; anything after the header is an error.
pub(super) fn decode(r: Reader, body: PduBody) -> Result<PduBody, FieldError> {
    r.finish()?;
    Ok(body)
}

impl Pdu {
    /// `unbind` with this sequence number.
    pub fn unbind(sequence_number: u32) -> Pdu {
        Pdu::new(sequence_number, PduBody::Unbind)
    }

    /// `unbind_resp` (`ESME_ROK`) answering the `unbind` with this sequence number.
    pub fn unbind_resp(sequence_number: u32) -> Pdu {
        Pdu::new(sequence_number, PduBody::UnbindResp)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_decode_error, assert_wire};
    use super::*;

    #[test]
    fn unbind_bytes() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2A,
        ];
        assert_wire(&Pdu::unbind(42), &wire);
    }

    #[test]
    fn unbind_resp_bytes() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x10, 0x80, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2A,
        ];
        assert_wire(&Pdu::unbind_resp(42), &wire);
    }

    #[test]
    fn body_bytes_are_trailing() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            0xAA, 0xBB,
        ];
        assert_decode_error(&wire, FieldError::TrailingBytes { count: 2 });
    }
}
