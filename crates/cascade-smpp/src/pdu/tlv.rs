//! Optional parameters (TLVs, SMPP 3.4 §5.3) and typed helpers for the ones Cascade uses.

use std::ops::Deref;

use bytes::{BufMut, Bytes, BytesMut};

use super::COctetString;

/// TLV tags (SMPP 3.4 §5.3.2).
pub mod tag {
    /// `dest_addr_subunit` (u8).
    pub const DEST_ADDR_SUBUNIT: u16 = 0x0005;
    /// `payload_type` (u8).
    pub const PAYLOAD_TYPE: u16 = 0x0019;
    /// `receipted_message_id` (C-octet string, max 65): the id the receipt is about.
    pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
    /// `user_message_reference` (u16): an ESME-chosen reference echoed back.
    pub const USER_MESSAGE_REFERENCE: u16 = 0x0204;
    /// `source_port` (u16).
    pub const SOURCE_PORT: u16 = 0x020A;
    /// `destination_port` (u16).
    pub const DESTINATION_PORT: u16 = 0x020B;
    /// `sar_msg_ref_num` (u16): reference shared by the parts of a concatenated message.
    pub const SAR_MSG_REF_NUM: u16 = 0x020C;
    /// `sar_total_segments` (u8).
    pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
    /// `sar_segment_seqnum` (u8), 1-based.
    pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
    /// `sc_interface_version` (u8), in bind responses.
    pub const SC_INTERFACE_VERSION: u16 = 0x0210;
    /// `network_error_code` (3 octets: network type u8, error code u16).
    pub const NETWORK_ERROR_CODE: u16 = 0x0423;
    /// `message_payload` (octets): the message when it does not fit `short_message`.
    pub const MESSAGE_PAYLOAD: u16 = 0x0424;
    /// `ms_availability_status` (u8), in alert_notification.
    pub const MS_AVAILABILITY_STATUS: u16 = 0x0422;
    /// `message_state` (u8): 1..=8, see [`ReceiptState`](crate::receipt::ReceiptState).
    pub const MESSAGE_STATE: u16 = 0x0427;
}

/// One optional parameter: tag and raw value (the length is the value's length).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// The parameter tag (see [`tag`]).
    pub tag: u16,
    /// The value octets, as on the wire.
    pub value: Bytes,
}

impl Tlv {
    /// A TLV with arbitrary value octets.
    pub fn new(tag: u16, value: impl Into<Bytes>) -> Self {
        Tlv {
            tag,
            value: value.into(),
        }
    }

    fn u8(tag: u16, v: u8) -> Self {
        Tlv::new(tag, vec![v])
    }

    fn u16(tag: u16, v: u16) -> Self {
        Tlv::new(tag, v.to_be_bytes().to_vec())
    }

    /// `sar_msg_ref_num` (0x020C).
    pub fn sar_msg_ref_num(v: u16) -> Self {
        Tlv::u16(tag::SAR_MSG_REF_NUM, v)
    }

    /// `sar_total_segments` (0x020E).
    pub fn sar_total_segments(v: u8) -> Self {
        Tlv::u8(tag::SAR_TOTAL_SEGMENTS, v)
    }

    /// `sar_segment_seqnum` (0x020F).
    pub fn sar_segment_seqnum(v: u8) -> Self {
        Tlv::u8(tag::SAR_SEGMENT_SEQNUM, v)
    }

    /// `message_payload` (0x0424).
    pub fn message_payload(v: impl Into<Bytes>) -> Self {
        Tlv::new(tag::MESSAGE_PAYLOAD, v)
    }

    /// `receipted_message_id` (0x001E), written as a C-octet string (NUL included).
    pub fn receipted_message_id(id: &COctetString) -> Self {
        let mut v = BytesMut::with_capacity(id.len() + 1);
        v.put_slice(id.as_bytes());
        v.put_u8(0);
        Tlv::new(tag::RECEIPTED_MESSAGE_ID, v.freeze())
    }

