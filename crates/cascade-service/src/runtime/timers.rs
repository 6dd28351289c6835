//! Firing durable timers.
//!
//! The timer rows are the truth (a restart loses nothing); the loop keeps in memory only
//! the deadline it sleeps until, on an [`super::alarm::Alarm`] that transactions setting an
//! earlier timer ring.

use std::sync::Arc;
use std::time::Duration;

use super::Runtime;

const BATCH: u32 = 512;
/// Longest sleep without looking at the table (timers written by another process).
const IDLE: Duration = Duration::from_secs(30);

/// Fire timers as they fall due.
pub(super) async fn run_timer_loop_until_stopped(runtime: Arc<Runtime>) {
    let idle_ms = i64::try_from(IDLE.as_millis()).unwrap_or(i64::MAX);
    loop {
        let now = runtime.clock.now();
        match runtime.store.fire_due_timers(now, BATCH).await {
            Ok(fired) => {
                runtime.flow_metrics.timers_fired(&fired.lags_ms);
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
        // A timer committed after the read above rings the alarm, and the notification
        // is kept even if it lands before this line.
        let wake_at = runtime.timer_alarm.next_wake(now, wake_at);
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = runtime.timer_alarm.rung() => {}
            () = runtime.clock.sleep_until(wake_at) => {}
        }
    }
}
