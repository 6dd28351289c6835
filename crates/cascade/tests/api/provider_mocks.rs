//! Mocks of the Vonage Messages and Infobip Viber HTTP APIs, written from the providers'
//! public documentation (paths, auth, field names and limits, id formats, webhook bodies
//! and signatures), not from Cascade's adapters. Each mock answers send requests as a
//! script says (accept, an error status, a slow answer), records what it received, and
//! sends the webhooks scripted for a destination the way the provider does: Vonage JSON
//! signed with an HS256 JWT carrying `payload_hash`; Infobip `{"results": [...]}` to the
//! URLs given in the request, unsigned.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use sha2::Digest;

pub const VONAGE_KEY: &str = "vonage-key";
pub const VONAGE_SECRET: &str = "vonage-secret";
pub const VONAGE_SIGNATURE_SECRET: &str = "vonage-signature-secret-0123456789";
pub const VONAGE_APPLICATION: &str = "aaaaaaaa-0000-4000-8000-000000000001";
pub const INFOBIP_KEY: &str = "infobip-key";
pub const INFOBIP_TOKEN: &str = "infobip-webhook-token-0123456789";

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// How the mock answers the next send request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Take the message (Vonage 202, Infobip 200).
    Accept,
    /// Take it, but first deliver its scripted webhooks (they overtake the answer).
    AcceptAfterWebhooks,
    /// Answer this status in the provider's error shape, with `Retry-After` seconds.
    Status(u16, Option<u64>),
    /// Answer nothing for this long (Cascade's timeout should fire first).
    Stall(Duration),
}

/// A webhook the mock sends for a destination after taking its message.
#[derive(Debug, Clone)]
pub struct Hook {
    pub after_ms: u64,
    /// Fields merged over the provider's webhook body (e.g. `{"status": "delivered"}`).
    pub fields: Value,
}

pub fn hook(after_ms: u64, fields: Value) -> Hook {
    Hook { after_ms, fields }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Vonage Messages; `jwt`: expect an RS256 application token instead of Basic.
    Vonage {
        jwt: bool,
    },
    Infobip,
}

#[derive(Debug)]
struct MockState {
    kind: Kind,
    answers: Mutex<VecDeque<Answer>>,
    hooks: Mutex<HashMap<String, Vec<Hook>>>,
    /// Bodies of the send requests, with the time they arrived and the answer's status
    /// (0: answered too late, after the client gave up).
    requests: Mutex<Vec<(Instant, Value, u16)>>,
    /// Status codes Cascade answered the mock's webhooks with.
    webhook_answers: Mutex<Vec<u16>>,
    /// Infobip: message ids seen (a repeated id is a duplicate).
    seen_ids: Mutex<HashSet<String>>,
    client: reqwest::Client,
}

