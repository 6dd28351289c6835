//! HTTP requests by route and status, and their latency (`GET /metrics`): a middleware on
//! every matched route, labelled by the route's pattern (`/failover/tracking/{tracking_id}`),
//! never by the path itself, so an id never becomes a label.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Seconds, from a cached read (well under a millisecond) to a slow search; 2 ms is the
/// point lookups' objective (BENCHMARKS.md).
const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.002, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The series; clones share them.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<Labels, Counter>,
    seconds: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            requests: Family::default(),
            seconds: Family::new_with_constructor(histogram),
        }
    }
}

impl HttpMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "cascade_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            self.requests.clone(),
        );
        registry.register(
            "cascade_http_request_duration_seconds",
            "Time to answer HTTP requests, by route pattern and method",
            self.seconds.clone(),
        );
    }
}

/// The middleware: times the request and counts its answer.
pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    metrics
        .requests
        .get_or_create(&vec![
            ("route", route.clone()),
            ("method", method.clone()),
            ("status", response.status().as_u16().to_string()),
        ])
        .inc();
    metrics
        .seconds
        .get_or_create(&vec![("route", route), ("method", method)])
        .observe(seconds);
    response
}
