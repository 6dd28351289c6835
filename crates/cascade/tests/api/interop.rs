//! SMPP interoperability with software written elsewhere (tests/peers/):
//!
//! - Cascade's ESME (an `[[smsc]]` connection) against an SMSC built on PyPI `smpp34`,
//!   run as an external process: GSM-7, UCS-2, concatenated messages, a receipt per part,
//!   throttling answers, a connection dropped in the middle of a window, refused receipts.
//! - The third-party `smpplib` ESME against `cascade smsc-sim`, the sandbox SMSC on its
//!   own, scripted through its scenario endpoint.
//!
//! The peers run from the venv `.venv-peers` at the repository root; `.ci/run` creates it,
//! and so does the first test here when it is missing (PyPI must be reachable then).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::*;

/// The venv's python, creating the venv on first use.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            venv_bin(
                ".venv-peers",
                "tests/peers/requirements.txt",
                "smpp34, smpplib",
            )
            .join("python")
        })
        .clone()
}

/// The smpp34 SMSC, its JSON lines collected as they come, each stamped with `at_ms`:
/// when the test read it, in milliseconds since the peer started.
pub(crate) struct SmscPeer {
    pub(crate) port: u16,
    pub(crate) events: Arc<Mutex<Vec<Value>>>,
    /// What `at_ms` counts from (read by the PostgreSQL binary's `smsc_nodes`).
    #[allow(dead_code)]
    pub(crate) started: Instant,
    _child: Child,
}

impl SmscPeer {
    pub(crate) async fn start(flags: &[&str]) -> SmscPeer {
        let mut child = Command::new(python())
            .arg(repo_root().join("tests/peers/smsc_smpp34.py"))
            .args(["--port", "0", "--receipt-delay-ms", "20"])
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the smpp34 SMSC starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the SMSC says where it listens")
            .unwrap()
            .expect("a first line");
        let first: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(first["event"], "listening", "{first}");
        let port = u16::try_from(first["port"].as_u64().unwrap()).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let started = Instant::now();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut v) = serde_json::from_str::<Value>(&line) {
                    v["at_ms"] = json!(started.elapsed().as_millis());
                    sink.lock().unwrap().push(v);
                }
            }
        });
        SmscPeer {
            port,
            events,
            started,
            _child: child,
        }
    }

    pub(crate) fn events(&self, kind: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == kind)
            .cloned()
            .collect()
    }

    /// Cascade with this SMSC as its only `[[smsc]]`.
    async fn cascade(&self, extra: &str) -> TestApp {
        spawn_app_with_file(&self.smsc_section(extra), &[]).await
    }

    /// A `[[smsc]]` section for this SMSC, plus `extra` lines.
    pub(crate) fn smsc_section(&self, extra: &str) -> String {
        format!(
            r#"
[[smsc]]
name = "peer"
host = "127.0.0.1"
port = {}
system_id = "cascade"
password = "secret"
window = 10
throughput = 0
response_timeout_seconds = 5
{extra}
"#,
            self.port
        )
    }
}

