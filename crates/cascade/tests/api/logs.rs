//! The server's log as JSON (`CASCADE_LOG_FORMAT=json`): the real binary, its stderr
//! read line by line. Every line is one JSON object naming the node, and the lines about
//! a flow carry its tracking id.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::*;
use crate::restart::{APP, Client, SECRET};

#[tokio::test]
async fn json_log_lines_name_the_node_and_the_flow_they_are_about() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path()).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .arg("serve")
        .env("CASCADE_LISTEN", "127.0.0.1:0")
        .env("CASCADE_SANDBOX_SMPP_LISTEN", "127.0.0.1:0")
        .env("CASCADE_DATABASE_URL", &db)
        .env("CASCADE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("CASCADE_BOOTSTRAP_APPLICATION", format!("{APP}:{SECRET}"))
        .env("CASCADE_ALLOW_PRIVATE_CALLBACKS", "1")
        .env("CASCADE_NODE_ID", "log-node")
        .env("CASCADE_LOG_FORMAT", "json")
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the cascade binary starts");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = out.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("cascade: listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("cascade exited before listening");
    })
    .await
    .expect("cascade listens");
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = err.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });

    // A flow whose callback receiver is down: its attempts are logged.
    let closed = free_port();
    let client = Client::new(&base).await;
    let mut body = flow(vec![sms_step(1, "logged")]);
    body["callback"] =
        json!({"strategy": "OnCompletion", "url": format!("http://127.0.0.1:{closed}/cb")});
    let r = client
        .http
        .post(format!("{base}/failover"))
        .bearer_auth(&client.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["trackingId"]
        .as_str()
        .unwrap()
        .to_owned();

    let deadline = Instant::now() + Duration::from_secs(30);
    let about_the_flow = loop {
        let found: Vec<Value> = lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"] == "cascade::callbacks")
            .collect();
        if !found.is_empty() {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no callback line: {:#?}",
            lines.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in &about_the_flow {
        assert_eq!(line["trackingId"], id.as_str(), "{line}");
    }
    let all = lines.lock().unwrap().clone();
    assert!(all.len() > 3, "{all:#?}");
    for line in &all {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(v["node"], "log-node", "{line}");
        assert!(
            v["level"].is_string() && v["target"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
    child.kill().await.unwrap();
}
