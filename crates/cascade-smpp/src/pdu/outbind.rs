//! `outbind` (SMPP 3.4 §4.1.7): the SMSC, having connected to the ESME, asks it to bind as
//! a receiver. Decoded so a session can report it; answering is a `bind_receiver`.

use std::fmt;

use bytes::BytesMut;

use super::COctetString;
use super::wire::{Reader, max, put_c_string};
use crate::error::{EncodeError, FieldError};

/// Body of `outbind`. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Outbind {
    /// SMSC identity (max 15 characters).
    pub system_id: COctetString,
    /// Password the ESME checks (max 8 characters).
    pub password: COctetString,
}

impl Outbind {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, FieldError> {
        let outbind = Outbind {
            system_id: r.c_string("system_id", max::SYSTEM_ID)?,
            password: r.c_string("password", max::PASSWORD)?,
        };
        r.finish()?;
        Ok(outbind)
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_c_string(out, "system_id", max::SYSTEM_ID, &self.system_id)?;
        put_c_string(out, "password", max::PASSWORD, &self.password)
    }
}

impl fmt::Debug for Outbind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbind")
            .field("system_id", &self.system_id)
            .field("password", &"***")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_decode_error, assert_wire};
    use super::super::{Pdu, PduBody};
    use super::*;

    #[test]
    fn outbind_bytes() {
        let outbind = Outbind {
            system_id: "SMSC".into(),
            password: "pw".into(),
        };
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            b'S', b'M', b'S', b'C', 0x00, b'p', b'w', 0x00,
        ];
        assert_wire(&Pdu::new(1, PduBody::Outbind(outbind)), &wire);
    }

    #[test]
    fn trailing_bytes_after_password_are_refused() {
        #[rustfmt::skip]
        let wire = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
            b'S', 0x00, b'p', 0x00, 0x01,
        ];
        assert_decode_error(&wire, FieldError::TrailingBytes { count: 1 });
    }
}
