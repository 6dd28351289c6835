//! Money as integer micro-units (1 unit = 1 000 000 micros), so sums stay exact in every
//! store. JSON sees plain decimal numbers with at most six decimals.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Sub};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// An amount of money in millionths of the currency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Micros(i64);

impl Micros {
    pub const ZERO: Micros = Micros(0);

    pub const fn new(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// Convert a decimal amount read from JSON or TOML. Rounds to the nearest micro, which is
    /// exact for any amount written with six decimals or fewer. An amount below zero stays
    /// below zero (at least one micro), so a sign check on the result is one on the input:
    /// `-2.3e-206` is not taken as a balance of 0.
    ///
    /// # Errors
    /// Returns [`MoneyError`] for NaN, infinities and amounts beyond ±9 000 000 000 000.
    pub fn from_decimal(amount: f64) -> Result<Self, MoneyError> {
        if !amount.is_finite() || amount.abs() > 9.0e12 {
            return Err(MoneyError);
        }
        // Truncation is intended: the value was range-checked above and rounded first.
        #[allow(clippy::cast_possible_truncation)]
        let micros = (amount * MICROS_PER_UNIT as f64).round() as i64;
        Ok(Self(if amount < 0.0 { micros.min(-1) } else { micros }))
    }

    /// The amount as the nearest `f64`, used only at the JSON boundary.
    #[allow(clippy::cast_precision_loss)]
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_UNIT as f64
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

/// The number is not a usable amount of money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid amount of money")]
pub struct MoneyError;

impl fmt::Display for Micros {
    /// Plain decimal with the trailing zeros dropped: `0.05`, `12`, `-3.000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / MICROS_PER_UNIT as u64;
        let frac = abs % MICROS_PER_UNIT as u64;
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{frac:06}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl Add for Micros {
    type Output = Micros;
    fn add(self, rhs: Micros) -> Micros {
        Micros(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Micros {
    fn add_assign(&mut self, rhs: Micros) {
        *self = *self + rhs;
    }
}

impl Sub for Micros {
    type Output = Micros;
    fn sub(self, rhs: Micros) -> Micros {
        Micros(self.0.saturating_sub(rhs.0))
    }
}

impl Mul<i64> for Micros {
    type Output = Micros;
    fn mul(self, rhs: i64) -> Micros {
        Micros(self.0.saturating_mul(rhs))
    }
}

impl Sum for Micros {
    fn sum<I: Iterator<Item = Micros>>(iter: I) -> Micros {
        iter.fold(Micros::ZERO, Add::add)
    }
}

impl Serialize for Micros {
    /// Serialized as a JSON number written exactly as [`fmt::Display`] prints it
    /// (`0.000001`, never `1e-6`), so clients see the stored decimal, not a float's idea of it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.to_string())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let amount = f64::deserialize(d)?;
        Micros::from_decimal(amount).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn displays_plain_decimals() {
        assert_eq!(Micros::new(50_000).to_string(), "0.05");
        assert_eq!(Micros::new(12_000_000).to_string(), "12");
        assert_eq!(Micros::new(-3_000_001).to_string(), "-3.000001");
        assert_eq!(Micros::ZERO.to_string(), "0");
    }

    #[test]
    fn json_numbers_keep_their_decimal_form() {
        assert_eq!(
            serde_json::to_string(&Micros::new(170_000)).unwrap(),
            "0.17"
        );
        assert_eq!(
            serde_json::to_string(&Micros::new(12_500_000)).unwrap(),
            "12.5"
        );
        assert_eq!(
            serde_json::to_string(&Micros::new(100_000_000)).unwrap(),
            "100"
        );
        assert_eq!(serde_json::to_string(&Micros::new(1)).unwrap(), "0.000001");
        assert_eq!(
            serde_json::to_value(Micros::new(52_500)).unwrap(),
            serde_json::json!(0.0525)
        );
    }

    #[test]
    fn an_amount_below_zero_stays_below_zero_however_little() {
        assert_eq!(Micros::from_decimal(-2.3e-206).unwrap(), Micros::new(-1));
        assert_eq!(Micros::from_decimal(-0.0000001).unwrap(), Micros::new(-1));
        assert_eq!(Micros::from_decimal(-1.5).unwrap(), Micros::new(-1_500_000));
        assert_eq!(Micros::from_decimal(-0.0).unwrap(), Micros::ZERO);
        assert_eq!(Micros::from_decimal(0.0000001).unwrap(), Micros::ZERO);
    }

    #[test]
    fn rejects_non_finite_and_huge() {
        assert!(Micros::from_decimal(f64::NAN).is_err());
        assert!(Micros::from_decimal(f64::INFINITY).is_err());
        assert!(Micros::from_decimal(1e13).is_err());
    }

    proptest! {
        #[test]
        fn decimal_round_trip(micros in -999_999_999_999_999i64..=999_999_999_999_999i64) {
            let m = Micros::new(micros);
            let json = serde_json::to_string(&m).unwrap();
            let back: Micros = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, m);
            let from_display: f64 = m.to_string().parse().unwrap();
            prop_assert_eq!(Micros::from_decimal(from_display).unwrap(), m);
        }
    }
}
