//! Three `cascade serve` processes on one database sharing one third-party SMSC (the
//! smpp34 peer): the SMSC sees the configured number of binds in all, whichever nodes
//! hold them, and a node killed under load loses nothing — its binds and its work are
//! taken over within the lease.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;
use crate::interop::SmscPeer;
use crate::restart::{Client, Server, start_with};

const LEASE_MS: u64 = 2_000;
const BINDS: usize = 2;

/// The most binds the SMSC had at once, from its `bound` / `unbound` / `closed` lines, and
/// when (ms since the peer started) it last reached `BINDS` after `after_ms`.
fn bind_history(peer: &SmscPeer, after_ms: u64) -> (usize, Option<u64>) {
    let events = peer.events.lock().unwrap().clone();
    let mut open: HashSet<String> = HashSet::new();
    let (mut most, mut full_again) = (0, None);
    for e in &events {
        let session = e["session_id"].as_str().unwrap_or_default().to_owned();
        match e["event"].as_str() {
            Some("bound") => {
                open.insert(session);
            }
            Some("unbound" | "closed") => {
                open.remove(&session);
            }
            _ => continue,
        }
        most = most.max(open.len());
        let at = e["at_ms"].as_u64().unwrap_or(0);
        if at > after_ms && open.len() == BINDS && full_again.is_none() {
            full_again = Some(at);
        }
    }
    (most, full_again)
}

