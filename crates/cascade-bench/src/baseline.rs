//! The baselines printed beside Cascade's figures: the same HTTP stack answering a static
//! body, and raw SQLite inserts into a table of the bench's own (not Cascade's).

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{Connection, SqliteConnection};

use crate::Cli;
use crate::load::{Load, drive, sms_flow};

pub async fn static_baseline(cli: &Cli) -> anyhow::Result<Load> {
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

/// The baselines' table and its index.
const TABLE: &str =
    "CREATE TABLE t (id TEXT PRIMARY KEY, account TEXT, created INTEGER, body TEXT) WITHOUT ROWID";
const INDEX: &str = "CREATE INDEX t_account ON t (account, created, id)";
/// Rows per transaction, and each row's body.
const PER_TRANSACTION: usize = 512;
const BODY_BYTES: usize = 2048;

/// `PRAGMA synchronous` for `--durability`.
fn synchronous(cli: &Cli) -> &'static str {
    if cli.durability == "normal" {
        "NORMAL"
    } else {
        "FULL"
    }
}

/// Rows/s for plain inserts of 2 KB rows into an indexed table, 512 per transaction,
/// `per_statement` rows per INSERT, with the WAL and synchronous settings Cascade uses.
pub async fn sqlite_baseline(cli: &Cli, per_statement: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("raw.db").display());
    let mut conn = SqliteConnection::connect(&url).await?;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("PRAGMA synchronous = {}", synchronous(cli)))
        .execute(&mut conn)
        .await?;
    sqlx::query(TABLE).execute(&mut conn).await?;
    sqlx::query(INDEX).execute(&mut conn).await?;
    let body = "x".repeat(BODY_BYTES);
    let deadline = Instant::now() + Duration::from_secs(cli.seconds);
    let started = Instant::now();
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        let mut tx = conn.begin().await?;
        for _ in 0..PER_TRANSACTION / per_statement {
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

/// [`sqlite_baseline`]'s inserts through rusqlite, executed on the calling thread as
/// Cascade's SQLite writer executes its statements: the ceiling without sqlx's hand-over
/// of each statement to a worker thread.
pub fn sqlite_baseline_rusqlite(cli: &Cli, per_statement: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let conn = rusqlite::Connection::open(dir.path().join("raw.db"))?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; {TABLE}; {INDEX};",
        synchronous(cli)
    ))?;
    let sql = format!(
        "INSERT INTO t (id, account, created, body) VALUES {}",
        vec!["(?, ?, ?, ?)"; per_statement].join(", ")
    );
    let body = "x".repeat(BODY_BYTES);
    let deadline = Instant::now() + Duration::from_secs(cli.seconds);
    let started = Instant::now();
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        conn.execute_batch("BEGIN")?;
        {
            let mut stmt = conn.prepare_cached(&sql)?;
            for _ in 0..PER_TRANSACTION / per_statement {
                let mut at = 0;
                for _ in 0..per_statement {
                    n += 1;
                    stmt.raw_bind_parameter(at + 1, format!("{n:020}"))?;
                    stmt.raw_bind_parameter(at + 2, "acc")?;
                    stmt.raw_bind_parameter(at + 3, n as i64)?;
                    stmt.raw_bind_parameter(at + 4, body.as_str())?;
                    at += 4;
                }
                stmt.raw_execute()?;
            }
        }
        conn.execute_batch("COMMIT")?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}
