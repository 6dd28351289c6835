//! `cargo run --release -p cascade-bench -- all`
//!
//! Measures, in one run on one machine:
//! - **accept**: `POST /failover` under concurrent load (durable: each 200 means the flow
//!   is committed), beside the same axum + client stack answering a static body;
//! - **complete**: flows per second from accepted to `Succeeded` end to end through the
//!   sandbox, beside raw batched SQLite inserts of rows the size of a flow.
//!
//! - **providers** (on its own): Viber → SMS flows through the `vonage-messages` adapter
//!   and a local mock, beside the same flows through the Viber sandbox; signed webhooks
//!   applied per second.
//! - **search**: `POST /failover/tracking` latency (one request at a time) over a store
//!   filled with `--search-flows` flows through the store's own import (filling takes
//!   most of the run: about 12 s for the default 100 000 on a 2-core machine).
//!
//! The load generator runs in the same process as the server (same 2 cores), which is
//! stated next to the figures.

mod accept;
mod baseline;
mod complete;
mod failover;
mod load;
mod nodes;
mod providers;
mod search;
mod server;

use clap::{Parser, Subcommand};

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
    /// Read connections of Cascade's SQLite store (`CASCADE_SQLITE_READERS`).
    #[arg(long, default_value_t = 4, global = true)]
    readers: u32,
    /// Flows in the store for the search measurement (the searched account's; about 5 %
    /// more belong to other accounts).
    #[arg(long, default_value_t = 100_000, global = true)]
    search_flows: usize,
    /// Requests per kind of search (each kind also stops after `--seconds`).
    #[arg(long, default_value_t = 200, global = true)]
    search_requests: usize,
    /// `GET /failover/tracking/{id}` requests per second in the search measurement's
    /// open-loop run.
    #[arg(long, default_value_t = 5_000, global = true)]
    tracking_rate: u32,
    /// Run Cascade on this PostgreSQL database instead of a fresh SQLite file (it should
    /// be empty; `accept`, `complete` and `failover` only).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// After `search`, move the filled SQLite store (database and log) into this
    /// directory instead of deleting it, to time a migration on it or query it again.
    #[arg(long, global = true)]
    keep_store: Option<std::path::PathBuf>,
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
    /// Failover reaction from the timeline: the report failing step 1 → step 2 started
    /// and submitted; idle, `--concurrency` flows in flight, and that beside
    /// `--background-rate` one-step flows per second. Not part of `all`.
    Failover {
        #[arg(long, default_value_t = 1500)]
        background_rate: u32,
    },
    /// The web console's pages in headless Chromium over a store filled with
    /// `--search-flows` flows (`--search-requests` loads per page). Not part of `all`.
    Console,
    /// Viber → SMS through the vonage-messages adapter and a local mock, beside the
    /// sandbox; signed webhooks per second. Not part of `all`.
    Providers,
    /// Flows accepted and completed with 1, 2 and 3 `cascade serve` processes (the
    /// release binary beside this one) on `--database-url`, beside one process on a
    /// fresh SQLite store, with the CPU time per flow of each part. Each count gets a
    /// new database on the server of `--database-url`. Not part of `all`.
    Nodes {
        /// Node counts to measure, in order, on the same database.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        counts: Vec<usize>,
    },
}

const APP: &str = "bench-app";
const SECRET: &str = "bench-secret-0123";
/// The admin token Cascade is started with (for the admin and sandbox routes).
const ADMIN: &str = "bench-admin-token-0123456789";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // reqwest's rustls needs a process-wide crypto provider. Cascade installs one when it
    // starts, but the static baseline (first in `all`) runs before any Cascade does.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if std::env::var_os("RUST_LOG").is_some() {
        cascade::telemetry::init("warn");
    }
    let mut rows: Vec<(String, String)> = Vec::new();
    let all = matches!(cli.what, What::All);
    if all || matches!(cli.what, What::StaticBaseline) {
        let r = baseline::static_baseline(&cli).await?;
        rows.push((
            "Baseline: same axum stack + client, static 200 body".into(),
            r.describe("req/s"),
        ));
    }
    if all || matches!(cli.what, What::Accept) {
        let r = accept::accept(&cli).await?;
        rows.push((
            "POST /failover accepted (durable, 1-step SMS)".into(),
            r.describe("flows/s"),
        ));
    }
    if all || matches!(cli.what, What::SqliteBaseline) {
        for per_statement in [1, 64] {
            let r = baseline::sqlite_baseline(&cli, per_statement).await?;
            rows.push((
                format!(
                    "Baseline: raw SQLite inserts via sqlx, 2 KB rows, {per_statement} row(s) per statement, 512 per transaction"
                ),
                format!("{r:.0} rows/s"),
            ));
            let r = baseline::sqlite_baseline_rusqlite(&cli, per_statement)?;
            rows.push((
                format!(
                    "Baseline: raw SQLite inserts via rusqlite on the calling thread (as Cascade's writer), 2 KB rows, {per_statement} row(s) per statement, 512 per transaction"
                ),
                format!("{r:.0} rows/s"),
            ));
        }
    }
    if all || matches!(cli.what, What::Complete) {
        let (rate, elapsed) = complete::complete(&cli).await?;
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
    if let What::Failover { background_rate } = cli.what {
        rows.extend(failover::run(&cli, background_rate).await?);
    }
    if matches!(cli.what, What::Console) {
        rows.extend(search::console::run(&cli).await?);
    }
    if matches!(cli.what, What::Providers) {
        rows.extend(providers::run(&cli).await?);
    }
    if let What::Nodes { counts } = &cli.what {
        let dir = tempfile::tempdir()?;
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        rows.extend(nodes::run(&cli, 1, &sqlite).await?);
        let database = cli
            .database_url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("nodes needs --database-url postgres://…"))?;
        for &count in counts {
            let fresh = nodes::fresh_database(&database, count).await?;
            rows.extend(nodes::run(&cli, count, &fresh).await?);
        }
    }
    println!(
        "\n| measurement (concurrency {}, {} s, durability {}, SQLite readers {}) | result |",
        cli.concurrency, cli.seconds, cli.durability, cli.readers
    );
    println!("| --- | --- |");
    for (name, value) in rows {
        println!("| {name} | {value} |");
    }
    Ok(())
}
