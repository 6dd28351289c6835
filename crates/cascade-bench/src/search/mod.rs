//! `search`: fill a fresh store with flows of one account (plus a few other accounts'),
//! then time typical `POST /failover/tracking` requests over HTTP, one at a time.
//!
//! The flows are copies of real ones: a handful of template flows go through the whole
//! pipeline first (sandbox scenarios make them succeed, fail over, fail or hang), are
//! read back through the store, and each generated flow is a typed copy of one with its
//! own trackingId, recipient and creation time (every instant in it moves with that).
//! The copies go in through [`cascade_store::FlowStore::import_flows`], which writes
//! whatever the store keeps for search beside them, so the trackings rendered and the
//! indexes searched are those of real flows.
//!
//! Coupling to the store's schema: none. This benchmark reaches Cascade's store only
//! through the `cascade_store` traits (`TenancyStore::application` when the server
//! starts, `FlowStore::flow`, `FlowStore::import_flows`) and the HTTP API; it never opens
//! the database. What it still assumes about the SQLite store is where it lives: one
//! file, with its write-ahead log beside it as `<file>-wal`, whose sizes it reports.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use crate::server::{Running, start_cascade};
use crate::{ADMIN, Cli};

pub mod console;
mod fill;
mod measure;
mod templates;

use fill::fill;
use measure::{Kind, Measured, ServerHistogram, check_page, first_day, measure, paced};
use templates::make_templates;

const DAY_MS: i64 = 86_400_000;

/// A server whose store holds the templates and `--search-flows` copies of them.
struct FilledServer {
    run: Running,
    client: reqwest::Client,
    templates: Vec<templates::Template>,
    filled: fill::Filled,
    /// How long the fill took (the templates not included).
    fill_secs: f64,
}

/// Start Cascade and fill its store as the search measurements want it.
async fn filled_server(cli: &Cli) -> anyhow::Result<FilledServer> {
    let run = start_cascade(cli).await?;
    let client = reqwest::Client::new();
    let templates = make_templates(&client, &run).await?;
    let others = other_accounts(&client, &run).await?;
    let fill_started = Instant::now();
    let filled = fill(
        run.store.as_ref(),
        &run.account,
        &others,
        &templates,
        cli.search_flows,
    )
    .await?;
    Ok(FilledServer {
        run,
        client,
        templates,
        filled,
        fill_secs: fill_started.elapsed().as_secs_f64(),
    })
}

/// Returns the table rows: (measurement, result).
pub async fn run(cli: &Cli) -> anyhow::Result<Vec<(String, String)>> {
    let started = Instant::now();
    let FilledServer {
        run,
        client,
        templates,
        filled,
        fill_secs,
    } = filled_server(cli).await?;
    let bytes = match &cli.database_url {
        Some(url) => postgres_size(url).await?,
        None => store_size(&run.db)?,
    };

    let mut rows = vec![(
        format!(
            "Search: store filled with {} flows of the account (+5 % of other accounts'), imported through the store",
            cli.search_flows
        ),
        format!(
            "{fill_secs:.0} s, {:.2} GB on disk ({})",
            bytes as f64 / 1e9,
            if cli.database_url.is_some() {
                "pg_database_size"
            } else {
                "database + WAL"
            }
        ),
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

    // The same lookups at a fixed rate, many at once, as a busy API would see them.
    let rate = cli.tracking_rate;
    let ids = std::sync::Arc::new(filled.ids.clone());
    let (base, token) = (run.base.clone(), run.token.clone());
    let route = "/failover/tracking/{trackingId}";
    let before = ServerHistogram::scrape(&client, &run.base, ADMIN, route, "GET").await?;
    let p = paced(rate, cli.seconds.min(10), 64, move |client, i| {
        let mut pick = Rng(i);
        let id = &ids[pick.below(ids.len() as u64) as usize];
        client
            .get(format!("{base}/failover/tracking/{id}"))
            .bearer_auth(&token)
    })
    .await?;
    let server = ServerHistogram::scrape(&client, &run.base, ADMIN, route, "GET")
        .await?
        .since(&before);
    anyhow::ensure!(
        server.count() >= p.sent as u64 - p.errors as u64,
        "the server's histogram for {route} counted {} requests of {}",
        server.count(),
        p.sent
    );
    let ms = |bound: Option<f64>| bound.map_or("-".to_owned(), |s| format!("{:.1}", s * 1e3));
    rows.push((
        format!(
            "Search baseline, {} flows: `GET /failover/tracking/{{id}}` of a random flow at {rate} requests/s (open loop, up to 64 at once)",
            cli.search_flows
        ),
        format!(
            "{:.0} answered/s, p50 {:.2} ms, p99 {:.2} ms, {} sent, {} errors, client at most {:.1} ms behind its schedule; inside the server ({} requests): p50 ≤ {} ms, p99 ≤ {} ms, {:.2} % within 2 ms",
            p.rate,
            p.p50.as_secs_f64() * 1e3,
            p.p99.as_secs_f64() * 1e3,
            p.sent,
            p.errors,
            p.most_behind.as_secs_f64() * 1e3,
            server.count(),
            ms(server.bound(0.50)),
            ms(server.bound(0.99)),
            server.share_within(0.002).unwrap_or(f64::NAN) * 100.0,
        ),
    ));

    let url = format!("{}/failover/tracking", run.base);
    let first_day = first_day(&client, &run).await?;
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let expected = kind.expected_total(&templates, &filled.counts);
        // Each kind draws from its own sequence, so two runs search the same terms
        // however many requests the kinds before it fitted into `--seconds`.
        let mut rng = Rng(0x5EED_0000 + i as u64);
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
    match &cli.keep_store {
        Some(to) => {
            let kept = run.stop_keeping(to).await?;
            eprintln!("the store is kept as {}", kept.display());
        }
        None => run.stop().await,
    }
    eprintln!(
        "search bench done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(rows)
}

/// splitmix64: fast, seeded, good enough to spread test data.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Three more accounts, made through the admin API, to own the flows that are not the
/// bench account's (search must pass over them).
async fn other_accounts(client: &reqwest::Client, run: &Running) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for i in 1..=3 {
        let account: Value = client
            .post(format!("{}/admin/accounts", run.base))
            .bearer_auth(ADMIN)
            .json(&json!({ "name": format!("bench-other-{i}") }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let id = account["accountId"].as_str().context("an accountId")?;
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// Bytes the PostgreSQL database takes on disk (`pg_database_size`: tables, indexes
/// and TOAST; the cluster's WAL is not counted).
async fn postgres_size(url: &str) -> anyhow::Result<u64> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(u64::try_from(bytes).unwrap_or(0))
}

/// Bytes the SQLite store takes on disk: the database file plus its write-ahead log,
/// where pages written since the last checkpoint are. An upper bound of the data's size,
/// since a WAL is reused rather than shrunk and may hold pages the file holds too.
fn store_size(db: &Path) -> anyhow::Result<u64> {
    let file = std::fs::metadata(db).with_context(|| format!("{}", db.display()))?;
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let wal = match std::fs::metadata(&wal) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e.into()),
    };
    Ok(file.len() + wal)
}
