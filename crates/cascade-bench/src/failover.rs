//! `failover`: how fast the next step starts once a step has failed — from the report
//! that fails step 1 to step 2's start and to its submission, read from each flow's
//! timeline (millisecond timestamps), and to the moment step 2's `submit_sm` reached
//! the SMSC (the sandbox SMSC's own record of the message: the provider's side, before
//! it writes the message and answers).
//!
//! Every flow is SMS → SMS: the sandbox reports step 1 `Undelivered` 5 ms after it is
//! sent, step 2 goes to another number and is delivered. Three phases on one server:
//! - **idle**: one flow at a time;
//! - **in flight**: `--concurrency` flows at a time;
//! - **under load**: the same, while a pacer sends one-step SMS flows at
//!   `--background-rate` per second beside them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use cascade_core::FlowId;
use cascade_core::machines::TimelineKind;
use serde_json::{Value, json};

use crate::load::sms_flow;
use crate::server::{Running, start_cascade};
use crate::{ADMIN, Cli};

const FAILING: &str = "+306900000001";
const SECOND: &str = "+306900000002";

fn failover_flow() -> Value {
    json!({"flow": [
        {"type": "Sms", "order": 1, "from": "Cascade", "to": FAILING, "message": {"body": "first"}},
        {"type": "Sms", "order": 2, "from": "Cascade", "to": SECOND, "message": {"body": "second"}},
    ]})
}

/// Returns the table rows: (measurement, result).
pub async fn run(cli: &Cli, background_rate: u32) -> anyhow::Result<Vec<(String, String)>> {
    let run = start_cascade(cli).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency + 16)
        .build()?;
    client
        .post(format!("{}/sandbox/scenarios", run.base))
        .bearer_auth(ADMIN)
        .json(&json!({"channel": "Sms", "to": FAILING,
                      "events": [{"afterMs": 5, "status": "Undelivered"}]}))
        .send()
        .await?
        .error_for_status()
        .context("the sandbox scenario")?;
    let per_phase = cli.flows.clamp(50, 100_000);
    let mut rows = Vec::new();
    for (name, in_flight, background) in [
        ("idle: one flow at a time", 1, 0),
        ("in flight", cli.concurrency, 0),
        (
            "in flight, under background load",
            cli.concurrency,
            background_rate,
        ),
    ] {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let pacer = (background > 0).then(|| {
            tokio::spawn(pace(
                client.clone(),
                run.base.clone(),
                run.token.clone(),
                background,
                Arc::clone(&stop),
                Arc::clone(&sent),
            ))
        });
        let started = Instant::now();
        let ids = drive(
            &client,
            &run,
            in_flight,
            per_phase.min((in_flight * 40).max(200)),
        )
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        if let Some(p) = pacer {
            p.await?;
        }
        let (to_start, to_smsc, to_submit) = reactions(&run, &ids).await?;
        let describe = |v: &[i64]| {
            format!(
                "p50 {} ms, p99 {} ms, max {} ms",
                pct(v, 50),
                pct(v, 99),
                v.last().copied().unwrap_or(0)
            )
        };
        let label = if background > 0 {
            format!(
                "{name} ({in_flight} failover flows at a time; {:.0} background flows/s sent)",
                sent.load(Ordering::Relaxed) as f64 / seconds
            )
        } else {
            format!("{name} ({in_flight} at a time)")
        };
        rows.push((
            format!("Failover reaction, {label}: report failing step 1 → step 2 started"),
            format!("{} ({} flows)", describe(&to_start), to_start.len()),
        ));
        rows.push((
            format!("Failover reaction, {label}: report failing step 1 → step 2 at the SMSC"),
            describe(&to_smsc),
        ));
        rows.push((
            format!("Failover reaction, {label}: report failing step 1 → step 2 submitted"),
            describe(&to_submit),
        ));
    }
    run.stop().await;
    Ok(rows)
}

