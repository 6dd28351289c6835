//! Wall-clock instants as integer milliseconds since the Unix epoch.
//!
//! The engine never reads a clock: callers pass `now` in. Storing milliseconds keeps
//! comparisons and arithmetic exact and the database columns plain integers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds since 1970-01-01T00:00:00Z. Printed as RFC 3339 UTC with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// `self + ms`, saturating instead of overflowing.
    #[must_use]
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub const fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Parse RFC 3339 with any sub-second precision and any offset, plus the minutes-only
    /// form `2026-05-05T15:00Z` that the search API accepts.
    ///
    /// # Errors
    /// Returns [`TimestampError`] when the text is neither form.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(Self(t.timestamp_millis()));
        }
        // Minutes-only: insert ":00" seconds before the offset and try again.
        if let Some(t_pos) = text.find('T') {
            let time_part = &text[t_pos + 1..];
            let offset_at = time_part
                .find(['Z', 'z', '+', '-'])
                .map(|i| t_pos + 1 + i)
                .ok_or(TimestampError)?;
            if text[t_pos + 1..offset_at].len() == 5 {
                let widened = format!("{}:00{}", &text[..offset_at], &text[offset_at..]);
                if let Ok(t) = DateTime::parse_from_rfc3339(&widened) {
                    return Ok(Self(t.timestamp_millis()));
                }
            }
        }
        Err(TimestampError)
    }

    /// Formatted in UTC with a `strftime`-like pattern (chrono's): e.g. `%y%m%d%H%M%S` for
    /// the dates of an SMPP delivery receipt.
    pub fn format_utc(self, pattern: &str) -> String {
        self.as_utc().format(pattern).to_string()
    }

    fn as_utc(self) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(self.0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// RFC 3339 UTC with millisecond precision and a `Z`.
    pub fn to_rfc3339(self) -> String {
        self.as_utc().to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// Where the runtime and the connectors get the time from, and how they wait for it.
///
/// Injected, so that nothing reads the wall clock behind the caller's back: the service
/// runs on the system clock, tests on a manual one that only moves when told to (every
/// loop then waits on virtual time, deterministically).
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;

    /// A future that completes once [`Clock::now`] has reached `at` (at once when it has).
    fn sleep_until(&self, at: Timestamp) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

    /// A future that completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        self.sleep_until(self.now().plus_millis(ms))
    }
}

/// The text is not an RFC 3339 timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 timestamp")]
pub struct TimestampError;

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_millisecond_utc() {
        assert_eq!(
            Timestamp::from_millis(1_772_356_502_113).to_rfc3339(),
            "2026-03-01T09:15:02.113Z"
        );
        assert_eq!(
            Timestamp::from_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn formats_with_a_pattern_in_utc() {
        let t = Timestamp::from_millis(1_767_225_600_000);
        assert_eq!(t.format_utc("%y%m%d%H%M%S"), "260101000000");
        assert_eq!(
            Timestamp::from_millis(951_782_400_000 + 86_399_000).format_utc("%Y-%m-%d %H:%M:%S"),
            "2000-02-29 23:59:59",
            "a leap day of a century divisible by 400"
        );
    }

    #[test]
    fn parses_any_precision_and_offset() {
        let t = Timestamp::parse("2026-03-01T09:15:02.113Z").unwrap();
        assert_eq!(t.as_millis(), 1_772_356_502_113);
        assert_eq!(
            Timestamp::parse("2026-03-01T10:15:02.113+01:00").unwrap(),
            t
        );
        assert_eq!(
            Timestamp::parse("2026-03-01T09:15:02.113456789Z").unwrap(),
            t,
            "sub-millisecond digits are truncated"
        );
        assert_eq!(
            Timestamp::parse("2026-03-01T09:15:02Z")
                .unwrap()
                .as_millis(),
            1_772_356_502_000
        );
    }

    #[test]
    fn parses_minutes_only_form() {
        assert_eq!(
            Timestamp::parse("2026-05-05T15:00Z").unwrap(),
            Timestamp::parse("2026-05-05T15:00:00Z").unwrap()
        );
        assert_eq!(
            Timestamp::parse("2026-05-05T17:00+02:00").unwrap(),
            Timestamp::parse("2026-05-05T15:00:00Z").unwrap()
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00Z",
            "2026-05-05",
            "2026-05-05T15Z",
            "2026-05-05T15:00",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
