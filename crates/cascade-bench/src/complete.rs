//! `complete`: flows per second from accepted to `Succeeded`, end to end through the
//! sandbox.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, SqliteConnection};

use crate::Cli;
use crate::load::sms_flow;
use crate::server::start_cascade;

async fn count_succeeded(db: &std::path::Path) -> anyhow::Result<i64> {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await?;
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM flows WHERE status = 'Succeeded'")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(n)
}

/// Send `flows` flows as fast as `concurrency` clients can, then wait until all succeeded.
pub async fn complete(cli: &Cli) -> anyhow::Result<(f64, f64)> {
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
