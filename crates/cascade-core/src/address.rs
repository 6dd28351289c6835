//! Addresses: E.164 numbers, SMS sender ids, SIP URIs. Each is a newtype that can only be
//! built by `parse`, so code below the API boundary never sees an unchecked address.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An E.164 number: `+`, a country code that does not start with 0, 7 to 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Msisdn(String);

impl Msisdn {
    /// # Errors
    /// Returns a message saying what is wrong with the number.
    pub fn parse(text: &str) -> Result<Msisdn, &'static str> {
        let digits = text
            .strip_prefix('+')
            .ok_or("must be an E.164 number starting with +")?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be an E.164 number: + followed by digits only");
        }
        if !(7..=15).contains(&digits.len()) {
            return Err("must be an E.164 number with 7 to 15 digits");
        }
        if digits.starts_with('0') {
            return Err("must be an E.164 number: the country code cannot start with 0");
        }
        Ok(Msisdn(text.to_owned()))
    }

    /// The digits without the leading `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// ISO 3166-1 alpha-2 code of the country the number belongs to, from libphonenumber's
    /// metadata; `None` for numbers that belong to no country (e.g. `+800`) or are unknown.
    pub fn country(&self) -> Option<String> {
        let number = phonenumber::parse(None, &self.0).ok()?;
        number.country().id().map(|id| id.as_ref().to_owned())
    }
}

impl AsRef<str> for Msisdn {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An SMS sender id: up to 11 alphanumeric characters, or up to 16 digits with an
/// optional leading `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SenderId(String);

impl SenderId {
    /// # Errors
    /// Returns a message saying what is wrong with the sender id.
    pub fn parse(text: &str) -> Result<SenderId, &'static str> {
        if text.is_empty() {
            return Err("must not be empty");
        }
        let numeric = text.strip_prefix('+').unwrap_or(text);
        if !numeric.is_empty() && numeric.bytes().all(|b| b.is_ascii_digit()) {
            if numeric.len() > 16 {
                return Err("a numeric sender id has at most 16 digits");
            }
            return Ok(SenderId(text.to_owned()));
        }
        if text.chars().count() > 11 {
            return Err("an alphanumeric sender id has at most 11 characters");
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || " .-_&".contains(c);
        if !text.chars().all(allowed) || text.trim().is_empty() {
            return Err(
                "an alphanumeric sender id uses only letters A-Z, digits, space and . - _ &",
            );
        }
        Ok(SenderId(text.to_owned()))
    }

    /// Whether the id is numeric (a phone number or short code) rather than alphanumeric.
    pub fn is_numeric(&self) -> bool {
        let s = self.0.strip_prefix('+').unwrap_or(&self.0);
        s.bytes().all(|b| b.is_ascii_digit())
    }
}

impl AsRef<str> for SenderId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A SIP destination `user@host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SipUri(String);

impl SipUri {
    /// # Errors
    /// Returns a message saying what is wrong with the address.
    pub fn parse(text: &str) -> Result<SipUri, &'static str> {
        const SHAPE: &str = "must be a SIP address user@host[:port]";
        let bare = text.strip_prefix("sip:").unwrap_or(text);
        let (user, host_port) = bare.split_once('@').ok_or(SHAPE)?;
        if user.is_empty() || user.contains(char::is_whitespace) {
            return Err(SHAPE);
        }
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !host_ok {
            return Err(SHAPE);
        }
        if let Some(port) = port {
            match port.parse::<u16>() {
                Ok(p) if p > 0 => {}
                _ => return Err("the SIP port must be a number from 1 to 65535"),
            }
        }
        if text.len() > 255 {
            return Err("a SIP address has at most 255 characters");
        }
        Ok(SipUri(bare.to_owned()))
    }
}

impl AsRef<str> for SipUri {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn msisdn_rejects() {
        for bad in [
            "",
            "306912345678",
            "+",
            "+0123456789",
            "+30 691 234",
            "+123456",
            "+1234567890123456",
            "+30abc12345",
            "＋306912345678",
        ] {
            assert!(Msisdn::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn msisdn_country_from_metadata() {
        assert_eq!(
            Msisdn::parse("+306912345678").unwrap().country().as_deref(),
            Some("GR")
        );
        assert_eq!(
            Msisdn::parse("+4915123456789")
                .unwrap()
                .country()
                .as_deref(),
            Some("DE")
        );
        assert_eq!(
            Msisdn::parse("+442071234567").unwrap().country().as_deref(),
            Some("GB")
        );
        assert_eq!(
            Msisdn::parse("+12025550123").unwrap().country().as_deref(),
            Some("US")
        );
        assert_eq!(Msisdn::parse("+80012345678").unwrap().country(), None);
    }

    #[test]
    fn sender_ids() {
        for good in [
            "Cascade",
            "MyShop 24",
            "+306912345678",
            "1234567890123456",
            "A.B-C_D&E",
        ] {
            assert!(SenderId::parse(good).is_ok(), "{good:?} should be accepted");
        }
        for bad in [
            "",
            "TwelveChars1",
            "12345678901234567",
            "Bad!",
            "Ünïcode",
            "   ",
        ] {
            assert!(SenderId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(SenderId::parse("+3069").unwrap().is_numeric());
        assert!(!SenderId::parse("Shop").unwrap().is_numeric());
    }

    #[test]
    fn sip_uris() {
        for good in [
            "alice@example.com",
            "bob@10.0.0.1:5060",
            "sip:carol@pbx.local",
        ] {
            assert!(SipUri::parse(good).is_ok(), "{good:?} should be accepted");
        }
        for bad in [
            "alice",
            "@host",
            "alice@",
            "alice@host:0",
            "alice@host:99999",
            "al ice@host",
            "a@ho st",
        ] {
            assert!(SipUri::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn any_well_formed_e164_parses(cc in 1u8..=9, rest in "[0-9]{6,14}") {
            let text = format!("+{cc}{rest}");
            let parsed = Msisdn::parse(&text).unwrap();
            prop_assert_eq!(parsed.as_ref(), text.as_str());
            prop_assert_eq!(parsed.digits().len(), rest.len() + 1);
        }
    }
}