/// Send `total` failover flows, `in_flight` at a time, each waited for until final.
async fn drive(
    client: &reqwest::Client,
    run: &Running,
    in_flight: usize,
    total: usize,
) -> anyhow::Result<Vec<FlowId>> {
    let next = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (client, url, token, next, ids, store, account) = (
            client.clone(),
            format!("{}/failover", run.base),
            run.token.clone(),
            Arc::clone(&next),
            Arc::clone(&ids),
            Arc::clone(&run.store),
            run.account.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let body = failover_flow();
            while next.fetch_add(1, Ordering::Relaxed) < total as u64 {
                let r: Value = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let id = FlowId::parse(r["trackingId"].as_str().unwrap_or_default())?;
                // Until it is final, read from the store (not over HTTP, which would add
                // requests to the server being measured).
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let flow = store.flow(&account, id).await?.context("the flow")?;
                    if flow.state.status.is_final() {
                        break;
                    }
                    anyhow::ensure!(Instant::now() < deadline, "flow {id} did not finish");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                ids.lock().expect("no panics under this lock").push(id);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let ids = std::mem::take(&mut *ids.lock().expect("no panics under this lock"));
    Ok(ids)
}

/// One-step SMS flows at `rate` per second until `stop`.
async fn pace(
    client: reqwest::Client,
    base: String,
    token: String,
    rate: u32,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    let url = format!("{base}/failover");
    let body = sms_flow();
    let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(256));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            continue; // the server is behind: the pacer does not pile up requests
        };
        let (client, url, token, body, sent) = (
            client.clone(),
            url.clone(),
            token.clone(),
            body.clone(),
            Arc::clone(&sent),
        );
        tokio::spawn(async move {
            if client
                .post(&url)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                sent.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        });
    }
}

/// Per flow, milliseconds from the report that failed step 1 to step 2's start, to its
/// `submit_sm` reaching the sandbox SMSC and to its submission; each list sorted.
async fn reactions(
    run: &Running,
    ids: &[FlowId],
) -> anyhow::Result<(Vec<i64>, Vec<i64>, Vec<i64>)> {
    // The SMSC's messages by client reference (Cascade sends the step's message id).
    let at_smsc: std::collections::HashMap<String, cascade_core::Timestamp> = run
        .store
        .sandbox_messages(u32::MAX)
        .await?
        .into_iter()
        .map(|m| (m.client_ref, m.received_at))
        .collect();
    let (mut to_start, mut to_smsc, mut to_submit) = (Vec::new(), Vec::new(), Vec::new());
    for &id in ids {
        let flow = run
            .store
            .flow(&run.account, id)
            .await?
            .context("the flow")?;
        let second = flow
            .state
            .steps
            .iter()
            .find(|s| s.order == 2)
            .context("step 2's state")?;
        let reached = at_smsc
            .get(&second.message_id)
            .with_context(|| format!("step 2 of {id} is not among the SMSC's messages"))?;
        let timeline = run
            .store
            .timeline(&run.account, id)
            .await?
            .context("a timeline")?;
        let at = |kind: TimelineKind, order: u32| {
            timeline
                .iter()
                .find(|e| e.kind == kind && e.order == Some(order))
                .map(|e| e.at)
        };
        let (Some(failed), Some(started), Some(submitted)) = (
            at(TimelineKind::Report, 1),
            at(TimelineKind::StepStarted, 2),
            at(TimelineKind::Submitted, 2),
        ) else {
            anyhow::bail!("flow {id} did not fail over: {timeline:?}");
        };
        to_start.push(started.millis_since(failed));
        to_smsc.push(reached.millis_since(failed));
        to_submit.push(submitted.millis_since(failed));
    }
    to_start.sort_unstable();
    to_smsc.sort_unstable();
    to_submit.sort_unstable();
    Ok((to_start, to_smsc, to_submit))
}

fn pct(sorted: &[i64], p: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) * p).div_ceil(100)]
}
