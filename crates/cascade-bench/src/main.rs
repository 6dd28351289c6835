//! `cargo run --release -p cascade-bench -- all`
//!
//! Measures, in one run on one machine:
//! - **accept**: `POST /failover` under concurrent load (durable: each 200 means the flow
//!   is committed), beside the same axum + client stack answering a static body;
//! - **complete**: flows per second from accepted to `Succeeded` end to end through the
//!   sandbox, beside raw batched SQLite inserts of rows the size of a flow.
//!
//! - **search**: `POST /failover/tracking` latency (one request at a time) over a store
//!   filled with `--search-flows` flows (about 25 s at the default 100 000; a million
//!   takes about 4 minutes, mostly filling).
//!
//! The load generator runs in the same process as the server (same 2 cores), which is
//! stated next to the figures.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use cascade::config::Config;
use cascade::startup::Application;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};

/// The same allocator as the `cascade` binary, so the figures match what it runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    what: What,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 64, global = true)]
    concurrency: usize,
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 10, global = true)]
    seconds: u64,
    /// Flows for the end-to-end measurement.
    #[arg(long, default_value_t = 20_000, global = true)]
    flows: usize,
    /// SQLite durability for Cascade and the baseline: full or normal.
    #[arg(long, default_value = "full", global = true)]
    durability: String,
    /// Flows in the store for the search measurement (the searched account's; about 5 %
    /// more belong to other accounts).
    #[arg(long, default_value_t = 100_000, global = true)]
    search_flows: usize,
    /// Requests per kind of search (each kind also stops after `--seconds`).
    #[arg(long, default_value_t = 200, global = true)]
    search_requests: usize,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Everything below, printed as a Markdown table.
    All,
    Accept,
    StaticBaseline,
    Complete,
    SqliteBaseline,
    /// Search latency over a store filled with `--search-flows` flows.
    Search,
}

const APP: &str = "bench-app";
const SECRET: &str = "bench-secret-0123";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        cascade::telemetry::init("warn");
    }
    let mut rows: Vec<(String, String)> = Vec::new();
    let all = matches!(cli.what, What::All);
    if all || matches!(cli.what, What::StaticBaseline) {
        let r = static_baseline(&cli).await?;
        rows.push((
            "Baseline: same axum stack + client, static 200 body".into(),
            r.describe("req/s"),
        ));
    }
    if all || matches!(cli.what, What::Accept) {
        let r = accept(&cli).await?;
        rows.push((
            "POST /failover accepted (durable, 1-step SMS)".into(),
            r.describe("flows/s"),
        ));
    }
    if all || matches!(cli.what, What::SqliteBaseline) {
        for per_statement in [1, 64] {
            let r = sqlite_baseline(&cli, per_statement).await?;
            rows.push((
                format!(
                    "Baseline: raw SQLite inserts via sqlx, 2 KB rows, {per_statement} row(s) per statement, 512 per transaction"
                ),
                format!("{r:.0} rows/s"),
            ));
        }
    }
    if all || matches!(cli.what, What::Complete) {
        let (rate, elapsed) = complete(&cli).await?;
        rows.push((
            format!(
                "Flows completed end to end ({} flows, sandbox SMS delivered after 20 ms)",
                cli.flows
            ),
            format!("{rate:.0} flows/s ({elapsed:.1} s)"),
        ));
    }
    if all || matches!(cli.what, What::Search) {
        rows.extend(search::run(&cli).await?);
    }
    println!(
        "\n| measurement (concurrency {}, {} s, durability {}) | result |",
        cli.concurrency, cli.seconds, cli.durability
    );
    println!("| --- | --- |");
    for (name, value) in rows {
        println!("| {name} | {value} |");
    }
    Ok(())
}

