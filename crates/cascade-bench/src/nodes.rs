//! `nodes`: flows accepted and completed per second with 1, 2 or 3 `cascade serve`
//! processes (the release binary) on one store, the load spread over them round robin,
//! and the CPU time each part of the system spent per flow.
//!
//! CPU time is read from `/proc/<pid>/stat` (user + system) before and after each
//! measurement, for the Cascade nodes, for every process named `postgres` (the server
//! and its backends; PostgreSQL only), and for this process (the load generator).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::load::{drive, sms_flow};
use crate::server::token;
use crate::{ADMIN, APP, Cli, SECRET};

/// One `cascade serve` process.
struct Node {
    child: Child,
    base: String,
}

/// The `cascade` binary beside this one (`target/release/cascade`).
fn cascade_bin() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let bin = me.with_file_name("cascade");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release -p cascade`",
        bin.display()
    );
    Ok(bin)
}

async fn start_node(database: &str, id: &str, durability: &str) -> anyhow::Result<Node> {
    let mut child = Command::new(cascade_bin()?)
        .arg("serve")
        .env("CASCADE_LISTEN", "127.0.0.1:0")
        .env("CASCADE_SANDBOX_SMPP_LISTEN", "127.0.0.1:0")
        .env("CASCADE_DATABASE_URL", database)
        .env("CASCADE_NODE_ID", id)
        .env("CASCADE_ADMIN_TOKEN", ADMIN)
        .env("CASCADE_BOOTSTRAP_APPLICATION", format!("{APP}:{SECRET}"))
        .env("CASCADE_DEFAULT_BALANCE", "1000000000")
        .env("CASCADE_RATE_LIMIT_PER_SECOND", "0")
        .env("CASCADE_DURABILITY", durability)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting cascade serve")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("cascade: listening on ") {
                return Ok(url.trim().to_owned());
            }
        }
        anyhow::bail!("cascade exited before listening")
    })
    .await
    .context("cascade did not listen within a minute")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Node { child, base })
}

/// User + system CPU time of `pid` so far.
fn cpu_of(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')'.
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / clock_ticks())
}

fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// Every process named `postgres`.
fn postgres_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .collect()
}

/// CPU time so far of (the nodes, PostgreSQL, this process).
fn cpu_split(nodes: &[Node]) -> [Duration; 3] {
    let nodes: Duration = nodes.iter().filter_map(|n| n.child.id()).map(cpu_of).sum();
    let postgres: Duration = postgres_pids().into_iter().map(cpu_of).sum();
    [nodes, postgres, cpu_of(std::process::id())]
}

fn per_flow(before: [Duration; 3], after: [Duration; 3], flows: f64) -> String {
    let ms = |i: usize| (after[i].saturating_sub(before[i])).as_secs_f64() * 1e3 / flows;
    format!(
        "CPU per flow: Cascade {:.2} ms, PostgreSQL {:.2} ms, load generator {:.2} ms",
        ms(0),
        ms(1),
        ms(2)
    )
}

/// Succeeded flows of the bench account, as a search through `base` counts them.
async fn succeeded(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<u64> {
    let v: Value = client
        .post(format!("{base}/failover/tracking?size=1"))
        .bearer_auth(token)
        .json(&json!([{"fieldName": "status", "searchOperator": "is", "searchTerm": "Succeeded"}]))
        .send()
        .await?
        .json()
        .await?;
    v["totalElements"].as_u64().context("totalElements")
}

/// A new, empty database on the server `url` names (any database of it), for `count`
/// nodes; returns its URL.
pub async fn fresh_database(url: &str, count: usize) -> anyhow::Result<String> {
    use sqlx::Connection;
    let (head, query) = url.split_once('?').map_or((url, ""), |(h, q)| (h, q));
    let server = head.rsplit_once('/').map_or(head, |(s, _)| s);
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let name = format!("bench_{count}_nodes_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    })
}

/// Runs the measurement with `count` nodes on `database` (empty, or holding only earlier
/// runs' flows): one row for accepting, one for completing.
pub async fn run(cli: &Cli, count: usize, database: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut nodes = Vec::new();
    for i in 0..count {
        nodes.push(start_node(database, &format!("bench-node-{i}"), &cli.durability).await?);
    }
    let bases: Arc<Vec<String>> = Arc::new(nodes.iter().map(|n| n.base.clone()).collect());
    let mut tokens = Vec::new();
    for base in bases.iter() {
        tokens.push(token(base).await?);
    }
    let tokens = Arc::new(tokens);
    let store = if database.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let mut rows = Vec::new();

    // Accepted per second.
    let flow = sms_flow();
    let next = Arc::new(AtomicU64::new(0));
    let before = cpu_split(&nodes);
    let load = {
        let (bases, tokens, next, flow) =
            (bases.clone(), tokens.clone(), next.clone(), flow.clone());
        drive(cli.concurrency, cli.seconds, move |c| {
            let i =
                usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(0) % bases.len();
            let request = c
                .post(format!("{}/failover", bases[i]))
                .bearer_auth(&tokens[i])
                .json(&flow);
            async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .await
    };
    let after = cpu_split(&nodes);
    let sent = next.load(Ordering::Relaxed) as f64;
    rows.push((
        format!("{store}, {count} node(s): POST /failover accepted (load spread round robin)"),
        format!(
            "{}; {}",
            load.describe("flows/s"),
            per_flow(before, after, sent.max(1.0))
        ),
    ));
    let client = reqwest::Client::new();
    // Let the accepted flows finish before the next measurement.
    let accepted_so_far = next.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(600);
    while succeeded(&client, &bases[0], &tokens[0]).await? < accepted_so_far * 95 / 100 {
        anyhow::ensure!(Instant::now() < deadline, "accepted flows did not finish");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Completed per second: `--flows` flows sent, until all of them succeeded.
    let base_count = succeeded(&client, &bases[0], &tokens[0]).await?;
    let total = cli.flows as u64;
    let sent = Arc::new(AtomicU64::new(0));
    let before = cpu_split(&nodes);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..cli.concurrency {
        let (bases, tokens, sent, flow, client) = (
            bases.clone(),
            tokens.clone(),
            sent.clone(),
            flow.clone(),
            client.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return;
                }
                let i = usize::try_from(n).unwrap_or(0) % bases.len();
                let _ = client
                    .post(format!("{}/failover", bases[i]))
                    .bearer_auth(&tokens[i])
                    .json(&flow)
                    .send()
                    .await;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while succeeded(&client, &bases[0], &tokens[0]).await? < base_count + total {
        anyhow::ensure!(Instant::now() < deadline, "flows did not complete");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = cpu_split(&nodes);
    rows.push((
        format!("{store}, {count} node(s): flows completed end to end ({total} flows)"),
        format!(
            "{:.0} flows/s ({elapsed:.1} s); {}",
            total as f64 / elapsed,
            per_flow(before, after, total as f64)
        ),
    ));
    for mut node in nodes {
        let _ = node.child.kill().await;
    }
    Ok(rows)
}
