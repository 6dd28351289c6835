//! `COctetString`: the SMPP "C-Octet String" value, without its NUL.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

/// The value of an SMPP C-octet string field (`system_id`, `source_addr`, `message_id`, ...),
/// stored without the terminating NUL.
///
/// SMPP calls these ASCII, but SMSCs in the wild send Latin-1 and UTF-8, so the value is kept
/// as bytes: [`COctetString::to_str`] / [`COctetString::to_string_lossy`] read it as text.
/// Construction is infallible; the field's maximum length and the absence of inner NULs are
/// checked by [`encode`](crate::codec::encode) (and guaranteed by `decode`).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct COctetString(Bytes);

impl COctetString {
    /// The empty string (encoded as a single NUL).
    pub const fn new() -> Self {
        COctetString(Bytes::new())
    }

    /// A string from a `'static` literal, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        COctetString(Bytes::from_static(s.as_bytes()))
    }

    /// The raw bytes, without NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as `&str` when it is valid UTF-8 (always, for ASCII).
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The value as text, invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Length in bytes, without NUL.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl From<&str> for COctetString {
    fn from(s: &str) -> Self {
        COctetString(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for COctetString {
    fn from(s: String) -> Self {
        COctetString(Bytes::from(s))
    }
}

impl From<&[u8]> for COctetString {
    fn from(s: &[u8]) -> Self {
        COctetString(Bytes::copy_from_slice(s))
    }
}

impl From<Vec<u8>> for COctetString {
    fn from(s: Vec<u8>) -> Self {
        COctetString(Bytes::from(s))
    }
}

impl From<Bytes> for COctetString {
    fn from(s: Bytes) -> Self {
        COctetString(s)
    }
}

impl PartialEq<str> for COctetString {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for COctetString {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for COctetString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string_lossy(), f)
    }
}

impl fmt::Display for COctetString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_views() {
        let s = COctetString::from("abc");
        assert_eq!(s, "abc");
        assert_eq!(s.to_str(), Some("abc"));
        assert_eq!(format!("{s:?}"), "\"abc\"");
        let latin1 = COctetString::from(&[0x41, 0xE9][..]);
        assert_eq!(latin1.to_str(), None);
        assert_eq!(latin1.to_string_lossy(), "A\u{FFFD}");
        assert!(COctetString::new().is_empty());
    }
}
