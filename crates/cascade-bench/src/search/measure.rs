//! The kinds of search timed, how each answer is checked, and the timing loop.

use std::time::{Duration, Instant};

use anyhow::Context;
use cascade_core::machines::FlowStatus;
use cascade_core::{Channel, Timestamp};
use serde_json::{Value, json};

use super::fill::Filled;
use super::templates::Template;
use super::{DAY_MS, Rng};
use crate::Cli;
use crate::load::percentile;
use crate::server::Running;

#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    NoFilter,
    DeepPage,
    Status,
    Type,
    ToIs,
    ToStartsWithNarrow,
    ToStartsWithBroad,
    ToContains,
    OneDay,
    OneDayAndStatus,
    TypeAndStatus,
}

impl Kind {
    pub(super) const ALL: [Kind; 11] = [
        Kind::NoFilter,
        Kind::DeepPage,
        Kind::Status,
        Kind::Type,
        Kind::ToIs,
        Kind::ToStartsWithNarrow,
        Kind::ToStartsWithBroad,
        Kind::ToContains,
        Kind::OneDay,
        Kind::OneDayAndStatus,
        Kind::TypeAndStatus,
    ];

    pub(super) fn describe(self) -> &'static str {
        match self {
            Kind::NoFilter => "no filter, first page (size 10, createdAt desc)",
            Kind::DeepPage => "no filter, page 100",
            Kind::Status => "`status is Failed` (8 %)",
            Kind::Type => "`type is Viber` (35 %)",
            Kind::ToIs => "`to is <a number>` (a random recipient of the account's flows)",
            Kind::ToStartsWithNarrow => "`to starts_with +3069` + 4 random digits",
            Kind::ToStartsWithBroad => "`to starts_with +3069` + 2 random digits (1 %)",
            Kind::ToContains => "`to contains` 5 random digits",
            Kind::OneDay => "one day (`dateStart`/`dateEnd`, a random day of the 30)",
            Kind::OneDayAndStatus => "one day and `status is Failed`",
            Kind::TypeAndStatus => "`type is Viber` and `status is Succeeded`",
        }
    }

    /// Query parameters and body of one request.
    pub(super) fn request(
        self,
        filled: &Filled,
        first_day: Timestamp,
        rng: &mut Rng,
    ) -> (Vec<(String, String)>, Value) {
        let f = |field: &str, op: &str, term: String| json!([{"fieldName": field, "searchOperator": op, "searchTerm": term}]);
        let day = |rng: &mut Rng| day_range(first_day.plus_millis(rng.below(29) as i64 * DAY_MS));
        let number = |rng: &mut Rng| {
            let used = &filled.used;
            filled.numbers[used[rng.below(used.len() as u64) as usize]]
                .number
                .to_string()
        };
        match self {
            Kind::NoFilter => (vec![], Value::Null),
            Kind::DeepPage => (vec![("page".into(), "100".into())], Value::Null),
            Kind::Status => (vec![], f("status", "is", "Failed".into())),
            Kind::Type => (vec![], f("type", "is", "Viber".into())),
            Kind::ToIs => (vec![], f("to", "is", number(rng))),
            Kind::ToStartsWithNarrow => (
                vec![],
                f(
                    "to",
                    "starts_with",
                    format!("+3069{:04}", rng.below(10_000)),
                ),
            ),
            Kind::ToStartsWithBroad => (
                vec![],
                f("to", "starts_with", format!("+3069{:02}", rng.below(100))),
            ),
            Kind::ToContains => (
                vec![],
                f("to", "contains", format!("{:05}", rng.below(100_000))),
            ),
            Kind::OneDay => (day(rng), Value::Null),
            Kind::OneDayAndStatus => (day(rng), f("status", "is", "Failed".into())),
            Kind::TypeAndStatus => (
                vec![],
                json!([
                    {"fieldName": "type", "searchTerm": "Viber"},
                    {"fieldName": "status", "searchTerm": "Succeeded"},
                ]),
            ),
        }
    }

    /// Whether every request of this kind must find flows (a few, like a random
    /// 4-digit prefix, may rightly find none).
    pub(super) fn must_match(self) -> bool {
        !matches!(self, Kind::ToStartsWithNarrow | Kind::ToContains)
    }

    /// `totalElements` known from what the fill stored (plus the real template flows),
    /// for the kinds whose answer does not depend on a random term.
    pub(super) fn expected_total(self, templates: &[Template], counts: &[u64]) -> Option<u64> {
        let viber = |t: &Template| t.flow.definition.channels().contains(&Channel::Viber);
        let status = |t: &Template| t.flow.state.status;
        let matches: &dyn Fn(&Template) -> bool = match self {
            Kind::NoFilter | Kind::DeepPage => &|_| true,
            Kind::Status => &|t| status(t) == FlowStatus::Failed,
            Kind::Type => &|t| viber(t),
            Kind::TypeAndStatus => &|t| viber(t) && status(t) == FlowStatus::Succeeded,
            _ => return None,
        };
        Some(
            templates
                .iter()
                .zip(counts)
                .filter(|(t, _)| matches(t))
                .map(|(t, n)| n + u64::from(t.real))
                .sum(),
        )
    }
}

