//! Field-level reading and writing shared by every PDU: integers, C-octet strings with their
//! maximum sizes, time fields, `short_message` and the optional-parameter list.
//!
//! The [`Reader`] never panics: every read checks the remaining length first and fails with a
//! [`FieldError`] naming the field.

use bytes::{BufMut, Bytes, BytesMut};

use super::{COctetString, Tlv, TlvList};
use crate::error::{EncodeError, FieldError};

/// SMPP 3.4 maximum sizes of C-octet string fields, NUL included.
pub mod max {
    /// `system_id` (bind, bind_resp, outbind).
    pub const SYSTEM_ID: usize = 16;
    /// `password` (bind, outbind).
    pub const PASSWORD: usize = 9;
    /// `system_type` (bind).
    pub const SYSTEM_TYPE: usize = 13;
    /// `address_range` (bind).
    pub const ADDRESS_RANGE: usize = 41;
    /// `service_type`.
    pub const SERVICE_TYPE: usize = 6;
    /// `source_addr` / `destination_addr` of submit_sm and deliver_sm.
    pub const SM_ADDR: usize = 21;
    /// `source_addr` / `destination_addr` of data_sm; `source_addr` / `esme_addr` of
    /// alert_notification.
    pub const DATA_SM_ADDR: usize = 65;
    /// `schedule_delivery_time` / `validity_period`: empty or 16 characters, plus NUL.
    pub const TIME: usize = 17;
    /// `message_id` in responses.
    pub const MESSAGE_ID: usize = 65;
    /// `sm_length`: the largest `short_message`.
    pub const SHORT_MESSAGE: usize = 254;
}

/// A cursor over a PDU body. Slices it hands out share the frame's allocation.
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<Bytes, FieldError> {
        if self.remaining() < n {
            return Err(FieldError::TooShort {
                field,
                needed: n,
                available: self.remaining(),
            });
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, FieldError> {
        Ok(self.take(field, 1)?[0])
    }

    /// A C-octet string of at most `max` bytes including the NUL.
    pub(crate) fn c_string(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<COctetString, FieldError> {
        let window = &self.buf[self.pos..self.pos + self.remaining().min(max)];
        match window.iter().position(|&b| b == 0) {
            Some(len) => {
                let value = self.buf.slice(self.pos..self.pos + len);
                self.pos += len + 1;
                Ok(COctetString::from(value))
            }
            None if self.remaining() >= max => Err(FieldError::CStringTooLong { field, max }),
            None => Err(FieldError::MissingNul { field }),
        }
    }

    /// `schedule_delivery_time` / `validity_period`: empty, or 16 characters.
    pub(crate) fn time(&mut self, field: &'static str) -> Result<COctetString, FieldError> {
        let value = self.c_string(field, max::TIME)?;
        match value.len() {
            0 | 16 => Ok(value),
            length => Err(FieldError::InvalidTime { field, length }),
        }
    }

    /// `sm_length` followed by that many octets of `short_message`.
    pub(crate) fn short_message(&mut self) -> Result<Bytes, FieldError> {
        let sm_length = usize::from(self.u8("sm_length")?);
        if sm_length > max::SHORT_MESSAGE {
            return Err(FieldError::InvalidLength {
                field: "sm_length",
                value: sm_length,
                max: max::SHORT_MESSAGE,
            });
        }
        self.take("short_message", sm_length)
    }

    /// Everything left, as optional parameters.
    pub(crate) fn tlvs(&mut self) -> Result<TlvList, FieldError> {
        let mut list = Vec::new();
        while self.remaining() > 0 {
            let available = self.remaining();
            if available < 4 {
                let tag = (available >= 2)
                    .then(|| u16::from_be_bytes([self.buf[self.pos], self.buf[self.pos + 1]]));
                return Err(FieldError::TlvTruncated {
                    tag,
                    needed: 4,
                    available,
                });
            }
            let b = &self.buf[self.pos..self.pos + 4];
            let tag = u16::from_be_bytes([b[0], b[1]]);
            let length = usize::from(u16::from_be_bytes([b[2], b[3]]));
            if available - 4 < length {
                return Err(FieldError::TlvTruncated {
                    tag: Some(tag),
                    needed: 4 + length,
                    available,
                });
            }
            let value = self.buf.slice(self.pos + 4..self.pos + 4 + length);
            self.pos += 4 + length;
            list.push(Tlv { tag, value });
        }
        Ok(TlvList::from(list))
    }

    /// Everything left, raw (bodies of unknown commands).
    pub(crate) fn rest(&mut self) -> Bytes {
        let out = self.buf.slice(self.pos..);
        self.pos = self.buf.len();
        out
    }

    /// For PDUs without an optional part: nothing may be left.
    pub(crate) fn finish(&self) -> Result<(), FieldError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(FieldError::TrailingBytes { count }),
        }
    }
}

