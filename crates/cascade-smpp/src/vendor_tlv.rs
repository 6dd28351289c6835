//! Vendor-specific TLVs (SMPP 3.4 reserves 0x1400–0x3FFF for them) that Cascade's ESME
//! and Cascade's sandbox SMSC exchange. Only the two of them give these tags a meaning: a
//! real SMSC may use the same tags for something else, so Cascade reads them only on its
//! connection to its own simulator.

use crate::pdu::{Tlv, TlvList};

/// The scenario event's `detailedStatus` (C-octet string), on a receipt.
pub const DETAILED_STATUS: u16 = 0x1501;
/// The scenario event's `description` (C-octet string), on a receipt.
pub const DESCRIPTION: u16 = 0x1502;
/// The scenario's `operator` (C-octet string), on a receipt.
pub const OPERATOR: u16 = 0x1503;
/// Cascade's message id (C-octet string), on a `submit_sm`: a resend after a restart is
/// recognised as the same message — the idempotent submit real SMSCs do not offer.
pub const CLIENT_REF: u16 = 0x1504;
/// On a `submit_sm` that also carries [`CLIENT_REF`]: Cascade has never handed this
/// message to an SMSC before (the first attempt of a job neither retried nor taken over
/// after a restart), so the simulator need not look for an earlier copy. One octet, 1.
pub const FIRST_ATTEMPT: u16 = 0x1505;

/// A C-octet-string TLV of one of the tags above.
pub fn text(tag: u16, value: &str) -> Tlv {
    let mut bytes = value.as_bytes().to_vec();
    bytes.push(0);
    Tlv::new(tag, bytes)
}

/// A flag TLV of one of the tags above: present and 1.
pub fn flag(tag: u16) -> Tlv {
    Tlv::new(tag, vec![1])
}

/// Whether the flag TLV `tag` is present and set; any other value reads as not set.
pub fn read_flag(tlvs: &TlvList, tag: u16) -> bool {
    tlvs.get(tag).is_some_and(|t| t.value.as_ref() == [1])
}

/// The text of a C-octet-string TLV, when present and not empty.
pub fn read_text(tlvs: &TlvList, tag: u16) -> Option<String> {
    tlvs.get(tag)
        .map(|t| {
            String::from_utf8_lossy(t.value.strip_suffix(&[0]).unwrap_or(&t.value)).into_owned()
        })
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip_and_empty_reads_as_absent() {
        let tlvs = TlvList::new()
            .with(text(OPERATOR, "Cosmote"))
            .with(text(DESCRIPTION, ""));
        assert_eq!(read_text(&tlvs, OPERATOR).as_deref(), Some("Cosmote"));
        assert_eq!(read_text(&tlvs, DESCRIPTION), None);
        assert_eq!(read_text(&tlvs, CLIENT_REF), None);
        assert_eq!(text(CLIENT_REF, "ab").value.as_ref(), b"ab\0");
    }

    #[test]
    fn a_flag_is_set_only_when_present_with_the_value_one() {
        let set = TlvList::new().with(flag(FIRST_ATTEMPT));
        assert!(read_flag(&set, FIRST_ATTEMPT));
        assert!(!read_flag(&TlvList::new(), FIRST_ATTEMPT));
        for value in [vec![], vec![0], vec![2], vec![1, 0]] {
            let other = TlvList::new().with(Tlv::new(FIRST_ATTEMPT, value.clone()));
            assert!(!read_flag(&other, FIRST_ATTEMPT), "{value:?}");
        }
    }
}
