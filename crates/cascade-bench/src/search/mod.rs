//! `search`: fill a fresh store with flows of one account (plus a few other accounts'),
//! written straight into SQLite the way the store writes them, then time typical
//! `POST /failover/tracking` requests over HTTP, one at a time.
//!
//! The rows are copies of real flows: a handful of template flows go through the whole
//! pipeline first (sandbox scenarios make them succeed, fail over, fail or hang), and
//! each generated flow is a template's `flow_definitions`, `flows` and `flow_steps` rows
//! with a new trackingId, recipient and creation time (every time in the JSON moves
//! with it), so the tracking objects rendered are as large as real ones.

use std::time::Instant;

use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};

use crate::Cli;
use crate::server::start_cascade;

mod fill;
mod measure;
mod templates;

use fill::fill;
use measure::{Kind, Measured, check_page, first_day, measure};
use templates::make_templates;

const DAY_MS: i64 = 86_400_000;
/// Flows per fill transaction.
const TX_FLOWS: usize = 5_000;
/// Rows per multi-row INSERT (at most 10 parameters a row, well under SQLite's limit).
const ROWS_PER_INSERT: usize = 500;

/// Returns the table rows: (measurement, result).
pub async fn run(cli: &Cli) -> anyhow::Result<Vec<(String, String)>> {
    let started = Instant::now();
    let run = start_cascade(cli).await?;
    let client = reqwest::Client::new();
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", run.db.display())).await?;
    let account: String = sqlx::query_scalar("SELECT account_id FROM applications WHERE id = ?")
        .bind(crate::APP)
        .fetch_one(&mut conn)
        .await?;
    let templates = make_templates(&client, &run, &account, &mut conn).await?;
    let fill_started = Instant::now();
    let filled = fill(&mut conn, &account, &templates, cli.search_flows).await?;
    let fill_secs = fill_started.elapsed().as_secs_f64();
    let db_bytes: i64 = sqlx::query_scalar(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;

    let mut rows = vec![(
        format!(
            "Search: store filled with {} flows of the account (+5 % of other accounts'), written directly",
            cli.search_flows
        ),
        format!("{fill_secs:.0} s, {:.2} GB", db_bytes as f64 / 1e9),
    )];
    let describe = |m: &Measured| {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms ({} requests one at a time)",
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3,
            m.requests,
        )
    };
    let mut rng = Rng(0x5EED);

    // Baselines on the same server, measured the same way.
    let url = format!("{}/healthz", run.base);
    let m = measure(
        cli,
        &mut rng,
        |_| (client.get(&url), Value::Null),
        |body, _| {
            anyhow::ensure!(body["status"] == "ok", "healthz: {body}");
            Ok(0)
        },
    )
    .await?;
    rows.push((
        format!(
            "Search baseline, {} flows: `GET /healthz` (HTTP only: no token, no store)",
            cli.search_flows
        ),
        describe(&m),
    ));
    let m = measure(
        cli,
        &mut rng,
        |rng| {
            let id = &filled.ids[rng.below(filled.ids.len() as u64) as usize];
            (
                client
                    .get(format!("{}/failover/tracking/{id}", run.base))
                    .bearer_auth(&run.token),
                json!(id),
            )
        },
        |body, id| {
            anyhow::ensure!(body["trackingId"] == *id, "tracking {id}: {body}");
            Ok(1)
        },
    )
    .await?;
    rows.push((
        format!(
            "Search baseline, {} flows: `GET /failover/tracking/{{id}}` of a random flow (token, point lookup by id, one tracking rendered)",
            cli.search_flows
        ),
        describe(&m),
    ));

    let url = format!("{}/failover/tracking", run.base);
    let first_day = first_day(&client, &run).await?;
    for kind in Kind::ALL {
        let expected = kind.expected_total(&templates, &filled.counts);
        let m = measure(
            cli,
            &mut rng,
            |rng| {
                let (query, body) = kind.request(&filled, first_day, rng);
                let request = client
                    .post(&url)
                    .bearer_auth(&run.token)
                    .query(&query)
                    .json(&body);
                (request, body)
            },
            |page, filters| check_page(kind, page, filters, expected),
        )
        .await?;
        rows.push((
            format!("Search, {} flows: {}", cli.search_flows, kind.describe()),
            format!("{}; totalElements {}", describe(&m), m.totals),
        ));
    }
    run.stop().await;
    eprintln!(
        "search bench done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(rows)
}

// --- small helpers -----------------------------------------------------------------

/// splitmix64: fast, seeded, good enough to spread test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A UUIDv7 text whose leading 48 bits are `ms`, like the ids Cascade makes.
fn uuid_v7(ms: i64, rng: &mut Rng) -> String {
    let ms = ms as u64 & 0xFFFF_FFFF_FFFF;
    let r = rng.next();
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xFFFF,
        r & 0xFFF,
        0x8000 | ((r >> 12) & 0x3FFF),
        rng.next() & 0xFFFF_FFFF_FFFF
    )
}

/// Milliseconds from `2026-03-01T09:15:02.113Z` (exactly this shape, as Cascade
/// prints times); `None` for any other text.
fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 24 || b[4] != b'-' || b[10] != b'T' || b[19] != b'.' || b[23] != b'Z' {
        return None;
    }
    let n = |from: usize, to: usize| s.get(from..to)?.parse::<i64>().ok();
    let days = days_from_civil(n(0, 4)?, n(5, 7)?, n(8, 10)?);
    Some(((days * 24 + n(11, 13)?) * 60 + n(14, 16)?) * 60_000 + n(17, 19)? * 1000 + n(20, 23)?)
}

fn format_time(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(DAY_MS), ms.rem_euclid(DAY_MS));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_in_cascades_format() {
        let text = "2026-03-01T09:15:02.113Z";
        assert_eq!(parse_time(text), Some(1_772_356_502_113));
        assert_eq!(format_time(1_772_356_502_113), text);
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        for ms in [951_782_400_000, 1_709_164_800_123, 4_107_542_399_999] {
            assert_eq!(parse_time(&format_time(ms)), Some(ms));
        }
        assert_eq!(parse_time("2026-03-01T09:15:02Z"), None);
        assert_eq!(parse_time("not a time at all, really"), None);
    }

    #[test]
    fn ids_look_like_cascades() {
        let id = uuid_v7(1_772_356_502_113, &mut Rng(1));
        assert_eq!(id.len(), 36);
        assert!(id.starts_with("019ca8"), "{id}");
        assert_eq!(&id[14..15], "7");
    }
}