struct Load {
    rate: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

impl Load {
    fn describe(&self, unit: &str) -> String {
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

/// Run `concurrency` clients for `seconds`, each sending `request()` in a loop.
async fn drive<F, Fut>(concurrency: usize, seconds: u64, request: F) -> Load
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
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Load {
        rate: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

async fn static_baseline(cli: &Cli) -> anyhow::Result<Load> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let body = json!({"trackingId": "01a21b5d-8202-735b-9b3f-84365d5f78d1", "createdAt": "2026-11-27T04:57:22.690Z"});
    let router = axum::Router::new().route(
        "/failover",
        axum::routing::post(move |_: axum::body::Bytes| {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let url = format!("http://{addr}/failover");
    let flow = sms_flow();
    let load = drive(cli.concurrency, cli.seconds, move |c| {
        let (url, flow) = (url.clone(), flow.clone());
        async move {
            c.post(url)
                .json(&flow)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    server.abort();
    Ok(load)
}

fn sms_flow() -> Value {
    json!({"flow": [{"type": "Sms", "order": 1, "from": "Cascade", "to": "+306912345678",
        "message": {"body": "Your code is 123456"}}]})
}

struct Running {
    base: String,
    token: String,
    db: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start_cascade(cli: &Cli) -> anyhow::Result<Running> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let env: HashMap<String, String> = [
        ("CASCADE_LISTEN", "127.0.0.1:0".to_owned()),
        ("CASCADE_DATABASE_URL", format!("sqlite://{}", db.display())),
        (
            "CASCADE_ADMIN_TOKEN",
            "bench-admin-token-0123456789".to_owned(),
        ),
        ("CASCADE_BOOTSTRAP_APPLICATION", format!("{APP}:{SECRET}")),
        ("CASCADE_DEFAULT_BALANCE", "1000000000".to_owned()),
        ("CASCADE_RATE_LIMIT_PER_SECOND", "0".to_owned()),
        ("CASCADE_DURABILITY", cli.durability.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let app = Application::build(Config::load(None, &env)?).await?;
    let base = format!("http://{}", app.local_addr());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async {
                let _ = rx.await;
            })
            .await;
    });
    let token = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(APP, Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .json::<Value>()
        .await?["access_token"]
        .as_str()
        .context("a token")?
        .to_owned();
    Ok(Running {
        base,
        token,
        db,
        stop,
        server,
        _dir: dir,
    })
}

async fn accept(cli: &Cli) -> anyhow::Result<Load> {
    let run = start_cascade(cli).await?;
    let url = format!("{}/failover", run.base);
    let token = run.token.clone();
    let flow = sms_flow();
    let load = drive(cli.concurrency, cli.seconds, move |c| {
        let (url, token, flow) = (url.clone(), token.clone(), flow.clone());
        async move {
            c.post(url)
                .bearer_auth(token)
                .json(&flow)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let _ = run.stop.send(());
    let _ = run.server.await;
    Ok(load)
}

async fn count_succeeded(db: &std::path::Path) -> anyhow::Result<i64> {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await?;
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM flows WHERE status = 'Succeeded'")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(n)
}

/// Send `flows` flows as fast as `concurrency` clients can, then wait until all succeeded.
async fn complete(cli: &Cli) -> anyhow::Result<(f64, f64)> {
    let run = start_cascade(cli).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency)
        .build()?;
    let url = format!("{}/failover", run.base);
    let next = Arc::new(AtomicU64::new(0));
    let total = cli.flows as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..cli.concurrency {
        let (client, url, token, next) = (
            client.clone(),
            url.clone(),
            run.token.clone(),
            Arc::clone(&next),
        );
        tasks.push(tokio::spawn(async move {
            let flow = sms_flow();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&flow)
                    .send()
                    .await;
                assert!(
                    r.is_ok_and(|r| r.status().is_success()),
                    "a flow was refused"
                );
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    loop {
        let done = count_succeeded(&run.db).await?;
        if done >= cli.flows as i64 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "only {done} flows completed in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = run.stop.send(());
    let _ = run.server.await;
    Ok((cli.flows as f64 / elapsed, elapsed))
}

/// Rows/s for plain inserts of 2 KB rows into an indexed table, 512 per transaction,
/// `per_statement` rows per INSERT, with the WAL and synchronous settings Cascade uses.
async fn sqlite_baseline(cli: &Cli, per_statement: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("raw.db").display());
    let mut conn = SqliteConnection::connect(&url).await?;
    let sync = if cli.durability == "normal" {
        "NORMAL"
    } else {
        "FULL"
    };
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("PRAGMA synchronous = {sync}"))
        .execute(&mut conn)
        .await?;
    sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY, account TEXT, created INTEGER, body TEXT) WITHOUT ROWID")
        .execute(&mut conn)
        .await?;
    sqlx::query("CREATE INDEX t_account ON t (account, created, id)")
        .execute(&mut conn)
        .await?;
    let body = "x".repeat(2048);
    let deadline = Instant::now() + Duration::from_secs(cli.seconds);
    let started = Instant::now();
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        let mut tx = conn.begin().await?;
        for _ in 0..512 / per_statement {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO t (id, account, created, body) ",
            );
            q.push_values(0..per_statement, |mut b, _| {
                n += 1;
                b.push_bind(format!("{n:020}"))
                    .push_bind("acc")
                    .push_bind(n as i64)
                    .push_bind(body.as_str());
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// `search`: fill a fresh store with flows of one account (plus a few other accounts'),
/// written straight into SQLite the way the store writes them, then time typical
/// `POST /failover/tracking` requests over HTTP, one at a time.
///
/// The rows are copies of real flows: a handful of template flows go through the whole
/// pipeline first (sandbox scenarios make them succeed, fail over, fail or hang), and
/// each generated flow is a template's `flow_definitions`, `flows` and `flow_steps` rows
/// with a new trackingId, recipient and creation time (every time in the JSON moves
/// with it), so the tracking objects rendered are as large as real ones.
mod search {
    use std::time::{Duration, Instant};

    use anyhow::Context;
    use serde_json::{Value, json};
    use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection};

    use super::{Cli, Running, start_cascade};

    const ADMIN: &str = "bench-admin-token-0123456789";
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
        let account: String =
            sqlx::query_scalar("SELECT account_id FROM applications WHERE id = ?")
                .bind(super::APP)
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
        let _ = run.stop.send(());
        let _ = run.server.await;
        eprintln!(
            "search bench done in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        Ok(rows)
    }

    // --- templates ---------------------------------------------------------------------

    /// A real flow to copy, with how often it occurs in the mix (per mille).
    struct Template {
        per_mille: u32,
        /// A flow that exists in the store itself (every template but the queued one).
        real: bool,
        id: String,
        recipient: String,
        created_ms: i64,
        updated_after_ms: i64,
        application_id: String,
        status: String,
        termination: Option<String>,
        event_seq: i64,
        definition: Value,
        state: Value,
        channels: Vec<String>,
        /// `flows.channels`, the flow's channel set as the store wrote it.
        channel_set: i64,
    }

    /// Send one flow of each kind through the sandbox and read back what the store wrote.
    async fn make_templates(
        client: &reqwest::Client,
        run: &Running,
        account: &str,
        conn: &mut SqliteConnection,
    ) -> anyhow::Result<Vec<Template>> {
        let admin = |path: &str, body: Value| {
            client
                .post(format!("{}{path}", run.base))
                .bearer_auth(ADMIN)
                .json(&body)
                .send()
        };
        let sender = admin(
            &format!("/admin/accounts/{account}/viber-senders"),
            json!({"name": "BenchBrand"}),
        )
        .await?
        .json::<Value>()
        .await?["senderInfoTrackingId"]
            .as_str()
            .context("a Viber sender")?
            .to_owned();
        let sms = |order: u32, to: &str| json!({"type": "Sms", "order": order, "from": "Cascade", "to": to, "message": {"body": "Your code is 123456. It expires in 10 minutes."}});
        let viber = |order: u32, to: &str| json!({"type": "Viber", "order": order, "senderInfoTrackingId": sender, "to": to, "message": {"text": "Your parcel arrives today between 10:00 and 12:00."}});
        let voice = |order: u32, to: &str| json!({"type": "Voice", "order": order, "from": "+306900000000", "to": to, "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": "Your parcel arrives today"}}]}});
        let script = |channel: &str, to: &str, events: Value| {
            admin(
                "/sandbox/scenarios",
                json!({"channel": channel, "to": to, "events": events}),
            )
        };
        // (per mille, recipient, steps, scripted outcomes)
        let nums = [
            "+306999999001",
            "+306999999002",
            "+306999999003",
            "+306999999004",
            "+306999999005",
            "+306999999006",
            "+306999999007",
        ];
        script(
            "Viber",
            nums[2],
            json!([{"afterMs": 5, "status": "EXPIRED"}]),
        )
        .await?;
        script("Sms", nums[3], json!([{"afterMs": 5, "status": "Failed"}])).await?;
        script(
            "Viber",
            nums[4],
            json!([{"afterMs": 5, "status": "EXPIRED"}]),
        )
        .await?;
        script(
            "Sms",
            nums[4],
            json!([{"afterMs": 5, "status": "Undelivered"}]),
        )
        .await?;
        script("Sms", nums[6], json!([])).await?;
        let kinds: [(u32, &str, Vec<Value>); 7] = [
            (450, nums[0], vec![sms(1, nums[0])]),
            (200, nums[1], vec![viber(1, nums[1]), sms(2, nums[1])]),
            (100, nums[2], vec![viber(1, nums[2]), sms(2, nums[2])]),
            (80, nums[3], vec![sms(1, nums[3])]),
            (
                50,
                nums[4],
                vec![viber(1, nums[4]), sms(2, nums[4]), voice(3, nums[4])],
            ),
            (40, nums[5], vec![voice(1, nums[5])]),
            (50, nums[6], vec![sms(1, nums[6])]),
        ];
        let mut templates = Vec::new();
        for (per_mille, to, steps) in kinds {
            let r = client
                .post(format!("{}/failover", run.base))
                .bearer_auth(&run.token)
                .json(&json!({ "flow": steps }))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "a template flow was refused");
            let id = r.json::<Value>().await?["trackingId"]
                .as_str()
                .context("a trackingId")?
                .to_owned();
            // Wait until it settled (the hanging one stays InProgress).
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let tracking: Value = client
                    .get(format!("{}/failover/tracking/{id}", run.base))
                    .bearer_auth(&run.token)
                    .send()
                    .await?
                    .json()
                    .await?;
                let status = tracking["status"].as_str().unwrap_or("");
                let settled = matches!(status, "Succeeded" | "Failed")
                    || (to == nums[6] && status == "InProgress");
                if settled {
                    break;
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "template {id} did not settle: {tracking}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            templates.push(read_template(conn, per_mille, &id, to).await?);
        }
        // Queued: accepted, nothing attempted yet (the state a new flow starts with).
        let mut queued = read_template(conn, 30, &templates[0].id, nums[0]).await?;
        queued.real = false;
        queued.status = "Queued".into();
        queued.termination = None;
        queued.updated_after_ms = 0;
        queued.event_seq = 1;
        queued.state =
            json!({"status": "Queued", "steps": [], "updated_at": queued.definition["created_at"]});
        templates.push(queued);
        anyhow::ensure!(
            templates.iter().map(|t| t.per_mille).sum::<u32>() == 1000,
            "the mix adds up to 1000 per mille"
        );
        Ok(templates)
    }

    async fn read_template(
        conn: &mut SqliteConnection,
        per_mille: u32,
        id: &str,
        recipient: &str,
    ) -> anyhow::Result<Template> {
        let row = sqlx::query(
            "SELECT f.application_id, f.status, f.termination_channel, f.created_at, f.updated_at, \
             f.event_seq, f.state, d.definition, f.channels FROM flows f \
             JOIN flow_definitions d ON d.id = f.id WHERE f.id = ?",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let channels: Vec<String> =
            sqlx::query_scalar("SELECT channel FROM flow_steps WHERE flow_id = ? ORDER BY rowid")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        let created_ms: i64 = row.try_get(3)?;
        Ok(Template {
            per_mille,
            real: true,
            id: id.to_owned(),
            recipient: recipient.to_owned(),
            created_ms,
            updated_after_ms: row.try_get::<i64, _>(4)? - created_ms,
            application_id: row.try_get(0)?,
            status: row.try_get(1)?,
            termination: row.try_get(2)?,
            event_seq: row.try_get(5)?,
            state: serde_json::from_str(row.try_get(6)?)?,
            definition: serde_json::from_str(row.try_get(7)?)?,
            channels,
            channel_set: row.try_get(8)?,
        })
    }

    // --- the fill ------------------------------------------------------------------------

    /// What the fill wrote, as far as the measurement needs it.
    struct Filled {
        /// Recipients the generated flows use: 90 % Greek mobiles, 10 % UK mobiles, about
        /// four flows per number.
        numbers: Vec<String>,
        /// Indexes in `numbers` of the recipients of at least one of the account's flows.
        used: Vec<usize>,
        /// Tracking ids of every 100th flow of the account.
        ids: Vec<String>,
        /// The account's generated flows per template.
        counts: Vec<u64>,
    }

    /// Write `n` flows of `account` (and ~5 % more of three other accounts), created over
    /// the 30 days before now in time order, in transactions of [`TX_FLOWS`].
    async fn fill(
        conn: &mut SqliteConnection,
        account: &str,
        templates: &[Template],
        n: usize,
    ) -> anyhow::Result<Filled> {
        // A bulk load: no fsync per commit, and a page cache (1 GiB) that holds the
        // indexes being filled in random order (recipients) instead of rewriting pages.
        sqlx::query("PRAGMA synchronous = OFF")
            .execute(&mut *conn)
            .await?;
        sqlx::query("PRAGMA cache_size = -1048576")
            .execute(&mut *conn)
            .await?;
        let mut rng = Rng(42);
        let numbers: Vec<String> = (0..(n / 4).max(1))
            .map(|_| {
                if rng.below(10) == 0 {
                    format!("+4479{:08}", rng.below(100_000_000))
                } else {
                    format!("+3069{:08}", rng.below(100_000_000))
                }
            })
            .collect();
        let mut used = vec![false; numbers.len()];
        let mut ids = Vec::new();
        let mut counts = vec![0; templates.len()];
        let mut mine: u64 = 0;
        let total = n + n / 20;
        let end = templates[0].created_ms - 60_000;
        let start = end - 30 * DAY_MS;
        let others = ["bench-other-1", "bench-other-2", "bench-other-3"];
        let mut done = 0;
        while done < total {
            let batch = TX_FLOWS.min(total - done);
            let mut rows = Vec::with_capacity(batch);
            for i in done..done + batch {
                let created = start + (i as i64) * (30 * DAY_MS) / (total as i64);
                // Every 21st flow belongs to another account: n of the account's, n/20 others'.
                let owner = if i % 21 == 20 {
                    others[rng.below(3) as usize]
                } else {
                    account
                };
                let mut pick = rng.below(1000) as u32;
                let t = templates
                    .iter()
                    .position(|t| {
                        let hit = pick < t.per_mille;
                        pick = pick.saturating_sub(t.per_mille);
                        hit
                    })
                    .unwrap_or(0);
                let number = rng.below(numbers.len() as u64) as usize;
                let flow = generate(&templates[t], owner, &numbers[number], created, &mut rng);
                if owner == account {
                    used[number] = true;
                    counts[t] += 1;
                    mine += 1;
                    if mine % 100 == 1 {
                        ids.push(flow.id.clone());
                    }
                }
                rows.push(flow);
            }
            insert(conn, &rows).await?;
            done += batch;
            if done % 100_000 < TX_FLOWS {
                eprintln!("filled {done} / {total} flows");
            }
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await?;
        Ok(Filled {
            numbers,
            used: (0..used.len()).filter(|&i| used[i]).collect(),
            ids,
            counts,
        })
    }

    /// One generated flow's rows.
    struct FlowRows<'a> {
        id: String,
        account: &'a str,
        template: &'a Template,
        recipient: String,
        created: i64,
        definition: String,
        state: String,
    }

    fn generate<'a>(
        template: &'a Template,
        account: &'a str,
        to: &str,
        created: i64,
        rng: &mut Rng,
    ) -> FlowRows<'a> {
        let id = uuid_v7(created, rng);
        let shift = created - template.created_ms;
        let rewrite = |value: &Value| {
            let mut value = value.clone();
            replace_strings(&mut value, &|s: &str| {
                if s == template.id {
                    Some(id.clone())
                } else if s == template.recipient {
                    Some(to.to_owned())
                } else if s == template.definition["account_id"] {
                    Some(account.to_owned())
                } else {
                    parse_time(s).map(|t| format_time(t + shift))
                }
            });
            value.to_string()
        };
        FlowRows {
            definition: rewrite(&template.definition),
            state: rewrite(&template.state),
            id,
            account,
            template,
            recipient: to.to_lowercase(),
            created,
        }
    }

    fn replace_strings(value: &mut Value, f: &dyn Fn(&str) -> Option<String>) {
        match value {
            Value::String(s) => {
                if let Some(new) = f(s) {
                    *s = new;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| replace_strings(v, f)),
            Value::Object(map) => map.values_mut().for_each(|v| replace_strings(v, f)),
            _ => {}
        }
    }

    /// The rows the store writes for a new flow: `flow_definitions`, `flows` (with the
    /// template's channel set) and one `flow_steps` row per step, in one transaction.
    /// The store's triggers (migration 0006) add the flow to `flow_counts` and its
    /// recipients to the trigram index, as they do for the writer's own inserts.
    async fn insert(conn: &mut SqliteConnection, rows: &[FlowRows<'_>]) -> anyhow::Result<()> {
        let mut tx = conn.begin().await?;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO flow_definitions (id, definition) ");
            q.push_values(chunk, |mut b, r| {
                b.push_bind(&r.id).push_bind(&r.definition);
            });
            q.build().execute(&mut *tx).await?;

            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO flows (id, account_id, application_id, status, termination_channel, \
                 created_at, updated_at, state, event_seq, channels) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(&r.id)
                    .push_bind(r.account)
                    .push_bind(&r.template.application_id)
                    .push_bind(&r.template.status)
                    .push_bind(r.template.termination.as_deref())
                    .push_bind(r.created)
                    .push_bind(r.created + r.template.updated_after_ms)
                    .push_bind(&r.state)
                    .push_bind(r.template.event_seq)
                    .push_bind(r.template.channel_set);
            });
            q.build().execute(&mut *tx).await?;

            let steps: Vec<(&FlowRows, &String)> = chunk
                .iter()
                .flat_map(|r| r.template.channels.iter().map(move |c| (r, c)))
                .collect();
            let reversed: Vec<String> = steps
                .iter()
                .map(|(r, _)| r.recipient.chars().rev().collect())
                .collect();
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO flow_steps (flow_id, account_id, channel, recipient, recipient_rev, created_at) ",
            );
            q.push_values(steps.iter().zip(&reversed), |mut b, ((r, channel), rev)| {
                b.push_bind(&r.id)
                    .push_bind(r.account)
                    .push_bind(*channel)
                    .push_bind(&r.recipient)
                    .push_bind(rev)
                    .push_bind(r.created);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // --- the measurement -----------------------------------------------------------------

    #[derive(Debug, Clone, Copy)]
    enum Kind {
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
        const ALL: [Kind; 11] = [
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

        fn describe(self) -> &'static str {
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
        fn request(
            self,
            filled: &Filled,
            first_day: i64,
            rng: &mut Rng,
        ) -> (Vec<(String, String)>, Value) {
            let f = |field: &str, op: &str, term: String| json!([{"fieldName": field, "searchOperator": op, "searchTerm": term}]);
            let day = |rng: &mut Rng| {
                let start = first_day + rng.below(29) as i64 * DAY_MS;
                vec![
                    ("dateStart".to_owned(), format_time(start)),
                    ("dateEnd".to_owned(), format_time(start + DAY_MS)),
                ]
            };
            let number = |rng: &mut Rng| {
                let used = &filled.used;
                filled.numbers[used[rng.below(used.len() as u64) as usize]].clone()
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
        fn must_match(self) -> bool {
            !matches!(self, Kind::ToStartsWithNarrow | Kind::ToContains)
        }

        /// `totalElements` known from what the fill wrote (plus the real template flows),
        /// for the kinds whose answer does not depend on a random term.
        fn expected_total(self, templates: &[Template], counts: &[u64]) -> Option<u64> {
            let viber = |t: &Template| t.channels.iter().any(|c| c == "Viber");
            let matches: &dyn Fn(&Template) -> bool = match self {
                Kind::NoFilter | Kind::DeepPage => &|_| true,
                Kind::Status => &|t| t.status == "Failed",
                Kind::Type => &|t| viber(t),
                Kind::TypeAndStatus => &|t| viber(t) && t.status == "Succeeded",
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
    fn check_page(
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

    /// The first whole day of the filled 30 (milliseconds).
    async fn first_day(client: &reqwest::Client, run: &Running) -> anyhow::Result<i64> {
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
        let ms = parse_time(first).context("its createdAt")?;
        Ok(ms - ms.rem_euclid(DAY_MS) + DAY_MS)
    }

    struct Measured {
        p50: Duration,
        p99: Duration,
        requests: usize,
        /// The smallest and largest total `check` returned.
        totals: String,
    }

    /// Send requests one at a time: `WARM_UP` unmeasured, then up to `--search-requests`
    /// or until `--seconds` have passed (but at least `AT_LEAST`). A request is timed
    /// from sending it until its whole body has arrived; the body is then parsed and
    /// checked (`check(body, context)`, untimed), and any failure stops the benchmark.
    async fn measure<R, C>(
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
        let pct =
            |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        Ok(Measured {
            p50: pct(0.50),
            p99: pct(0.99),
            requests: latencies.len(),
            totals: if least == most {
                format!("{least}")
            } else {
                format!("{least}–{most}")
            },
        })
    }

    // --- small helpers -----------------------------------------------------------------

    /// splitmix64: fast, seeded, good enough to spread test data.
    pub struct Rng(pub u64);

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
}
