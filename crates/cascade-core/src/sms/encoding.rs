//! GSM 03.38 / UCS-2 encoding of SMS bodies: alphabet membership, length counting,
//! look-alike transcoding, SMPP payload encoding and splitting into concatenated parts.
//!
//! All counting here is about the *user data* of an SMS:
//!
//! * GSM-7 (`data_coding` 0): one septet per default-alphabet character, two for a
//!   character of the extension table (escape `0x1B` followed by its code). A single SMS
//!   carries 160 septets; a part of a concatenated SMS carries 153 (the UDH takes the rest).
//! * UCS-2 (`data_coding` 8): one UTF-16 code unit per BMP character, two (a surrogate
//!   pair) for anything beyond. A single SMS carries 70 units; a concatenated part 67.
//!
//! Parts are cut so that an escape never gets separated from its character and a
//! surrogate pair is never broken, and so that the parts concatenate back to the text.

use std::fmt;

/// How an SMS body travels: GSM 03.38 7-bit default alphabet (data_coding 0) or UCS-2 (data_coding 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SmsEncoding {
    /// GSM 03.38 default alphabet plus its extension table, SMPP `data_coding` 0.
    Gsm7,
    /// UCS-2 (in practice UTF-16BE, so characters outside the BMP survive), SMPP `data_coding` 8.
    Ucs2,
}

impl SmsEncoding {
    /// The SMPP `data_coding` value for this encoding: 0 for GSM-7, 8 for UCS-2.
    #[must_use]
    pub const fn data_coding(self) -> u8 {
        match self {
            Self::Gsm7 => 0,
            Self::Ucs2 => 8,
        }
    }

    /// Capacity of a body that fits in one SMS, in septets (GSM-7) or UTF-16 units (UCS-2).
    #[must_use]
    pub const fn single_part_limit(self) -> usize {
        match self {
            Self::Gsm7 => GSM7_SINGLE_PART_SEPTETS,
            Self::Ucs2 => UCS2_SINGLE_PART_UNITS,
        }
    }

    /// Capacity of one part of a concatenated SMS, in septets (GSM-7) or UTF-16 units (UCS-2).
    #[must_use]
    pub const fn multipart_limit(self) -> usize {
        match self {
            Self::Gsm7 => GSM7_MULTIPART_SEPTETS,
            Self::Ucs2 => UCS2_MULTIPART_UNITS,
        }
    }
}

impl fmt::Display for SmsEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2",
        })
    }
}

/// Septets in a GSM-7 body that goes as a single SMS.
pub const GSM7_SINGLE_PART_SEPTETS: usize = 160;
/// Septets in each part of a concatenated GSM-7 SMS.
pub const GSM7_MULTIPART_SEPTETS: usize = 153;
/// UTF-16 units in a UCS-2 body that goes as a single SMS.
pub const UCS2_SINGLE_PART_UNITS: usize = 70;
/// UTF-16 units in each part of a concatenated UCS-2 SMS.
pub const UCS2_MULTIPART_UNITS: usize = 67;

/// The result of planning a body: the text that will actually be sent (after optional transcoding)
/// and that text split into parts.
///
/// Invariants (upheld by [`plan`]): `parts` is never empty; `parts.concat() == text`; with
/// [`SmsEncoding::Gsm7`] every character of `text` is in GSM 03.38; a single part holds at most
/// the single-SMS capacity (160 septets / 70 units) and each of several parts at most the
/// concatenated-part capacity (153 septets / 67 units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsPlan {
    /// Encoding the text goes in.
    pub encoding: SmsEncoding,
    /// The text actually sent: the body itself, or its GSM-7 look-alike transcoding.
    pub text: String,
    /// `text` cut into SMS parts, in order.
    pub parts: Vec<String>,
}

/// Plan a body. When `transcode` is true and the body has characters outside GSM 03.38 that all have a
/// look-alike in it, they are replaced so the text goes as GSM-7. When some character has no look-alike,
/// the ORIGINAL body goes as UCS-2 (transcoding never degrades a text that must go UCS-2 anyway).
/// Without transcode: GSM-7 if every char is in the GSM 03.38 default alphabet or its extension table, else UCS-2.
///
/// An empty body gives one empty GSM-7 part. Never panics.
#[must_use]
pub fn plan(body: &str, transcode: bool) -> SmsPlan {
    let (encoding, text) = if is_gsm7(body) {
        (SmsEncoding::Gsm7, body.to_owned())
    } else if let Some(gsm) = transcode.then(|| self::transcode(body)).flatten() {
        (SmsEncoding::Gsm7, gsm)
    } else {
        (SmsEncoding::Ucs2, body.to_owned())
    };
    let parts = match encoding {
        SmsEncoding::Gsm7 => split(&text, encoding, |c| {
            // `text` is all GSM here (checked or produced by `transcode`); the fallback is unreachable.
            gsm_char(c).map_or(1, GsmChar::septets)
        }),
        SmsEncoding::Ucs2 => split(&text, encoding, char::len_utf16),
    };
    SmsPlan {
        encoding,
        text,
        parts,
    }
}

/// Whether every character of `text` is in the GSM 03.38 default alphabet (basic table) or its
/// extension table. The escape character itself (U+001B) is not text and makes this false.
/// The empty string is GSM-7.
#[must_use]
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm_char(c).is_some())
}

