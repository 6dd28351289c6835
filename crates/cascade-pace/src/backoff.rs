//! Capped doubling delays.

use std::time::Duration;

/// `min, 2·min, 4·min, …` up to `max`, indexed by the attempt that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// A cap below the floor is the floor.
    pub const fn new(min: Duration, max: Duration) -> Self {
        let max = if max.as_nanos() < min.as_nanos() {
            min
        } else {
            max
        };
        Backoff { min, max }
    }

    /// The delay after `failures` failed attempts before this one (0: the first retry waits
    /// `min`).
    pub fn delay(&self, failures: u32) -> Duration {
        // 2^32 times anything non-zero is past any useful cap; saturate instead.
        let factor = 1u32.checked_shl(failures).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// A series that remembers how many attempts failed since the last success.
    pub fn series(self) -> BackoffSeries {
        BackoffSeries {
            backoff: self,
            failures: 0,
        }
    }
}

/// [`Backoff`] with its own failure count, for a loop that retries until it succeeds
/// (reconnects).
#[derive(Debug, Clone)]
pub struct BackoffSeries {
    backoff: Backoff,
    failures: u32,
}

impl BackoffSeries {
    /// The delay before the next attempt; doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.backoff.delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// It worked: start again from the floor.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut series = Backoff::new(ms(500), Duration::from_secs(30)).series();
        let delays: Vec<_> = (0..9).map(|_| series.next_delay()).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000].map(ms)
        );
        series.reset();
        assert_eq!(series.next_delay(), ms(500));
    }

    #[test]
    fn a_cap_below_the_floor_is_the_floor() {
        let mut series = Backoff::new(ms(500), ms(100)).series();
        assert_eq!(series.next_delay(), ms(500));
        assert_eq!(series.next_delay(), ms(500));
    }

    #[test]
    fn indexed_by_failures_and_saturating() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let secs: Vec<u64> = (0..9).map(|a| backoff.delay(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(60));
        assert_eq!(backoff.delay(40), Duration::from_secs(60));
    }
}
