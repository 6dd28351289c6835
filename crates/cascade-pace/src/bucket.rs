//! A token bucket in exact integer arithmetic.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// Nanoseconds in a second: one token is worth this many units, so refilling at `rate`
/// tokens per second adds `rate` units per nanosecond and all arithmetic stays integral
/// (no drift from rounding floats, however long the bucket lives).
const UNITS_PER_TOKEN: u128 = 1_000_000_000;

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_second: NonZeroU32,
    /// Bucket size: how many may go back to back after an idle spell.
    pub burst: NonZeroU32,
}

impl Rate {
    /// `per_second` with a burst of one: evenly spaced, which is what peers that count
    /// per fraction of a second expect.
    pub fn per_second(per_second: NonZeroU32) -> Self {
        Rate {
            per_second,
            burst: NonZeroU32::MIN,
        }
    }
}

/// Tokens refilled at [`Rate::per_second`] up to [`Rate::burst`]; starts full.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u128,
    capacity: u128,
    level: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate, now: Instant) -> Self {
        let capacity = u128::from(rate.burst.get()) * UNITS_PER_TOKEN;
        TokenBucket {
            rate: u128::from(rate.per_second.get()),
            capacity,
            level: capacity,
            last: now,
        }
    }

    /// Change the rate, keeping the tokens held (capped at the new burst).
    pub fn set_rate(&mut self, rate: Rate, now: Instant) {
        self.refill(now);
        self.rate = u128::from(rate.per_second.get());
        self.capacity = u128::from(rate.burst.get()) * UNITS_PER_TOKEN;
        self.level = self.level.min(self.capacity);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        self.level = self
            .level
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.capacity);
        self.last = self.last.max(now);
    }

    /// `None` when a token is available now, else when the next one will be. Takes nothing.
    pub fn next_available(&mut self, now: Instant) -> Option<Instant> {
        self.refill(now);
        if self.level >= UNITS_PER_TOKEN {
            return None;
        }
        let missing = UNITS_PER_TOKEN - self.level;
        let wait_ns = missing.div_ceil(self.rate);
        // At most one second (rate >= 1), so the conversion cannot saturate.
        let wait = Duration::from_nanos(u64::try_from(wait_ns).unwrap_or(u64::MAX));
        Some(now + wait)
    }

    /// Takes one token; call only after [`TokenBucket::next_available`] returned `None`.
    pub fn take(&mut self) {
        self.level = self.level.saturating_sub(UNITS_PER_TOKEN);
    }

    /// Takes one token when there is one.
    ///
    /// # Errors
    /// How long until the next token, when none is left.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        match self.next_available(now) {
            None => {
                self.take();
                Ok(())
            }
            Some(at) => Err(at.saturating_duration_since(now)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate {
            per_second: NonZeroU32::new(per_second).expect("non-zero"),
            burst: NonZeroU32::new(burst).expect("non-zero"),
        }
    }

    #[test]
    fn burst_then_paced() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(10, 2), t0);
        for _ in 0..2 {
            assert_eq!(bucket.next_available(t0), None);
            bucket.take();
        }
        assert_eq!(
            bucket.next_available(t0),
            Some(t0 + Duration::from_millis(100))
        );
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(bucket.next_available(t1), None);
        bucket.take();
        assert_eq!(
            bucket.next_available(t1 + Duration::from_millis(40)),
            Some(t1 + Duration::from_millis(100))
        );
    }

    #[test]
    fn long_idle_refills_only_to_capacity() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(3, 3), t0);
        for _ in 0..3 {
            bucket.take();
        }
        let later = t0 + Duration::from_secs(86_400 * 365);
        for _ in 0..3 {
            assert_eq!(bucket.next_available(later), None);
            bucket.take();
        }
        assert!(bucket.next_available(later).is_some());
    }

    #[test]
    fn rate_over_one_second_window() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(50, 1), t0);
        let mut sent = 0;
        let mut now = t0;
        while now < t0 + Duration::from_secs(1) {
            match bucket.next_available(now) {
                None => {
                    bucket.take();
                    sent += 1;
                }
                Some(at) => now = at,
            }
        }
        assert_eq!(sent, 50);
    }

    #[test]
    fn try_take_says_how_long_to_wait() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(4, 1), t0);
        assert_eq!(bucket.try_take(t0), Ok(()));
        assert_eq!(bucket.try_take(t0), Err(Duration::from_millis(250)));
        assert_eq!(
            bucket.try_take(t0 + Duration::from_millis(100)),
            Err(Duration::from_millis(150)),
            "a refused take leaves the partial refill in place"
        );
        assert_eq!(bucket.try_take(t0 + Duration::from_millis(250)), Ok(()));
    }

    #[test]
    fn a_new_rate_keeps_the_tokens_held_up_to_the_new_burst() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(10, 5), t0);
        bucket.set_rate(rate(1, 2), t0);
        assert_eq!(bucket.try_take(t0), Ok(()));
        assert_eq!(bucket.try_take(t0), Ok(()));
        assert_eq!(bucket.try_take(t0), Err(Duration::from_secs(1)));
    }
}