/// Polls the trackings of `ids` through `base` until every flow is `Succeeded`, or
/// panics after a minute naming how many are not and showing the first.
pub(crate) async fn wait_all_succeeded(client: &Client, base: &str, ids: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pending = ids.to_vec();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for id in pending {
            let t = client.get(base, &format!("/failover/tracking/{id}")).await;
            if t["status"] != "Succeeded" {
                still.push((id, t));
            }
        }
        let Some((_, first)) = still.first() else {
            return;
        };
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged flows never succeeded; first: {first:#}",
            still.len(),
            ids.len()
        );
        pending = still.into_iter().map(|(id, _)| id).collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The bind slots each node holds, by node id, as `/admin/nodes` lists them.
async fn binds_by_node(http: &reqwest::Client, base: &str) -> HashMap<String, Vec<String>> {
    let r = http
        .get(format!("{base}/admin/nodes"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let binds = n["holds"]["binds"]
                .as_array()
                .map(|b| b.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            (n["id"].as_str().unwrap().to_owned(), binds)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_of_three_nodes_under_load_loses_nothing_and_its_binds_move() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let peer = SmscPeer::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cascade.toml");
    std::fs::write(&config, peer.smsc_section(&format!("binds = {BINDS}"))).unwrap();
    let db = fresh_database_url(dir.path()).await;
    let config = config.display().to_string();
    let lease = LEASE_MS.to_string();
    let mut nodes: Vec<(String, Option<Server>)> = Vec::new();
    for id in ["node-1", "node-2", "node-3"] {
        let server = start_with(
            &db,
            &[
                ("CASCADE_CONFIG", config.as_str()),
                ("CASCADE_NODE_ID", id),
                ("CASCADE_LEASE_MS", lease.as_str()),
            ],
        )
        .await;
        nodes.push((id.to_owned(), Some(server)));
    }
    let bases: Vec<String> = nodes
        .iter()
        .map(|(_, s)| s.as_ref().unwrap().base.clone())
        .collect();
    let http = reqwest::Client::new();

    // Two binds in all, whatever the three nodes would each like.
    let deadline = Instant::now() + Duration::from_secs(20);
    let holders = loop {
        let held = binds_by_node(&http, &bases[0]).await;
        let total: usize = held.values().map(Vec::len).sum();
        if total == BINDS && peer.events("bound").len() >= BINDS {
            break held;
        }
        assert!(Instant::now() < deadline, "binds never settled: {held:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        bind_history(&peer, 0).0,
        BINDS,
        "more binds than configured"
    );
    let victim = holders
        .iter()
        .find(|(_, b)| !b.is_empty())
        .map(|(id, _)| id.clone())
        .unwrap();

    // Load through every node; the victim dies a second in.
    let mut clients = Vec::new();
    for base in &bases {
        clients.push(Client::new(base).await);
    }
    let mut accepted: Vec<String> = Vec::new();
    let mut killed_at_ms = None;
    let load_started = Instant::now();
    let mut round = 0usize;
    while load_started.elapsed() < Duration::from_secs(4) {
        if killed_at_ms.is_none() && load_started.elapsed() >= Duration::from_secs(1) {
            let slot = nodes.iter_mut().find(|(id, _)| *id == victim).unwrap();
            slot.1.take().unwrap().kill_9().await;
            killed_at_ms = Some(u64::try_from(peer.started.elapsed().as_millis()).unwrap());
        }
        let sends = (0..nodes.len())
            .filter(|&i| nodes[i].1.is_some())
            .map(|i| {
                let body = flow(vec![sms_step(1, &format!("load {round} via {i}"))]);
                let req = http
                    .post(format!("{}/failover", bases[i]))
                    .bearer_auth(&clients[i].token)
                    .json(&body)
                    .send();
                async move {
                    let r = req.await.ok()?;
                    (r.status() == StatusCode::OK).then_some(())?;
                    let v: Value = r.json().await.ok()?;
                    v["trackingId"].as_str().map(str::to_owned)
                }
            })
            .collect::<Vec<_>>();
        // A request cut by the kill has no answer: not acknowledged, not counted.
        accepted.extend(
            futures_util::future::join_all(sends)
                .await
                .into_iter()
                .flatten(),
        );
        round += 1;
    }
    let killed_at_ms = killed_at_ms.unwrap();
    assert!(accepted.len() > 100, "too little load: {}", accepted.len());

    // Every acknowledged flow ends delivered, read through a node that lives.
    let alive = nodes.iter().position(|(_, s)| s.is_some()).unwrap();
    let (live, client) = (&bases[alive], &clients[alive]);
    wait_all_succeeded(client, live, &accepted).await;
    for id in accepted.iter().step_by(17) {
        let t = client.get(live, &format!("/failover/tracking/{id}")).await;
        assert_eq!(status_of(&t["messages"][0]), "Delivered", "{t:#}");
    }

    // The SMSC never had more binds than configured, and had them all again within
    // the lease plus one renewal and the bind itself.
    let (most, full_again) = bind_history(&peer, killed_at_ms);
    assert_eq!(most, BINDS, "the SMSC saw more binds than configured");
    let full_again = full_again.expect("the dead node's binds were never taken over");
    let took = full_again - killed_at_ms;
    assert!(
        took <= LEASE_MS + LEASE_MS / 3 + 1_500,
        "the binds came back {took} ms after the kill"
    );
    let held = binds_by_node(&http, live).await;
    assert!(
        !held.contains_key(&victim),
        "the dead node is still listed: {held:?}"
    );
    assert_eq!(
        held.values().map(Vec::len).sum::<usize>(),
        BINDS,
        "{held:?}"
    );

    // Each acknowledged flow reached the SMSC; twice only for what was in the dead
    // node's window when it died (at most its binds × window).
    let submits = peer.events("submit");
    let mut per_body: HashMap<String, usize> = HashMap::new();
    for s in &submits {
        *per_body
            .entry(s["short_message_hex"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let twice = per_body.values().filter(|&&n| n > 1).count();
    assert!(
        submits.len() >= accepted.len(),
        "{} submits for {} flows",
        submits.len(),
        accepted.len()
    );
    assert!(twice <= BINDS * 10, "{twice} messages went twice");
    eprintln!(
        "{} flows acknowledged, {} submits, {twice} sent twice, binds back in {took} ms",
        accepted.len(),
        submits.len()
    );
}
