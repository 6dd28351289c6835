//! Faults on purpose: the chaos suite. Each scenario runs real servers on loopback under
//! load, injects one kind of fault, and checks what Cascade promises — nothing
//! acknowledged lost, nothing stuck, receipts and callbacks not dropped — and counts what
//! it costs (messages sent twice, time to recover).
//!
//! The short versions run in `cargo test` (a few seconds to half a minute each). The long
//! ones, with the durations RELIABILITY.md reports, run with
//!
//! ```sh
//! CASCADE_CHAOS=long cargo test -p cascade --test api -- chaos:: openapi:: --test-threads 1 --nocapture
//! ```
//!
//! Every scenario prints one line `chaos: {json}` with its figures and appends it to
//! `target/tmp/chaos.jsonl` (the file RELIABILITY.md's tables are read from).
//!
//! The third-party SMSC is the smpp34 peer of `tests/peers/` (see `interop.rs`).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::callbacks::admin_callbacks;
use crate::helpers::*;
use crate::interop::SmscPeer;
use crate::restart::{self, APP, SECRET, Server};

/// One scenario at a time: each loads the two cores on purpose, and beside each other
/// (or beside the rest of the suite, more than once) they would measure each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether the long versions run (`CASCADE_CHAOS=long`).
fn long() -> bool {
    std::env::var("CASCADE_CHAOS").is_ok_and(|v| v == "long")
}

/// `short` normally, `long` for the long versions.
fn pick(short: u64, long_: u64) -> u64 {
    if long() { long_ } else { short }
}

