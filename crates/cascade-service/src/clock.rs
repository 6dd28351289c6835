//! The clocks the runtime can run on: [`SystemClock`] in production, [`ManualClock`] in
//! tests (virtual time that moves only when the test says so).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use cascade_core::{Clock, Timestamp};
use tokio::sync::watch;

/// The wall clock, with tokio's timers for waiting.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// Milliseconds since the Unix epoch, from the system clock.
    pub fn read() -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp::from_millis(ms)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Self::read()
    }

    fn sleep_until(&self, at: Timestamp) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let wait = u64::try_from(at.millis_since(Self::read())).unwrap_or(0);
        Box::pin(tokio::time::sleep(Duration::from_millis(wait)))
    }
}

/// A clock that stands still until [`ManualClock::advance`] or [`ManualClock::set`] moves
/// it; sleepers wake when it reaches their deadline. Cheap to clone (clones share the
/// time).
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: std::sync::Arc<watch::Sender<Timestamp>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: std::sync::Arc::new(watch::Sender::new(start)),
        }
    }

    /// Move time forward by `by`, waking every sleeper whose deadline it reaches.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now.send_modify(|t| *t = t.plus_millis(ms));
    }

    /// Move time to `at` (never backwards).
    pub fn set(&self, at: Timestamp) {
        self.now.send_modify(|t| *t = (*t).max(at));
    }

    /// Sleepers waiting right now (for tests that must know a loop went to sleep before
    /// they move the time).
    pub fn sleepers(&self) -> usize {
        self.now.receiver_count()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: Timestamp) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let mut time = self.now.subscribe();
        Box::pin(async move {
            // Fails only when every clone of the clock is gone: nothing can wake us then,
            // so end the sleep rather than hang.
            let _ = time.wait_for(|now| *now >= at).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleepers_wake_when_time_reaches_them() {
        let clock = ManualClock::new(Timestamp::from_millis(1_000));
        let early = tokio::spawn(clock.sleep(Duration::from_millis(100)));
        let late = tokio::spawn(clock.sleep_until(Timestamp::from_millis(5_000)));
        tokio::task::yield_now().await;
        clock.advance(Duration::from_millis(99));
        tokio::task::yield_now().await;
        assert!(!early.is_finished(), "99 ms are not 100");
        clock.advance(Duration::from_millis(1));
        early.await.expect("wakes at its deadline");
        assert!(!late.is_finished());
        clock.set(Timestamp::from_millis(4_000));
        clock.set(Timestamp::from_millis(3_000));
        assert_eq!(
            clock.now(),
            Timestamp::from_millis(4_000),
            "never backwards"
        );
        clock.advance(Duration::from_secs(1));
        late.await.expect("wakes at its deadline");
    }

    #[tokio::test]
    async fn a_deadline_already_past_does_not_wait() {
        let clock = ManualClock::new(Timestamp::from_millis(10));
        clock.sleep_until(Timestamp::from_millis(5)).await;
        SystemClock.sleep_until(SystemClock::read()).await;
    }
}
