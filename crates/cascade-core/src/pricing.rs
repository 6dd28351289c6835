//! Price list and operator table: configuration-driven lookups the API uses to quote a
//! flow's steps when it is accepted. The quote is stored with the flow, so a price-list
//! change never re-prices flows already accepted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::address::Msisdn;
use crate::money::Micros;

/// Prices of one kind of message: a default and per-country overrides (ISO 3166-1 alpha-2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountryPrices {
    pub default: Micros,
    #[serde(default)]
    pub countries: BTreeMap<String, Micros>,
}

impl CountryPrices {
    pub fn flat(default: Micros) -> Self {
        Self {
            default,
            countries: BTreeMap::new(),
        }
    }

    pub fn for_country(&self, country: Option<&str>) -> Micros {
        country
            .and_then(|c| self.countries.get(&c.to_ascii_uppercase()))
            .copied()
            .unwrap_or(self.default)
    }
}

/// What each channel costs: SMS per part, Viber per message (text-only and rich content
/// priced apart), Voice per started minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceList {
    pub sms: CountryPrices,
    pub viber_text: CountryPrices,
    pub viber_rich: CountryPrices,
    pub voice_minute: CountryPrices,
}

impl Default for PriceList {
    /// 0.05 per SMS part, 0.02 per Viber text, 0.03 per rich Viber message, 0.10 per voice minute.
    fn default() -> Self {
        Self {
            sms: CountryPrices::flat(Micros::new(50_000)),
            viber_text: CountryPrices::flat(Micros::new(20_000)),
            viber_rich: CountryPrices::flat(Micros::new(30_000)),
            voice_minute: CountryPrices::flat(Micros::new(100_000)),
        }
    }
}

/// Voice is charged per started minute: 0 s is free, 1–60 s one minute, 61 s two.
pub fn voice_price(per_minute: Micros, duration_seconds: u32) -> Micros {
    per_minute * i64::from(duration_seconds.div_ceil(60))
}

/// Maps number prefixes to operator names; the longest matching prefix wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorTable {
    /// (digits without `+`, operator), sorted longest prefix first.
    entries: Vec<(String, String)>,
}

impl OperatorTable {
    /// Build from `prefix → operator` pairs; prefixes may carry a leading `+`.
    ///
    /// # Errors
    /// Names the first prefix that is not digits.
    pub fn new<I, K, V>(pairs: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let mut entries = Vec::new();
        for (prefix, name) in pairs {
            let prefix = prefix.as_ref();
            let digits = prefix.strip_prefix('+').unwrap_or(prefix);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "operator prefix {prefix:?} must be digits with an optional leading +"
                ));
            }
            entries.push((digits.to_owned(), name.into()));
        }
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(Self { entries })
    }

    /// The operator serving `number`, or `""` when no prefix matches.
    pub fn lookup(&self, number: &Msisdn) -> String {
        self.entries
            .iter()
            .find(|(prefix, _)| number.digits().starts_with(prefix.as_str()))
            .map(|(_, name)| name.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_override_beats_default() {
        let mut p = CountryPrices::flat(Micros::new(50_000));
        p.countries.insert("GR".into(), Micros::new(35_000));
        assert_eq!(p.for_country(Some("GR")), Micros::new(35_000));
        assert_eq!(p.for_country(Some("gr")), Micros::new(35_000));
        assert_eq!(p.for_country(Some("DE")), Micros::new(50_000));
        assert_eq!(p.for_country(None), Micros::new(50_000));
    }

    #[test]
    fn voice_is_per_started_minute() {
        let m = Micros::new(100_000);
        assert_eq!(voice_price(m, 0), Micros::ZERO);
        assert_eq!(voice_price(m, 1), m);
        assert_eq!(voice_price(m, 60), m);
        assert_eq!(voice_price(m, 61), m * 2);
    }

    #[test]
    fn longest_operator_prefix_wins() {
        let t = OperatorTable::new([
            ("+30", "Generic GR"),
            ("+30694", "Vodafone GR"),
            ("3069", "Mobile GR"),
        ])
        .unwrap();
        let n = |s| Msisdn::parse(s).unwrap();
        assert_eq!(t.lookup(&n("+306941234567")), "Vodafone GR");
        assert_eq!(t.lookup(&n("+306971234567")), "Mobile GR");
        assert_eq!(t.lookup(&n("+302101234567")), "Generic GR");
        assert_eq!(t.lookup(&n("+4915112345678")), "");
        assert!(OperatorTable::new([("+3x", "bad")]).is_err());
    }
}
