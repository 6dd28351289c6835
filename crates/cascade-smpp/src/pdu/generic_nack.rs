//! `generic_nack` (SMPP 3.4 §4.3): the answer to a PDU that could not be decoded or whose
//! command id is unknown. Header only; the reason is in `command_status`.

use super::wire::Reader;
use super::{CommandStatus, Pdu, PduBody};
use crate::error::FieldError;

/// No body; anything after the header is an error.
pub(super) fn decode(r: Reader) -> Result<PduBody, FieldError> {
    r.finish()?;
    Ok(PduBody::GenericNack)
}

impl Pdu {
    /// `generic_nack` for the PDU with this sequence number (0 when it could not be read),
    /// saying why in `status` (`ESME_RINVCMDID`, `ESME_RINVCMDLEN`, ...).
    pub fn generic_nack(sequence_number: u32, status: CommandStatus) -> Pdu {
        Pdu::with_status(sequence_number, status, PduBody::GenericNack)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::assert_wire;
    use super::*;

    #[test]
    fn generic_nack_bytes() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x10, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x09,
        ];
        assert_wire(&Pdu::generic_nack(9, CommandStatus::ESME_RINVCMDID), &wire);
    }

    #[test]
    fn generic_nack_with_zero_sequence() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x10, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_wire(&Pdu::generic_nack(0, CommandStatus::ESME_RINVCMDLEN), &wire);
    }
}