/// Number of septets `text` takes as GSM-7: 1 per basic-table character, 2 per extension-table
/// character (escape + code). `None` if some character is not in GSM 03.38.
#[must_use]
pub fn gsm7_septets(text: &str) -> Option<usize> {
    text.chars()
        .map(|c| gsm_char(c).map(GsmChar::septets))
        .sum()
}

/// Number of UTF-16 code units `text` takes as UCS-2 (2 for a character outside the BMP).
#[must_use]
pub fn ucs2_units(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Replace every character outside GSM 03.38 by its look-alike. `Some(text)` whose characters
/// are all GSM 03.38 when every non-GSM character has a look-alike (GSM characters are kept as
/// they are, so an all-GSM text comes back unchanged), `None` as soon as one has none.
///
/// The result may be longer than the input in characters (e.g. `…` becomes `...`, `œ` becomes `oe`)
/// and shorter (zero-width characters are dropped).
#[must_use]
pub fn transcode(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if gsm_char(c).is_some() {
            out.push(c);
        } else {
            out.push_str(lookalike(c)?);
        }
    }
    Some(out)
}

/// SMPP payload bytes: GSM-7 unpacked (one septet per byte, extension chars as 0x1B + code), as used by SMPP with data_coding 0.
///
/// `None` if some character is not in GSM 03.38. The result has [`gsm7_septets`] bytes, each `< 0x80`.
#[must_use]
pub fn encode_gsm7(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match gsm_char(c)? {
            GsmChar::Basic(code) => out.push(code),
            GsmChar::Extended(code) => out.extend_from_slice(&[ESC, code]),
        }
    }
    Some(out)
}

/// Decode unpacked GSM-7 (one septet per byte, as produced by [`encode_gsm7`]).
///
/// Strict: a byte `>= 0x80` is [`DecodeError::InvalidSeptet`]; an escape followed by a code the
/// extension table does not define (including a second escape, which would select a national
/// table) is [`DecodeError::UnknownEscape`]; an escape as the last byte is
/// [`DecodeError::DanglingEscape`]. So `decode_gsm7(b)` is `Ok(s)` exactly when
/// `encode_gsm7(&s) == Some(b.to_vec())`.
pub fn decode_gsm7(bytes: &[u8]) -> Result<String, DecodeError> {
    let mut out = String::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied().enumerate();
    while let Some((index, byte)) = iter.next() {
        let c = if byte == ESC {
            let (index, byte) = iter.next().ok_or(DecodeError::DanglingEscape)?;
            match EXTENSION.get(usize::from(byte)) {
                Some(Some(c)) => *c,
                Some(None) => return Err(DecodeError::UnknownEscape { byte, index }),
                None => return Err(DecodeError::InvalidSeptet { byte, index }),
            }
        } else {
            BASIC
                .get(usize::from(byte))
                .copied()
                .flatten()
                .ok_or(DecodeError::InvalidSeptet { byte, index })?
        };
        out.push(c);
    }
    Ok(out)
}

/// UTF-16BE.
///
/// The SMPP payload for `data_coding` 8: each UTF-16 code unit as two big-endian bytes, no BOM.
/// Characters outside the BMP become surrogate pairs, as handsets expect in practice.
#[must_use]
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Decode UTF-16BE (the inverse of [`encode_ucs2`]). No BOM handling: a leading U+FEFF is kept.
///
/// Errors: [`DecodeError::OddLength`] for an odd number of bytes, [`DecodeError::UnpairedSurrogate`]
/// (with the byte offset of the offending unit) for a surrogate that is not part of a valid pair.
pub fn decode_ucs2(bytes: &[u8]) -> Result<String, DecodeError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(DecodeError::OddLength { len: bytes.len() });
    }
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let mut out = String::with_capacity(bytes.len() / 2);
    let mut offset = 0;
    for decoded in char::decode_utf16(units) {
        let c = decoded.map_err(|_| DecodeError::UnpairedSurrogate { index: offset })?;
        out.push(c);
        offset += 2 * c.len_utf16();
    }
    Ok(out)
}

/// Why an SMS payload could not be decoded. Indexes are byte offsets into the payload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A UCS-2 payload must have an even number of bytes.
    #[error("UCS-2 payload has an odd length ({len} bytes)")]
    OddLength {
        /// Payload length in bytes.
        len: usize,
    },
    /// A UTF-16 surrogate without its partner.
    #[error("unpaired UTF-16 surrogate at byte offset {index}")]
    UnpairedSurrogate {
        /// Byte offset of the offending code unit.
        index: usize,
    },
    /// A byte that is not a septet (`>= 0x80`) in a GSM-7 payload.
    #[error("byte {byte:#04x} at offset {index} is not a GSM 03.38 septet")]
    InvalidSeptet {
        /// The offending byte.
        byte: u8,
        /// Its byte offset.
        index: usize,
    },
    /// An escape (0x1B) followed by a code the GSM 03.38 extension table does not define.
    #[error(
        "escape followed by {byte:#04x} at offset {index}, not in the GSM 03.38 extension table"
    )]
    UnknownEscape {
        /// The code after the escape.
        byte: u8,
        /// Byte offset of that code.
        index: usize,
    },
    /// A GSM-7 payload ending in an escape (0x1B) with no code after it.
    #[error("GSM-7 payload ends with a dangling escape (0x1B)")]
    DanglingEscape,
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// The escape to the extension table. Its position in [`BASIC`] holds no character.
const ESC: u8 = 0x1B;

