//! The RTP fixed header (RFC 3550 §5.1): version 2, padding, extension, CSRC count,
//! marker, payload type, sequence number, timestamp and SSRC, then the payload.

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;

/// One RTP packet's header and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// Why bytes are not an RTP packet Cascade can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the header (or than the header with its CSRCs and extension).
    TooShort,
    /// Not version 2.
    Version(u8),
    /// The padding count is larger than the packet.
    BadPadding,
}

impl Packet {
    /// The packet on the wire: no padding, no extension, no CSRCs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        out.push(0x80);
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// Read a packet, skipping CSRCs and a header extension and removing padding.
    ///
    /// # Errors
    /// See [`ParseError`].
    pub fn parse(bytes: &[u8]) -> Result<Packet, ParseError> {
        if bytes.len() < HEADER_LEN {
            return Err(ParseError::TooShort);
        }
        let version = bytes[0] >> 6;
        if version != 2 {
            return Err(ParseError::Version(version));
        }
        let padding = bytes[0] & 0x20 != 0;
        let extension = bytes[0] & 0x10 != 0;
        let csrc_count = usize::from(bytes[0] & 0x0F);
        let mut start = HEADER_LEN + 4 * csrc_count;
        if extension {
            let ext = bytes
                .get(start + 2..start + 4)
                .ok_or(ParseError::TooShort)?;
            let words = usize::from(u16::from_be_bytes([ext[0], ext[1]]));
            start += 4 + 4 * words;
        }
        let mut end = bytes.len();
        if padding {
            let count = usize::from(*bytes.last().ok_or(ParseError::TooShort)?);
            if count == 0 || count > end.saturating_sub(start) {
                return Err(ParseError::BadPadding);
            }
            end -= count;
        }
        let payload = bytes.get(start..end).ok_or(ParseError::TooShort)?.to_vec();
        Ok(Packet {
            marker: bytes[1] & 0x80 != 0,
            payload_type: bytes[1] & 0x7F,
            sequence: u16::from_be_bytes([bytes[2], bytes[3]]),
            timestamp: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            ssrc: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            payload,
        })
    }

    /// Payload types that carry no audio to listen to: comfort noise (13) and the
    /// telephone events Cascade offers (101).
    pub fn is_audio(&self) -> bool {
        !matches!(self.payload_type, 13 | 101)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_known_packet() {
        let p = Packet {
            marker: true,
            payload_type: 0,
            sequence: 0x1234,
            timestamp: 160,
            ssrc: 0xDEAD_BEEF,
            payload: vec![0xFF; 3],
        };
        let bytes = p.to_bytes();
        assert_eq!(
            bytes,
            [
                0x80, 0x80, 0x12, 0x34, 0, 0, 0, 160, 0xDE, 0xAD, 0xBE, 0xEF, 0xFF, 0xFF, 0xFF
            ]
        );
        assert_eq!(Packet::parse(&bytes), Ok(p));
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut bytes = vec![0x80 | 0x20 | 0x10 | 0x01, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        bytes.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        bytes.extend_from_slice(&[0xBE, 0xDE, 0, 1, 7, 7, 7, 7]); // a one-word extension
        bytes.extend_from_slice(&[0xD5, 0xD5]); // the payload
        bytes.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = Packet::parse(&bytes).unwrap();
        assert_eq!((p.payload_type, p.payload), (8, vec![0xD5, 0xD5]));
    }

    #[test]
    fn bad_packets_are_refused() {
        assert_eq!(Packet::parse(&[0x80; 11]), Err(ParseError::TooShort));
        assert_eq!(Packet::parse(&[0x40; 12]), Err(ParseError::Version(1)));
        let mut padded = vec![0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF];
        padded.push(9);
        assert_eq!(Packet::parse(&padded), Err(ParseError::BadPadding));
        let csrcs = [0x8F, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(Packet::parse(&csrcs), Err(ParseError::TooShort));
        let cn = Packet::parse(&[0x80, 13, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 40]).unwrap();
        assert!(!cn.is_audio(), "comfort noise");
    }

    proptest! {
        #[test]
        fn packets_round_trip(
            marker in any::<bool>(),
            payload_type in 0u8..128,
            sequence in any::<u16>(),
            timestamp in any::<u32>(),
            ssrc in any::<u32>(),
            payload in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let p = Packet { marker, payload_type, sequence, timestamp, ssrc, payload };
            prop_assert_eq!(Packet::parse(&p.to_bytes()), Ok(p));
        }

        #[test]
        fn any_bytes_parse_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Packet::parse(&bytes);
        }
    }
}