/// Check one answer: a full page (no flow left out), the expected total, and each
/// tracking on the page matching the filters. Returns `totalElements`.
pub(super) fn check_page(
    kind: Kind,
    page: &Value,
    filters: &Value,
    expected: Option<u64>,
) -> anyhow::Result<u64> {
    let total = page["totalElements"].as_u64().context("totalElements")?;
    let content = page["content"].as_array().context("content")?;
    let (number, size) = (
        page["number"].as_u64().context("number")?,
        page["size"].as_u64().context("size")?,
    );
    let full = total.saturating_sub(number * size).min(size);
    anyhow::ensure!(
        content.len() as u64 == full,
        "{kind:?}: {} trackings on page {number} of {total} results, expected {full}",
        content.len()
    );
    if let Some(expected) = expected {
        anyhow::ensure!(
            total == expected,
            "{kind:?}: totalElements {total}, expected {expected}"
        );
    }
    anyhow::ensure!(
        total > 0 || !kind.must_match(),
        "{kind:?}: nothing found for {filters}"
    );
    for filter in filters.as_array().into_iter().flatten() {
        let term = filter["searchTerm"].as_str().context("a term")?;
        for tracking in content {
            // A queued flow has no messages yet: its steps cannot be seen.
            let queued = tracking["status"] == "Queued";
            let ok = match filter["fieldName"].as_str() {
                Some("status") => tracking["status"] == term,
                Some("type") => {
                    queued
                        || tracking["messages"]
                            .as_array()
                            .is_some_and(|m| m.iter().any(|m| m["type"] == term))
                }
                // Whatever the operator, the term is in the tracking (a recipient).
                Some("to") => queued || tracking.to_string().contains(term),
                _ => true,
            };
            anyhow::ensure!(ok, "{kind:?}: {tracking} does not match {filter}");
        }
    }
    Ok(total)
}

/// The first whole UTC day of the filled 30: the midnight after the oldest flow.
pub(super) async fn first_day(
    client: &reqwest::Client,
    run: &Running,
) -> anyhow::Result<Timestamp> {
    let r: Value = client
        .post(format!("{}/failover/tracking", run.base))
        .bearer_auth(&run.token)
        .query(&[("sort", "createdAt,asc"), ("size", "1")])
        .send()
        .await?
        .json()
        .await?;
    let first = r["content"][0]["createdAt"]
        .as_str()
        .context("a first flow")?;
    let first = Timestamp::parse(first).with_context(|| format!("createdAt {first}"))?;
    Ok(next_midnight(first))
}

/// The first UTC midnight after `t` (the next one when `t` is a midnight itself).
fn next_midnight(t: Timestamp) -> Timestamp {
    let ms = t.as_millis();
    Timestamp::from_millis(ms - ms.rem_euclid(DAY_MS) + DAY_MS)
}

/// The query parameters of a search over the day that starts at `start`.
fn day_range(start: Timestamp) -> Vec<(String, String)> {
    vec![
        ("dateStart".to_owned(), start.to_rfc3339()),
        ("dateEnd".to_owned(), start.plus_millis(DAY_MS).to_rfc3339()),
    ]
}

pub(super) struct Measured {
    pub(super) p50: Duration,
    pub(super) p99: Duration,
    pub(super) requests: usize,
    /// The smallest and largest total `check` returned.
    pub(super) totals: String,
}

