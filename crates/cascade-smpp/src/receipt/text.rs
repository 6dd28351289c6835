//! Tolerant parser for the SMPP 3.4 Appendix B receipt text:
//!
//! ```text
//! id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//! ```
//!
//! What SMSCs actually send varies, so: keys are case-insensitive, in any order, each may be
//! missing; spaces around `:` and between values are free; `submit date` may also be written
//! `submit_date`/`submitdate`; `stat` may be `state`/`status`; `err` may be `error`; dates
//! have 10 or 12 digits (with seconds); ids have any length. A key is recognised only at the
//! start of the text or after whitespace, `,` or `;`. `text:` takes the rest of the message
//! (so an `id:` inside the user text is not mistaken for a key); a key seen twice keeps its
//! first value.

/// The fields the text may carry, in no particular order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

/// Spellings, as word lists: words of one key may be separated by spaces, `_` or `-`, or
/// nothing. Longer spellings come first so `status` is not read as `stat` + `us`.
const KEYS: &[(Key, &[&str])] = &[
    (Key::Id, &["id"]),
    (Key::Sub, &["sub"]),
    (Key::Dlvrd, &["dlvrd"]),
    (Key::SubmitDate, &["submit", "date"]),
    (Key::DoneDate, &["done", "date"]),
    (Key::Stat, &["status"]),
    (Key::Stat, &["state"]),
    (Key::Stat, &["stat"]),
    (Key::Err, &["error"]),
    (Key::Err, &["err"]),
    (Key::Text, &["text"]),
];

/// The raw values found in a receipt text, trimmed. `None` when the key is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawFields {
    pub id: Option<String>,
    pub sub: Option<String>,
    pub dlvrd: Option<String>,
    pub submit_date: Option<String>,
    pub done_date: Option<String>,
    pub stat: Option<String>,
    pub err: Option<String>,
    pub text: Option<String>,
}

impl RawFields {
    fn slot(&mut self, key: Key) -> &mut Option<String> {
        match key {
            Key::Id => &mut self.id,
            Key::Sub => &mut self.sub,
            Key::Dlvrd => &mut self.dlvrd,
            Key::SubmitDate => &mut self.submit_date,
            Key::DoneDate => &mut self.done_date,
            Key::Stat => &mut self.stat,
            Key::Err => &mut self.err,
            Key::Text => &mut self.text,
        }
    }
}

/// Splits `text` into its Appendix B fields. Never fails: unknown content is ignored.
pub(crate) fn split_fields(text: &str) -> RawFields {
    // ASCII lowercasing keeps every byte offset, so indices into `lower` are valid in `text`.
    let lower = text.to_ascii_lowercase();
    let mut found: Vec<(Key, usize, usize)> = Vec::new(); // (key, key start, value start)
    let mut prev: Option<char> = None;
    for (i, c) in lower.char_indices() {
        let at_boundary = prev.is_none_or(|p| p.is_whitespace() || p == ',' || p == ';');
        prev = Some(c);
        if !at_boundary || found.last().is_some_and(|&(_, _, v)| v > i) {
            continue;
        }
        if let Some((key, value_start)) = match_key(&lower, i) {
            found.push((key, i, value_start));
            if key == Key::Text {
                break;
            }
        }
    }
    let mut fields = RawFields::default();
    for (n, &(key, _, value_start)) in found.iter().enumerate() {
        let value_end = found.get(n + 1).map_or(text.len(), |&(_, start, _)| start);
        let value = text.get(value_start..value_end).unwrap_or("").trim();
        let slot = fields.slot(key);
        if slot.is_none() {
            *slot = Some(value.to_owned());
        }
    }
    fields
}

/// Matches one of [`KEYS`] at byte `at`, then optional spaces and `:`. Returns the key and
/// where its value starts.
fn match_key(lower: &str, at: usize) -> Option<(Key, usize)> {
    let rest = lower.get(at..)?;
    KEYS.iter().find_map(|&(key, words)| {
        let mut pos = 0;
        for (n, word) in words.iter().enumerate() {
            if n > 0 {
                pos += rest[pos..]
                    .bytes()
                    .take_while(|b| matches!(b, b' ' | b'_' | b'-'))
                    .count();
            }
            if !rest[pos..].starts_with(word) {
                return None;
            }
            pos += word.len();
        }
        pos += rest[pos..].bytes().take_while(|&b| b == b' ').count();
        rest[pos..].starts_with(':').then_some((key, at + pos + 1))
    })
}

/// The first whitespace-separated token of a value, if any.
pub(crate) fn first_token(value: &str) -> Option<&str> {
    value.split_whitespace().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_canonical_form() {
        let f = split_fields(
            "id:0123456789 sub:001 dlvrd:001 submit date:0610191018 done date:0610191018 \
             stat:DELIVRD err:000 text:Hello world",
        );
        assert_eq!(f.id.as_deref(), Some("0123456789"));
        assert_eq!(f.sub.as_deref(), Some("001"));
        assert_eq!(f.dlvrd.as_deref(), Some("001"));
        assert_eq!(f.submit_date.as_deref(), Some("0610191018"));
        assert_eq!(f.done_date.as_deref(), Some("0610191018"));
        assert_eq!(f.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(f.err.as_deref(), Some("000"));
        assert_eq!(f.text.as_deref(), Some("Hello world"));
    }

    #[test]
    fn keys_inside_words_are_not_keys() {
        let f = split_fields("msgid:5 id:7 substat:x stat:DELIVRD");
        // The value runs to the next real key; callers take its first token.
        assert_eq!(f.id.as_deref(), Some("7 substat:x"));
        assert_eq!(f.id.as_deref().and_then(first_token), Some("7"));
        assert_eq!(f.stat.as_deref(), Some("DELIVRD"));
    }

    #[test]
    fn text_swallows_the_rest() {
        let f = split_fields("id:1 stat:DELIVRD text:your id: 42 stat:none");
        assert_eq!(f.id.as_deref(), Some("1"));
        assert_eq!(f.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(f.text.as_deref(), Some("your id: 42 stat:none"));
    }

    #[test]
    fn spelling_variants() {
        let f =
            split_fields("Status : UNDELIV Error:12 SUBMIT_DATE:2501011200 donedate:2501011201");
        assert_eq!(f.stat.as_deref(), Some("UNDELIV"));
        assert_eq!(f.err.as_deref(), Some("12"));
        assert_eq!(f.submit_date.as_deref(), Some("2501011200"));
        assert_eq!(f.done_date.as_deref(), Some("2501011201"));
    }

    #[test]
    fn non_ascii_does_not_panic() {
        let f = split_fields("id:é1 stat:ÉÉÉ text:ünï");
        assert_eq!(f.id.as_deref(), Some("é1"));
        assert_eq!(f.text.as_deref(), Some("ünï"));
    }
}
