//! The HTTP load driver: many clients sending one kind of request for a while, and what
//! they saw (throughput, latency percentiles, errors).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct Load {
    rate: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

impl Load {
    pub fn describe(&self, unit: &str) -> String {
        format!(
            "{:.0} {unit}, p50 {:.1} ms, p99 {:.1} ms{}",
            self.rate,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            if self.errors > 0 {
                format!(", {} errors", self.errors)
            } else {
                String::new()
            }
        )
    }
}

/// The `p` quantile (0–1) of `sorted` latencies, nearest rank; zero when there are none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// Run `concurrency` clients for `seconds`, each sending `request()` in a loop.
pub async fn drive<F, Fut>(concurrency: usize, seconds: u64, request: F) -> Load
where
    F: Fn(reqwest::Client) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let request = Arc::new(request);
    // Warm-up: connections, caches.
    for _ in 0..concurrency {
        request(client.clone()).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, request, stop, errors) = (
            client.clone(),
            Arc::clone(&request),
            Arc::clone(&stop),
            Arc::clone(&errors),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                if request(client.clone()).await {
                    lat.push(t.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Load {
        rate: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

pub fn sms_flow() -> Value {
    json!({"flow": [{"type": "Sms", "order": 1, "from": "Cascade", "to": "+306912345678",
        "message": {"body": "Your code is 123456"}}]})
}
