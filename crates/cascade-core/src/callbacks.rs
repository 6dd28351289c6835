//! Callback deliveries: what one attempt came to, and what that makes of the callback —
//! delivered, retried at the next point of the schedule, or dead-lettered — with the line
//! the flow's timeline shows for it. One home for these rules, whoever delivers and
//! whichever store keeps the outbox.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::machines::{TimelineEntry, TimelineKind};
use crate::time::Timestamp;

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx within the timeout.
    Answered { status: u16 },
    /// Not delivered (an error status, no answer in time, no connection): worth retrying.
    Failed { error: String },
    /// Refused by policy (a private address, an unusable URL): retrying cannot help.
    Refused { error: String },
}

/// What an attempt makes of the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The receiver answered 2xx: never sent again.
    Delivered { status: u16 },
    /// Not delivered; try again at `next_at`.
    Retry { next_at: Timestamp, error: String },
    /// Not delivered and no attempts left (or refused for good): a dead letter, kept until
    /// the operator sends it again.
    Dead { error: String },
}

impl CallbackOutcome {
    /// The outcome of an attempt that came after `attempts_before` others and ended at
    /// `now`; the first attempt (this one, if it was the first) started at `first_attempt`.
    /// `schedule` lists the retry points counted from the first attempt. A failed attempt
    /// is retried at the first of the remaining points not yet passed: points that went by
    /// while it ran (a receiver that let it time out) are skipped, not fired back to back.
    /// With no point left, the callback is dead.
    pub fn of(
        attempt: Attempt,
        attempts_before: u32,
        first_attempt: Timestamp,
        schedule: &[Duration],
        now: Timestamp,
    ) -> CallbackOutcome {
        match attempt {
            Attempt::Answered { status } => CallbackOutcome::Delivered { status },
            Attempt::Refused { error } => CallbackOutcome::Dead { error },
            Attempt::Failed { error } => {
                let next = schedule
                    .iter()
                    .skip(usize::try_from(attempts_before).unwrap_or(usize::MAX))
                    .map(|after| {
                        first_attempt
                            .plus_millis(i64::try_from(after.as_millis()).unwrap_or(i64::MAX))
                    })
                    .find(|at| *at >= now);
                match next {
                    Some(next_at) => CallbackOutcome::Retry { next_at, error },
                    None => CallbackOutcome::Dead { error },
                }
            }
        }
    }

    /// The callback's state afterwards.
    pub fn state(&self) -> CallbackState {
        match self {
            CallbackOutcome::Delivered { .. } => CallbackState::Delivered,
            CallbackOutcome::Retry { .. } => CallbackState::Pending,
            CallbackOutcome::Dead { .. } => CallbackState::Dead,
        }
    }

    /// When the callback is next due (`now` when it is not due again).
    pub fn next_at(&self, now: Timestamp) -> Timestamp {
        match self {
            CallbackOutcome::Retry { next_at, .. } => *next_at,
            CallbackOutcome::Delivered { .. } | CallbackOutcome::Dead { .. } => now,
        }
    }

    /// Why it was not delivered.
    pub fn error(&self) -> Option<&str> {
        match self {
            CallbackOutcome::Delivered { .. } => None,
            CallbackOutcome::Retry { error, .. } | CallbackOutcome::Dead { error } => Some(error),
        }
    }

    /// The timeline line for attempt number `attempt` (from 1) of callback `seq`.
    pub fn timeline_entry(&self, seq: i64, attempt: u32, now: Timestamp) -> TimelineEntry {
        let (status, detail) = match self {
            CallbackOutcome::Delivered { status } => {
                ("delivered", format!("#{seq} answered HTTP {status}"))
            }
            CallbackOutcome::Retry { next_at, error } => (
                "retrying",
                format!("#{seq} attempt {attempt} failed: {error}; next at {next_at}"),
            ),
            CallbackOutcome::Dead { error } => (
                "dead",
                format!("#{seq} dead-lettered after {attempt} attempt(s): {error}"),
            ),
        };
        TimelineEntry::new(now, TimelineKind::Callback)
            .status(status)
            .detail(detail)
    }
}

/// Where a callback stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackState {
    /// Waiting for its (next) attempt, or being attempted.
    Pending,
    Delivered,
    Dead,
}