fn sms_to(order: u32, to: &str, body: &str) -> Value {
    let mut step = sms_step(order, body);
    step["to"] = json!(to);
    step
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Poll until `done` holds for the peer's events, or panic.
async fn until(peer: &SmscPeer, what: &str, done: impl Fn(&SmscPeer) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(peer) {
        assert!(
            Instant::now() < deadline,
            "{what}: {:#?}",
            peer.events.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn cascade_sends_gsm_ucs2_and_concatenated_sms_to_an_smpp34_smsc() {
    let peer = SmscPeer::start(&[]).await;
    let app = peer.cascade("").await;
    // 163 septets: more than one SMS holds, so 153 + 10.
    let long = format!("{}{}", "x".repeat(153), "y".repeat(10));
    let ids = [
        app.send_flow(&flow(vec![sms_to(1, "+306900000001", "Hello €")]))
            .await,
        app.send_flow(&flow(vec![sms_to(1, "+306900000002", "Γειά σου")]))
            .await,
        app.send_flow(&flow(vec![sms_to(1, "+306900000003", &long)]))
            .await,
    ];
    for id in &ids {
        let t = app.wait_final(id).await;
        assert_eq!(t["status"], "Succeeded", "{t:#}");
        for m in t["messages"].as_array().unwrap() {
            assert_eq!(status_of(m), "Delivered", "{t:#}");
        }
    }
    let submits = peer.events("submit");
    assert_eq!(submits.len(), 4, "1 + 1 + 2 parts: {submits:#?}");
    let to = |n: &str| -> Vec<&Value> {
        submits
            .iter()
            .filter(|s| s["destination_addr"] == n)
            .collect()
    };
    for s in &submits {
        assert_eq!(s["answer"], "accepted");
        assert_eq!(s["registered_delivery"], 1);
        assert_eq!(
            (s["dest_addr_ton"].as_u64(), s["dest_addr_npi"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(s["source_addr"], "Cascade");
        assert_eq!(
            (s["source_addr_ton"].as_u64(), s["source_addr_npi"].as_u64()),
            (Some(5), Some(0))
        );
        let validity = s["validity_period"].as_str().unwrap_or("");
        assert!(
            validity.is_empty() || validity.ends_with('R'),
            "relative validity: {s}"
        );
    }
    let gsm = to("306900000001")[0];
    assert_eq!(gsm["data_coding"], 0);
    assert_eq!(gsm["esm_class"], 0);
    assert_eq!(
        hex_decode(gsm["short_message_hex"].as_str().unwrap()),
        b"Hello \x1b\x65"
    );
    let ucs2 = to("306900000002")[0];
    assert_eq!(ucs2["data_coding"], 8);
    let utf16: Vec<u8> = "Γειά σου"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    assert_eq!(
        hex_decode(ucs2["short_message_hex"].as_str().unwrap()),
        utf16
    );
    let parts = to("306900000003");
    assert_eq!(parts.len(), 2);
    let udh: Vec<Vec<u8>> = parts
        .iter()
        .map(|p| hex_decode(p["short_message_hex"].as_str().unwrap()))
        .collect();
    for (i, (p, bytes)) in parts.iter().zip(&udh).enumerate() {
        assert_eq!(p["esm_class"], 0x40, "UDH indicator");
        assert_eq!(&bytes[..3], &[5, 0, 3]);
        assert_eq!(bytes[4], 2, "two parts");
        assert_eq!(usize::from(bytes[5]), i + 1, "in order");
    }
    assert_eq!(udh[0][3], udh[1][3], "one reference for both parts");
    assert_eq!(&udh[0][6..], "x".repeat(153).as_bytes());
    assert_eq!(&udh[1][6..], "y".repeat(10).as_bytes());
    // A receipt per part, each acknowledged.
    until(&peer, "every receipt acknowledged", |p| {
        p.events("receipt_sent")
            .iter()
            .filter(|r| r["ok"] == true)
            .count()
            == 4
    })
    .await;
}

#[tokio::test]
async fn throttling_answers_pause_cascade_and_every_message_still_goes_once() {
    let peer = SmscPeer::start(&["--throttle-first", "3"]).await;
    let app = peer.cascade("").await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let to = format!("+3069000001{i:02}");
        ids.push(app.send_flow(&flow(vec![sms_to(1, &to, "Hi")])).await);
    }
    for id in &ids {
        assert_eq!(app.wait_final(id).await["status"], "Succeeded");
    }
    let submits = peer.events("submit");
    let throttled = submits
        .iter()
        .filter(|s| s["answer"] == "throttled")
        .count();
    let accepted: Vec<&Value> = submits
        .iter()
        .filter(|s| s["answer"] == "accepted")
        .collect();
    assert_eq!(throttled, 3, "{submits:#?}");
    assert_eq!(
        accepted.len(),
        4,
        "each message accepted exactly once: {submits:#?}"
    );
    let m = app.metrics().await;
    let throttled_metric: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("cascade_smpp_submits_throttled_total{smsc=\"peer\""))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(throttled_metric, 3.0);
}

#[tokio::test]
async fn an_smsc_dropping_the_connection_mid_window_loses_no_message() {
    let peer = SmscPeer::start(&["--drop-after", "5"]).await;
    let app = peer.cascade("").await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let to = format!("+3069000002{i:02}");
        ids.push((
            to.clone(),
            app.send_flow(&flow(vec![sms_to(1, &to, "Hi")])).await,
        ));
    }
    for (_, id) in &ids {
        let t = app
            .wait_for(id, Duration::from_secs(40), |t| {
                matches!(t["status"].as_str(), Some("Succeeded" | "Failed"))
            })
            .await;
        assert_eq!(t["status"], "Succeeded", "{t:#}");
        assert_eq!(status_of(&t["messages"][0]), "Delivered", "{t:#}");
    }
    let submits = peer.events("submit");
    assert!(
        submits.iter().any(|s| s["answer"] == "dropped"),
        "the connection was dropped: {submits:#?}"
    );
    for (to, _) in &ids {
        let digits = &to[1..];
        let accepted = submits
            .iter()
            .filter(|s| s["destination_addr"] == digits && s["answer"] == "accepted")
            .count();
        assert_eq!(accepted, 1, "{to} accepted once: {submits:#?}");
    }
    assert!(peer.events("bound").len() >= 2, "Cascade bound again");
}

#[tokio::test]
async fn undeliverable_receipts_fail_the_step_over_and_hex_ids_match() {
    let peer = SmscPeer::start(&["--receipt-stat", "UNDELIV", "--id-form", "hex"]).await;
    let app = peer.cascade("receipt_ids = \"same\"").await;
    let id = app
        .send_flow(&flow(vec![
            sms_to(1, "+306900000301", "Hi"),
            viber_step(2, &app.sender_id),
        ]))
        .await;
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded", "{t:#}");
    assert_eq!(t["terminationChannel"], "Viber");
    let sms = &t["messages"][0];
    assert_eq!(status_of(sms), "Undelivered");
    let description = sms["status"]["reason"]["description"].as_str().unwrap();
    assert!(description.contains("UNDELIV"), "{description}");
}

#[tokio::test]
async fn transmitter_and_receiver_pairs_carry_submits_and_receipts_apart() {
    let peer = SmscPeer::start(&[]).await;
    let app = peer
        .cascade("binds = 2\nbind_mode = \"transmitter-receiver\"")
        .await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let to = format!("+3069000005{i:02}");
        ids.push(app.send_flow(&flow(vec![sms_to(1, &to, "Hi")])).await);
    }
    for id in &ids {
        let t = app.wait_final(id).await;
        assert_eq!(t["status"], "Succeeded", "{t:#}");
    }
    let binds: Vec<String> = peer
        .events("bound")
        .iter()
        .map(|b| b["bind"].as_str().unwrap_or("").to_owned())
        .collect();
    let count = |kind: &str| binds.iter().filter(|b| *b == kind).count();
    assert_eq!(
        (count("transmitter"), count("receiver")),
        (2, 2),
        "{binds:?}"
    );
    assert_eq!(count("transceiver"), 0, "{binds:?}");
    // Receipts went to the receiver binds, which never submit.
    let receivers: Vec<Value> = peer
        .events("bound")
        .into_iter()
        .filter(|b| b["bind"] == "receiver")
        .map(|b| b["session_id"].clone())
        .collect();
    let submits = peer.events("submit");
    assert_eq!(submits.len(), 6);
    assert!(
        submits
            .iter()
            .all(|s| !receivers.contains(&s["session_id"])),
        "{submits:#?}"
    );
    until(&peer, "six receipts acknowledged", |p| {
        p.events("receipt_sent")
            .iter()
            .filter(|r| r["ok"] == true)
            .count()
            == 6
    })
    .await;
}

/// `cascade smsc-sim` reads `CASCADE_SQLITE_READERS` as `cascade serve` does: a value out
/// of range stops it before it opens anything, naming the variable.
#[tokio::test]
async fn smsc_sim_refuses_a_reader_count_out_of_range_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "65", "many"] {
        let out = smsc_sim_command(dir.path())
            .env("CASCADE_SQLITE_READERS", bad)
            .kill_on_drop(true)
            .output()
            .await
            .expect("cascade smsc-sim runs");
        assert!(!out.status.success(), "{bad}: it must not run");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("CASCADE_SQLITE_READERS"), "{bad}: {said}");
        assert!(
            !dir.path().join("sim.db").exists(),
            "{bad}: no store is made"
        );
    }
}

/// `cascade smsc-sim` on free ports with its store in `dir`, without the admin token or
/// configuration file of the environment the tests run in.
fn smsc_sim_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cascade"));
    command
        .args([
            "smsc-sim",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ])
        .arg("--database")
        .arg(format!("sqlite://{}", dir.join("sim.db").display()))
        .env_remove("CASCADE_ADMIN_TOKEN")
        .env_remove("CASCADE_CONFIG");
    command
}