    /// `message_state` (0x0427).
    pub fn message_state(v: u8) -> Self {
        Tlv::u8(tag::MESSAGE_STATE, v)
    }

    /// `network_error_code` (0x0423).
    pub fn network_error_code(v: NetworkErrorCode) -> Self {
        let [hi, lo] = v.error_code.to_be_bytes();
        Tlv::new(tag::NETWORK_ERROR_CODE, vec![v.network_type, hi, lo])
    }

    /// `sc_interface_version` (0x0210).
    pub fn sc_interface_version(v: u8) -> Self {
        Tlv::u8(tag::SC_INTERFACE_VERSION, v)
    }

    /// `user_message_reference` (0x0204).
    pub fn user_message_reference(v: u16) -> Self {
        Tlv::u16(tag::USER_MESSAGE_REFERENCE, v)
    }
}

/// The `network_error_code` TLV: which network reported the error, and its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkErrorCode {
    /// 1 = ANSI-136, 2 = IS-95, 3 = GSM, 4..=8 reserved / other.
    pub network_type: u8,
    /// The network-specific error code.
    pub error_code: u16,
}

/// The optional part of a PDU, in wire order. Duplicates are kept as received; the typed
/// getters return the first match.
///
/// Every typed getter returns `None` when the TLV is absent **or** its length is wrong for
/// its type (a 1-octet `sar_msg_ref_num` is not guessed at); the raw value stays readable
/// through [`TlvList::get`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlvList(Vec<Tlv>);

impl TlvList {
    /// An empty list.
    pub const fn new() -> Self {
        TlvList(Vec::new())
    }

    /// Appends a TLV.
    pub fn push(&mut self, tlv: Tlv) {
        self.0.push(tlv);
    }

    /// Replaces the first TLV with the same tag, or appends.
    pub fn set(&mut self, tlv: Tlv) {
        match self.0.iter_mut().find(|t| t.tag == tlv.tag) {
            Some(existing) => *existing = tlv,
            None => self.0.push(tlv),
        }
    }

    /// Builder form of [`TlvList::push`].
    pub fn with(mut self, tlv: Tlv) -> Self {
        self.push(tlv);
        self
    }

    /// The first TLV with this tag.
    pub fn get(&self, tag: u16) -> Option<&Tlv> {
        self.0.iter().find(|t| t.tag == tag)
    }

    /// The TLVs as a vector.
    pub fn into_vec(self) -> Vec<Tlv> {
        self.0
    }

    fn fixed<const N: usize>(&self, tag: u16) -> Option<[u8; N]> {
        self.get(tag)
            .and_then(|t| <[u8; N]>::try_from(&t.value[..]).ok())
    }

    /// `sar_msg_ref_num` (0x020C, u16).
    pub fn sar_msg_ref_num(&self) -> Option<u16> {
        self.fixed(tag::SAR_MSG_REF_NUM).map(u16::from_be_bytes)
    }

    /// `sar_total_segments` (0x020E, u8).
    pub fn sar_total_segments(&self) -> Option<u8> {
        self.fixed::<1>(tag::SAR_TOTAL_SEGMENTS).map(|[v]| v)
    }

    /// `sar_segment_seqnum` (0x020F, u8).
    pub fn sar_segment_seqnum(&self) -> Option<u8> {
        self.fixed::<1>(tag::SAR_SEGMENT_SEQNUM).map(|[v]| v)
    }

    /// `message_payload` (0x0424), any length.
    pub fn message_payload(&self) -> Option<&Bytes> {
        self.get(tag::MESSAGE_PAYLOAD).map(|t| &t.value)
    }

    /// `receipted_message_id` (0x001E). Tolerant: the value is cut at the first NUL, and a
    /// value without NUL (a common SMSC mistake) is taken whole. `None` when empty.
    pub fn receipted_message_id(&self) -> Option<COctetString> {
        let value = &self.get(tag::RECEIPTED_MESSAGE_ID)?.value;
        let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
        (end > 0).then(|| COctetString::from(value.slice(..end)))
    }

