//! `ReceiptState`: the message states of SMPP 3.4 §5.2.28, read from the receipt text's
//! `stat:` value or from the `message_state` TLV.

use std::fmt;

/// The state a delivery receipt reports. The discriminants are the `message_state` TLV
/// values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReceiptState {
    /// `ENROUTE` (1): still being delivered (intermediate notification).
    Enroute = 1,
    /// `DELIVRD` (2): delivered to the handset.
    Delivered = 2,
    /// `EXPIRED` (3): validity period passed before delivery.
    Expired = 3,
    /// `DELETED` (4): deleted (e.g. by cancel_sm or the operator).
    Deleted = 4,
    /// `UNDELIV` (5): undeliverable.
    Undeliverable = 5,
    /// `ACCEPTD` (6): accepted on behalf of the subscriber (e.g. by customer service).
    Accepted = 6,
    /// `UNKNOWN` (7): invalid state.
    Unknown = 7,
    /// `REJECTD` (8): rejected.
    Rejected = 8,
}

impl ReceiptState {
    /// All states, in `message_state` order.
    pub const ALL: [ReceiptState; 8] = [
        ReceiptState::Enroute,
        ReceiptState::Delivered,
        ReceiptState::Expired,
        ReceiptState::Deleted,
        ReceiptState::Undeliverable,
        ReceiptState::Accepted,
        ReceiptState::Unknown,
        ReceiptState::Rejected,
    ];

    /// From the `message_state` TLV value (1..=8); `None` otherwise.
    pub fn from_message_state(value: u8) -> Option<Self> {
        Self::ALL.get(usize::from(value).checked_sub(1)?).copied()
    }

    /// The `message_state` TLV value.
    pub fn message_state(self) -> u8 {
        self as u8
    }

    /// From a `stat:` value, tolerantly: case-insensitive, the 7-letter forms and the long
    /// words SMSCs also use (`DELIVERED`, `UNDELIVERABLE`, `REJECTED`, ...), and a bare
    /// `message_state` digit. `None` for anything else (e.g. `FAILED`).
    pub fn from_stat(stat: &str) -> Option<Self> {
        let stat = stat.trim();
        if let Ok(n) = stat.parse::<u8>() {
            return Self::from_message_state(n);
        }
        let upper = stat.to_ascii_uppercase();
        let prefix = upper.get(..5)?;
        let state = match prefix {
            "ENROU" => ReceiptState::Enroute,
            "DELIV" => ReceiptState::Delivered,
            "EXPIR" => ReceiptState::Expired,
            "DELET" => ReceiptState::Deleted,
            "UNDEL" => ReceiptState::Undeliverable,
            "ACCEP" | "ACCPT" => ReceiptState::Accepted,
            "UNKNO" => ReceiptState::Unknown,
            "REJEC" => ReceiptState::Rejected,
            _ => return None,
        };
        Some(state)
    }

    /// The Appendix B `stat:` spelling (`"DELIVRD"`, `"UNDELIV"`, ...).
    pub fn stat(self) -> &'static str {
        match self {
            ReceiptState::Enroute => "ENROUTE",
            ReceiptState::Delivered => "DELIVRD",
            ReceiptState::Expired => "EXPIRED",
            ReceiptState::Deleted => "DELETED",
            ReceiptState::Undeliverable => "UNDELIV",
            ReceiptState::Accepted => "ACCEPTD",
            ReceiptState::Unknown => "UNKNOWN",
            ReceiptState::Rejected => "REJECTD",
        }
    }

    /// False only for `Enroute` (and `Accepted`, which some SMSCs follow with a final
    /// receipt): every other state ends the message's life.
    pub fn is_final(self) -> bool {
        !matches!(self, ReceiptState::Enroute | ReceiptState::Accepted)
    }
}

impl fmt::Display for ReceiptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_state_numbers() {
        for state in ReceiptState::ALL {
            assert_eq!(
                ReceiptState::from_message_state(state.message_state()),
                Some(state)
            );
            assert_eq!(ReceiptState::from_stat(state.stat()), Some(state));
        }
        assert_eq!(ReceiptState::from_message_state(0), None);
        assert_eq!(ReceiptState::from_message_state(9), None);
        assert_eq!(ReceiptState::Delivered.message_state(), 2);
        assert_eq!(ReceiptState::Rejected.message_state(), 8);
    }

    #[test]
    fn stat_spellings() {
        let table = [
            ("DELIVRD", Some(ReceiptState::Delivered)),
            ("delivrd", Some(ReceiptState::Delivered)),
            ("DELIVERED", Some(ReceiptState::Delivered)),
            ("UNDELIV", Some(ReceiptState::Undeliverable)),
            ("Undeliverable", Some(ReceiptState::Undeliverable)),
            ("REJECTED", Some(ReceiptState::Rejected)),
            ("ACCEPTD", Some(ReceiptState::Accepted)),
            ("ENROUTE", Some(ReceiptState::Enroute)),
            ("5", Some(ReceiptState::Undeliverable)),
            ("FAILED", None),
            ("", None),
            ("DEL", None),
        ];
        for (stat, expected) in table {
            assert_eq!(ReceiptState::from_stat(stat), expected, "{stat:?}");
        }
    }

    #[test]
    fn finality() {
        assert!(!ReceiptState::Enroute.is_final());
        assert!(ReceiptState::Delivered.is_final());
        assert!(ReceiptState::Expired.is_final());
    }
}