/// `cascade smsc-sim` on free ports; returns (SMPP port, admin base URL).
pub(crate) async fn start_smsc_sim(dir: &Path) -> (Child, u16, String) {
    // reqwest's rustls needs a process-wide crypto provider; the app installs one when it
    // starts, but these tests talk to a separate process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut child = smsc_sim_command(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cascade smsc-sim starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("smsc-sim prints its addresses")
        .unwrap()
        .expect("a line");
    // "cascade smsc-sim: SMPP 3.4 on 127.0.0.1:P (...); scenarios on http://127.0.0.1:Q/sandbox/scenarios"
    let smpp = line
        .split_once(" on ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|addr| addr.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no SMPP address in {line:?}"));
    let admin = line
        .split_once("http://")
        .and_then(|(_, rest)| rest.split_once("/sandbox"))
        .map(|(addr, _)| format!("http://{addr}"))
        .unwrap_or_else(|| panic!("no admin address in {line:?}"));
    (child, smpp, admin)
}

async fn smpplib(port: u16, messages: &Value, extra: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(repo_root().join("tests/peers/esme_smpplib.py"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--system-id",
            "smpplib",
            "--password",
            "pw",
            "--timeout",
            "15",
        ])
        .arg("--messages")
        .arg(messages.to_string())
        .args(extra)
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("the smpplib ESME runs");
    assert!(out.status.success(), "smpplib ESME failed: {out:?}");
    serde_json::from_slice(&out.stdout).expect("one JSON result")
}

