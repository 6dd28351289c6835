//! When a loop should wake next: the deadline it sleeps until, moved earlier (and the
//! loop woken) only when something falls due sooner.
//!
//! The timer loop and the callback worker sleep on one each. A transaction that sets an
//! earlier timer, or an attempt that schedules an earlier retry, [`Alarm::schedule`]s
//! it; later deadlines do not disturb the sleep, so a busy server does not wake a loop —
//! and pay a store round trip — for every flow.

use std::collections::BTreeSet;
use std::sync::Mutex;

use cascade_core::Timestamp;

/// Deadlines remembered at most; past it the latest are forgotten (the loop's own poll
/// still finds their work, only later).
const MOST_PENDING: usize = 65_536;
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub(super) struct Alarm {
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// What the loop sleeps until (`None` before it first sleeps).
    sleeping_until: Option<Timestamp>,
    /// Deadlines scheduled and not reached yet. All of them, not only the earliest: once
    /// the earliest is reached the loop must still wake for the next.
    pending: BTreeSet<Timestamp>,
}

impl Alarm {
    /// Something falls due at `at`: wake the loop if it sleeps past it.
    pub(super) fn schedule(&self, at: Timestamp) {
        let mut state = self.state.lock().expect("no panics under this lock");
        state.pending.insert(at);
        if state.pending.len() > MOST_PENDING {
            state.pending.pop_last();
        }
        if state.sleeping_until.is_none_or(|s| at < s) {
            state.sleeping_until = Some(at);
            drop(state);
            self.wake.notify_one();
        }
    }

    /// The loop, at `now`, would sleep until `latest`: returns when it should wake — no
    /// later than the earliest deadline scheduled (deadlines already reached are
    /// forgotten: the loop is awake and handles them now).
    pub(super) fn next_wake(&self, now: Timestamp, latest: Timestamp) -> Timestamp {
        let mut state = self.state.lock().expect("no panics under this lock");
        // Keep the deadlines after now; those reached are being handled.
        let later = state.pending.split_off(&now.plus_millis(1));
        state.pending = later;
        let wake = state.pending.first().map_or(latest, |e| (*e).min(latest));
        state.sleeping_until = Some(wake);
        wake
    }

    /// Completes when something earlier than the current sleep was scheduled (or was
    /// scheduled since the last wait: the notification is kept).
    pub(super) async fn rung(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[tokio::test]
    async fn only_an_earlier_deadline_wakes_the_loop_and_is_remembered() {
        let alarm = Alarm::default();
        assert_eq!(alarm.next_wake(at(0), at(1_000)), at(1_000));
        alarm.schedule(at(2_000));
        assert_eq!(
            alarm.next_wake(at(0), at(1_000)),
            at(1_000),
            "a later deadline does not move the sleep"
        );
        alarm.schedule(at(500));
        alarm.rung().await; // the earlier one rang
        assert_eq!(alarm.next_wake(at(100), at(1_000)), at(500));
        assert_eq!(
            alarm.next_wake(at(500), at(3_000)),
            at(2_000),
            "the one reached is forgotten, the later one is not"
        );
        assert_eq!(alarm.next_wake(at(2_000), at(3_000)), at(3_000));
    }

    #[test]
    fn an_earlier_deadline_does_not_hide_a_later_pending_one() {
        let alarm = Alarm::default();
        assert_eq!(alarm.next_wake(at(0), at(1_000)), at(1_000));
        alarm.schedule(at(100)); // a retry
        alarm.schedule(at(10)); // new work, due at once
        assert_eq!(alarm.next_wake(at(10), at(1_010)), at(100));
    }
}
