//! `cargo run --release -p cascade-bench -- all`
//!
//! Measures, in one run on one machine:
//! - **accept**: `POST /failover` under concurrent load (durable: each 200 means the flow
//!   is committed), beside the same axum + client stack answering a static body;
//! - **complete**: flows per second from accepted to `Succeeded` end to end through the
//!   sandbox, beside raw batched SQLite inserts of rows the size of a flow.
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
}

#[derive(Debug, Subcommand)]
enum What {
    /// Everything below, printed as a Markdown table.
    All,
    Accept,
    StaticBaseline,
    Complete,
    SqliteBaseline,
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
