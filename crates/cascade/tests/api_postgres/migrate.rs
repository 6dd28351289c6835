//! `cascade admin migrate-store` (scale-out §3): a store written by an SQLite server is
//! copied into an empty PostgreSQL database, and a node on PostgreSQL carries on with
//! it: same trackings and timelines, the flow left in progress finishes, the same
//! credentials work. A target that holds data is refused, and nothing is written.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::restart::{APP, SECRET, start};

fn admin_migrate(from: &str, to: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args(["admin", "migrate-store", "--from", from, "--to", to])
        .env_remove("CASCADE_CONFIG")
        .env("CASCADE_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("the cascade binary runs")
}

async fn get(http: &reqwest::Client, url: String, token: &str) -> Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_store_moves_to_postgres_and_its_flows_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("old.db").display());
    // reqwest's rustls needs a process-wide crypto provider (the servers here are
    // other processes).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::new();

    // The old server: one flow finished, one waiting on its TTL timer (no receipt).
    let old = start(&sqlite).await;
    let t = token_at(&old.base, APP, SECRET).await;
    let admin = |path: &str, body: Value| {
        http.post(format!("{}{path}", old.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let r = admin(
        "/sandbox/scenarios",
        json!({"channel": "sms", "to": "+306900000001", "events": []}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let post = |body: Value| {
        http.post(format!("{}/failover", old.base))
            .bearer_auth(&t)
            .json(&body)
            .send()
    };
    let done: Value = post(flow(vec![sms_step(1, "done")]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut waiting = sms_step(1, "waits");
    waiting["to"] = json!("+306900000001");
    // 30 sandbox minutes of 100 ms (restart::start sets CASCADE_SANDBOX_MINUTE_MS): its
    // TTL runs out after the move.
    waiting["ttl"] = json!(30);
    let waiting: Value = post(flow(vec![waiting, sms_step(2, "then this")]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (done, waiting) = (
        done["trackingId"].as_str().unwrap().to_owned(),
        waiting["trackingId"].as_str().unwrap().to_owned(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let before = loop {
        let tr = get(&http, format!("{}/failover/tracking/{done}", old.base), &t).await;
        if tr["status"] == "Succeeded" {
            break tr;
        }
        assert!(Instant::now() < deadline, "{tr:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let events_before = get(
        &http,
        format!("{}/failover/tracking/{done}/events", old.base),
        &t,
    )
    .await;
    old.kill_9().await;

    // Into PostgreSQL.
    let pg = cascade_store::postgres::cluster::fresh_database().await;
    let out = admin_migrate(&sqlite, &pg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Value = serde_json::from_slice(&out.stdout).expect("a JSON summary");
    assert!(said["rowsCopied"].as_u64().unwrap() > 10, "{said}");

    // A node on PostgreSQL: the same answers, and the waiting flow goes on.
    let node = start(&pg).await;
    let t = token_at(&node.base, APP, SECRET).await;
    let after = get(&http, format!("{}/failover/tracking/{done}", node.base), &t).await;
    assert_eq!(after, before);
    let events_after = get(
        &http,
        format!("{}/failover/tracking/{done}/events", node.base),
        &t,
    )
    .await;
    assert_eq!(events_after, events_before);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tr = get(
            &http,
            format!("{}/failover/tracking/{waiting}", node.base),
            &t,
        )
        .await;
        if tr["status"] == "Succeeded" {
            let first = &tr["messages"][0]["status"];
            assert_eq!(
                (&first["name"], &first["reason"]["detailedStatus"]),
                (&json!("Undelivered"), &json!("Expired")),
                "{tr:#}"
            );
            assert_eq!(tr["messages"][1]["status"]["name"], "Delivered", "{tr:#}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the moved flow did not finish: {tr:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Again into the same (now used) database: refused, nothing written.
    let again = admin_migrate(&sqlite, &pg);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("not empty"), "{err}");
    node.kill_9().await;
}

#[test]
fn bad_urls_are_refused_before_anything_is_read() {
    for (from, to, says) in [
        (
            "postgres://a@b/c",
            "postgres://a@b/d",
            "--from must be an sqlite:// URL",
        ),
        (
            "sqlite:///nowhere/x.db",
            "sqlite://y.db",
            "--to must be a postgres:// URL",
        ),
        (
            "sqlite:///nowhere/x.db",
            "postgres://u:pw@h/db",
            "--from: no store at",
        ),
        (
            "sqlite:///nowhere/x.db",
            "postgres://u:pw@h/db?sslmode=bogus",
            "--to: not a PostgreSQL URL",
        ),
    ] {
        let out = admin_migrate(from, to);
        assert!(!out.status.success(), "{from} {to}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{from} {to}: {err}");
        assert!(!err.contains("pw@"), "the password is never echoed: {err}");
    }
}