/// Writes `value` plus NUL, checking the field's maximum size (NUL included).
pub(crate) fn put_c_string(
    out: &mut BytesMut,
    field: &'static str,
    max: usize,
    value: &COctetString,
) -> Result<(), EncodeError> {
    if value.len() >= max {
        return Err(EncodeError::CStringTooLong {
            field,
            length: value.len(),
            max,
        });
    }
    if value.as_bytes().contains(&0) {
        return Err(EncodeError::NulInCString { field });
    }
    out.put_slice(value.as_bytes());
    out.put_u8(0);
    Ok(())
}

/// Writes a time field: empty or 16 characters, plus NUL.
pub(crate) fn put_time(
    out: &mut BytesMut,
    field: &'static str,
    value: &COctetString,
) -> Result<(), EncodeError> {
    match value.len() {
        0 | 16 => put_c_string(out, field, max::TIME, value),
        length => Err(EncodeError::InvalidTime { field, length }),
    }
}

/// Writes `sm_length` and `short_message`.
pub(crate) fn put_short_message(out: &mut BytesMut, value: &[u8]) -> Result<(), EncodeError> {
    let length = value.len();
    let sm_length = u8::try_from(length)
        .ok()
        .filter(|&l| usize::from(l) <= max::SHORT_MESSAGE)
        .ok_or(EncodeError::ShortMessageTooLong { length })?;
    out.put_u8(sm_length);
    out.put_slice(value);
    Ok(())
}

/// Writes every TLV in order.
pub(crate) fn put_tlvs(out: &mut BytesMut, tlvs: &TlvList) -> Result<(), EncodeError> {
    for tlv in tlvs.iter() {
        let length = u16::try_from(tlv.value.len()).map_err(|_| EncodeError::TlvTooLong {
            tag: tlv.tag,
            length: tlv.value.len(),
        })?;
        out.put_u16(tlv.tag);
        out.put_u16(length);
        out.put_slice(&tlv.value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &'static [u8]) -> Reader {
        Reader::new(Bytes::from_static(bytes))
    }

    #[test]
    fn c_string_reads_up_to_nul() {
        let mut r = reader(b"abc\0rest");
        assert_eq!(r.c_string("system_id", 16), Ok(COctetString::from("abc")));
        assert_eq!(r.remaining(), 4);
    }

    #[test]
    fn c_string_without_nul_before_end_is_missing_nul() {
        let mut r = reader(b"abc");
        assert_eq!(
            r.c_string("system_id", 16),
            Err(FieldError::MissingNul { field: "system_id" })
        );
    }

    #[test]
    fn c_string_longer_than_max_is_too_long() {
        let mut r = reader(b"0123456789\0");
        assert_eq!(
            r.c_string("password", 9),
            Err(FieldError::CStringTooLong {
                field: "password",
                max: 9
            })
        );
        // Exactly max-1 characters plus NUL fits.
        let mut r = reader(b"01234567\0");
        assert_eq!(
            r.c_string("password", 9),
            Ok(COctetString::from("01234567"))
        );
    }

    #[test]
    fn time_must_be_empty_or_sixteen() {
        let mut r = reader(b"2501011200\0");
        assert_eq!(
            r.time("validity_period"),
            Err(FieldError::InvalidTime {
                field: "validity_period",
                length: 10
            })
        );
    }

    #[test]
    fn sm_length_beyond_body_is_too_short() {
        let mut r = reader(b"\x05abc");
        assert_eq!(
            r.short_message(),
            Err(FieldError::TooShort {
                field: "short_message",
                needed: 5,
                available: 3
            })
        );
        let mut r = reader(b"\xFF");
        assert!(matches!(
            r.short_message(),
            Err(FieldError::InvalidLength { value: 255, .. })
        ));
    }

    #[test]
    fn tlv_truncations_name_the_tag() {
        let mut r = reader(b"\x02\x0C\x00\x02\x01");
        assert_eq!(
            r.tlvs(),
            Err(FieldError::TlvTruncated {
                tag: Some(0x020C),
                needed: 6,
                available: 5
            })
        );
        let mut r = reader(b"\x02");
        assert_eq!(
            r.tlvs(),
            Err(FieldError::TlvTruncated {
                tag: None,
                needed: 4,
                available: 1
            })
        );
    }

    #[test]
    fn put_c_string_checks_max_and_nul() {
        let mut out = BytesMut::new();
        let too_long = COctetString::from("0123456789");
        assert!(matches!(
            put_c_string(&mut out, "password", 9, &too_long),
            Err(EncodeError::CStringTooLong { max: 9, .. })
        ));
        let nul = COctetString::from("a\0b");
        assert_eq!(
            put_c_string(&mut out, "system_id", 16, &nul),
            Err(EncodeError::NulInCString { field: "system_id" })
        );
        assert!(put_short_message(&mut out, &[0; 255]).is_err());
    }
}
