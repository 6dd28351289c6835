//! `complete`: flows per second from accepted to `Succeeded`, end to end through the
//! sandbox.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cascade_core::machines::FlowStatus;
use cascade_core::search::{Equality, Filter, PageSize, SearchQuery};

use crate::Cli;
use crate::load::sms_flow;
use crate::server::{Running, start_cascade};

/// How many of the bench account's flows have succeeded: the total of a search for them
/// (a one-flow page), asked of the store directly rather than over HTTP so that polling
/// adds no requests to the server being measured.
async fn count_succeeded(run: &Running) -> anyhow::Result<u64> {
    let query = SearchQuery {
        size: PageSize::new(1).expect("1 is a page size"),
        filters: vec![Filter::Status {
            op: Equality::Is,
            status: FlowStatus::Succeeded,
        }],
        ..SearchQuery::default()
    };
    Ok(run.store.search(&run.account, &query).await?.total)
}

/// Send `flows` flows as fast as `concurrency` clients can, then wait until all succeeded.
pub async fn complete(cli: &Cli) -> anyhow::Result<(f64, f64)> {
    let run = start_cascade(cli).await?;
    let figures = drive(&run, cli, &sms_flow()).await?;
    run.stop().await;
    Ok(figures)
}

/// Send `cli.flows` copies of `flow` with `cli.concurrency` clients, then wait until all
/// of them succeeded: flows per second and seconds, from the first request.
pub async fn drive(
    run: &Running,
    cli: &Cli,
    flow: &serde_json::Value,
) -> anyhow::Result<(f64, f64)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency)
        .build()?;
    let url = format!("{}/failover", run.base);
    let next = Arc::new(AtomicU64::new(0));
    let total = cli.flows as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..cli.concurrency {
        let (client, url, token, next, flow) = (
            client.clone(),
            url.clone(),
            run.token.clone(),
            Arc::clone(&next),
            flow.clone(),
        );
        tasks.push(tokio::spawn(async move {
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
        let done = count_succeeded(run).await?;
        if done >= total {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "only {done} flows completed in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((cli.flows as f64 / elapsed, elapsed))
}
