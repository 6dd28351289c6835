//! Firing durable timers.
//!
//! The timer rows are the truth (a restart loses nothing); the loop keeps in memory only
//! the deadline it sleeps until. A transaction that sets an earlier timer wakes it
//! ([`TimerWake::schedule`]); later ones do not, so a busy server does not pay a store
//! round trip per flow just to learn that nothing is due yet.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cascade_core::Timestamp;
use tokio::sync::Notify;

use super::Runtime;

const BATCH: u32 = 512;
/// Longest sleep without looking at the table (timers written by another process).
const IDLE: Duration = Duration::from_secs(30);

/// The deadline the timer loop sleeps until, and how to wake it for an earlier one.
#[derive(Debug, Default)]
pub(super) struct TimerWake {
    /// `None`: asleep with nothing due (until [`IDLE`]), or awake.
    sleeping_until: Mutex<Option<Timestamp>>,
    wake: Notify,
}

impl TimerWake {
    /// A committed transaction set a timer due at `at`.
    pub(super) fn schedule(&self, at: Timestamp) {
        let mut until = self
            .sleeping_until
            .lock()
            .expect("no panics under this lock");
        if until.is_none_or(|t| at < t) {
            *until = Some(at);
            drop(until);
            self.wake.notify_one();
        }
    }

    /// The loop is about to sleep until `at`.
    fn sleep_until(&self, at: Timestamp) {
        *self
            .sleeping_until
            .lock()
            .expect("no panics under this lock") = Some(at);
    }
}

/// Fire timers as they fall due.
pub(super) async fn run_timer_loop_until_stopped(runtime: Arc<Runtime>) {
    let idle_ms = i64::try_from(IDLE.as_millis()).unwrap_or(i64::MAX);
    loop {
        let now = runtime.clock.now();
        match runtime.store.fire_due_timers(now, BATCH).await {
            Ok(fired) => {
                runtime.absorb(&fired.applied);
                if fired.fired == BATCH {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not fire due timers"),
        }
        let wake_at = match runtime.store.next_timer_due().await {
            Ok(Some(due)) => due.min(now.plus_millis(idle_ms)),
            Ok(None) => now.plus_millis(idle_ms),
            Err(_) => now.plus_millis(1_000),
        };
        if wake_at <= now {
            continue;
        }
        // A timer committed after the read above wakes us through the notification it
        // leaves behind, even if it lands before this line.
        runtime.timer_wake.sleep_until(wake_at);
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = runtime.timer_wake.wake.notified() => {}
            () = runtime.clock.sleep_until(wake_at) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_earlier_deadline_wakes_the_loop() {
        let w = TimerWake::default();
        w.sleep_until(Timestamp::from_millis(1_000));
        w.schedule(Timestamp::from_millis(2_000));
        assert_eq!(
            *w.sleeping_until.lock().unwrap(),
            Some(Timestamp::from_millis(1_000)),
            "a later timer leaves the sleep alone"
        );
        w.schedule(Timestamp::from_millis(500));
        assert_eq!(
            *w.sleeping_until.lock().unwrap(),
            Some(Timestamp::from_millis(500))
        );
    }
}
