//! Capped doubling reconnect delay.

use std::time::Duration;

/// `min, 2·min, 4·min, ...` up to `max`; back to `min` after a successful bind.
#[derive(Debug, Clone)]
pub(super) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(super) fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The delay before the next attempt; doubles the one after.
    pub(super) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// A bind succeeded: start again from `min`.
    pub(super) fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(500), Duration::from_secs(30));
        let delays: Vec<_> = (0..9).map(|_| backoff.next_delay()).collect();
        assert_eq!(
            delays,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000].map(ms)
        );
        backoff.reset();
        assert_eq!(backoff.next_delay(), ms(500));
    }

    #[test]
    fn a_cap_below_the_floor_is_the_floor() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(500), ms(100));
        assert_eq!(backoff.next_delay(), ms(500));
        assert_eq!(backoff.next_delay(), ms(500));
    }
}
