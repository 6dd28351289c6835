//! Delivery receipts: the Appendix B text, the receipt TLVs, and message-id matching.
//!
//! A receipt arrives as a `deliver_sm` (or `data_sm`) whose `esm_class` has the receipt type
//! bits. Its content may be in the text (`short_message`, or `message_payload` when that is
//! empty), in TLVs, or both. [`DeliveryReceipt::from_deliver_sm`] merges the two with the
//! TLVs winning: `receipted_message_id` over `id:`, `message_state` over `stat:`,
//! `network_error_code` over `err:`.
//!
//! To find which submit a receipt is about, see [`MessageIdForm`].

mod message_id;
mod state;
mod text;

#[cfg(test)]
mod tests;

pub use message_id::{MessageIdForm, ids_match, submit_id_key};
pub use state::ReceiptState;

use crate::pdu::{DataSm, DeliverSm, NetworkErrorCode, TlvList};
use text::{first_token, split_fields};

/// What a delivery receipt says, from text and TLVs. Every field is optional: SMSCs omit
/// freely. A receipt with no `message_id` cannot be matched; report it, do not drop it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// The id of the message the receipt is about (`receipted_message_id`, else `id:`), as
    /// sent; match it with [`MessageIdForm::candidates`].
    pub message_id: Option<String>,
    /// The state (`message_state`, else `stat:`). `None` when absent or unrecognised; the
    /// raw text is in `stat`.
    pub state: Option<ReceiptState>,
    /// The raw `stat:` value, as sent.
    pub stat: Option<String>,
    /// The error code: the `network_error_code` TLV's code in decimal (zero-padded to three
    /// digits, like `err:`) when present, else the raw `err:` value.
    pub error: Option<String>,
    /// The `network_error_code` TLV, when present.
    pub network_error: Option<NetworkErrorCode>,
    /// `sub:`: number of messages originally submitted.
    pub submitted: Option<u32>,
    /// `dlvrd:`: number of messages delivered.
    pub delivered: Option<u32>,
    /// `submit date:`.
    pub submit_date: Option<ReceiptTime>,
    /// `done date:`.
    pub done_date: Option<ReceiptTime>,
    /// `text:`: the first characters of the original message.
    pub text: Option<String>,
}

/// A `YYMMDDhhmm[ss]` timestamp from a receipt. No time zone: SMSC local time, usually.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiptTime {
    /// Full year (`YY` + 2000).
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59 when the SMSC sent seconds.
    pub second: Option<u8>,
}

impl ReceiptTime {
    /// Parses 10 (`YYMMDDhhmm`) or 12 (`YYMMDDhhmmss`) digits; other characters in the value
    /// (separators) are ignored. `None` for any other count or an out-of-range part.
    pub fn parse(value: &str) -> Option<Self> {
        let digits: Vec<u8> = value
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        if digits.len() != 10 && digits.len() != 12 {
            return None;
        }
        let two = |i: usize| digits[i] * 10 + digits[i + 1];
        let t = ReceiptTime {
            year: 2000 + u16::from(two(0)),
            month: two(2),
            day: two(4),
            hour: two(6),
            minute: two(8),
            second: (digits.len() == 12).then(|| two(10)),
        };
        let valid = (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour < 24
            && t.minute < 60
            && t.second.is_none_or(|s| s < 60);
        valid.then_some(t)
    }
}

impl DeliveryReceipt {
    /// Reads the Appendix B text alone (see the `text` module docs for the tolerance rules).
    /// Bytes that are not UTF-8 are replaced, never rejected.
    pub fn parse_text(text: &[u8]) -> Self {
        let text = String::from_utf8_lossy(text);
        let raw = split_fields(&text);
        let token = |v: &Option<String>| v.as_deref().and_then(first_token).map(str::to_owned);
        let number = |v: &Option<String>| {
            v.as_deref()
                .and_then(first_token)
                .and_then(|t| t.parse::<u32>().ok())
        };
        let stat = token(&raw.stat);
        DeliveryReceipt {
            message_id: token(&raw.id),
            state: stat.as_deref().and_then(ReceiptState::from_stat),
            stat,
            error: token(&raw.err),
            network_error: None,
            submitted: number(&raw.sub),
            delivered: number(&raw.dlvrd),
            submit_date: raw.submit_date.as_deref().and_then(ReceiptTime::parse),
            done_date: raw.done_date.as_deref().and_then(ReceiptTime::parse),
            text: raw.text,
        }
    }

    /// Text plus TLVs, TLVs winning (see the module docs).
    pub fn from_parts(text: &[u8], tlvs: &TlvList) -> Self {
        let mut receipt = DeliveryReceipt::parse_text(text);
        if let Some(id) = tlvs.receipted_message_id() {
            receipt.message_id = Some(id.to_string_lossy().into_owned());
        }
        if let Some(state) = tlvs
            .message_state()
            .and_then(ReceiptState::from_message_state)
        {
            receipt.state = Some(state);
        }
        if let Some(nec) = tlvs.network_error_code() {
            receipt.network_error = Some(nec);
            receipt.error = Some(format!("{:03}", nec.error_code));
        }
        receipt
    }

    /// The receipt in a `deliver_sm` (text from `short_message`, or `message_payload` when
    /// that is empty). Call it on PDUs where [`DeliverSm::is_receipt`] holds.
    pub fn from_deliver_sm(pdu: &DeliverSm) -> Self {
        DeliveryReceipt::from_parts(pdu.message(), &pdu.tlvs)
    }

    /// The receipt in a `data_sm` (text from `message_payload`).
    pub fn from_data_sm(pdu: &DataSm) -> Self {
        DeliveryReceipt::from_parts(pdu.message(), &pdu.tlvs)
    }

    /// True when the receipt says the message reached a final state.
    pub fn is_final(&self) -> bool {
        self.state.is_some_and(ReceiptState::is_final)
    }
}
