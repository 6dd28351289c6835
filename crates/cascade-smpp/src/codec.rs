//! Framing: bytes ⇄ [`Pdu`].
//!
//! # Decoder contract
//!
//! [`decode`] looks at the front of a growing read buffer:
//!
//! - `Ok(None)`: not a whole PDU yet; nothing consumed. Read more bytes and call again. As
//!   soon as the `command_length` is known, the buffer `reserve`s the rest of the frame.
//! - `Ok(Some(pdu))`: one PDU decoded and exactly its bytes consumed. Call again: the buffer
//!   may hold more.
//! - `Err(DecodeError::BadLength)`: `command_length` < 16 or > `max_len`, detected from the
//!   first four bytes, **before** buffering any body. Nothing consumed; close the connection.
//! - `Err(DecodeError::Malformed)`: the frame was complete and has been consumed (so the
//!   stream stays in sync), but its body does not parse. Answer `generic_nack` and go on.
//!
//! `decode` never panics, whatever the bytes (fuzzed; see `fuzz/` at the repo root).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::pdu::{HEADER_LEN, Header, Pdu, PduBody};

/// Default upper bound for `command_length`: 64 KiB, enough for a `message_payload` of
/// several kilobytes and small enough that a hostile length cannot make us buffer much.
pub const DEFAULT_MAX_PDU_LEN: usize = 64 * 1024;

/// Decodes one PDU from the front of `buf`. See the [module docs](self) for the contract.
///
/// # Errors
///
/// [`DecodeError::BadLength`] (fatal, nothing consumed) or [`DecodeError::Malformed`] (frame
/// consumed, header available for the `generic_nack`).
pub fn decode(buf: &mut BytesMut, max_len: usize) -> Result<Option<Pdu>, DecodeError> {
    let Some(&[a, b, c, d]) = buf.get(..4) else {
        return Ok(None);
    };
    let length = u32::from_be_bytes([a, b, c, d]);
    let frame_len = usize::try_from(length).unwrap_or(usize::MAX);
    if frame_len < HEADER_LEN || frame_len > max_len {
        return Err(DecodeError::BadLength {
            length,
            max: max_len,
        });
    }
    if buf.len() < frame_len {
        buf.reserve(frame_len - buf.len());
        return Ok(None);
    }
    let frame = buf.split_to(frame_len).freeze();
    // The frame is at least HEADER_LEN long (checked above), so this always succeeds; the
    // `else` keeps the function panic-free even so.
    let Some(header) = Header::parse(&frame) else {
        return Err(DecodeError::BadLength {
            length,
            max: max_len,
        });
    };
    match PduBody::decode(&header, frame.slice(HEADER_LEN..)) {
        Ok(body) => Ok(Some(Pdu {
            command_status: header.command_status,
            sequence_number: header.sequence_number,
            body,
        })),
        Err(error) => Err(DecodeError::Malformed { header, error }),
    }
}

/// Appends `pdu`'s wire form (header with the computed `command_length`, then the body).
///
/// # Errors
///
/// An [`EncodeError`] naming the field that breaks an SMPP 3.4 limit (C-string too long,
/// NUL inside a C-string, bad time field, `short_message` over 254 octets, TLV over 65535
/// octets). On error `out` is left exactly as it was.
pub fn encode(pdu: &Pdu, out: &mut BytesMut) -> Result<(), EncodeError> {
    let start = out.len();
    let command_id = pdu.command_id();
    out.put_u32(0); // command_length, patched below
    out.put_u32(command_id.0);
    out.put_u32(pdu.command_status.0);
    out.put_u32(pdu.sequence_number);
    if let Err(e) = pdu.body.encode(pdu.command_status, out) {
        out.truncate(start);
        return Err(e);
    }
    let length = out.len() - start;
    let Ok(command_length) = u32::try_from(length) else {
        out.truncate(start);
        return Err(EncodeError::PduTooLong { command_id, length });
    };
    out[start..start + 4].copy_from_slice(&command_length.to_be_bytes());
    Ok(())
}

