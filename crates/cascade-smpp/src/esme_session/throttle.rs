//! Outgoing pace control: the throughput cap (token bucket) and the pause after a
//! throttling response.

use std::time::{Duration, Instant};

use super::ThroughputLimit;

/// Nanoseconds in a second: one token is worth this many units, so refilling at `rate`
/// tokens per second adds `rate` units per nanosecond and all arithmetic stays integral.
const UNITS_PER_TOKEN: u128 = 1_000_000_000;

/// A token bucket in exact integer arithmetic.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: u128,
    capacity: u128,
    level: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(limit: ThroughputLimit, now: Instant) -> Self {
        let capacity = u128::from(limit.burst.get()) * UNITS_PER_TOKEN;
        TokenBucket {
            rate: u128::from(limit.per_second.get()),
            capacity,
            level: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        self.level = self
            .level
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.capacity);
        self.last = self.last.max(now);
    }

    /// `None` when a token is available now, else when the next one will be.
    pub(crate) fn next_available(&mut self, now: Instant) -> Option<Instant> {
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
    pub(crate) fn take(&mut self) {
        self.level = self.level.saturating_sub(UNITS_PER_TOKEN);
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn limit(per_second: u32, burst: u32) -> ThroughputLimit {
        ThroughputLimit {
            per_second: NonZeroU32::new(per_second).expect("non-zero"),
            burst: NonZeroU32::new(burst).expect("non-zero"),
        }
    }

    #[test]
    fn burst_then_paced() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(limit(10, 2), t0);
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
        let mut bucket = TokenBucket::new(limit(3, 3), t0);
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
        let mut bucket = TokenBucket::new(limit(50, 1), t0);
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
}