    /// `message_state` (0x0427, u8).
    pub fn message_state(&self) -> Option<u8> {
        self.fixed::<1>(tag::MESSAGE_STATE).map(|[v]| v)
    }

    /// `network_error_code` (0x0423, 3 octets).
    pub fn network_error_code(&self) -> Option<NetworkErrorCode> {
        self.fixed::<3>(tag::NETWORK_ERROR_CODE)
            .map(|[t, hi, lo]| NetworkErrorCode {
                network_type: t,
                error_code: u16::from_be_bytes([hi, lo]),
            })
    }

    /// `sc_interface_version` (0x0210, u8).
    pub fn sc_interface_version(&self) -> Option<u8> {
        self.fixed::<1>(tag::SC_INTERFACE_VERSION).map(|[v]| v)
    }

    /// `user_message_reference` (0x0204, u16).
    pub fn user_message_reference(&self) -> Option<u16> {
        self.fixed(tag::USER_MESSAGE_REFERENCE)
            .map(u16::from_be_bytes)
    }
}

impl Deref for TlvList {
    type Target = [Tlv];

    fn deref(&self) -> &[Tlv] {
        &self.0
    }
}

impl From<Vec<Tlv>> for TlvList {
    fn from(v: Vec<Tlv>) -> Self {
        TlvList(v)
    }
}

impl FromIterator<Tlv> for TlvList {
    fn from_iter<I: IntoIterator<Item = Tlv>>(iter: I) -> Self {
        TlvList(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_helpers_round_trip() {
        let nec = NetworkErrorCode {
            network_type: 3,
            error_code: 0x0102,
        };
        let list = TlvList::new()
            .with(Tlv::sar_msg_ref_num(0xBEEF))
            .with(Tlv::sar_total_segments(3))
            .with(Tlv::sar_segment_seqnum(2))
            .with(Tlv::message_payload(&b"payload"[..]))
            .with(Tlv::receipted_message_id(&"1A2B".into()))
            .with(Tlv::message_state(2))
            .with(Tlv::network_error_code(nec))
            .with(Tlv::sc_interface_version(0x34))
            .with(Tlv::user_message_reference(7));
        assert_eq!(list.sar_msg_ref_num(), Some(0xBEEF));
        assert_eq!(list.sar_total_segments(), Some(3));
        assert_eq!(list.sar_segment_seqnum(), Some(2));
        assert_eq!(
            list.message_payload().map(|b| &b[..]),
            Some(&b"payload"[..])
        );
        assert_eq!(list.receipted_message_id(), Some("1A2B".into()));
        assert_eq!(
            list.get(tag::RECEIPTED_MESSAGE_ID).map(|t| t.value.len()),
            Some(5)
        );
        assert_eq!(list.message_state(), Some(2));
        assert_eq!(list.network_error_code(), Some(nec));
        assert_eq!(list.sc_interface_version(), Some(0x34));
        assert_eq!(list.user_message_reference(), Some(7));
    }

    #[test]
    fn wrong_lengths_read_as_absent() {
        let list = TlvList::new()
            .with(Tlv::new(tag::SAR_MSG_REF_NUM, vec![1]))
            .with(Tlv::new(tag::MESSAGE_STATE, vec![]));
        assert_eq!(list.sar_msg_ref_num(), None);
        assert_eq!(list.message_state(), None);
    }

    #[test]
    fn receipted_message_id_without_nul_is_accepted() {
        let list = TlvList::new().with(Tlv::new(tag::RECEIPTED_MESSAGE_ID, &b"abc"[..]));
        assert_eq!(list.receipted_message_id(), Some("abc".into()));
        let empty = TlvList::new().with(Tlv::new(tag::RECEIPTED_MESSAGE_ID, &b"\0"[..]));
        assert_eq!(empty.receipted_message_id(), None);
    }

    #[test]
    fn set_replaces_first_match() {
        let mut list = TlvList::new().with(Tlv::message_state(1));
        list.set(Tlv::message_state(2));
        assert_eq!(list.len(), 1);
        assert_eq!(list.message_state(), Some(2));
    }
}