impl CallbackState {
    pub fn name(self) -> &'static str {
        match self {
            CallbackState::Pending => "pending",
            CallbackState::Delivered => "delivered",
            CallbackState::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<CallbackState> {
        match text {
            "pending" => Some(CallbackState::Pending),
            "delivered" => Some(CallbackState::Delivered),
            "dead" => Some(CallbackState::Dead),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn failed() -> Attempt {
        Attempt::Failed {
            error: "HTTP 503".into(),
        }
    }

    #[test]
    fn retries_follow_the_schedule_from_the_first_attempt_then_die() {
        let schedule = [MS(500), MS(1000), MS(2000)];
        let first = CallbackOutcome::of(failed(), 0, at(10_000), &schedule, at(10_000));
        assert_eq!(
            first,
            CallbackOutcome::Retry {
                next_at: at(10_500),
                error: "HTTP 503".into()
            }
        );
        let third = CallbackOutcome::of(failed(), 2, at(10_000), &schedule, at(11_100));
        assert_eq!(
            third.next_at(at(11_100)),
            at(12_000),
            "counted from the first"
        );
        let fourth = CallbackOutcome::of(failed(), 3, at(10_000), &schedule, at(12_000));
        assert_eq!(
            fourth,
            CallbackOutcome::Dead {
                error: "HTTP 503".into()
            }
        );
        assert_eq!(fourth.state(), CallbackState::Dead);
    }

    #[test]
    fn the_schedule_counts_from_the_start_of_the_first_attempt() {
        // A first attempt started at 0 and timed out at 2 s: the 500 ms, 1 s and 2 s
        // points are gone, the next is 3 s after it started (not after it ended).
        let out = CallbackOutcome::of(
            failed(),
            0,
            at(0),
            &[MS(500), MS(1_000), MS(2_000), MS(3_000)],
            at(2_001),
        );
        assert_eq!(out.next_at(at(2_001)), at(3_000));
    }

    #[test]
    fn points_that_went_by_during_a_slow_attempt_are_skipped() {
        let schedule = [MS(500), MS(1_000), MS(2_000), MS(3_000), MS(5_000)];
        // The second attempt (due at +500 ms) timed out and ended at +2.5 s: the points at
        // 1 s and 2 s went by; the next attempt waits for 3 s instead of going at once.
        let out = CallbackOutcome::of(failed(), 1, at(0), &schedule, at(2_500));
        assert_eq!(out.next_at(at(2_500)), at(3_000));
        // A point reached exactly is still to come.
        let out = CallbackOutcome::of(failed(), 1, at(0), &schedule, at(3_000));
        assert_eq!(out.next_at(at(3_000)), at(3_000));
        // Every point went by: dead, not retried at once.
        let out = CallbackOutcome::of(failed(), 1, at(0), &schedule, at(5_001));
        assert_eq!(out.state(), CallbackState::Dead);
    }

    #[test]
    fn answered_is_delivered_and_refused_is_dead_at_once() {
        let ok = CallbackOutcome::of(Attempt::Answered { status: 204 }, 5, at(0), &[], at(1));
        assert_eq!(ok, CallbackOutcome::Delivered { status: 204 });
        assert_eq!((ok.state(), ok.error()), (CallbackState::Delivered, None));
        let refused = CallbackOutcome::of(
            Attempt::Refused {
                error: "private".into(),
            },
            0,
            at(0),
            &[MS(1)],
            at(1),
        );
        assert_eq!(refused.state(), CallbackState::Dead);
    }

    #[test]
    fn timeline_lines_say_what_happened() {
        let line = |o: CallbackOutcome| {
            let e = o.timeline_entry(3, 2, at(0));
            (e.kind, e.status.unwrap(), e.detail.unwrap())
        };
        assert_eq!(
            line(CallbackOutcome::Delivered { status: 200 }),
            (
                TimelineKind::Callback,
                "delivered".into(),
                "#3 answered HTTP 200".into()
            )
        );
        assert_eq!(
            line(CallbackOutcome::Dead {
                error: "HTTP 500".into()
            })
            .2,
            "#3 dead-lettered after 2 attempt(s): HTTP 500"
        );
        assert!(
            line(CallbackOutcome::Retry {
                next_at: at(1_000),
                error: "HTTP 503".into()
            })
            .2
            .starts_with("#3 attempt 2 failed: HTTP 503; next at 1970-01-01T00:00:01.000Z")
        );
        for s in [
            CallbackState::Pending,
            CallbackState::Delivered,
            CallbackState::Dead,
        ] {
            assert_eq!(CallbackState::parse(s.name()), Some(s));
        }
    }
}