/// A running mock.
#[derive(Debug)]
pub struct MockProvider {
    pub base: String,
    state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockProvider {
    pub async fn start(kind: Kind) -> MockProvider {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let state = Arc::new(MockState {
            kind,
            answers: Mutex::new(VecDeque::new()),
            hooks: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            webhook_answers: Mutex::new(Vec::new()),
            seen_ids: Mutex::new(HashSet::new()),
            client: reqwest::Client::new(),
        });
        let app = match kind {
            Kind::Vonage { .. } => Router::new().route("/v1/messages", post(vonage_send)),
            Kind::Infobip => Router::new().route("/viber/2/messages", post(infobip_send)),
        }
        .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockProvider { base, state, task }
    }

    /// Stop listening: later requests find the port closed (connection refused).
    pub fn stop(&self) {
        self.task.abort();
    }

    pub fn script(&self, answers: Vec<Answer>) {
        self.state.answers.lock().unwrap().extend(answers);
    }

    /// Webhooks for messages to `to` (digits, no `+`).
    pub fn on(&self, to: &str, hooks: Vec<Hook>) {
        self.state
            .hooks
            .lock()
            .unwrap()
            .insert(to.to_owned(), hooks);
    }

    /// The send requests received: (arrival, body, status answered).
    pub fn requests(&self) -> Vec<(Instant, Value, u16)> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn accepted(&self) -> usize {
        self.requests()
            .iter()
            .filter(|(_, _, s)| (200..300).contains(s))
            .count()
    }

    pub fn webhook_answers(&self) -> Vec<u16> {
        self.state.webhook_answers.lock().unwrap().clone()
    }
}

pub fn problem(status: u16, kind: &str, title: &str, detail: &str, extra: Value) -> Response {
    let mut body = json!({
        "type": format!("https://developer.vonage.com/api-errors{kind}"),
        "title": title, "detail": detail, "instance": uuid::Uuid::new_v4().to_string(),
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// Vonage: Basic `key:secret`, or an RS256 JWT with the application's id, `iat`, `jti`
/// and an `exp` in the future, checked with the application's public key.
pub fn vonage_authorized(headers: &HeaderMap, jwt: bool) -> bool {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if jwt {
        let Some(token) = auth.strip_prefix("Bearer ") else {
            return false;
        };
        let public = std::fs::read(fixture("vonage-test-public.pem")).unwrap();
        let key = DecodingKey::from_rsa_pem(&public).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iat", "jti"]);
        match jsonwebtoken::decode::<Value>(token, &key, &validation) {
            Ok(data) => data.claims["application_id"] == VONAGE_APPLICATION,
            Err(_) => false,
        }
    } else {
        let expected = base64::engine::general_purpose::STANDARD
            .encode(format!("{VONAGE_KEY}:{VONAGE_SECRET}"));
        auth == format!("Basic {expected}")
    }
}

/// The documented limits of a Viber message (Messages API v1): the first violation.
fn vonage_violation(b: &Value) -> Option<(&'static str, &'static str)> {
    let s = |k: &str| b.get(k).and_then(Value::as_str);
    if s("channel") != Some("viber_service") {
        return Some(("channel", "must be viber_service"));
    }
    let to = s("to").unwrap_or("");
    if !(7..=15).contains(&to.len()) || !to.bytes().all(|c| c.is_ascii_digit()) {
        return Some(("to", "7-15 digits, no +"));
    }
    if !(1..=50).contains(&s("from").unwrap_or("").len()) {
        return Some(("from", "1-50 characters"));
    }
    if s("client_ref").is_some_and(|r| r.len() > 100) {
        return Some(("client_ref", "at most 100 characters"));
    }
    let ttl = b.pointer("/viber_service/ttl").and_then(Value::as_u64);
    if ttl.is_some_and(|t| !(30..=259_200).contains(&t)) {
        return Some(("viber_service.ttl", "30-259200"));
    }
    if b.pointer("/viber_service/action/text")
        .and_then(Value::as_str)
        .is_some_and(|t| t.chars().count() > 30)
    {
        return Some(("viber_service.action.text", "at most 30 characters"));
    }
    match s("message_type") {
        Some("text") if s("text").is_some_and(|t| !t.is_empty() && t.chars().count() <= 1000) => {
            None
        }
        Some("text") => Some(("text", "1-1000 characters")),
        Some("image") if b.pointer("/image/url").is_some() => None,
        Some("file") if b.pointer("/file/url").is_some() && b.pointer("/file/name").is_some() => {
            None
        }
        Some("video")
            if b.pointer("/video/url").is_some()
                && b.pointer("/video/thumb_url").is_some()
                && b.pointer("/viber_service/duration").is_some()
                && b.pointer("/viber_service/file_size").is_some() =>
        {
            None
        }
        _ => Some(("message_type", "missing or incomplete content")),
    }
}

async fn vonage_send(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Kind::Vonage { jwt } = state.kind else {
        unreachable!()
    };
    let arrived = Instant::now();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let record = |status: u16| {
        state
            .requests
            .lock()
            .unwrap()
            .push((arrived, body.clone(), status));
    };
    if !vonage_authorized(&headers, jwt) {
        record(401);
        return problem(
            401,
            "#unathorized",
            "You did not provide correct credentials.",
            "Check your API key and secret or JWT.",
            json!({}),
        );
    }
    if let Some((name, reason)) = vonage_violation(&body) {
        record(422);
        return problem(
            422,
            "/messages#1150",
            "Invalid params",
            "The value of one or more parameters is invalid.",
            json!({"invalid_parameters": [{"name": name, "reason": reason}]}),
        );
    }
    let answer = state
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::Accept);
    match answer {
        Answer::Status(status, retry_after) => {
            record(status);
            let mut response = problem(
                status,
                "#error",
                "Scripted failure",
                "The mock was told to fail.",
                json!({}),
            );
            if let Some(s) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", s.to_string().parse().unwrap());
            }
            response
        }
        Answer::Stall(d) => {
            // Recorded as 0: no answer in time.
            record(0);
            tokio::time::sleep(d).await;
            problem(504, "#timeout", "Too slow", "", json!({}))
        }
        Answer::Accept | Answer::AcceptAfterWebhooks => {
            let uuid = uuid::Uuid::new_v4().to_string();
            let to = body["to"].as_str().unwrap_or("").to_owned();
            let hooks = state
                .hooks
                .lock()
                .unwrap()
                .get(&to)
                .cloned()
                .unwrap_or_default();
            let url = body["webhook_url"].as_str().unwrap_or("").to_owned();
            let base = json!({
                "message_uuid": uuid, "to": to, "from": body["from"],
                "timestamp": now_rfc3339(), "channel": "viber_service",
                "client_ref": body["client_ref"],
            });
            let first = matches!(answer, Answer::AcceptAfterWebhooks);
            let send = send_hooks(Arc::clone(&state), url, base, hooks, vonage_sign);
            if first {
                send.await;
            } else {
                tokio::spawn(send);
            }
            record(202);
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({"message_uuid": uuid})),
            )
                .into_response()
        }
    }
}