/// Send requests one at a time: `WARM_UP` unmeasured, then up to `--search-requests`
/// or until `--seconds` have passed (but at least `AT_LEAST`). A request is timed
/// from sending it until its whole body has arrived; the body is then parsed and
/// checked (`check(body, context)`, untimed), and any failure stops the benchmark.
pub(super) async fn measure<R, C>(
    cli: &Cli,
    rng: &mut Rng,
    mut request: R,
    check: C,
) -> anyhow::Result<Measured>
where
    R: FnMut(&mut Rng) -> (reqwest::RequestBuilder, Value),
    C: Fn(&Value, &Value) -> anyhow::Result<u64>,
{
    const WARM_UP: usize = 2;
    /// Measured even when they take longer than `--seconds`.
    const AT_LEAST: usize = 5;
    let mut latencies = Vec::with_capacity(cli.search_requests);
    let (mut least, mut most) = (u64::MAX, 0);
    let mut deadline = None;
    for i in 0..cli.search_requests + WARM_UP {
        if i == WARM_UP {
            deadline = Some(Instant::now() + Duration::from_secs(cli.seconds));
        }
        if latencies.len() >= AT_LEAST && deadline.is_some_and(|d| Instant::now() > d) {
            break;
        }
        let (request, context) = request(rng);
        let t = Instant::now();
        let r = request.send().await?;
        let status = r.status();
        let bytes = r.bytes().await?;
        let elapsed = t.elapsed();
        let body: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{status}: {}", String::from_utf8_lossy(&bytes)))?;
        anyhow::ensure!(status.is_success(), "{status} {body} for {context}");
        let total = check(&body, &context)?;
        if i >= WARM_UP {
            latencies.push(elapsed);
            (least, most) = (least.min(total), most.max(total));
        }
    }
    anyhow::ensure!(!latencies.is_empty(), "nothing measured");
    latencies.sort();
    Ok(Measured {
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        requests: latencies.len(),
        totals: if least == most {
            format!("{least}")
        } else {
            format!("{least}–{most}")
        },
    })
}

/// What an open-loop run at a fixed rate saw.
pub(super) struct Paced {
    pub sent: usize,
    /// Requests answered per second over the whole run.
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// The latest any request was sent after its turn: how far the client fell behind
    /// the rate (a client that cannot keep up measures less than it claims).
    pub most_behind: Duration,
    pub errors: usize,
}

/// Send `rate` requests a second for `seconds`, open loop: request `i` is due at
/// `start + i / rate` whatever the earlier ones are doing, so a slow answer does not
/// slow the load down. `workers` requests may be out at once, on one connection pool.
/// Latency is from sending to the whole body read.
pub(super) async fn paced<R>(
    rate: u32,
    seconds: u64,
    workers: usize,
    request: R,
) -> anyhow::Result<Paced>
where
    R: Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(workers)
        .build()?;
    let total = u64::from(rate) * seconds;
    let next = Arc::new(AtomicU64::new(0));
    let request = Arc::new(request);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (next, request, client) = (next.clone(), request.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = (Vec::new(), Duration::ZERO, 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return seen;
                }
                let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
                tokio::time::sleep_until(due).await;
                let sent = tokio::time::Instant::now();
                seen.1 = seen.1.max(sent - due);
                let ok = match request(&client, i).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    seen.0.push(sent.elapsed());
                } else {
                    seen.2 += 1;
                }
            }
        }));
    }
    let mut latencies = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let (mut most_behind, mut errors) = (Duration::ZERO, 0);
    for task in tasks {
        let (l, behind, e) = task.await?;
        latencies.extend(l);
        most_behind = most_behind.max(behind);
        errors += e;
    }
    let elapsed = start.elapsed();
    anyhow::ensure!(!latencies.is_empty(), "nothing answered");
    latencies.sort();
    Ok(Paced {
        sent: latencies.len() + errors,
        rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        most_behind,
        errors,
    })
}

/// The server's own `cascade_http_request_duration_seconds` histogram for one route and
/// method: cumulative counts by upper bound in seconds, ascending, `+Inf` last. It times
/// each request from routing to the response's head inside the server, so beside a
/// client's figures it tells the server's share of a tail from the client's and the
/// kernel's.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ServerHistogram(Vec<(f64, u64)>);

impl ServerHistogram {
    /// Scraped from the node's `/metrics` (admin token).
    pub async fn scrape(
        client: &reqwest::Client,
        base: &str,
        admin: &str,
        route: &str,
        method: &str,
    ) -> anyhow::Result<ServerHistogram> {
        let text = client
            .get(format!("{base}/metrics"))
            .bearer_auth(admin)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(ServerHistogram::parse(&text, route, method))
    }

