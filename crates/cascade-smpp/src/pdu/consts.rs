//! Values of the one-octet fields that SMPP leaves as plain `u8`s: `esm_class`,
//! `registered_delivery`, `data_coding`, TON/NPI, `priority_flag`, `interface_version`.
//!
//! The PDU structs keep these fields as `u8`, so values outside these lists travel unchanged.

/// `interface_version` we speak: SMPP 3.4.
pub const INTERFACE_VERSION_34: u8 = 0x34;

// esm_class (§5.2.12): bits 1-0 messaging mode, bits 5-2 message type, bits 7-6 GSM features.

/// esm_class messaging mode mask (bits 1-0).
pub const ESM_CLASS_MODE_MASK: u8 = 0x03;
/// Default SMSC mode (store and forward unless configured otherwise).
pub const ESM_CLASS_MODE_DEFAULT: u8 = 0x00;
/// Datagram mode.
pub const ESM_CLASS_MODE_DATAGRAM: u8 = 0x01;
/// Forward (transaction) mode.
pub const ESM_CLASS_MODE_FORWARD: u8 = 0x02;
/// Store and forward mode.
pub const ESM_CLASS_MODE_STORE_AND_FORWARD: u8 = 0x03;
/// esm_class message type mask (bits 5-2).
pub const ESM_CLASS_TYPE_MASK: u8 = 0x3C;
/// Message type: SMSC delivery receipt (deliver_sm).
pub const ESM_CLASS_DELIVERY_RECEIPT: u8 = 0x04;
/// Message type: SME delivery acknowledgement.
pub const ESM_CLASS_SME_DELIVERY_ACK: u8 = 0x08;
/// Message type: SME manual/user acknowledgement.
pub const ESM_CLASS_SME_MANUAL_ACK: u8 = 0x10;
/// Message type: conversation abort (Korean CDMA).
pub const ESM_CLASS_CONVERSATION_ABORT: u8 = 0x18;
/// Message type: intermediate delivery notification.
pub const ESM_CLASS_INTERMEDIATE_NOTIFICATION: u8 = 0x20;
/// GSM feature: the short message starts with a User Data Header (concatenation, ports).
pub const ESM_CLASS_UDHI: u8 = 0x40;
/// GSM feature: set reply path.
pub const ESM_CLASS_REPLY_PATH: u8 = 0x80;

/// True when the esm_class marks a delivery receipt or an intermediate notification
/// (message type bits 5-2 = `0001` or `1000`), whatever the mode and GSM bits are.
pub fn esm_class_is_receipt(esm_class: u8) -> bool {
    matches!(
        esm_class & ESM_CLASS_TYPE_MASK,
        ESM_CLASS_DELIVERY_RECEIPT | ESM_CLASS_INTERMEDIATE_NOTIFICATION
    )
}

// registered_delivery (§5.2.17).

/// No SMSC delivery receipt.
pub const REGISTERED_DELIVERY_NONE: u8 = 0x00;
/// SMSC delivery receipt on final outcome, success or failure.
pub const REGISTERED_DELIVERY_FINAL: u8 = 0x01;
/// SMSC delivery receipt on failure only.
pub const REGISTERED_DELIVERY_FAILURE: u8 = 0x02;
/// Mask of the SMSC receipt bits.
pub const REGISTERED_DELIVERY_RECEIPT_MASK: u8 = 0x03;
/// Intermediate notification requested.
pub const REGISTERED_DELIVERY_INTERMEDIATE: u8 = 0x10;

// data_coding (§5.2.19).

/// SMSC default alphabet (GSM 03.38 7-bit, in practice).
pub const DATA_CODING_DEFAULT: u8 = 0x00;
/// IA5 (CCITT T.50) / ASCII.
pub const DATA_CODING_IA5: u8 = 0x01;
/// 8-bit binary.
pub const DATA_CODING_BINARY: u8 = 0x02;
/// Latin-1 (ISO-8859-1).
pub const DATA_CODING_LATIN1: u8 = 0x03;
/// 8-bit binary (alternative value).
pub const DATA_CODING_BINARY_ALT: u8 = 0x04;
/// UCS-2 (ISO/IEC-10646), big-endian.
pub const DATA_CODING_UCS2: u8 = 0x08;
/// GSM 7-bit default alphabet, message class 0 ("flash"), per GSM 03.38 coding group 1111.
pub const DATA_CODING_GSM7_FLASH: u8 = 0xF0;
/// UCS-2 with message class 0 ("flash"), GSM 03.38 coding group 0001 with class bits.
pub const DATA_CODING_UCS2_FLASH: u8 = 0x18;

// Type of number (§5.2.5).

/// TON unknown.
pub const TON_UNKNOWN: u8 = 0x00;
/// TON international (E.164 without `+`).
pub const TON_INTERNATIONAL: u8 = 0x01;
/// TON national.
pub const TON_NATIONAL: u8 = 0x02;
/// TON network specific.
pub const TON_NETWORK_SPECIFIC: u8 = 0x03;
/// TON subscriber number.
pub const TON_SUBSCRIBER: u8 = 0x04;
/// TON alphanumeric (sender names such as `Cascade`).
pub const TON_ALPHANUMERIC: u8 = 0x05;
/// TON abbreviated (short codes).
pub const TON_ABBREVIATED: u8 = 0x06;

// Numbering plan indicator (§5.2.6).

/// NPI unknown.
pub const NPI_UNKNOWN: u8 = 0x00;
/// NPI ISDN (E.163/E.164).
pub const NPI_ISDN: u8 = 0x01;
/// NPI data (X.121).
pub const NPI_DATA: u8 = 0x03;
/// NPI national.
pub const NPI_NATIONAL: u8 = 0x08;
/// NPI private.
pub const NPI_PRIVATE: u8 = 0x09;
/// NPI Internet (IP).
pub const NPI_INTERNET: u8 = 0x0E;

// priority_flag (§5.2.14).

/// Lowest priority.
pub const PRIORITY_NORMAL: u8 = 0x00;
/// Interactive / urgent.
pub const PRIORITY_INTERACTIVE: u8 = 0x01;
/// Urgent.
pub const PRIORITY_URGENT: u8 = 0x02;
/// Very urgent / emergency.
pub const PRIORITY_EMERGENCY: u8 = 0x03;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_bit_ignores_mode_and_udhi() {
        assert!(esm_class_is_receipt(0x04));
        assert!(esm_class_is_receipt(0x44));
        assert!(esm_class_is_receipt(0x07));
        assert!(esm_class_is_receipt(ESM_CLASS_INTERMEDIATE_NOTIFICATION));
        assert!(!esm_class_is_receipt(0x00));
        assert!(!esm_class_is_receipt(ESM_CLASS_UDHI));
        assert!(!esm_class_is_receipt(ESM_CLASS_SME_DELIVERY_ACK));
    }
}
