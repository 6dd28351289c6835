//! The 16-byte header every SMPP PDU starts with.

use super::{CommandId, CommandStatus};

/// Size of the PDU header in bytes; also the smallest legal `command_length`.
pub const HEADER_LEN: usize = 16;

/// The SMPP PDU header: four big-endian `u32`s.
///
/// `command_length` counts the whole PDU, header included. [`decode`](crate::codec::decode)
/// fills it from the wire; [`encode`](crate::codec::encode) computes it, so a
/// [`Pdu`](super::Pdu) does not carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Length of the whole PDU in octets, header included.
    pub command_length: u32,
    /// Which PDU this is.
    pub command_id: CommandId,
    /// `ESME_ROK` on requests; the outcome on responses.
    pub command_status: CommandStatus,
    /// Correlates a response with its request (1..=0x7FFF_FFFF).
    pub sequence_number: u32,
}

impl Header {
    /// Reads a header from the first 16 bytes of `bytes`, or `None` if there are fewer.
    pub fn parse(bytes: &[u8]) -> Option<Header> {
        let word = |i: usize| -> Option<u32> {
            let b = bytes.get(i * 4..i * 4 + 4)?;
            Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        Some(Header {
            command_length: word(0)?,
            command_id: CommandId(word(1)?),
            command_status: CommandStatus(word(2)?),
            sequence_number: word(3)?,
        })
    }

    /// The header as it appears on the wire.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.command_length.to_be_bytes());
        out[4..8].copy_from_slice(&self.command_id.0.to_be_bytes());
        out[8..12].copy_from_slice(&self.command_status.0.to_be_bytes());
        out[12..16].copy_from_slice(&self.sequence_number.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_big_endian_words() {
        let bytes = [
            0, 0, 0, 0x10, 0, 0, 0, 0x15, 0, 0, 0, 0x58, 0x7F, 0xFF, 0xFF, 0xFF,
        ];
        let h = Header::parse(&bytes).expect("16 bytes");
        assert_eq!(h.command_length, 16);
        assert_eq!(h.command_id, CommandId::ENQUIRE_LINK);
        assert_eq!(h.command_status, CommandStatus::ESME_RTHROTTLED);
        assert_eq!(h.sequence_number, 0x7FFF_FFFF);
        assert_eq!(h.to_bytes(), bytes);
    }

    #[test]
    fn short_input_is_none() {
        assert_eq!(Header::parse(&[0; 15]), None);
    }
}
