//! `providers`: Viber → SMS flows end to end through the `vonage-messages` adapter against
//! a local Vonage Messages mock that answers at once, beside the same flows through the
//! in-process Viber sandbox, in the same run; then signed webhooks applied per second.
//!
//! In both paths the Viber message ends `UNDELIVERED` ("not a Viber user") a moment after
//! it is sent, so every flow fails over to its SMS step (the sandbox SMSC over SMPP,
//! delivered) and ends `Succeeded`: the adapter path adds an HTTP request out, a signed
//! webhook in and its verification per flow.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::Digest;

use crate::server::{Running, start_cascade_with};
use crate::{ADMIN, Cli};

const SIGNATURE_SECRET: &str = "bench-signature-secret-0123456789";

/// What the mock saw: the message ids it handed out.
#[derive(Default)]
struct MockState {
    uuids: Mutex<Vec<String>>,
    client: reqwest::Client,
}

fn sign(body: &[u8]) -> String {
    let claims = json!({
        "iat": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs(),
        "jti": uuid::Uuid::new_v4().to_string(), "iss": "Vonage",
        "payload_hash": hex::encode(sha2::Sha256::digest(body)),
    });
    let key = EncodingKey::from_secret(SIGNATURE_SECRET.as_bytes()).expect("an HMAC key");
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).expect("a token");
    format!("Bearer {token}")
}

async fn post_signed(client: &reqwest::Client, url: &str, body: &Value) -> bool {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    client
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", sign(&bytes))
        .body(bytes)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// `POST /v1/messages`: 202 at once, then the status webhook.
async fn send(
    State(state): State<Arc<MockState>>,
    body: axum::Json<Value>,
) -> (StatusCode, axum::Json<Value>) {
    let uuid = uuid::Uuid::new_v4().to_string();
    state
        .uuids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(uuid.clone());
    let url = body["webhook_url"].as_str().unwrap_or_default().to_owned();
    let hook = json!({
        "message_uuid": uuid, "to": body["to"], "from": body["from"],
        "timestamp": cascade_core::Timestamp::from_millis(0).to_rfc3339(),
        "status": "rejected", "channel": "viber_service", "client_ref": body["client_ref"],
        "error": {"title": "1300", "detail": "Not part of the provider network"},
    });
    let st = Arc::clone(&state);
    tokio::spawn(async move {
        // Answered 503 only while the submit answer is being recorded would be a held
        // report; retry until recorded, as Vonage does.
        for _ in 0..50 {
            if post_signed(&st.client, &url, &hook).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"message_uuid": uuid})),
    )
}

async fn start_mock() -> anyhow::Result<(String, Arc<MockState>)> {
    let state = Arc::new(MockState::default());
    let app = axum::Router::new()
        .route("/v1/messages", axum::routing::post(send))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, state))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn admin_post(run: &Running, path: &str, body: Value) -> anyhow::Result<Value> {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", run.base))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
    Ok(r.json().await?)
}

/// Send `cli.flows` Viber → SMS flows and wait until all succeeded (see
/// [`crate::complete::drive`]).
async fn drive(run: &Running, cli: &Cli) -> anyhow::Result<(f64, f64)> {
    let sender = admin_post(
        run,
        &format!("/admin/accounts/{}/viber-senders", run.account),
        json!({"name": "BenchBrand"}),
    )
    .await?["senderInfoTrackingId"]
        .as_str()
        .context("a sender id")?
        .to_owned();
    let flow = json!({"flow": [
        {"type": "Viber", "order": 1, "senderInfoTrackingId": sender, "to": "+306912345678",
         "message": {"text": "Your code is 123456"}},
        {"type": "Sms", "order": 2, "from": "Cascade", "to": "+306912345678",
         "message": {"body": "Your code is 123456"}}]});
    crate::complete::drive(run, cli, &flow).await
}

/// The rows of the measurement.
pub async fn run(cli: &Cli) -> anyhow::Result<Vec<(String, String)>> {
    let mut rows = Vec::new();

    // Baseline: the same flows through the in-process Viber sandbox.
    let run = start_cascade_with(cli, None, &[]).await?;
    admin_post(
        &run,
        "/sandbox/scenarios",
        json!({"channel": "Viber", "to": "*", "events": [
            {"afterMs": 0, "status": "UNDELIVERED", "detailedStatus": "Not Viber User"}]}),
    )
    .await?;
    let (rate, elapsed) = drive(&run, cli).await?;
    run.stop().await;
    rows.push((
        format!("Baseline: Viber → SMS flows through the Viber sandbox ({} flows, Viber undelivered, SMS delivered)", cli.flows),
        format!("{rate:.0} flows/s ({elapsed:.1} s)"),
    ));

    // The adapter path.
    let (mock, state) = start_mock().await?;
    let port = free_port()?;
    let file = format!(
        "[[provider]]\nname = \"vonage-viber\"\nkind = \"vonage-messages\"\nbase_url = \"{mock}\"\napi_key = \"k\"\napi_secret = \"s\"\nsignature_secret = \"{SIGNATURE_SECRET}\"\n"
    );
    let run = start_cascade_with(
        cli,
        Some(&file),
        &[
            ("CASCADE_LISTEN", format!("127.0.0.1:{port}")),
            ("CASCADE_PUBLIC_URL", format!("http://127.0.0.1:{port}")),
        ],
    )
    .await?;
    let (rate, elapsed) = drive(&run, cli).await?;
    rows.push((
        format!("Viber → SMS flows through the vonage-messages adapter and a local mock answering at once ({} flows)", cli.flows),
        format!("{rate:.0} flows/s ({elapsed:.1} s)"),
    ));

    // Webhooks applied per second: a signed `read` for each message, posted by
    // `cli.concurrency` clients (each recorded as a late report of a finished flow).
    let uuids = state
        .uuids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let url = format!("{}/webhooks/vonage-viber", run.base);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.concurrency)
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let uuids = Arc::new(uuids);
    let ok = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..cli.concurrency {
        let (client, url, next, uuids, ok) = (
            client.clone(),
            url.clone(),
            Arc::clone(&next),
            Arc::clone(&uuids),
            Arc::clone(&ok),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
                let Some(uuid) = uuids.get(i) else { break };
                let body = json!({"message_uuid": uuid, "status": "read", "channel": "viber_service",
                    "timestamp": cascade_core::Timestamp::from_millis(1).to_rfc3339()});
                if post_signed(&client, &url, &body).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let applied = ok.load(Ordering::Relaxed);
    anyhow::ensure!(
        applied as usize == uuids.len(),
        "{applied} of {} webhooks answered 2xx",
        uuids.len()
    );
    run.stop().await;
    rows.push((
        format!(
            "Signed Vonage webhooks verified and recorded ({applied}, {} clients)",
            cli.concurrency
        ),
        format!(
            "{:.0} webhooks/s ({elapsed:.1} s)",
            applied as f64 / elapsed
        ),
    ));
    Ok(rows)
}