#[tokio::test]
async fn smpplib_gets_a_receipt_for_every_part_from_cascade_smsc_sim() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, port, admin) = start_smsc_sim(dir.path()).await;
    let long = "z".repeat(400);
    let result = smpplib(
        port,
        &json!([
            {"to": "+306912345601", "from": "Brand", "text": "Hello €", "coding": "gsm"},
            {"to": "+306912345602", "from": "Brand", "text": "Καλημέρα", "coding": "ucs2"},
            {"to": "+306912345603", "from": "+306900000000", "text": long, "coding": "gsm"}
        ]),
        &[],
    )
    .await;
    let submitted = result["submitted"].as_array().unwrap();
    assert_eq!(submitted.len(), 1 + 1 + 3, "{result:#}");
    assert!(submitted.iter().all(|s| s["status"] == 0), "{result:#}");
    let receipts = result["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 5, "{result:#}");
    for r in receipts {
        assert_eq!(r["stat"], "DELIVRD", "{r}");
        assert_eq!(r["matched"], true, "{r}");
        assert_eq!(r["tlvs"]["message_state"], 2, "{r}");
    }
    assert_eq!(result["missing_receipts"], json!([]), "{result:#}");

    // The simulator recorded three messages, the long one with its three parts.
    let sent: Value = reqwest::get(format!("{admin}/sandbox/messages"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent = sent["messages"].as_array().unwrap();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    let long_one = sent.iter().find(|m| m["to"] == "+306912345603").unwrap();
    let parts = long_one["content"]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(
        parts.iter().filter_map(Value::as_str).collect::<String>(),
        long
    );
    assert_eq!(long_one["content"]["systemId"], "smpplib");
}

#[tokio::test]
async fn smsc_sim_scenarios_script_receipts_throttling_and_rejections_for_any_esme() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, port, admin) = start_smsc_sim(dir.path()).await;
    let client = reqwest::Client::new();
    for rule in [
        json!({"channel": "Sms", "to": "+306900000401", "events": [{"afterMs": 10, "status": "Undelivered"}]}),
        json!({"channel": "Sms", "to": "+306900000402", "throttle": 2}),
        json!({"channel": "Sms", "to": "+306900000403", "rejectWith": "ESME_RINVDSTADR"}),
    ] {
        let r = client
            .post(format!("{admin}/sandbox/scenarios"))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    }
    let bad = client
        .post(format!("{admin}/sandbox/scenarios"))
        .json(&json!({"channel": "Sms", "to": "*", "throttle": "lots"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(bad.json::<Value>().await.unwrap()["code"], "400000001");

    let result = smpplib(
        port,
        &json!([
            {"to": "+306900000401", "from": "Brand", "text": "one", "coding": "gsm"},
            {"to": "+306900000402", "from": "Brand", "text": "two", "coding": "gsm"},
            {"to": "+306900000403", "from": "Brand", "text": "three", "coding": "gsm"}
        ]),
        &["--expect-throttle"],
    )
    .await;
    let by_to = |to: &str| {
        result["submitted"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["to"] == to)
            .cloned()
            .unwrap_or_else(|| panic!("{to} in {result:#}"))
    };
    assert_eq!(by_to("+306900000401")["status"], 0);
    let throttled = by_to("+306900000402");
    assert_eq!(throttled["status"], 0, "{throttled}");
    assert_eq!(throttled["throttled"], 2, "{throttled}");
    assert_eq!(by_to("+306900000403")["status"], 0x0B, "ESME_RINVDSTADR");
    let receipts = result["receipts"].as_array().unwrap();
    let stat_for = |to: &str| {
        receipts
            .iter()
            .find(|r| r["to"] == to)
            .map(|r| r["stat"].clone())
    };
    assert_eq!(
        stat_for("+306900000401"),
        Some(json!("UNDELIV")),
        "{result:#}"
    );
    assert_eq!(
        stat_for("+306900000402"),
        Some(json!("DELIVRD")),
        "{result:#}"
    );
    assert_eq!(
        stat_for("+306900000403"),
        None,
        "a rejected message has no receipt"
    );
}

/// Identical messages (one sender, one number, one text) in flight together from an ESME
/// other than Cascade's sandbox bind are separate messages: each gets its own id and its
/// own receipt. (The simulator groups such an ESME's parts by content so that a
/// throttled resend finds its message again; it took concurrent copies for resends.)
#[tokio::test]
async fn smsc_sim_gives_identical_messages_in_flight_together_their_own_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (_sim, port, _admin) = start_smsc_sim(dir.path()).await;
    let toml = format!(
        "[[smsc]]\nname = \"sim\"\nhost = \"127.0.0.1\"\nport = {port}\nsystem_id = \"cascade\"\n\
         window = 10\nthroughput = 0\nreceipt_ids = \"same\"\n"
    );
    let app = spawn_app_with_file(&toml, &[]).await;
    let token = app.token().await;
    let body = flow(vec![sms_step(1, "The same text every time")]);
    let sent =
        futures_util::future::join_all((0..40).map(|_| app.post_flow_with(&token, &body))).await;
    let mut ids = Vec::new();
    for r in sent {
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        ids.push(
            r.json::<Value>().await.unwrap()["trackingId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut provider_ids = std::collections::HashSet::new();
    for id in &ids {
        let t = app
            .wait_for(id, Duration::from_secs(20), |t| t["status"] == "Succeeded")
            .await;
        let events = app.events(id).await;
        let submitted = events.iter().find(|e| e["type"] == "submitted").unwrap();
        let pid = submitted["providerIds"][0].as_str().unwrap().to_owned();
        assert!(provider_ids.insert(pid.clone()), "{pid} given twice; {t:#}");
    }
}
