//! Per-application rate limits: a token bucket per application, refilled at `perSecond`
//! and holding at most `burst` requests. The server default applies unless the
//! application has its own; `perSecond` 0 turns the limit off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cascade_store::{RateLimit, Store};

use crate::error::ApiError;

/// How long an application's own limit is trusted before it is read again.
const REFRESH: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
    read_at: Instant,
}

impl Bucket {
    /// Take one token; `Err(wait)` when none is left.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(self.limit.per_second);
        let burst = f64::from(self.limit.burst.max(1));
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// The limiter shared by all requests.
#[derive(Debug)]
pub struct RateLimiter {
    default: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(default: RateLimit) -> Self {
        Self {
            default,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Count one request of `application_id`.
    ///
    /// # Errors
    /// [`ApiError::RateLimited`] with the whole seconds to wait.
    pub async fn check(&self, store: &dyn Store, application_id: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let stale = self
            .buckets
            .lock()
            .expect("no panics under this lock")
            .get(application_id)
            .is_none_or(|b| now.duration_since(b.read_at) > REFRESH);
        let fresh_limit = if stale {
            // An unreadable application keeps the last known (or default) limit.
            let own = store
                .application(application_id)
                .await
                .ok()
                .flatten()
                .and_then(|a| a.rate_limit);
            Some(own.unwrap_or(self.default))
        } else {
            None
        };
        let mut buckets = self.buckets.lock().expect("no panics under this lock");
        let bucket = buckets.entry(application_id.to_owned()).or_insert_with(|| {
            let limit = fresh_limit.unwrap_or(self.default);
            Bucket {
                limit,
                tokens: f64::from(limit.burst.max(1)),
                last: now,
                read_at: now,
            }
        });
        if let Some(limit) = fresh_limit {
            bucket.limit = limit;
            bucket.read_at = now;
        }
        if bucket.limit.per_second == 0 {
            return Ok(());
        }
        bucket.take(now).map_err(|wait| ApiError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(per_second: u32, burst: u32, now: Instant) -> Bucket {
        let limit = RateLimit { per_second, burst };
        Bucket {
            limit,
            tokens: f64::from(burst),
            last: now,
            read_at: now,
        }
    }

    #[test]
    fn burst_then_steady_rate() {
        let t0 = Instant::now();
        let mut b = bucket(10, 3, t0);
        assert!(b.take(t0).is_ok());
        assert!(b.take(t0).is_ok());
        assert!(b.take(t0).is_ok());
        let wait = b.take(t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(
            b.take(t0 + Duration::from_millis(100)).is_ok(),
            "one token after 1/10 s"
        );
        assert!(b.take(t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn never_holds_more_than_the_burst() {
        let t0 = Instant::now();
        let mut b = bucket(100, 2, t0);
        let later = t0 + Duration::from_secs(60);
        assert!(b.take(later).is_ok());
        assert!(b.take(later).is_ok());
        assert!(b.take(later).is_err());
    }
}
