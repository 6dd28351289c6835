//! SMS text handling: GSM 03.38 / UCS-2 encoding, transcoding and splitting into parts.

pub mod encoding;

pub use encoding::{SmsEncoding, SmsPlan, plan};