    fn parse(text: &str, route: &str, method: &str) -> ServerHistogram {
        let (route, method) = (format!("route=\"{route}\""), format!("method=\"{method}\""));
        let mut buckets: Vec<(f64, u64)> = text
            .lines()
            .filter_map(|line| {
                let labels = line.strip_prefix("cascade_http_request_duration_seconds_bucket{")?;
                let (labels, value) = labels.split_once("} ")?;
                let labels: Vec<&str> = labels.split(',').collect();
                if !labels.contains(&route.as_str()) || !labels.contains(&method.as_str()) {
                    return None;
                }
                let le = labels.iter().find_map(|l| l.strip_prefix("le=\""))?;
                let le = le.trim_end_matches('"');
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((bound, value.trim().parse().ok()?))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        ServerHistogram(buckets)
    }

    /// What was counted after `earlier`.
    pub fn since(&self, earlier: &ServerHistogram) -> ServerHistogram {
        ServerHistogram(
            self.0
                .iter()
                .map(|&(bound, n)| {
                    let before = earlier.0.iter().find(|b| b.0 == bound).map_or(0, |b| b.1);
                    (bound, n.saturating_sub(before))
                })
                .collect(),
        )
    }

    pub fn count(&self) -> u64 {
        self.0.last().map_or(0, |b| b.1)
    }

    /// The smallest bound within which at least `q` of the requests were answered.
    pub fn bound(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // Nearest rank; the small margin keeps 0.07 × 100 (7.000000000000001) at 7.
        let wanted = (total as f64 * q - 1e-9).ceil() as u64;
        self.0.iter().find(|b| b.1 >= wanted).map(|b| b.0)
    }

    /// The share of the requests answered within `seconds`, when that is a bound.
    pub fn share_within(&self, seconds: f64) -> Option<f64> {
        let total = self.count();
        let n = self.0.iter().find(|b| b.0 == seconds)?.1;
        (total > 0).then(|| n as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_histogram_of_one_route() {
        let text = "\
# TYPE cascade_http_request_duration_seconds histogram
cascade_http_request_duration_seconds_bucket{le=\"0.001\",route=\"/failover/tracking/{id}\",method=\"GET\"} 90
cascade_http_request_duration_seconds_bucket{le=\"0.002\",route=\"/failover/tracking/{id}\",method=\"GET\"} 99
cascade_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/failover/tracking/{id}\",method=\"GET\"} 100
cascade_http_request_duration_seconds_bucket{le=\"0.001\",route=\"/failover/tracking\",method=\"POST\"} 7
cascade_http_request_duration_seconds_bucket{le=\"0.001\",route=\"/failover/tracking/{id}\",method=\"DELETE\"} 7
cascade_http_request_duration_seconds_count{route=\"/failover/tracking/{id}\",method=\"GET\"} 100
";
        let after = ServerHistogram::parse(text, "/failover/tracking/{id}", "GET");
        assert_eq!(
            after,
            ServerHistogram(vec![(0.001, 90), (0.002, 99), (f64::INFINITY, 100)])
        );
        assert_eq!(after.bound(0.5), Some(0.001));
        assert_eq!(after.bound(0.99), Some(0.002));
        assert_eq!(after.bound(0.999), Some(f64::INFINITY));
        assert_eq!(after.share_within(0.002), Some(0.99));
        assert_eq!(after.share_within(0.003), None, "not a bound");
        let before = ServerHistogram(vec![(0.001, 50), (0.002, 50), (f64::INFINITY, 50)]);
        let run = after.since(&before);
        assert_eq!(run.count(), 50);
        assert_eq!(run.share_within(0.001), Some(0.8));
        assert_eq!(run.bound(0.98), Some(0.002));
        assert_eq!(run.bound(0.99), Some(f64::INFINITY), "one slow of fifty");
        assert_eq!(ServerHistogram(Vec::new()).bound(0.5), None);
        let hundred = ServerHistogram(vec![(0.001, 7), (0.002, 8), (f64::INFINITY, 100)]);
        assert_eq!(hundred.bound(0.07), Some(0.001), "the 7th of 100");
    }

    #[test]
    fn times_round_trip_in_cascades_format() {
        let first = Timestamp::parse("2026-03-01T09:15:02.113Z").unwrap();
        assert_eq!(first.as_millis(), 1_772_356_502_113);
        let day = next_midnight(first);
        assert_eq!(day.to_rfc3339(), "2026-03-02T00:00:00.000Z");
        assert_eq!(next_midnight(day).to_rfc3339(), "2026-03-03T00:00:00.000Z");
        let leap = Timestamp::parse("2028-02-28T23:59:59.999Z").unwrap();
        assert_eq!(next_midnight(leap).to_rfc3339(), "2028-02-29T00:00:00.000Z");
        let range = day_range(day);
        assert_eq!(
            range,
            [
                (
                    "dateStart".to_owned(),
                    "2026-03-02T00:00:00.000Z".to_owned()
                ),
                ("dateEnd".to_owned(), "2026-03-03T00:00:00.000Z".to_owned()),
            ]
        );
        for (_, text) in &range {
            assert_eq!(Timestamp::parse(text).unwrap().to_rfc3339(), *text);
        }
    }
}
