//! PostgreSQL restarted under load (scale-out §2): two nodes on a cluster of the test's
//! own, which is stopped as a crash would stop it and started again, under eight clients. While it is away the
//! nodes say so on `/readyz` (503) and refuse new flows with the error shape; nothing
//! they acknowledged is lost, and they carry on by themselves when it is back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cascade_store::postgres::cluster::Cluster;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;
use crate::restart::{Client, start_with};
use crate::smsc_nodes::wait_all_succeeded;

async fn ready(http: &reqwest::Client, base: &str) -> Option<StatusCode> {
    let r = http
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    r.ok().map(|r| r.status())
}

/// Polls `/readyz` of every base until each answers `want`.
async fn until_ready_is(http: &reqwest::Client, bases: &[String], want: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for base in bases {
        loop {
            let got = ready(http, base).await;
            if got == Some(want) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{base}/readyz: {got:?}, not {want}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_wait_out_a_database_restart_under_load_and_lose_nothing() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cluster = tokio::task::spawn_blocking(Cluster::private)
        .await
        .unwrap()
        .expect("a cluster of the test's own");
    let db = cluster.fresh_database().await;
    let a = start_with(&db, &[("CASCADE_NODE_ID", "node-a")]).await;
    let b = start_with(&db, &[("CASCADE_NODE_ID", "node-b")]).await;
    let bases = vec![a.base.clone(), b.base.clone()];
    let http = reqwest::Client::new();
    until_ready_is(&http, &bases, StatusCode::OK).await;
    let clients = Arc::new(vec![
        Client::new(&bases[0]).await,
        Client::new(&bases[1]).await,
    ]);

    // Load on both nodes until told to stop: acknowledged ids, and every other answer
    // by status (a request the restart cut short has none).
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(HashMap::<u16, Vec<Value>>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    const WORKERS: usize = 8;
    let mut load = Vec::new();
    for worker in 0..WORKERS {
        let (accepted, refused, stop) = (accepted.clone(), refused.clone(), stop.clone());
        let (clients, bases) = (clients.clone(), bases.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.is_cancelled() {
                let i = (n + worker) % 2;
                let body = flow(vec![sms_step(1, &format!("restart {worker}/{n}"))]);
                let sent = clients[i]
                    .http
                    .post(format!("{}/failover", bases[i]))
                    .bearer_auth(&clients[i].token)
                    .timeout(Duration::from_secs(15))
                    .json(&body)
                    .send()
                    .await;
                if let Ok(r) = sent {
                    let status = r.status();
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    if status == StatusCode::OK {
                        let id = v["trackingId"].as_str().unwrap().to_owned();
                        accepted.lock().unwrap().push(id);
                    } else {
                        refused
                            .lock()
                            .unwrap()
                            .entry(status.as_u16())
                            .or_default()
                            .push(v);
                    }
                }
                n += 1;
            }
        }));
    }
    let wait_accepted = |at_least: usize| {
        let accepted = accepted.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while accepted.lock().unwrap().len() < at_least {
                assert!(Instant::now() < deadline, "the load stalled");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_accepted(200).await;

    // The database goes away.
    cluster.stop_immediately().expect("the cluster stops");
    let before = accepted.lock().unwrap().len();
    until_ready_is(&http, &bases, StatusCode::SERVICE_UNAVAILABLE).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = accepted.lock().unwrap().len() - before;

    // Back: the nodes notice by themselves and take flows again.
    cluster.start().expect("the cluster starts again");
    until_ready_is(&http, &bases, StatusCode::OK).await;
    let back = accepted.lock().unwrap().len();
    wait_accepted(back + 200).await;
    stop.cancel();
    for worker in load {
        worker.await.unwrap();
    }

    let refused = refused.lock().unwrap().clone();
    for (status, bodies) in &refused {
        assert_eq!(*status, 503, "refused with {status}: {:?}", bodies.first());
        for body in bodies {
            assert!(
                body["developerMessage"].is_string(),
                "the error shape: {body}"
            );
        }
    }
    assert!(refused.contains_key(&503), "no request met the outage");

    // Every acknowledged flow ends: none lost, none stuck.
    let accepted = accepted.lock().unwrap().clone();
    wait_all_succeeded(&clients[0], &bases[0], &accepted).await;
    eprintln!(
        "{} flows acknowledged ({during} while the database was away), refused: {:?}",
        accepted.len(),
        refused
            .iter()
            .map(|(s, b)| (s, b.len()))
            .collect::<Vec<_>>()
    );
}
