//! Message-id normalisation: matching the id in a receipt to the id a `submit_sm_resp`
//! returned, whatever form the SMSC uses for each.
//!
//! SMSCs are known to answer `submit_sm_resp` with a hex id and put the same number in
//! decimal in the receipt (or the reverse), to change case, and to pad with zeros. The
//! scheme: store every submit id under [`submit_id_key`]; look a receipt up under each of
//! [`MessageIdForm::candidates`] in order until one hits.

/// How an SMSC's receipt ids relate to its `submit_sm_resp` ids. Configure it per SMSC
/// when known; `Auto` tries every form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageIdForm {
    /// The same string (up to case and leading zeros).
    Same,
    /// `submit_sm_resp` gives hex, the receipt gives the same number in decimal.
    HexSubmitDecReceipt,
    /// `submit_sm_resp` gives decimal, the receipt gives the same number in hex.
    DecSubmitHexReceipt,
    /// Try the id as is, then decimal→hex, then hex→decimal. Can match the wrong message when
    /// one SMSC mixes forms and ids collide across them (e.g. submit ids "6699" and "1A2B"
    /// both exist); prefer an explicit form for SMSCs whose behaviour is known.
    #[default]
    Auto,
}

impl MessageIdForm {
    /// The keys to look a receipt's id up under, best first, each already in
    /// [`submit_id_key`] form. Empty for an empty id.
    ///
    /// Under `HexSubmitDecReceipt` / `DecSubmitHexReceipt` the id is converted, and taken
    /// as is only when it cannot be (it is not a number in the expected base).
    pub fn candidates(self, receipt_id: &str) -> Vec<String> {
        let same = normalize(receipt_id);
        if same.is_empty() {
            return Vec::new();
        }
        let dec_to_hex = || decimal_to_hex(&same);
        let hex_to_dec = || hex_to_decimal(&same);
        let mut out = Vec::with_capacity(3);
        match self {
            MessageIdForm::Same => out.push(same),
            MessageIdForm::HexSubmitDecReceipt => out.push(dec_to_hex().unwrap_or(same)),
            MessageIdForm::DecSubmitHexReceipt => out.push(hex_to_dec().unwrap_or(same)),
            MessageIdForm::Auto => {
                for key in [dec_to_hex(), hex_to_dec()].into_iter().flatten() {
                    if key != same && !out.contains(&key) {
                        out.push(key);
                    }
                }
                out.insert(0, same);
            }
        }
        out
    }
}

/// The key to store a `submit_sm_resp` message id under: trimmed, ASCII upper case, leading
/// zeros removed (an all-zero id becomes `"0"`).
pub fn submit_id_key(submit_id: &str) -> String {
    normalize(submit_id)
}

/// True when `receipt_id` refers to `submit_id` under `form`.
pub fn ids_match(submit_id: &str, receipt_id: &str, form: MessageIdForm) -> bool {
    let key = submit_id_key(submit_id);
    !key.is_empty() && form.candidates(receipt_id).contains(&key)
}

fn normalize(id: &str) -> String {
    let upper = id.trim().to_ascii_uppercase();
    let stripped = upper.trim_start_matches('0');
    if stripped.is_empty() && !upper.is_empty() {
        "0".to_owned()
    } else {
        stripped.to_owned()
    }
}

/// `"6699"` → `"1A2B"`. `None` unless the id is all decimal digits and fits in a u128.
fn decimal_to_hex(normalized: &str) -> Option<String> {
    if !normalized.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    normalized.parse::<u128>().ok().map(|n| format!("{n:X}"))
}

/// `"1A2B"` → `"6699"`. `None` unless the id is all hex digits and fits in a u128.
fn hex_to_decimal(normalized: &str) -> Option<String> {
    if !normalized.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(normalized, 16)
        .ok()
        .map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::MessageIdForm::*;
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(submit_id_key("0001a2b"), "1A2B");
        assert_eq!(submit_id_key("  abc "), "ABC");
        assert_eq!(submit_id_key("0000"), "0");
        assert_eq!(submit_id_key(""), "");
    }

    #[test]
    fn matching_table() {
        // (submit id, receipt id, form, matches)
        let table: &[(&str, &str, MessageIdForm, bool)] = &[
            ("1A2B", "1A2B", Same, true),
            ("1A2B", "1a2b", Same, true),
            ("1A2B", "0001a2b", Same, true),
            ("0001a2b", "1A2B", Same, true),
            ("1A2B", "6699", Same, false),
            ("1A2B", "6699", HexSubmitDecReceipt, true),
            ("1A2B", "6699", Auto, true),
            ("1a2b", "006699", Auto, true),
            ("6699", "1A2B", DecSubmitHexReceipt, true),
            ("6699", "1a2b", Auto, true),
            ("6699", "1A2B", HexSubmitDecReceipt, false),
            ("1A2B", "6699", DecSubmitHexReceipt, false),
            ("12345", "12345", Auto, true),
            ("12345", "12345", HexSubmitDecReceipt, false),
            ("ff", "255", HexSubmitDecReceipt, true),
            ("255", "FF", DecSubmitHexReceipt, true),
            ("abc-def", "ABC-DEF", Auto, true),
            ("abc-def", "ABC-DEF", HexSubmitDecReceipt, true),
            ("2f1e0d3c-4b5a", "2f1e0d3c-4b5a", Same, true),
            ("0", "000", Same, true),
            ("", "", Auto, false),
            ("1A2B", "", Auto, false),
            (
                "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
                "340282366920938463463374607431768211455",
                Auto,
                true,
            ),
            // Beyond u128: compared as strings only.
            (
                "1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
                "1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
                Auto,
                true,
            ),
        ];
        for &(submit, receipt, form, expected) in table {
            assert_eq!(
                ids_match(submit, receipt, form),
                expected,
                "submit {submit:?} receipt {receipt:?} {form:?}"
            );
        }
    }

    #[test]
    fn auto_candidates_are_ordered_and_unique() {
        assert_eq!(Auto.candidates("6699"), ["6699", "1A2B", "26265"]);
        assert_eq!(Auto.candidates("1A2B"), ["1A2B", "6699"]);
        assert_eq!(Auto.candidates("XYZ"), ["XYZ"]);
        assert_eq!(Auto.candidates("0"), ["0"]);
        assert!(Auto.candidates("  ").is_empty());
    }
}
