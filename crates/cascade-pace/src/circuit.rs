//! A circuit breaker: after enough failures in a row a peer is left alone for a cool-down,
//! then tried with one request; that request's answer closes or re-opens the circuit.

use std::time::{Duration, Instant};

/// The state of a [`CircuitBreaker`], as metrics and logs show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Requests go through.
    Closed,
    /// Requests are refused until the cool-down ends.
    Open,
    /// The cool-down ended: one trial request is (or may be) in flight.
    HalfOpen,
}

/// Failures in a row before the circuit opens, and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitPolicy {
    /// Consecutive failures that open the circuit (at least 1).
    pub failures_to_open: u32,
    /// How long an open circuit refuses requests.
    pub cooldown: Duration,
}

/// See the module documentation. Time comes in as an argument.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    policy: CircuitPolicy,
    failures: u32,
    open_until: Option<Instant>,
    trial_in_flight: bool,
}

impl CircuitBreaker {
    /// A closed circuit.
    pub fn new(policy: CircuitPolicy) -> Self {
        CircuitBreaker {
            policy: CircuitPolicy {
                failures_to_open: policy.failures_to_open.max(1),
                ..policy
            },
            failures: 0,
            open_until: None,
            trial_in_flight: false,
        }
    }

    /// The state at `now`.
    pub fn state(&self, now: Instant) -> CircuitState {
        match self.open_until {
            None => CircuitState::Closed,
            Some(until) if now < until => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    /// Whether a request may go now. In the half-open state the first caller gets the
    /// trial and later ones are refused until its answer is known.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state(now) {
            CircuitState::Closed => true,
            CircuitState::Open => false,
            CircuitState::HalfOpen if self.trial_in_flight => false,
            CircuitState::HalfOpen => {
                self.trial_in_flight = true;
                true
            }
        }
    }

    /// The peer answered: the circuit closes.
    pub fn success(&mut self) {
        self.failures = 0;
        self.open_until = None;
        self.trial_in_flight = false;
    }

    /// The peer failed. A failed trial re-opens the circuit at once; otherwise it opens
    /// after [`CircuitPolicy::failures_to_open`] failures in a row.
    pub fn failure(&mut self, now: Instant) {
        let trial = self.trial_in_flight || self.state(now) == CircuitState::HalfOpen;
        self.trial_in_flight = false;
        self.failures = self.failures.saturating_add(1);
        if trial || self.failures >= self.policy.failures_to_open {
            self.open_until = Some(now + self.policy.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> (CircuitBreaker, Instant) {
        let policy = CircuitPolicy {
            failures_to_open: 3,
            cooldown: Duration::from_secs(30),
        };
        (CircuitBreaker::new(policy), Instant::now())
    }

    #[test]
    fn opens_after_failures_in_a_row_and_a_success_resets_the_count() {
        let (mut b, t) = breaker();
        b.failure(t);
        b.failure(t);
        b.success();
        b.failure(t);
        b.failure(t);
        assert_eq!(b.state(t), CircuitState::Closed);
        assert!(b.allow(t));
        b.failure(t);
        assert_eq!(b.state(t), CircuitState::Open);
        assert!(!b.allow(t + Duration::from_secs(29)));
    }

    #[test]
    fn after_the_cooldown_one_trial_goes_and_its_answer_decides() {
        let (mut b, t) = breaker();
        for _ in 0..3 {
            b.failure(t);
        }
        let later = t + Duration::from_secs(30);
        assert_eq!(b.state(later), CircuitState::HalfOpen);
        assert!(b.allow(later), "the trial");
        assert!(!b.allow(later), "only one trial at a time");
        b.failure(later);
        assert_eq!(
            b.state(later),
            CircuitState::Open,
            "a failed trial re-opens"
        );
        let again = later + Duration::from_secs(30);
        assert!(b.allow(again));
        b.success();
        assert_eq!(b.state(again), CircuitState::Closed);
        assert!(b.allow(again) && b.allow(again));
    }

    #[test]
    fn zero_failures_to_open_means_one() {
        let mut b = CircuitBreaker::new(CircuitPolicy {
            failures_to_open: 0,
            cooldown: Duration::from_secs(1),
        });
        let t = Instant::now();
        assert!(b.allow(t));
        b.failure(t);
        assert_eq!(b.state(t), CircuitState::Open);
    }
}