/// Vonage's signed-webhook header: an HS256 JWT over `iat`, `jti`, `iss`, `api_key`,
/// `application_id` and `payload_hash` (the body's SHA-256, hex).
pub fn vonage_sign(body: &[u8]) -> (String, String) {
    vonage_sign_with(VONAGE_SIGNATURE_SECRET, body)
}

pub fn vonage_sign_with(secret: &str, body: &[u8]) -> (String, String) {
    let claims = json!({
        "iat": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        "jti": uuid::Uuid::new_v4().to_string(), "iss": "Vonage",
        "api_key": VONAGE_KEY, "application_id": VONAGE_APPLICATION,
        "payload_hash": hex::encode(sha2::Sha256::digest(body)),
    });
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap();
    ("authorization".into(), format!("Bearer {token}"))
}

/// Now, as providers print it.
pub fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    cascade_core::Timestamp::from_millis(i64::try_from(ms).unwrap()).to_rfc3339()
}

fn unsigned(_: &[u8]) -> (String, String) {
    ("x-mock".into(), "unsigned".into())
}

/// Send each hook (merged over `base`) to `url` after its delay, in order.
async fn send_hooks(
    state: Arc<MockState>,
    url: String,
    base: Value,
    hooks: Vec<Hook>,
    sign: fn(&[u8]) -> (String, String),
) {
    let start = Instant::now();
    for h in hooks {
        let due = start + Duration::from_millis(h.after_ms);
        tokio::time::sleep_until(due.into()).await;
        let mut body = base.clone();
        if let (Some(b), Some(f)) = (body.as_object_mut(), h.fields.as_object()) {
            b.extend(f.clone());
        }
        let body = if state.kind == Kind::Infobip {
            json!({"results": [body]})
        } else {
            body
        };
        let bytes = serde_json::to_vec(&body).unwrap();
        let (name, value) = sign(&bytes);
        let status = state
            .client
            .post(&url)
            .header("content-type", "application/json")
            .header(name, value)
            .body(bytes)
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        state.webhook_answers.lock().unwrap().push(status);
    }
}

async fn infobip_send(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let record = |status: u16| {
        state
            .requests
            .lock()
            .unwrap()
            .push((arrived, body.clone(), status));
    };
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("App {INFOBIP_KEY}")) {
        record(401);
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}}}))).into_response();
    }
    let m = &body["messages"][0];
    let to = m["destinations"][0]["to"].as_str().unwrap_or("").to_owned();
    let id = m["destinations"][0]["messageId"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let content_ok = match m["content"]["type"].as_str() {
        Some("TEXT") => m["content"]["text"].is_string(),
        Some("IMAGE") => m["content"]["mediaUrl"].is_string(),
        Some("FILE") => {
            m["content"]["mediaUrl"].is_string() && m["content"]["fileName"].is_string()
        }
        Some("VIDEO") => {
            m["content"]["mediaUrl"].is_string()
                && m["content"]["thumbnailUrl"].is_string()
                && m["content"]["mediaDuration"].is_string()
        }
        _ => false,
    };
    if m["sender"].as_str().is_none_or(str::is_empty) || to.is_empty() || !content_ok {
        record(400);
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"errorCode": "E400", "description": "Bad request", "action": "Check the request", "violations": [{"property": "messages[0]", "violation": "invalid"}], "resources": []}))).into_response();
    }
    let answer = state
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::Accept);
    if let Answer::Status(status, retry_after) = answer {
        record(status);
        let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(json!({"errorCode": format!("E{status}"), "description": "Scripted failure", "action": "", "violations": [], "resources": []}))).into_response();
        if let Some(s) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", s.to_string().parse().unwrap());
        }
        return response;
    }
    let duplicate = !state.seen_ids.lock().unwrap().insert(id.clone());
    let stalled = if let Answer::Stall(d) = answer {
        // Taken, but the answer comes too late: recorded as 0, no answer in time.
        record(0);
        tokio::time::sleep(d).await;
        true
    } else {
        false
    };
    let status = if duplicate {
        json!({"groupId": 5, "groupName": "REJECTED", "id": 23, "name": "REJECTED_DUPLICATE_MESSAGE_ID", "description": "Duplicate message id"})
    } else {
        json!({"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED", "description": "Message sent to next instance"})
    };
    if !duplicate {
        let hooks = state
            .hooks
            .lock()
            .unwrap()
            .get(&to)
            .cloned()
            .unwrap_or_default();
        let url = m["webhooks"]["delivery"]["url"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let base = json!({"bulkId": "bulk-1", "messageId": id, "to": to, "sender": m["sender"], "callbackData": m["webhooks"]["callbackData"]});
        let send = send_hooks(Arc::clone(&state), url, base, hooks, unsigned);
        if matches!(answer, Answer::AcceptAfterWebhooks) {
            send.await;
        } else {
            tokio::spawn(send);
        }
    }
    if !stalled {
        record(200);
    }
    axum::Json(json!({"bulkId": "bulk-1", "messages": [{"messageId": id, "status": status, "destination": to}]})).into_response()
}
