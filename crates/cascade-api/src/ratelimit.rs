//! Per-application rate limits: a token bucket per application, refilled at `perSecond`
//! and holding at most `burst` requests. The server default applies unless the
//! application has its own; `perSecond` 0 turns the limit off.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cascade_pace::{Rate, TokenBucket};
use cascade_store::{RateLimit, Store};

use crate::error::ApiError;

/// How long an application's own limit is trusted before it is read again.
const REFRESH: Duration = Duration::from_secs(30);

/// An application's bucket; `bucket` is `None` when its limit is off (`perSecond` 0).
#[derive(Debug)]
struct Bucket {
    limit: RateLimit,
    bucket: Option<TokenBucket>,
    read_at: Instant,
}

impl Bucket {
    fn new(limit: RateLimit, now: Instant) -> Self {
        Bucket {
            limit,
            bucket: rate(limit).map(|r| TokenBucket::new(r, now)),
            read_at: now,
        }
    }

    /// Take the limit read from the store (it may have changed).
    fn refresh(&mut self, limit: RateLimit, now: Instant) {
        self.read_at = now;
        if limit == self.limit {
            return;
        }
        self.limit = limit;
        self.bucket = match (rate(limit), self.bucket.take()) {
            (Some(r), Some(mut held)) => {
                held.set_rate(r, now);
                Some(held)
            }
            (Some(r), None) => Some(TokenBucket::new(r, now)),
            (None, _) => None,
        };
    }

    /// Take one token; `Err(wait)` when none is left.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        match self.bucket.as_mut() {
            Some(bucket) => bucket.try_take(now),
            None => Ok(()),
        }
    }
}

/// The bucket's rate; `None` when the limit is off. A burst below the rate is raised to
/// one token.
fn rate(limit: RateLimit) -> Option<Rate> {
    Some(Rate {
        per_second: NonZeroU32::new(limit.per_second)?,
        burst: NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN),
    })
}

/// The limiter shared by all requests of this node. When several nodes serve one
/// deployment (a shared PostgreSQL store) each enforces its share of every limit — the
/// limit divided by the live nodes, rounded up — so behind a load balancer that spreads
/// requests the limit holds for the deployment.
#[derive(Debug)]
pub struct RateLimiter {
    default: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
    nodes: std::sync::atomic::AtomicU32,
}

/// `limit` for one of `nodes` nodes.
fn share(limit: RateLimit, nodes: u32) -> RateLimit {
    let nodes = nodes.max(1);
    RateLimit {
        per_second: limit.per_second.div_ceil(nodes),
        burst: limit.burst.div_ceil(nodes),
    }
}

impl RateLimiter {
    pub fn new(default: RateLimit) -> Self {
        Self {
            default,
            buckets: Mutex::new(HashMap::new()),
            nodes: std::sync::atomic::AtomicU32::new(1),
        }
    }

    /// How many nodes share the limits now (at least 1).
    pub fn nodes(&self) -> u32 {
        self.nodes.load(std::sync::atomic::Ordering::Relaxed).max(1)
    }

    /// Set the number of live nodes; buckets take their new share at once.
    pub fn set_nodes(&self, nodes: u32) {
        let nodes = nodes.max(1);
        let before = self.nodes.swap(nodes, std::sync::atomic::Ordering::Relaxed);
        if before != nodes {
            // Read every application's limit again at its next request.
            let mut buckets = self.buckets.lock().expect("no panics under this lock");
            let long_ago = Instant::now() - REFRESH - Duration::from_secs(1);
            for bucket in buckets.values_mut() {
                bucket.read_at = long_ago;
            }
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
        let nodes = self.nodes();
        let fresh_limit = fresh_limit.map(|l| share(l, nodes));
        let mut buckets = self.buckets.lock().expect("no panics under this lock");
        let bucket = buckets
            .entry(application_id.to_owned())
            .or_insert_with(|| Bucket::new(fresh_limit.unwrap_or(share(self.default, nodes)), now));
        if let Some(limit) = fresh_limit {
            bucket.refresh(limit, now);
        }
        bucket.take(now).map_err(|wait| ApiError::RateLimited {
            retry_after_secs: u64::try_from(wait.as_nanos().div_ceil(1_000_000_000))
                .unwrap_or(u64::MAX)
                .max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(per_second: u32, burst: u32, now: Instant) -> Bucket {
        Bucket::new(RateLimit { per_second, burst }, now)
    }

    #[test]
    fn each_of_several_nodes_takes_its_share_rounded_up() {
        let l = RateLimit {
            per_second: 10,
            burst: 20,
        };
        assert_eq!(share(l, 1), l);
        assert_eq!(
            share(l, 3),
            RateLimit {
                per_second: 4,
                burst: 7
            }
        );
        assert_eq!(share(l, 0), l, "no node count is one node");
        let off = RateLimit {
            per_second: 0,
            burst: 0,
        };
        assert_eq!(share(off, 4), off, "off stays off");
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

    #[test]
    fn zero_per_second_turns_the_limit_off_and_a_refresh_turns_it_on() {
        let t0 = Instant::now();
        let mut b = bucket(0, 0, t0);
        for _ in 0..10_000 {
            assert!(b.take(t0).is_ok());
        }
        b.refresh(
            RateLimit {
                per_second: 1,
                burst: 1,
            },
            t0,
        );
        assert!(b.take(t0).is_ok());
        assert!(b.take(t0).is_err());
    }
}
