//! Firing durable timers.

use std::sync::Arc;
use std::time::Duration;

use super::Runtime;

const BATCH: u32 = 512;
const IDLE: Duration = Duration::from_secs(30);

/// Fire timers as they fall due. Only the next due time is kept in memory; the rows are
/// the truth, so a restart loses nothing.
pub(super) async fn run_timer_loop_until_stopped(runtime: Arc<Runtime>) {
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
        let wait = match runtime.store.next_timer_due().await {
            Ok(Some(due)) => {
                Duration::from_millis(u64::try_from(due.millis_since(now)).unwrap_or(0)).min(IDLE)
            }
            Ok(None) => IDLE,
            Err(_) => Duration::from_secs(1),
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = runtime.timer_wake.notified() => {}
            () = runtime.clock.sleep(wait) => {}
        }
    }
}