/// Print and keep a scenario's figures.
fn record(scenario: &str, smsc: &str, figures: Value) {
    let line = json!({
        "scenario": scenario,
        "smsc": smsc,
        "mode": if long() { "long" } else { "short" },
        "figures": figures,
    });
    eprintln!("chaos: {line}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("chaos.jsonl");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// A small deterministic generator for fault timings (xorshift).
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

// --- load ------------------------------------------------------------------------------

/// Clients posting one-step SMS flows as fast as the server takes them, each with a body
/// of its own (`chaos <n>`) so an SMSC's view of a message can be matched to its flow.
struct Load {
    stop: Arc<AtomicBool>,
    /// (trackingId, body) of every acknowledged flow.
    acked: Arc<Mutex<Vec<(String, String)>>>,
    /// Answers other than 200, by status.
    refused: Arc<Mutex<HashMap<u16, u64>>>,
    /// Requests that got no answer (the server was down).
    unreachable: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What a load run did.
struct Loaded {
    acked: Vec<(String, String)>,
    refused: HashMap<u16, u64>,
    unreachable: u64,
}

impl Load {
    /// `workers` clients; with `rate`, all of them together post about that many flows a
    /// second (an SMSC slower than Cascade would otherwise only build a queue).
    fn start(base: &str, token: &str, workers: usize, rate: Option<u32>) -> Load {
        let pause = rate.map(|r| Duration::from_secs_f64(workers as f64 / f64::from(r.max(1))));
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(HashMap::new()));
        let unreachable = Arc::new(AtomicU64::new(0));
        let counter = Arc::new(AtomicU64::new(0));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let tasks = (0..workers)
            .map(|_| {
                let (stop, acked, refused, unreachable, counter, http) = (
                    Arc::clone(&stop),
                    Arc::clone(&acked),
                    Arc::clone(&refused),
                    Arc::clone(&unreachable),
                    Arc::clone(&counter),
                    http.clone(),
                );
                let url = format!("{base}/failover");
                let token = token.to_owned();
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let text = format!("chaos {n}");
                        let body = flow(vec![sms_step(1, &text)]);
                        if let Some(pause) = pause {
                            tokio::time::sleep(pause).await;
                        }
                        match http.post(&url).bearer_auth(&token).json(&body).send().await {
                            Ok(r) if r.status() == StatusCode::OK => {
                                if let Ok(v) = r.json::<Value>().await
                                    && let Some(id) = v["trackingId"].as_str()
                                {
                                    acked.lock().unwrap().push((id.to_owned(), text));
                                }
                            }
                            Ok(r) => {
                                *refused
                                    .lock()
                                    .unwrap()
                                    .entry(r.status().as_u16())
                                    .or_default() += 1;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            Err(_) => {
                                unreachable.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            acked,
            refused,
            unreachable,
            tasks,
        }
    }

    fn acked_so_far(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    async fn stop(self) -> Loaded {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        Loaded {
            acked: std::mem::take(&mut *self.acked.lock().unwrap()),
            refused: std::mem::take(&mut *self.refused.lock().unwrap()),
            unreachable: self.unreachable.load(Ordering::Relaxed),
        }
    }
}

/// Where acknowledged flows ended up.
#[derive(Debug, Default)]
struct Settled {
    /// Acknowledged, then unknown to the server (404).
    lost: u64,
    /// Not final by the deadline.
    stuck: Vec<String>,
    by_status: HashMap<String, u64>,
}

/// Wait until every flow in `ids` is final or `within` runs out.
async fn settle(base: &str, token: &str, ids: &[String], within: Duration) -> Settled {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + within;
    let mut pending: Vec<String> = ids.to_vec();
    let mut settled = Settled::default();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for chunk in pending.chunks(32) {
            let mut set = tokio::task::JoinSet::new();
            for id in chunk {
                let (http, url, token, id) = (
                    http.clone(),
                    format!("{base}/failover/tracking/{id}"),
                    token.to_owned(),
                    id.clone(),
                );
                set.spawn(async move {
                    let r = http.get(url).bearer_auth(token).send().await;
                    let answer = match r {
                        Ok(r) if r.status() == StatusCode::NOT_FOUND => Err(true),
                        Ok(r) => r.json::<Value>().await.map_err(|_| false),
                        Err(_) => Err(false),
                    };
                    (id, answer)
                });
            }
            while let Some(Ok((id, answer))) = set.join_next().await {
                match answer {
                    Err(true) => settled.lost += 1,
                    Ok(t) if matches!(t["status"].as_str(), Some("Succeeded" | "Failed")) => {
                        let status = format!(
                            "{}/{}",
                            t["status"].as_str().unwrap_or_default(),
                            t["messages"][0]["status"]["name"].as_str().unwrap_or("?")
                        );
                        *settled.by_status.entry(status).or_default() += 1;
                    }
                    _ => still.push(id),
                }
            }
        }
        pending = still;
        if Instant::now() >= deadline {
            break;
        }
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    settled.stuck = pending;
    settled
}

/// What a stuck flow looks like: its tracking, its timeline, and what the peer saw of
/// its text (for the failure message).
async fn explain(base: &str, token: &str, stuck: &[String], peer: Option<&SmscPeer>) -> String {
    let http = reqwest::Client::new();
    let mut out = String::new();
    for id in stuck.iter().take(3) {
        for path in [
            format!("/failover/tracking/{id}"),
            format!("/failover/tracking/{id}/events"),
        ] {
            let body = match http
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
            {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            out.push_str(&format!("\n{path}: {body}"));
        }
    }
    if let Some(peer) = peer {
        // The provider ids the stuck flows' submissions got, and what the peer did with them.
        let provider_ids: Vec<String> = out
            .split("\"providerIds\":[\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next().map(str::to_owned))
            .collect();
        for e in peer.events.lock().unwrap().iter() {
            if e["id"]
                .as_str()
                .is_some_and(|id| provider_ids.iter().any(|p| p == id))
            {
                let e = e.clone();
                out.push_str(&format!("\npeer: {e}"));
            }
        }
        let closes: Vec<String> = peer
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e["event"].as_str(), Some("closed" | "bound")))
            .map(|e| format!("{}@{}", e["event"], e["at_ms"]))
            .collect();
        out.push_str(&format!("\npeer binds: {}", closes.join(" ")));
    }
    out
}

/// SMS the peer accepted more than once (same text), in all.
fn sent_twice(peer: &SmscPeer) -> u64 {
    let mut by_text: HashMap<String, u64> = HashMap::new();
    for e in peer.events("submit") {
        if e["answer"] == "accepted" {
            *by_text
                .entry(
                    e["short_message_hex"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
                .or_default() += 1;
        }
    }
    by_text.values().map(|n| n - 1).sum()
}

fn node_env(port: u16, config: Option<&std::path::Path>) -> Vec<(String, String)> {
    // Funds and rate limits are not what these scenarios test.
    let mut env = vec![
        ("CASCADE_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
        ("CASCADE_DEFAULT_BALANCE".to_owned(), "100000000".to_owned()),
        ("CASCADE_RATE_LIMIT_PER_SECOND".to_owned(), "0".to_owned()),
    ];
    if let Some(c) = config {
        env.push(("CASCADE_CONFIG".into(), c.display().to_string()));
    }
    env
}

async fn start_node(db: &str, env: &[(String, String)]) -> Server {
    // reqwest's rustls needs a process-wide provider; no server runs in this process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    restart::start_with(db, &env).await
}

// --- 1. crash loop ---------------------------------------------------------------------

/// `kill -9` every 1–3 s under full load (15 s short, 60 s long), restarting at once.
async fn crash_loop(peer: Option<&SmscPeer>) {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let config = dir.path().join("cascade.toml");
    if let Some(peer) = peer {
        std::fs::write(&config, peer.smsc_section("")).unwrap();
    }
    let env = node_env(free_port(), peer.map(|_| config.as_path()));
    let mut server = start_node(&db, &env).await;
    let base = server.base.clone();
    let token = token_at(&base, APP, SECRET).await;
    let load = Load::start(&base, &token, 16, Some(peer.map_or(800, |_| 300)));

    let run = Duration::from_secs(pick(15, 60));
    let started = Instant::now();
    let mut dice = Dice(0x9E37_79B9);
    let mut crashes = 0u64;
    let mut restart_ms = Vec::new();
    while started.elapsed() < run {
        tokio::time::sleep(Duration::from_millis(1000 + dice.below(2000))).await;
        server.kill_9().await;
        crashes += 1;
        let t = Instant::now();
        server = start_node(&db, &env).await;
        restart_ms.push(t.elapsed().as_millis() as u64);
    }
    let loaded = load.stop().await;
    let ids: Vec<String> = loaded.acked.iter().map(|(id, _)| id.clone()).collect();
    let settled = settle(&base, &token, &ids, Duration::from_secs(90)).await;
    let twice = peer.map(sent_twice);
    // The window of the one bind is what may be in flight at a crash.
    let in_flight_bound = crashes * 10;
    restart_ms.sort_unstable();
    record(
        "crash loop",
        if peer.is_some() {
            "smpp34 peer"
        } else {
            "sandbox"
        },
        json!({
            "seconds": run.as_secs(), "crashes": crashes, "acknowledged": ids.len(),
            "refused": loaded.refused, "unreachable": loaded.unreachable,
            "lost": settled.lost, "stuck": settled.stuck.len(), "final": settled.by_status,
            "sms_sent_twice": twice, "in_flight_bound": in_flight_bound,
            "restart_to_listening_ms_p50": restart_ms.get(restart_ms.len() / 2),
            "restart_to_listening_ms_max": restart_ms.last(),
        }),
    );
    assert!(ids.len() > 100, "the load ran: {} flows", ids.len());
    assert_eq!(settled.lost, 0, "acknowledged flows lost");
    assert!(
        settled.stuck.is_empty(),
        "stuck: {}",
        explain(&base, &token, &settled.stuck, peer).await
    );
    if let Some(twice) = twice {
        assert!(
            twice <= in_flight_bound,
            "{twice} SMS sent twice over {crashes} crashes (bound {in_flight_bound})"
        );
    }
    server.kill_9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_on_the_sandbox_smsc_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    crash_loop(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_on_a_third_party_smsc_loses_nothing_and_bounds_duplicates() {
    let _one = ONE_AT_A_TIME.lock().await;
    let peer = SmscPeer::start(&[]).await;
    crash_loop(Some(&peer)).await;
}

// --- 2. SMSC link drops ----------------------------------------------------------------

/// An in-process Cascade sending SMS to `peer`, without a rate limit, with funds.
async fn loaded_app(peer: &SmscPeer) -> TestApp {
    let app = spawn_app_with_file(
        &peer.smsc_section(""),
        &[("CASCADE_RATE_LIMIT_PER_SECOND", "0")],
    )
    .await;
    app.set_balance(&app.account_id, 100_000_000.0).await;
    app
}

/// Flows through `peer` for `seconds`; what the peer saw.
async fn link_phase(peer: &SmscPeer, seconds: u64) -> (Loaded, Settled, Value) {
    let app = loaded_app(peer).await;
    let token = app.token().await;
    let load = Load::start(&app.base, &token, 16, Some(300));
    let began = peer.started.elapsed().as_millis() as u64;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let loaded = load.stop().await;
    let ended = peer.started.elapsed().as_millis() as u64;
    let ids: Vec<String> = loaded.acked.iter().map(|(id, _)| id.clone()).collect();
    let settled = settle(&app.base, &token, &ids, Duration::from_secs(90)).await;
    // Time without a bind: from each `closed` to the next `bound`.
    let mut down_ms = 0u64;
    let mut closed_at: Option<u64> = None;
    let mut events: Vec<Value> = peer
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e["event"].as_str(), Some("closed" | "bound")))
        .cloned()
        .collect();
    events.sort_by_key(|e| e["at_ms"].as_u64());
    for e in events {
        let at = e["at_ms"].as_u64().unwrap_or(0);
        if at < began || at > ended {
            continue;
        }
        match (e["event"].as_str(), closed_at) {
            (Some("closed"), None) => closed_at = Some(at),
            (Some("bound"), Some(c)) => {
                down_ms += at - c;
                closed_at = None;
            }
            _ => {}
        }
    }
    let submits = peer
        .events("submit")
        .iter()
        .filter(|e| e["answer"] == "accepted")
        .filter(|e| (began..=ended).contains(&e["at_ms"].as_u64().unwrap_or(0)))
        .count() as f64;
    let up_s = (ended - began).saturating_sub(down_ms) as f64 / 1000.0;
    let figures = json!({
        "seconds": seconds, "acknowledged": ids.len(), "lost": settled.lost,
        "stuck": settled.stuck.len(), "final": settled.by_status,
        "drops": peer.events("closed").len(), "link_down_ms": down_ms,
        "submits_per_s_while_up": (submits / up_s.max(0.001)).round(),
        "sms_sent_twice": sent_twice(peer),
    });
    (loaded, settled, figures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smsc_link_drops_every_5_s_lose_no_receipt() {
    let _one = ONE_AT_A_TIME.lock().await;
    let seconds = pick(12, 60);
    let calm = SmscPeer::start(&[]).await;
    let (_, _, undisturbed) = link_phase(&calm, seconds).await;
    let stormy = SmscPeer::start(&["--drop-every-ms", "5000"]).await;
    let (loaded, settled, disturbed) = link_phase(&stormy, seconds).await;
    record(
        "SMSC link drops every 5 s",
        "smpp34 peer",
        json!({"undisturbed": undisturbed, "disturbed": disturbed}),
    );
    assert!(disturbed["drops"].as_u64().unwrap() >= 2, "{disturbed}");
    assert!(!loaded.acked.is_empty());
    assert_eq!(settled.lost, 0);
    assert!(
        settled.stuck.is_empty(),
        "receipts lost: {:?}",
        settled.stuck
    );
    // Every message ends Delivered: a lost receipt would leave it Sent, then Expired.
    assert_eq!(
        settled.by_status.get("Succeeded/Delivered").copied(),
        Some(loaded.acked.len() as u64),
        "{:?}",
        settled.by_status
    );
}

// --- 3 and 6. callback receivers: down for a day, slow --------------------------------

/// One request a [`Receiver`] answered: event id, trackingId, sequence, the status it
/// answered, when.
pub(crate) type Received = (String, String, i64, u16, Instant);

/// A callback receiver: answers 200, or 503 while down, or after a delay while slow;
/// records (event id, trackingId, sequence, answered status) per request.
pub(crate) struct Receiver {
    url: String,
    /// 0 up, 1 down (503), 2 slow.
    mode: Arc<AtomicU8>,
    slow: Duration,
    pub(crate) got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(slow: Duration) -> Receiver {
        Receiver::start_at("127.0.0.1:0", slow).await
    }

    /// A receiver on `addr` (a port chosen before the URL was handed out).
    pub(crate) async fn start_at(addr: &str, slow: Duration) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("the receiver's address is free");
        let url = format!("http://{}/cb", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(0));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (m, g) = (Arc::clone(&mode), Arc::clone(&got));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (m, g) = (Arc::clone(&m), Arc::clone(&g));
                tokio::spawn(serve_callback(socket, m, g, slow));
            }
        });
        Receiver {
            url,
            mode,
            slow,
            got,
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

/// One connection of [`Receiver`] (keep-alive: requests one after another).
async fn serve_callback(
    mut socket: tokio::net::TcpStream,
    mode: Arc<AtomicU8>,
    got: Arc<Mutex<Vec<Received>>>,
    slow: Duration,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // One request: its head, then the body its content-length announces.
        let (head, body) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    let body = buf[end + 4..end + 4 + length].to_vec();
                    buf.drain(..end + 4 + length);
                    break (head, body);
                }
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let tracking = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["trackingId"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let now_mode = mode.load(Ordering::SeqCst);
        if now_mode == 2 {
            tokio::time::sleep(slow).await;
        }
        let status: u16 = if now_mode == 1 { 503 } else { 200 };
        got.lock().unwrap().push((
            header("x-cascade-event-id"),
            tracking,
            header("x-cascade-sequence").parse().unwrap_or(-1),
            status,
            Instant::now(),
        ));
        let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
        if socket.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The default retry schedule (30 s … 24 h) made `factor` times faster.
fn accelerated_schedule(factor: u64) -> String {
    [
        30u64, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400,
    ]
    .iter()
    .map(|s| format!("{}ms", (s * 1000 / factor).max(1)))
    .collect::<Vec<_>>()
    .join(",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_receiver_down_for_a_day_gets_everything_after_in_order() {
    let _one = ONE_AT_A_TIME.lock().await;
    // A day of the default schedule in 24 s (short) or 120 s (long).
    let day_s = pick(24, 120);
    let factor = 86_400 / day_s;
    let schedule = accelerated_schedule(factor);
    let app = spawn_app_with(&[
        ("CASCADE_ALLOW_PRIVATE_CALLBACKS", "1"),
        ("CASCADE_CALLBACK_RETRY_SCHEDULE", schedule.as_str()),
        ("CASCADE_CALLBACK_TIMEOUT_MS", "1000"),
    ])
    .await;
    let receiver = Receiver::start(Duration::ZERO).await;
    receiver.set(1);
    let flows = pick(60, 300);
    let mut ids = Vec::new();
    for i in 0..flows {
        let mut body = flow(vec![sms_step(1, &format!("callback {i}"))]);
        body["callback"] = json!({"strategy": "OnChange", "url": receiver.url});
        ids.push(app.send_flow(&body).await);
    }
    for id in &ids {
        app.wait_final(id).await;
    }
    // Down for all but the last retry of the day, then back.
    let down_for = Duration::from_millis(day_s * 1000 * 9 / 10);
    tokio::time::sleep(down_for).await;
    receiver.set(0);
    let back = Instant::now();
    let expected: usize = {
        // Every callback the outbox holds for these flows.
        let mut n = 0;
        for id in &ids {
            n += admin_callbacks(&app, &format!("trackingId={id}"))
                .await
                .len();
        }
        n
    };
    let deadline = Instant::now() + Duration::from_secs(day_s);
    loop {
        let delivered = receiver
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.3 == 200)
            .count();
        if delivered >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of {expected} callbacks delivered after the receiver came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_ms = back.elapsed().as_millis();
    let got = receiver.got.lock().unwrap().clone();
    let mut ok_by_event: HashMap<&str, u64> = HashMap::new();
    let mut seq_by_flow: HashMap<&str, Vec<i64>> = HashMap::new();
    for (event, tracking, seq, status, _) in &got {
        if *status == 200 {
            *ok_by_event.entry(event).or_default() += 1;
            seq_by_flow.entry(tracking).or_default().push(*seq);
        }
    }
    let twice = ok_by_event.values().filter(|n| **n > 1).count();
    let out_of_order = seq_by_flow
        .values()
        .filter(|s| s.windows(2).any(|w| w[0] >= w[1]))
        .count();
    record(
        "callback receiver down for a day (accelerated)",
        "sandbox",
        json!({
            "day_seconds": day_s, "flows": flows, "callbacks": expected,
            "attempts_while_down": got.iter().filter(|g| g.3 == 503).count(),
            "delivered_after": ok_by_event.len(), "delivered_twice": twice,
            "flows_out_of_order": out_of_order,
            "all_delivered_within_ms_of_return": recovered_ms,
        }),
    );
    assert_eq!(
        ok_by_event.len(),
        expected,
        "every callback delivered once back"
    );
    assert_eq!(twice, 0, "none delivered twice (no answer was lost)");
    assert_eq!(out_of_order, 0, "in order per flow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_callback_receiver_does_not_hold_up_the_others() {
    let _one = ONE_AT_A_TIME.lock().await;
    // The slow receiver answers after 30 s (long) or 5 s (short); the timeout is 2 s.
    let slow_for = Duration::from_secs(pick(5, 30));
    let app = spawn_app_with(&[
        ("CASCADE_ALLOW_PRIVATE_CALLBACKS", "1"),
        (
            "CASCADE_CALLBACK_RETRY_SCHEDULE",
            "1s,2s,4s,8s,16s,32s,64s,128s",
        ),
        ("CASCADE_CALLBACK_TIMEOUT_MS", "2000"),
    ])
    .await;
    let slow = Receiver::start(slow_for).await;
    slow.set(2);
    let fast = Receiver::start(Duration::ZERO).await;
    let n = pick(40, 200);
    let sent = Instant::now();
    for i in 0..n {
        for receiver in [&slow, &fast] {
            let mut body = flow(vec![sms_step(1, &format!("slow {i}"))]);
            body["callback"] = json!({"strategy": "OnCompletion", "url": receiver.url});
            app.send_flow(&body).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while fast
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|g| g.3 == 200)
        .count()
        < n as usize
    {
        assert!(
            Instant::now() < deadline,
            "the fast receiver's callbacks are held up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fast_done_ms = sent.elapsed().as_millis();
    // The slow receiver comes to its senses; everything it was owed arrives, as the
    // outbox sees it (the receiver itself cannot tell an answer Cascade stopped waiting
    // for from one it read).
    slow.set(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = || async {
        admin_callbacks(&app, "state=delivered&limit=1000")
            .await
            .len()
    };
    while delivered().await < 2 * n as usize {
        assert!(
            Instant::now() < deadline,
            "{} of {} callbacks delivered",
            delivered().await,
            2 * n
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slow_done_ms = sent.elapsed().as_millis();
    let got = slow.got.lock().unwrap().clone();
    let mut by_event: HashMap<&str, u64> = HashMap::new();
    for g in &got {
        *by_event.entry(g.0.as_str()).or_default() += 1;
    }
    record(
        "slow callback receiver",
        "sandbox",
        json!({
            "answers_after_s": slow.slow.as_secs(), "timeout_s": 2, "callbacks_each": n,
            "fast_receiver_all_delivered_ms": fast_done_ms,
            "slow_receiver_requests": got.len(),
            "slow_receiver_requests_per_callback_max": by_event.values().max(),
            "slow_receiver_all_delivered_ms": slow_done_ms,
        }),
    );
    // The fast receiver was not held up behind the slow one: all of its callbacks were
    // in before the slow receiver's first answer could have been.
    assert!(
        fast_done_ms < slow.slow.as_millis(),
        "the fast receiver waited {fast_done_ms} ms"
    );
}

// --- 4. disk full ----------------------------------------------------------------------

/// A tmpfs of `mb` megabytes at `dir` (root only), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, mb: u32) -> SmallDisk {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a {mb} MB tmpfs at {} (the disk-full scenario needs root: run the tests as root, as CI does)",
            dir.display()
        );
        SmallDisk(dir.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fill `path` until the filesystem has no room left; the bytes written.
fn balloon(path: &std::path::Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    while f.write_all(&block).is_ok() {
        written += block.len() as u64;
    }
    let _ = f.sync_all();
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_flows_loses_nothing_and_recovers_by_itself() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(dir.path(), 64);
    let db_path = dir.path().join("cascade.db");
    let db = format!("sqlite://{}?mode=rwc", db_path.display());
    let env = node_env(free_port(), None);
    let server = start_node(&db, &env).await;
    let base = server.base.clone();
    let token = token_at(&base, APP, SECRET).await;

    let load = Load::start(&base, &token, 8, None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_full = load.acked_so_far();
    let ballast = dir.path().join("ballast");
    let ballast_bytes = balloon(&ballast);
    let full_at = Instant::now();
    // Full: new flows are refused (503), and the server says it is not ready.
    let refused_503 = || load.refused.lock().unwrap().get(&503).copied().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while refused_503() < 20 {
        assert!(
            Instant::now() < deadline,
            "no 503 while the disk is full: {:?}",
            load.refused.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(pick(3, 20))).await;
    let acked_while_full = load.acked_so_far();
    // Space comes back.
    std::fs::remove_file(&ballast).unwrap();
    let freed = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    while load.acked_so_far() < acked_while_full + 50 {
        assert!(
            Instant::now() < deadline,
            "service did not resume after space returned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resumed_ms = freed.elapsed().as_millis();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let loaded = load.stop().await;
    let ids: Vec<String> = loaded.acked.iter().map(|(id, _)| id.clone()).collect();
    let settled = settle(&base, &token, &ids, Duration::from_secs(60)).await;
    server.kill_9().await;
    let store = cascade_store::sqlite::SqliteStore::open(
        &cascade_store::sqlite::SqliteConfig::new(db.clone()),
    )
    .await
    .expect("the store opens after the run");
    let integrity = store.integrity_check().await.unwrap();
    record(
        "disk full",
        "sandbox",
        json!({
            "filesystem_mb": 64, "ballast_bytes": ballast_bytes,
            "acknowledged_before_full": before_full, "acknowledged": ids.len(),
            "refused": loaded.refused, "full_for_ms": freed.duration_since(full_at).as_millis(),
            "resumed_within_ms": resumed_ms, "lost": settled.lost,
            "stuck": settled.stuck.len(), "final": settled.by_status, "integrity_check": integrity,
        }),
    );
    assert_eq!(settled.lost, 0);
    assert!(settled.stuck.is_empty(), "stuck: {:?}", settled.stuck);
    assert_eq!(integrity, ["ok"]);
    drop(disk);
}

// --- 6. an SMSC that stops answering ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smsc_that_stops_answering_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    // After its 200th submit_sm the SMSC answers nothing for 8 s (long: 30 s).
    let stall_ms = pick(8_000, 30_000).to_string();
    let peer = SmscPeer::start(&["--stall-after", "200", "--stall-ms", &stall_ms]).await;
    let app = loaded_app(&peer).await;
    let token = app.token().await;
    let load = Load::start(&app.base, &token, 8, Some(300));
    let run = Duration::from_millis(stall_ms.parse::<u64>().unwrap() + pick(6_000, 20_000));
    tokio::time::sleep(run).await;
    let loaded = load.stop().await;
    let ids: Vec<String> = loaded.acked.iter().map(|(id, _)| id.clone()).collect();
    let settled = settle(&app.base, &token, &ids, Duration::from_secs(120)).await;
    record(
        "SMSC stops answering",
        "smpp34 peer",
        json!({
            "stall_ms": stall_ms, "acknowledged": ids.len(), "refused": loaded.refused,
            "lost": settled.lost, "stuck": settled.stuck.len(), "final": settled.by_status,
            "sms_sent_twice": sent_twice(&peer),
            "reconnects": peer.events("bound").len().saturating_sub(1),
        }),
    );
    assert_eq!(settled.lost, 0);
    assert!(settled.stuck.is_empty(), "stuck: {:?}", settled.stuck);
}

// --- 6. a provider's webhook storm -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_storm_of_ten_reports_per_message_moves_each_flow_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    use crate::provider_mocks::{Hook, Kind, MockProvider, hook};
    let mock = MockProvider::start(Kind::Vonage { jwt: false }).await;
    // A message normally gets three webhooks (submitted, delivered, read); here it gets
    // ten: each of them again and again, the late ones after the flow has ended.
    let storm: Vec<Hook> = [
        "submitted",
        "submitted",
        "delivered",
        "submitted",
        "delivered",
        "read",
        "delivered",
        "read",
        "submitted",
        "read",
    ]
    .iter()
    .enumerate()
    .map(|(i, status)| hook(5 + 5 * i as u64, json!({"status": status})))
    .collect();
    mock.on(crate::providers::DIGITS, storm);
    let (app, _) = spawn_app_public(
        &crate::providers::vonage_section("vonage-viber", &mock.base, 1, false),
        &[("CASCADE_RATE_LIMIT_PER_SECOND", "0")],
    )
    .await;
    app.set_balance(&app.account_id, 100_000_000.0).await;
    let token = app.token().await;
    let n = pick(300, 3000) as usize;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(n);
    let body = flow(vec![viber_step(1, &app.sender_id), sms_step(2, "Fallback")]);
    for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for _ in chunk {
            let client = restart::Client {
                http: app.client.clone(),
                token: token.clone(),
            };
            let (base, body) = (app.base.clone(), body.clone());
            set.spawn(async move { client.send(&base, &body).await });
        }
        while let Some(id) = set.join_next().await {
            ids.push(id.unwrap());
        }
    }
    let settled = settle(&app.base, &token, &ids, Duration::from_secs(120)).await;
    // Wait for the storm's tail (webhooks after the flows ended) to be answered too.
    let deadline = Instant::now() + Duration::from_secs(30);
    while mock.webhook_answers().len() < 10 * n {
        assert!(
            Instant::now() < deadline,
            "{} of {} webhooks answered",
            mock.webhook_answers().len(),
            10 * n
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut answers: HashMap<u16, u64> = HashMap::new();
    for a in mock.webhook_answers() {
        *answers.entry(a).or_default() += 1;
    }
    // Each flow charged once: one Viber message (no failover to SMS).
    let t = app.tracking(&ids[0]).await;
    record(
        "provider webhook storm (10 per message)",
        "vonage-messages mock",
        json!({
            "flows": n, "webhooks": 10 * n, "answers": answers,
            "webhooks_per_s": (10.0 * n as f64 / elapsed).round(),
            "lost": settled.lost, "stuck": settled.stuck.len(), "final": settled.by_status,
            "messages_in_first_flow": t["messages"].as_array().map_or(0, Vec::len),
        }),
    );
    assert_eq!(settled.lost, 0);
    assert!(settled.stuck.is_empty(), "stuck: {:?}", settled.stuck);
    assert_eq!(
        settled.by_status.get("Succeeded/SEEN").copied(),
        Some(n as u64),
        "{:?}",
        settled.by_status
    );
    assert!(
        answers.keys().all(|s| (200..300).contains(s)),
        "every webhook accepted: {answers:?}"
    );
    assert_eq!(t["messages"].as_array().map_or(0, Vec::len), 1);
}