/// GSM 03.38 default alphabet (3GPP TS 23.038 §6.2.1), indexed by septet code.
/// `None` at 0x1B: that code is the escape to [`EXTENSION`], not a character.
#[rustfmt::skip]
const BASIC: [Option<char>; 128] = [
    // 0x00
    Some('@'), Some('£'), Some('$'), Some('¥'), Some('è'), Some('é'), Some('ù'), Some('ì'),
    Some('ò'), Some('Ç'), Some('\n'), Some('Ø'), Some('ø'), Some('\r'), Some('Å'), Some('å'),
    // 0x10
    Some('Δ'), Some('_'), Some('Φ'), Some('Γ'), Some('Λ'), Some('Ω'), Some('Π'), Some('Ψ'),
    Some('Σ'), Some('Θ'), Some('Ξ'), None,      Some('Æ'), Some('æ'), Some('ß'), Some('É'),
    // 0x20
    Some(' '), Some('!'), Some('"'), Some('#'), Some('¤'), Some('%'), Some('&'), Some('\''),
    Some('('), Some(')'), Some('*'), Some('+'), Some(','), Some('-'), Some('.'), Some('/'),
    // 0x30
    Some('0'), Some('1'), Some('2'), Some('3'), Some('4'), Some('5'), Some('6'), Some('7'),
    Some('8'), Some('9'), Some(':'), Some(';'), Some('<'), Some('='), Some('>'), Some('?'),
    // 0x40
    Some('¡'), Some('A'), Some('B'), Some('C'), Some('D'), Some('E'), Some('F'), Some('G'),
    Some('H'), Some('I'), Some('J'), Some('K'), Some('L'), Some('M'), Some('N'), Some('O'),
    // 0x50
    Some('P'), Some('Q'), Some('R'), Some('S'), Some('T'), Some('U'), Some('V'), Some('W'),
    Some('X'), Some('Y'), Some('Z'), Some('Ä'), Some('Ö'), Some('Ñ'), Some('Ü'), Some('§'),
    // 0x60
    Some('¿'), Some('a'), Some('b'), Some('c'), Some('d'), Some('e'), Some('f'), Some('g'),
    Some('h'), Some('i'), Some('j'), Some('k'), Some('l'), Some('m'), Some('n'), Some('o'),
    // 0x70
    Some('p'), Some('q'), Some('r'), Some('s'), Some('t'), Some('u'), Some('v'), Some('w'),
    Some('x'), Some('y'), Some('z'), Some('ä'), Some('ö'), Some('ñ'), Some('ü'), Some('à'),
];

/// GSM 03.38 default alphabet extension table (3GPP TS 23.038 §6.2.1.1), indexed by the code
/// that follows the escape. Only the ten defined positions hold a character.
const EXTENSION: [Option<char>; 128] = build_extension(&[
    (0x0A, '\u{0C}'), // form feed (page break)
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
]);

const fn build_extension(entries: &[(u8, char)]) -> [Option<char>; 128] {
    let mut table = [None; 128];
    let mut i = 0;
    while i < entries.len() {
        let (code, c) = entries[i];
        table[code as usize] = Some(c);
        i += 1;
    }
    table
}

/// Where a character sits in GSM 03.38.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GsmChar {
    /// In the basic table at this code (one septet).
    Basic(u8),
    /// In the extension table at this code (two septets: escape + code).
    Extended(u8),
}

impl GsmChar {
    const fn septets(self) -> usize {
        match self {
            Self::Basic(_) => 1,
            Self::Extended(_) => 2,
        }
    }
}

/// Reverse of both tables for U+0000..=U+00FF, where almost every lookup lands.
const LATIN1_REVERSE: [Option<GsmChar>; 256] = build_latin1_reverse();

const fn build_latin1_reverse() -> [Option<GsmChar>; 256] {
    let mut reverse = [None; 256];
    let mut code = 0;
    while code < 128 {
        if let Some(c) = BASIC[code]
            && (c as u32) < 256
        {
            reverse[c as usize] = Some(GsmChar::Basic(code as u8));
        }
        if let Some(c) = EXTENSION[code]
            && (c as u32) < 256
        {
            reverse[c as usize] = Some(GsmChar::Extended(code as u8));
        }
        code += 1;
    }
    reverse
}

