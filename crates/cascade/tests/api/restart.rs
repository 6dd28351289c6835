//! Crash safety: `kill -9` the real binary in the middle of flows, start it again on the
//! same store, and check that every flow finishes with nothing lost or sent twice.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::*;

pub(crate) const APP: &str = "restart-app";
pub(crate) const SECRET: &str = "restart-secret-123";

/// The `cascade serve` process.
pub(crate) struct Server {
    pub child: Child,
    pub base: String,
}

/// `cascade serve` on the store at `database` (a URL), once it listens.
pub(crate) async fn start(database: &str) -> Server {
    start_with(database, &[]).await
}

/// [`start`] with more environment (`CASCADE_CONFIG`, `CASCADE_NODE_ID`, a fixed
/// `CASCADE_LISTEN`, …), which replaces the defaults.
pub(crate) async fn start_with(database: &str, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .arg("serve")
        .env("CASCADE_LISTEN", "127.0.0.1:0")
        .env("CASCADE_SANDBOX_SMPP_LISTEN", "127.0.0.1:0")
        .env("CASCADE_DATABASE_URL", database)
        // PostgreSQL: a killed node's work is taken over two seconds after its last
        // heartbeat (SQLite ignores it: its next server voids the leases at start).
        .env("CASCADE_LEASE_MS", "2000")
        .env("CASCADE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("CASCADE_BOOTSTRAP_APPLICATION", format!("{APP}:{SECRET}"))
        .env("CASCADE_SANDBOX_MINUTE_MS", "100")
        .env("RUST_LOG", "warn")
        // The caller's settings last: they may replace any of the above.
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        // TEST_LOG=1 shows the server's own log, as it does for in-process servers.
        .stderr(if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .kill_on_drop(true)
        .spawn()
        .expect("the cascade binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("stdout is readable") {
            if let Some(url) = line.strip_prefix("cascade: listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("cascade exited before listening");
    })
    .await
    .expect("cascade listens within a minute");
    // Keep draining stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, base }
}

impl Server {
    /// SIGKILL: no shutdown code runs.
    pub(crate) async fn kill_9(mut self) {
        self.child.kill().await.expect("kill -9");
    }
}

/// The bootstrap application's HTTP client, signed in.
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
}

impl Client {
    pub(crate) async fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            token: token_at(base, APP, SECRET).await,
        }
    }

    pub(crate) async fn send(&self, base: &str, body: &Value) -> String {
        let r = self
            .http
            .post(format!("{base}/failover"))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["trackingId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub(crate) async fn get(&self, base: &str, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{base}{path}"))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }

    async fn wait(&self, base: &str, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = self.get(base, &format!("/failover/tracking/{id}")).await;
            if done(&t) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not reached; last tracking {t:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn admin(base: &str, body: Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/sandbox/scenarios"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

fn message_status(t: &Value, i: usize) -> String {
    t["messages"][i]["status"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn kill_9_mid_flow_loses_nothing_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;

    // --- first life: a flow waits on its SMS TTL (a durable timer) ---
    let server = start(&db).await;
    let base = server.base.clone();
    // The newest matching rule wins and `times` uses it up: the first SMS to this number
    // is never reported on (its TTL of 5 × 100 ms decides), the second is undelivered.
    admin(&base, json!({"channel": "Sms", "to": PHONE, "events": [{"afterMs": 5, "status": "Undelivered"}], "times": 1})).await;
    admin(
        &base,
        json!({"channel": "Sms", "to": PHONE, "events": [], "times": 1}),
    )
    .await;
    // The call rings, then completes only 1.5 s later: a report the sandbox still owes.
    admin(
        &base,
        json!({"channel": "Voice", "to": PHONE, "events": [
        {"afterMs": 0, "status": "Ringing"}, {"afterMs": 1500, "status": "Completed"}]}),
    )
    .await;
    let client = Client::new(&base).await;
    let mut sms = sms_step(1, "first");
    sms["ttl"] = json!(5);
    let id = client
        .send(
            &base,
            &flow(vec![sms, sms_step(2, "second"), voice_step(3)]),
        )
        .await;
    client
        .wait(&base, &id, "step 1 sent", |t| {
            message_status(t, 0) == "Sent"
        })
        .await;
    // A second flow is accepted right before the crash: its job may not have run yet.
    // (To another number, so the rules above are not used up by it.)
    let mut just_accepted = sms_step(1, "just accepted");
    just_accepted["to"] = json!("+306911111111");
    let other = client.send(&base, &flow(vec![just_accepted])).await;
    server.kill_9().await;

    // --- second life: the timer fires, step 2 fails over to the call; kill again while
    // the call's completion report is still owed ---
    let server = start(&db).await;
    let base = server.base.clone();
    let client = Client::new(&base).await;
    let t = client
        .wait(&base, &id, "the call rings", |t| {
            message_status(t, 2) == "Ringing"
        })
        .await;
    assert_eq!(
        message_status(&t, 0),
        "Undelivered",
        "the TTL timer survived the crash"
    );
    assert_eq!(
        t["messages"][0]["status"]["reason"]["detailedStatus"],
        "Expired"
    );
    assert_eq!(message_status(&t, 1), "Undelivered");
    server.kill_9().await;

    // --- third life: the owed report arrives and the flow completes ---
    let server = start(&db).await;
    let base = server.base.clone();
    let client = Client::new(&base).await;
    let t = client
        .wait(&base, &id, "the flow ends", |t| {
            t["status"] == "Succeeded" || t["status"] == "Failed"
        })
        .await;
    let o = client
        .wait(&base, &other, "the other flow ends", |t| {
            t["status"] == "Succeeded"
        })
        .await;

    assert_eq!(t["status"], "Succeeded", "{t:#}");
    assert_eq!(t["terminationChannel"], "Voice");
    assert_eq!(message_status(&t, 2), "Completed");
    assert_eq!(t["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        price(&t["totalPrice"]),
        200_000,
        "two SMS and one minute, each charged once"
    );
    assert_eq!(o["messages"].as_array().unwrap().len(), 1);

    // Nothing twice: each step started and was handed to the provider exactly once.
    for tracking in [&id, &other] {
        let events = client
            .get(&base, &format!("/failover/tracking/{tracking}/events"))
            .await;
        let mut started: HashMap<u64, usize> = HashMap::new();
        let mut submitted: HashMap<u64, usize> = HashMap::new();
        for e in events["events"].as_array().unwrap() {
            let order = e["order"].as_u64().unwrap_or(0);
            match e["type"].as_str().unwrap() {
                "step_started" => *started.entry(order).or_default() += 1,
                "submitted" if e["ignored"] != true => *submitted.entry(order).or_default() += 1,
                _ => {}
            }
        }
        assert!(started.values().all(|n| *n == 1), "{tracking}: {started:?}");
        assert_eq!(
            started, submitted,
            "{tracking}: every started step submitted once"
        );
    }
    let sent = reqwest::Client::new()
        .get(format!("{base}/sandbox/messages?limit=1000"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        sent["messages"].as_array().unwrap().len(),
        4,
        "three sends for the first flow, one for the other"
    );
    server.kill_9().await;
}

#[tokio::test]
async fn a_call_whose_report_is_owed_completes_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let server = start(&db).await;
    let base = server.base.clone();
    admin(
        &base,
        json!({"channel": "Voice", "to": "*", "events": [
        {"afterMs": 0, "status": "Ringing"}, {"afterMs": 1000, "status": "Completed"}]}),
    )
    .await;
    let client = Client::new(&base).await;
    let id = client.send(&base, &flow(vec![voice_step(1)])).await;
    client
        .wait(&base, &id, "ringing", |t| message_status(t, 0) == "Ringing")
        .await;
    server.kill_9().await;

    let server = start(&db).await;
    let base = server.base.clone();
    let client = Client::new(&base).await;
    let t = client
        .wait(&base, &id, "completed", |t| t["status"] == "Succeeded")
        .await;
    assert_eq!(message_status(&t, 0), "Completed");
    assert_eq!(t["messages"][0]["duration"], 5);
    assert_eq!(price(&t["totalPrice"]), 100_000, "charged once");
    server.kill_9().await;
}