/// [`encode`] into a fresh buffer.
///
/// # Errors
///
/// As [`encode`].
pub fn encode_to_bytes(pdu: &Pdu) -> Result<Bytes, EncodeError> {
    let mut out = BytesMut::new();
    encode(pdu, &mut out)?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldError;
    use crate::pdu::{CommandId, CommandStatus};

    fn enquire_link_bytes(seq: u32) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0];
        v.extend_from_slice(&seq.to_be_bytes());
        v
    }

    #[test]
    fn partial_header_needs_more() {
        let whole = enquire_link_bytes(1);
        for cut in 0..HEADER_LEN {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(decode(&mut buf, 1024), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut, "nothing consumed");
        }
    }

    #[test]
    fn partial_body_needs_more_and_reserves() {
        let pdu = Pdu::new(
            3,
            PduBody::SubmitSmResp(crate::pdu::SubmitSmResp::new("abc")),
        );
        let whole = encode_to_bytes(&pdu).expect("valid PDU");
        let mut buf = BytesMut::with_capacity(0);
        buf.extend_from_slice(&whole[..HEADER_LEN + 2]);
        assert_eq!(decode(&mut buf, 1024), Ok(None));
        assert!(buf.capacity() >= whole.len());
        buf.extend_from_slice(&whole[HEADER_LEN + 2..]);
        assert_eq!(decode(&mut buf, 1024), Ok(Some(pdu)));
        assert!(buf.is_empty());
    }

    #[test]
    fn length_below_header_is_fatal() {
        for length in [0u32, 1, 15] {
            let mut buf = BytesMut::from(&length.to_be_bytes()[..]);
            let err = decode(&mut buf, 1024).expect_err("length < 16");
            assert_eq!(err, DecodeError::BadLength { length, max: 1024 });
            assert!(err.is_fatal());
            assert_eq!(buf.len(), 4, "nothing consumed");
        }
    }

    #[test]
    fn length_above_max_is_refused_before_the_body_arrives() {
        let mut buf = BytesMut::from(&[0x7F, 0xFF, 0xFF, 0xFF][..]);
        let err = decode(&mut buf, DEFAULT_MAX_PDU_LEN).expect_err("too long");
        assert_eq!(
            err,
            DecodeError::BadLength {
                length: 0x7FFF_FFFF,
                max: DEFAULT_MAX_PDU_LEN
            }
        );
        assert!(buf.capacity() < 1024 * 1024, "no giant reservation");
        assert_eq!(err.suggested_status(), CommandStatus::ESME_RINVCMDLEN);
    }

    #[test]
    fn two_pdus_in_one_buffer() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&enquire_link_bytes(1));
        buf.extend_from_slice(&enquire_link_bytes(2));
        buf.extend_from_slice(&enquire_link_bytes(3)[..5]);
        assert_eq!(decode(&mut buf, 64), Ok(Some(Pdu::enquire_link(1))));
        assert_eq!(decode(&mut buf, 64), Ok(Some(Pdu::enquire_link(2))));
        assert_eq!(decode(&mut buf, 64), Ok(None));
        assert_eq!(buf.len(), 5);
    }

    #[test]
    fn garbage_after_a_valid_pdu() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&enquire_link_bytes(9));
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(decode(&mut buf, 1024), Ok(Some(Pdu::enquire_link(9))));
        // "GET " as a length is 0x47455420: far above the maximum.
        assert!(matches!(
            decode(&mut buf, 1024),
            Err(DecodeError::BadLength {
                length: 0x4745_5420,
                ..
            })
        ));
    }

    #[test]
    fn malformed_body_is_consumed_and_names_the_field() {
        let mut buf = BytesMut::new();
        // bind_transmitter whose system_id has no NUL before the end of the frame.
        buf.extend_from_slice(&[0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 77]);
        buf.extend_from_slice(b"abcd");
        buf.extend_from_slice(&enquire_link_bytes(78));
        let err = decode(&mut buf, 1024).expect_err("malformed");
        assert_eq!(err.sequence_number(), Some(77));
        assert!(!err.is_fatal());
        assert!(matches!(
            err,
            DecodeError::Malformed {
                error: FieldError::MissingNul { field: "system_id" },
                ..
            }
        ));
        assert_eq!(err.suggested_status(), CommandStatus::ESME_RINVSYSID);
        assert_eq!(decode(&mut buf, 1024), Ok(Some(Pdu::enquire_link(78))));
    }

    #[test]
    fn unknown_command_keeps_its_body() {
        let mut buf =
            BytesMut::from(&[0, 0, 0, 18, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 5, 0xAB, 0xCD][..]);
        let pdu = decode(&mut buf, 1024).expect("ok").expect("whole");
        assert_eq!(
            pdu.body,
            PduBody::Unknown {
                command_id: CommandId::QUERY_SM,
                body: Bytes::from_static(&[0xAB, 0xCD]),
            }
        );
        assert_eq!(encode_to_bytes(&pdu).expect("raw body").len(), 18);
    }

    #[test]
    fn max_len_is_inclusive() {
        let mut buf = BytesMut::from(&enquire_link_bytes(1)[..]);
        assert!(decode(&mut buf, 16).expect("fits").is_some());
    }
}