/// Position of `c` in GSM 03.38, if any.
fn gsm_char(c: char) -> Option<GsmChar> {
    if let Some(entry) = LATIN1_REVERSE.get(c as usize) {
        return *entry;
    }
    // Beyond Latin-1 only the Greek capitals of the basic table and € remain: scan.
    (0..128u8).find_map(|code| {
        if BASIC[usize::from(code)] == Some(c) {
            Some(GsmChar::Basic(code))
        } else if EXTENSION[usize::from(code)] == Some(c) {
            Some(GsmChar::Extended(code))
        } else {
            None
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Splitting
// ---------------------------------------------------------------------------------------------

/// Cut `text` into parts for `encoding`, where `cost` gives each character's size (septets or
/// UTF-16 units). Characters are indivisible, so an escape stays with its code and a surrogate
/// pair stays whole. Greedy filling is optimal for an ordered sequence of indivisible items,
/// so the part count is the minimum possible.
fn split(text: &str, encoding: SmsEncoding, cost: impl Fn(char) -> usize) -> Vec<String> {
    let total: usize = text.chars().map(&cost).sum();
    if total <= encoding.single_part_limit() {
        return vec![text.to_owned()];
    }
    let limit = encoding.multipart_limit();
    let mut parts = Vec::with_capacity(total.div_ceil(limit - 1));
    let (mut start, mut used) = (0, 0);
    for (i, c) in text.char_indices() {
        let size = cost(c);
        if used > 0 && used + size > limit {
            parts.push(text[start..i].to_owned());
            start = i;
            used = 0;
        }
        used += size;
    }
    parts.push(text[start..].to_owned());
    parts
}

// ---------------------------------------------------------------------------------------------
// Look-alikes
// ---------------------------------------------------------------------------------------------

/// The GSM 03.38 text that stands in for `c` when transcoding, or `None` if `c` has no
/// look-alike. Only defined for characters outside GSM 03.38; every result is GSM 03.38
/// (possibly empty, for invisible characters).
fn lookalike(c: char) -> Option<&'static str> {
    let s = match c {
        // Control and space characters.
        '\t' => " ",
        '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}' => " ",
        '\u{2028}' | '\u{2029}' => "\n",
        // Invisible: zero-width space / non-joiner / joiner, word joiner, BOM, soft hyphen.
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => "",

        // Typographic punctuation.
        '`' | '´' | '‘' | '’' | '‚' | '‛' | '′' | '‹' | '›' => "'",
        '“' | '”' | '„' | '‟' | '″' | '«' | '»' => "\"",
        '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' => "-",
        '…' => "...",
        '•' | '·' => ".",
        '×' => "x",
        '÷' | '⁄' => "/",
        '¦' => "|",
        'ˆ' => "^",
        '˜' => "~",

        // Greek capitals without a GSM glyph (Γ Δ Θ Λ Ξ Π Σ Φ Ψ Ω are in the table).
        'Α' | 'Ά' => "A",
        'Β' => "B",
        'Ε' | 'Έ' => "E",
        'Ζ' => "Z",
        'Η' | 'Ή' => "H",
        'Ι' | 'Ί' | 'Ϊ' => "I",
        'Κ' => "K",
        'Μ' => "M",
        'Ν' => "N",
        'Ο' | 'Ό' => "O",
        'Ρ' => "P",
        'Τ' => "T",
        'Υ' | 'Ύ' | 'Ϋ' => "Y",
        'Χ' => "X",
        'Ώ' => "Ω",
        // Greek lowercase: the GSM capital, or the Latin look-alike of the capital.
        'α' | 'ά' => "A",
        'β' => "B",
        'γ' => "Γ",
        'δ' => "Δ",
        'ε' | 'έ' => "E",
        'ζ' => "Z",
        'η' | 'ή' => "H",
        'θ' => "Θ",
        'ι' | 'ί' | 'ϊ' | 'ΐ' => "I",
        'κ' => "K",
        'λ' => "Λ",
        'μ' => "M",
        'ν' => "N",
        'ξ' => "Ξ",
        'ο' | 'ό' => "O",
        'π' => "Π",
        'ρ' => "P",
        'σ' | 'ς' => "Σ",
        'τ' => "T",
        'υ' | 'ύ' | 'ϋ' | 'ΰ' => "Y",
        'φ' => "Φ",
        'χ' => "X",
        'ψ' => "Ψ",
        'ω' | 'ώ' => "Ω",

        // Latin letters with diacritics not in GSM: the base letter.
        'á' | 'â' | 'ã' | 'ā' | 'ă' | 'ą' => "a",
        'Á' | 'Â' | 'Ã' | 'À' | 'Ā' | 'Ă' | 'Ą' => "A",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'ď' | 'đ' | 'ð' => "d",
        'Ď' | 'Đ' | 'Ð' => "D",
        'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'È' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
        'ĥ' | 'ħ' => "h",
        'Ĥ' | 'Ħ' => "H",
        'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'Í' | 'Î' | 'Ï' | 'Ì' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' => "I",
        'ĵ' => "j",
        'Ĵ' => "J",
        'ķ' => "k",
        'Ķ' => "K",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => "L",
        'ń' | 'ņ' | 'ň' => "n",
        'Ń' | 'Ņ' | 'Ň' => "N",
        'ó' | 'ô' | 'õ' | 'ō' | 'ŏ' | 'ő' => "o",
        'Ó' | 'Ô' | 'Õ' | 'Ò' | 'Ō' | 'Ŏ' | 'Ő' => "O",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'Ŕ' | 'Ŗ' | 'Ř' => "R",
        'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
        'Ś' | 'Ŝ' | 'Ş' | 'Š' | 'Ș' => "S",
        'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
        'Ţ' | 'Ť' | 'Ŧ' | 'Ț' => "T",
        'ú' | 'û' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'Ú' | 'Û' | 'Ù' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ŵ' => "w",
        'Ŵ' => "W",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'Ý' | 'Ÿ' | 'Ŷ' => "Y",
        'ź' | 'ż' | 'ž' => "z",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'œ' => "oe",
        'Œ' => "OE",
        _ => return None,
    };
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every character of GSM 03.38 (basic then extension) with its expected unpacked bytes.
    fn all_gsm() -> Vec<(char, Vec<u8>)> {
        let basic = (0u8..128).filter_map(|code| BASIC[usize::from(code)].map(|c| (c, vec![code])));
        let ext = (0u8..128)
            .filter_map(|code| EXTENSION[usize::from(code)].map(|c| (c, vec![ESC, code])));
        basic.chain(ext).collect()
    }

    fn gsm_chars() -> Vec<char> {
        all_gsm().into_iter().map(|(c, _)| c).collect()
    }

    // ----- tables -----

    #[test]
    fn tables_have_expected_sizes_and_no_duplicates() {
        assert_eq!(
            BASIC.iter().flatten().count(),
            127,
            "128 positions minus ESC"
        );
        assert_eq!(BASIC[usize::from(ESC)], None);
        assert_eq!(EXTENSION.iter().flatten().count(), 10);
        let mut chars = gsm_chars();
        chars.sort_unstable();
        chars.dedup();
        assert_eq!(chars.len(), 137);
    }

    #[test]
    fn every_table_char_round_trips_with_its_code() {
        for (c, bytes) in all_gsm() {
            let s = c.to_string();
            assert!(is_gsm7(&s), "{c:?}");
            assert_eq!(encode_gsm7(&s).as_deref(), Some(bytes.as_slice()), "{c:?}");
            assert_eq!(decode_gsm7(&bytes).as_deref(), Ok(s.as_str()), "{c:?}");
            assert_eq!(gsm7_septets(&s), Some(bytes.len()), "{c:?}");
        }
    }

    #[test]
    fn exact_positions() {
        let cases: &[(&str, &[u8])] = &[
            ("@£$", &[0x00, 0x01, 0x02]),
            ("€", &[0x1B, 0x65]),
            ("[", &[0x1B, 0x3C]),
            ("]", &[0x1B, 0x3E]),
            ("{}", &[0x1B, 0x28, 0x1B, 0x29]),
            ("\\|^~", &[0x1B, 0x2F, 0x1B, 0x40, 0x1B, 0x14, 0x1B, 0x3D]),
            ("\u{0C}", &[0x1B, 0x0A]),
            ("\n\r", &[0x0A, 0x0D]),
            (
                "ΔΦΓΛΩΠΨΣΘΞ",
                &[0x10, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A],
            ),
            ("_ÆæßÉ", &[0x11, 0x1C, 0x1D, 0x1E, 0x1F]),
            (
                "¤¡ÄÖÑÜ§¿äöñüà",
                &[
                    0x24, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x60, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F,
                ],
            ),
            ("Ç", &[0x09]),
            ("Aa z", &[0x41, 0x61, 0x20, 0x7A]),
        ];
        for (text, bytes) in cases {
            assert_eq!(encode_gsm7(text).as_deref(), Some(*bytes), "{text:?}");
            assert_eq!(decode_gsm7(bytes).as_deref(), Ok(*text), "{text:?}");
        }
    }

    #[test]
    fn non_gsm_chars_are_rejected() {
        for text in ["\u{1B}", "`", "ç", "\t", "α", "Α", "😀", "中", "$¢", "á"] {
            assert!(!is_gsm7(text), "{text:?}");
            assert_eq!(gsm7_septets(text), None, "{text:?}");
            assert_eq!(encode_gsm7(text), None, "{text:?}");
        }
        assert!(is_gsm7(""));
        assert_eq!(encode_gsm7(""), Some(vec![]));
    }

    #[test]
    fn counting() {
        assert_eq!(gsm7_septets("hello"), Some(5));
        assert_eq!(gsm7_septets("€10 [x]"), Some(10));
        assert_eq!(gsm7_septets(""), Some(0));
        assert_eq!(ucs2_units("привет"), 6);
        assert_eq!(ucs2_units("a😀"), 3);
        assert_eq!(ucs2_units(""), 0);
    }

    #[test]
    fn decode_gsm7_errors() {
        assert_eq!(
            decode_gsm7(&[0x41, 0x80]),
            Err(DecodeError::InvalidSeptet {
                byte: 0x80,
                index: 1
            })
        );
        assert_eq!(decode_gsm7(&[0x41, 0x1B]), Err(DecodeError::DanglingEscape));
        assert_eq!(
            decode_gsm7(&[0x1B, 0x41]),
            Err(DecodeError::UnknownEscape {
                byte: 0x41,
                index: 1
            })
        );
        assert_eq!(
            decode_gsm7(&[0x1B, 0x1B, 0x65]),
            Err(DecodeError::UnknownEscape {
                byte: 0x1B,
                index: 1
            })
        );
        assert_eq!(
            decode_gsm7(&[0x1B, 0xE5]),
            Err(DecodeError::InvalidSeptet {
                byte: 0xE5,
                index: 1
            })
        );
        assert_eq!(decode_gsm7(&[]).as_deref(), Ok(""));
    }

    #[test]
    fn ucs2_bytes_and_errors() {
        assert_eq!(encode_ucs2("Aé"), vec![0x00, 0x41, 0x00, 0xE9]);
        assert_eq!(encode_ucs2("😀"), vec![0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(decode_ucs2(&[0xD8, 0x3D, 0xDE, 0x00]).as_deref(), Ok("😀"));
        assert_eq!(
            decode_ucs2(&[0x00, 0x41, 0x00]),
            Err(DecodeError::OddLength { len: 3 })
        );
        // Lone high surrogate followed by 'A'.
        assert_eq!(
            decode_ucs2(&[0x00, 0x41, 0xD8, 0x3D, 0x00, 0x41]),
            Err(DecodeError::UnpairedSurrogate { index: 2 })
        );
        // Lone low surrogate after an emoji.
        assert_eq!(
            decode_ucs2(&[0xD8, 0x3D, 0xDE, 0x00, 0xDE, 0x00]),
            Err(DecodeError::UnpairedSurrogate { index: 4 })
        );
        assert_eq!(decode_ucs2(&[]).as_deref(), Ok(""));
    }

    #[test]
    fn encoding_metadata() {
        assert_eq!(SmsEncoding::Gsm7.data_coding(), 0);
        assert_eq!(SmsEncoding::Ucs2.data_coding(), 8);
        assert_eq!(SmsEncoding::Gsm7.to_string(), "GSM-7");
        assert_eq!(SmsEncoding::Ucs2.to_string(), "UCS-2");
    }

    // ----- splitting boundaries -----

    fn lens_gsm(p: &SmsPlan) -> Vec<usize> {
        p.parts
            .iter()
            .map(|s| gsm7_septets(s).expect("GSM plan has GSM parts"))
            .collect()
    }

    fn lens_ucs2(p: &SmsPlan) -> Vec<usize> {
        p.parts.iter().map(|s| ucs2_units(s)).collect()
    }

    #[test]
    fn gsm_boundaries() {
        for (n, expected) in [
            (0, vec![0]),
            (1, vec![1]),
            (160, vec![160]),
            (161, vec![153, 8]),
            (306, vec![153, 153]),
            (307, vec![153, 153, 1]),
        ] {
            let body = "a".repeat(n);
            let p = plan(&body, false);
            assert_eq!(p.encoding, SmsEncoding::Gsm7);
            assert_eq!(lens_gsm(&p), expected, "n = {n}");
            assert_eq!(p.parts.concat(), body);
        }
    }

    #[test]
    fn extension_chars_count_double_in_single_part() {
        // 80 € = 160 septets: one part. One more septet: two parts.
        let p = plan(&"€".repeat(80), false);
        assert_eq!(lens_gsm(&p), vec![160]);
        let p = plan(&format!("{}a", "€".repeat(80)), false);
        assert_eq!(p.parts.len(), 2);
    }

    #[test]
    fn extension_char_never_straddles_a_part_boundary() {
        // 152 septets, then € would take septets 153 and 154: it moves whole to part 2.
        let body = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let p = plan(&body, false);
        assert_eq!(p.encoding, SmsEncoding::Gsm7);
        assert_eq!(
            p.parts,
            vec!["a".repeat(152), format!("€{}", "b".repeat(10))]
        );
        assert_eq!(lens_gsm(&p), vec![152, 12]);
        // With 151 before it, it fits exactly at the end of part 1.
        let body = format!("{}€{}", "a".repeat(151), "b".repeat(10));
        let p = plan(&body, false);
        assert_eq!(
            p.parts,
            vec![format!("{}€", "a".repeat(151)), "b".repeat(10)]
        );
        // The encoded parts concatenate to the encoded text: no split escape.
        let joined: Vec<u8> = p
            .parts
            .iter()
            .flat_map(|s| encode_gsm7(s).expect("GSM part"))
            .collect();
        assert_eq!(Some(joined), encode_gsm7(&p.text));
    }

    #[test]
    fn ucs2_boundaries() {
        for (n, expected) in [
            (70, vec![70]),
            (71, vec![67, 4]),
            (134, vec![67, 67]),
            (135, vec![67, 67, 1]),
        ] {
            let body = "ж".repeat(n);
            let p = plan(&body, true);
            assert_eq!(p.encoding, SmsEncoding::Ucs2);
            assert_eq!(lens_ucs2(&p), expected, "n = {n}");
            assert_eq!(p.parts.concat(), body);
        }
    }

    #[test]
    fn emoji_never_straddles_a_part_boundary() {
        let body = format!("{}😀{}", "a".repeat(66), "b".repeat(10));
        let p = plan(&body, false);
        assert_eq!(p.encoding, SmsEncoding::Ucs2);
        assert_eq!(
            p.parts,
            vec!["a".repeat(66), format!("😀{}", "b".repeat(10))]
        );
        assert_eq!(lens_ucs2(&p), vec![66, 12]);
        // 35 emoji = 70 units: single part; 36 = 72 units: 33 + 3 emoji.
        assert_eq!(plan(&"😀".repeat(35), false).parts.len(), 1);
        assert_eq!(lens_ucs2(&plan(&"😀".repeat(36), false)), vec![66, 6]);
    }

    #[test]
    fn empty_body_is_one_empty_gsm_part() {
        for t in [false, true] {
            let p = plan("", t);
            assert_eq!(
                p,
                SmsPlan {
                    encoding: SmsEncoding::Gsm7,
                    text: String::new(),
                    parts: vec![String::new()]
                }
            );
        }
    }

    // ----- transcoding -----

    #[test]
    fn greek_capitals_transcode_to_gsm() {
        let p = plan("ΑΒΓ", true);
        assert_eq!(p.encoding, SmsEncoding::Gsm7);
        assert_eq!(p.text, "ABΓ");
        assert_eq!(p.parts, vec!["ABΓ"]);
        assert_eq!(encode_gsm7(&p.text), Some(vec![0x41, 0x42, 0x13]));
        assert_eq!(transcode("ΚΑΛΗΜΕΡΑ").as_deref(), Some("KAΛHMEPA"));
    }

    #[test]
    fn greek_lowercase_and_accents_transcode() {
        assert_eq!(transcode("καλημέρα").as_deref(), Some("KAΛHMEPA"));
        assert_eq!(transcode("ευχαριστώ").as_deref(), Some("EYXAPIΣTΩ"));
        assert_eq!(
            transcode("ς σ ω ψ φ θ ξ π δ γ λ").as_deref(),
            Some("Σ Σ Ω Ψ Φ Θ Ξ Π Δ Γ Λ")
        );
        assert_eq!(transcode("άέήίόύώϊϋΐΰ").as_deref(), Some("AEHIOYΩIYIY"));
        assert_eq!(transcode("ΆΈΉΊΌΎΏ").as_deref(), Some("AEHIOYΩ"));
    }

    #[test]
    fn greek_lowercase_without_transcode_goes_ucs2() {
        let p = plan("καλημέρα", false);
        assert_eq!(p.encoding, SmsEncoding::Ucs2);
        assert_eq!(p.text, "καλημέρα");
    }

    #[test]
    fn accented_latin_transcodes() {
        let p = plan(
            "Ação não, garçon! Łódź, İstanbul, ağaç, Škoda, Crème brûlée",
            true,
        );
        assert_eq!(p.encoding, SmsEncoding::Gsm7);
        assert_eq!(
            p.text,
            "Acao nao, garcon! Lodz, Istanbul, agac, Skoda, Crème brulée"
        );
        // GSM letters are kept even when transcoding: è é ù ì ò à ä ö ü ñ Ç É Ä Ö Ñ Ü Å å Ø ø.
        assert_eq!(
            transcode("èéùìòàäöüñÇÉÄÖÑÜÅåØø").as_deref(),
            Some("èéùìòàäöüñÇÉÄÖÑÜÅåØø")
        );
        assert_eq!(
            transcode("áâãçêëíîïóôõúûýÿ").as_deref(),
            Some("aaaceeiiiooouuyy")
        );
        assert_eq!(
            transcode("ÁÂÃÀÈÊËÍÎÏÌÓÔÕÒÚÛÙÝ").as_deref(),
            Some("AAAAEEEIIIIOOOOUUUY")
        );
        assert_eq!(
            transcode("ğşıİłŁśźżńćąęčšžřČŠŽŘ").as_deref(),
            Some("gsiIlLszzncaecszrCSZR")
        );
    }

    #[test]
    fn punctuation_transcodes() {
        assert_eq!(
            transcode("‘a’ ‚b‛ 5′ “c” „d″ x–y—z―w … \u{00A0}\u{2009}• «e» ‹f› 2×3 6÷2\tend")
                .as_deref(),
            Some("'a' 'b' 5' \"c\" \"d\" x-y-z-w ...   . \"e\" 'f' 2x3 6/2 end")
        );
        assert_eq!(transcode("a\u{200B}b\u{FEFF}").as_deref(), Some("ab"));
        assert_eq!(transcode("`x`").as_deref(), Some("'x'"));
    }

    #[test]
    fn no_lookalike_keeps_original_as_ucs2() {
        let body = "Café – 你好";
        assert_eq!(transcode(body), None);
        let p = plan(body, true);
        assert_eq!(p.encoding, SmsEncoding::Ucs2);
        assert_eq!(p.text, body, "the original, not a half-transcoded text");
        let p = plan("ΑΒΓ 😀", true);
        assert_eq!(p.encoding, SmsEncoding::Ucs2);
        assert_eq!(p.text, "ΑΒΓ 😀");
    }

    #[test]
    fn gsm_body_is_untouched_by_transcode() {
        let body = "Hello {name}, €5 off [today] ~ ^_^ | \\o/ @ £ ¥ §";
        assert_eq!(plan(body, true), plan(body, false));
        assert_eq!(plan(body, true).text, body);
    }

    #[test]
    fn lookalikes_are_only_for_non_gsm_and_yield_gsm() {
        let mut defined = 0;
        for c in (0..=0x1_FFFF).filter_map(char::from_u32) {
            if let Some(s) = lookalike(c) {
                defined += 1;
                assert!(
                    gsm_char(c).is_none(),
                    "{c:?} is GSM, its look-alike is dead code"
                );
                assert!(is_gsm7(s), "look-alike of {c:?} is {s:?}, not GSM");
            }
        }
        assert!(defined > 200, "only {defined} look-alikes");
    }

    #[test]
    fn gsm_lookup_agrees_with_tables_everywhere() {
        let table = all_gsm();
        for c in (0..=0x1_FFFF).filter_map(char::from_u32) {
            let expected = table.iter().find(|(t, _)| *t == c).map(|(_, b)| b.clone());
            assert_eq!(encode_gsm7(&c.to_string()), expected, "{c:?}");
        }
    }

    // ----- properties -----

    fn gsm_char_strategy() -> impl Strategy<Value = char> {
        proptest::sample::select(gsm_chars())
    }

    fn lookalike_char_strategy() -> impl Strategy<Value = char> {
        proptest::sample::select(
            (0..0x3100)
                .filter_map(char::from_u32)
                .filter(|c| lookalike(*c).is_some())
                .collect::<Vec<_>>(),
        )
    }

    /// Bodies that exercise every path: mostly GSM (so multi-part GSM-7 happens), with
    /// look-alikes, extension characters and arbitrary characters (incl. astral) mixed in.
    fn body_strategy() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            6 => gsm_char_strategy(),
            2 => lookalike_char_strategy(),
            1 => proptest::sample::select(vec!['€', '[', '{', '\u{0C}', '😀', '𝄞']),
            1 => any::<char>(),
        ];
        prop_oneof![
            proptest::collection::vec(c, 0..400).prop_map(|v| v.into_iter().collect()),
            any::<String>(),
        ]
    }

    fn check_plan(body: &str, transcode_flag: bool) -> Result<(), TestCaseError> {
        let p = plan(body, transcode_flag);
        prop_assert!(!p.parts.is_empty());
        prop_assert_eq!(p.parts.concat(), p.text.clone());
        let (sizes, total): (Vec<usize>, usize) = match p.encoding {
            SmsEncoding::Gsm7 => {
                prop_assert!(is_gsm7(&p.text));
                let sizes: Vec<usize> = p
                    .parts
                    .iter()
                    .map(|s| gsm7_septets(s).unwrap_or(usize::MAX))
                    .collect();
                let total = gsm7_septets(&p.text).unwrap_or(usize::MAX);
                (sizes, total)
            }
            SmsEncoding::Ucs2 => {
                prop_assert!(!is_gsm7(body));
                prop_assert_eq!(&p.text, body, "UCS-2 always sends the original body");
                (
                    p.parts.iter().map(|s| ucs2_units(s)).collect(),
                    ucs2_units(&p.text),
                )
            }
        };
        prop_assert_eq!(sizes.iter().sum::<usize>(), total);
        let single = p.encoding.single_part_limit();
        let multi = p.encoding.multipart_limit();
        prop_assert_eq!(p.parts.len() == 1, total <= single);
        if p.parts.len() > 1 {
            for (i, part) in p.parts.iter().enumerate() {
                prop_assert!(sizes[i] <= multi, "part {} has {} > {}", i, sizes[i], multi);
                prop_assert!(!part.is_empty());
                // Greedy maximality: the next part's first char would not have fitted, so no
                // part could have been filled more and the count is minimal.
                if let Some(next) = p.parts.get(i + 1) {
                    let first: String = next.chars().take(1).collect();
                    let first_size = match p.encoding {
                        SmsEncoding::Gsm7 => gsm7_septets(&first).unwrap_or(usize::MAX),
                        SmsEncoding::Ucs2 => ucs2_units(&first),
                    };
                    prop_assert!(sizes[i] + first_size > multi);
                }
            }
            prop_assert!(p.parts.len() <= total.div_ceil(multi - 1));
        }
        if transcode_flag {
            if is_gsm7(body) || transcode(body).is_none() {
                prop_assert_eq!(&p.text, body);
            } else {
                prop_assert_eq!(p.encoding, SmsEncoding::Gsm7);
            }
        } else {
            prop_assert_eq!(&p.text, body);
            prop_assert_eq!(p.encoding == SmsEncoding::Gsm7, is_gsm7(body));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn plan_invariants(body in body_strategy(), transcode_flag in any::<bool>()) {
            check_plan(&body, transcode_flag)?;
        }

        #[test]
        fn gsm7_round_trip(chars in proptest::collection::vec(gsm_char_strategy(), 0..400)) {
            let s: String = chars.into_iter().collect();
            let bytes = encode_gsm7(&s);
            prop_assert!(bytes.is_some());
            let bytes = bytes.unwrap_or_default();
            prop_assert_eq!(bytes.len(), gsm7_septets(&s).unwrap_or(usize::MAX));
            prop_assert!(bytes.iter().all(|b| *b < 0x80));
            prop_assert_eq!(decode_gsm7(&bytes), Ok(s));
        }

        #[test]
        fn gsm7_decode_is_exact_inverse(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(s) = decode_gsm7(&bytes) {
                prop_assert_eq!(encode_gsm7(&s), Some(bytes));
            }
        }

        #[test]
        fn ucs2_round_trip(s in any::<String>()) {
            let bytes = encode_ucs2(&s);
            prop_assert_eq!(bytes.len(), 2 * ucs2_units(&s));
            prop_assert_eq!(decode_ucs2(&bytes), Ok(s));
        }

        #[test]
        fn ucs2_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(s) = decode_ucs2(&bytes) {
                prop_assert_eq!(encode_ucs2(&s), bytes);
            }
        }

        #[test]
        fn transcode_output_is_gsm(body in body_strategy()) {
            if let Some(t) = transcode(&body) {
                prop_assert!(is_gsm7(&t));
                prop_assert_eq!(t == body, is_gsm7(&body));
            }
        }
    }
}
