//! A mock of the Vonage Voice API, written from Vonage's public contract
//! (shared/providers/reference.md §4 and §8: `POST /v1/calls` with an application's RS256
//! JWT, the request's fields and limits, `201 {uuid, status, direction,
//! conversation_uuid}`, RFC 7807 errors, JSON events to the request's `event_url` signed
//! with an HS256 JWT carrying `payload_hash`), not from Cascade's adapter.
//!
//! It answers create-call requests as a script says, records them, then sends the events
//! scripted for the destination number. With `machine_detection: hangup`, a `machine`
//! event ends the call as Vonage does: a `completed` event follows by itself. The
//! request-token check, error shape and webhook signature are the Vonage Messages mock's
//! (`provider_mocks`): the same Vonage conventions.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::provider_mocks::{now_rfc3339, problem, vonage_authorized, vonage_sign};

/// `talk.language` values Vonage takes (reference §4.1: the spec's and the Python SDK's
/// enum).
pub const LANGUAGES: &[&str] = &[
    "ar",
    "ca-ES",
    "cmn-CN",
    "cmn-TW",
    "cs-CZ",
    "cy-GB",
    "da-DK",
    "de-DE",
    "el-GR",
    "en-AU",
    "en-GB",
    "en-GB-WLS",
    "en-IN",
    "en-US",
    "en-ZA",
    "es-ES",
    "es-MX",
    "es-US",
    "eu-ES",
    "fi-FI",
    "fil-PH",
    "fr-CA",
    "fr-FR",
    "he-IL",
    "hi-IN",
    "hu-HU",
    "id-ID",
    "is-IS",
    "it-IT",
    "ja-JP",
    "ko-KR",
    "nb-NO",
    "nl-NL",
    "no-NO",
    "pl-PL",
    "pt-BR",
    "pt-PT",
    "ro-RO",
    "ru-RU",
    "sk-SK",
    "sv-SE",
    "th-TH",
    "tr-TR",
    "uk-UA",
    "vi-VN",
    "yue-CN",
];

/// How the mock answers the next create-call request (when none is scripted, it takes
/// the call).
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status in Vonage's error shape, with `Retry-After` seconds.
    Status(u16, Option<u64>),
}

/// An event the mock sends after creating a call.
#[derive(Debug, Clone)]
pub struct Event {
    pub after_ms: u64,
    /// Fields merged over the event's standard ones (`status`, `detail`, `duration`…).
    pub fields: Value,
    /// Name the leg `call_uuid` instead of `uuid` (older machine-detection events).
    pub call_uuid: bool,
}

pub fn event(after_ms: u64, status: &str, more: Value) -> Event {
    let mut fields = json!({"status": status});
    if let (Some(f), Some(m)) = (fields.as_object_mut(), more.as_object()) {
        f.extend(m.clone());
    }
    Event {
        after_ms,
        fields,
        call_uuid: false,
    }
}

/// A machine-detection event in the older form, naming the leg `call_uuid`.
pub fn amd_old_form(after_ms: u64, status: &str) -> Event {
    Event {
        call_uuid: true,
        ..event(after_ms, status, json!({}))
    }
}

#[derive(Debug)]
struct MockState {
    answers: Mutex<VecDeque<Answer>>,
    scripts: Mutex<HashMap<String, Vec<Event>>>,
    /// Create-call requests: arrival, body, status answered.
    requests: Mutex<Vec<(Instant, Value, u16)>>,
    /// Calls created: uuid → destination number (or SIP URI).
    calls: Mutex<Vec<(String, String)>>,
    /// Status codes Cascade answered the events with.
    event_answers: Mutex<Vec<u16>>,
    client: reqwest::Client,
}

#[derive(Debug)]
pub struct VonageVoiceMock {
    pub base: String,
    state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for VonageVoiceMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VonageVoiceMock {
    pub async fn start() -> VonageVoiceMock {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let state = Arc::new(MockState {
            answers: Mutex::new(VecDeque::new()),
            scripts: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            event_answers: Mutex::new(Vec::new()),
            client: reqwest::Client::new(),
        });
        let app = Router::new()
            .route("/v1/calls", post(create))
            .fallback(|| async {
                problem(
                    404,
                    "#not-found",
                    "Not found",
                    "The requested resource does not exist.",
                    json!({}),
                )
            })
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        VonageVoiceMock { base, state, task }
    }

    pub fn script(&self, answers: Vec<Answer>) {
        self.state.answers.lock().unwrap().extend(answers);
    }

    /// Events for calls to `to` (digits, no `+`; or the SIP URI).
    pub fn on(&self, to: &str, events: Vec<Event>) {
        self.state
            .scripts
            .lock()
            .unwrap()
            .insert(to.to_owned(), events);
    }

    pub fn requests(&self) -> Vec<(Instant, Value, u16)> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn event_answers(&self) -> Vec<u16> {
        self.state.event_answers.lock().unwrap().clone()
    }

    /// The uuids of the calls created to `to`.
    pub fn calls_to(&self, to: &str) -> Vec<String> {
        self.state
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, t)| t == to)
            .map(|(u, _)| u.clone())
            .collect()
    }
}

fn is_url(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
}

/// The first violation of the documented request constraints (reference §4.1, §8.1):
/// (parameter, reason).
fn violation(b: &Value) -> Option<(String, &'static str)> {
    let Some([to]) = b["to"].as_array().map(Vec::as_slice) else {
        return Some(("to".into(), "an array of one endpoint"));
    };
    match to["type"].as_str() {
        Some("phone") => {
            let n = to["number"].as_str().unwrap_or("");
            if !(7..=15).contains(&n.len()) || !n.bytes().all(|c| c.is_ascii_digit()) {
                return Some(("to[0].number".into(), "must match \\d{7,15}"));
            }
        }
        Some("sip") => {
            if !to["uri"]
                .as_str()
                .is_some_and(|u| u.starts_with("sip:") && u.contains('@'))
            {
                return Some(("to[0].uri".into(), "a sip: URI"));
            }
        }
        _ => return Some(("to[0].type".into(), "phone, sip, websocket, vbc or app")),
    }
    if b.get("from").is_some() {
        let n = b["from"]["number"].as_str().unwrap_or("");
        if b["from"]["type"] != "phone" || n.is_empty() || !n.bytes().all(|c| c.is_ascii_digit()) {
            return Some(("from".into(), "{type: phone, number: digits}"));
        }
    }
    let Some(ncco) = b["ncco"].as_array().filter(|a| !a.is_empty()) else {
        if b.get("answer_url").is_none() {
            return Some(("ncco".into(), "an ncco or an answer_url is required"));
        }
        return None;
    };
    for (i, action) in ncco.iter().enumerate() {
        let loop_ok = action.get("loop").is_none_or(|l| l.as_u64().is_some());
        match action["action"].as_str() {
            Some("talk") => {
                let text = action["text"].as_str().unwrap_or("");
                if text.is_empty() || text.chars().count() > 1500 {
                    return Some((format!("ncco[{i}].text"), "1-1500 characters"));
                }
                if let Some(l) = action.get("language")
                    && !l.as_str().is_some_and(|l| LANGUAGES.contains(&l))
                {
                    return Some((format!("ncco[{i}].language"), "not a supported language"));
                }
                if action.get("style").is_some_and(|s| s.as_u64().is_none()) {
                    return Some((format!("ncco[{i}].style"), "an integer"));
                }
            }
            Some("stream") => {
                let urls = action["streamUrl"].as_array();
                if !urls.is_some_and(|u| u.len() == 1 && is_url(&u[0])) {
                    return Some((format!("ncco[{i}].streamUrl"), "an array of one URL"));
                }
            }
            _ => return Some((format!("ncco[{i}].action"), "not an NCCO action")),
        }
        if !loop_ok {
            return Some((format!("ncco[{i}].loop"), "a non-negative integer"));
        }
    }
    if !b["event_url"]
        .as_array()
        .is_some_and(|u| u.len() == 1 && is_url(&u[0]))
    {
        return Some(("event_url".into(), "an array of one URL"));
    }
    if !matches!(
        b.get("event_method").and_then(Value::as_str),
        None | Some("POST" | "GET")
    ) {
        return Some(("event_method".into(), "POST or GET"));
    }
    if !matches!(
        b.get("machine_detection").and_then(Value::as_str),
        None | Some("continue" | "hangup")
    ) || b.get("machine_detection").is_some_and(|m| !m.is_string())
    {
        return Some(("machine_detection".into(), "continue or hangup"));
    }
    for (key, range) in [("ringing_timer", 1..=120), ("length_timer", 1..=86_400)] {
        if let Some(t) = b.get(key)
            && !t.as_u64().is_some_and(|t| range.contains(&t))
        {
            return Some((key.into(), "out of range"));
        }
    }
    None
}

async fn create(State(state): State<Arc<MockState>>, headers: HeaderMap, body: Bytes) -> Response {
    let arrived = Instant::now();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let record = |status: u16| {
        state
            .requests
            .lock()
            .unwrap()
            .push((arrived, body.clone(), status));
    };
    // The Voice API takes only an application's JWT (no Basic).
    if !vonage_authorized(&headers, true) {
        record(401);
        return problem(
            401,
            "#unathorized",
            "Unauthorized",
            "You did not provide correct credentials.",
            json!({}),
        );
    }
    if let Some(Answer::Status(status, retry_after)) = state.answers.lock().unwrap().pop_front() {
        record(status);
        let mut r = problem(
            status,
            "#error",
            "Scripted failure",
            "The mock was told to fail.",
            json!({}),
        );
        if let Some(s) = retry_after {
            r.headers_mut()
                .insert("retry-after", s.to_string().parse().unwrap());
        }
        return r;
    }
    if let Some((name, reason)) = violation(&body) {
        record(422);
        return problem(
            422,
            "/voice#validation",
            "Bad Request",
            "The request failed due to validation errors",
            json!({"invalid_parameters": [{"name": name, "reason": reason}]}),
        );
    }
    record(201);
    let uuid = uuid::Uuid::new_v4().to_string();
    let conversation = format!("CON-{}", uuid::Uuid::new_v4());
    let to = body["to"][0]["number"]
        .as_str()
        .or_else(|| body["to"][0]["uri"].as_str())
        .unwrap_or("")
        .to_owned();
    state.calls.lock().unwrap().push((uuid.clone(), to.clone()));
    let script = state.scripts.lock().unwrap().get(&to).cloned();
    if let Some(script) = script {
        let base = json!({
            "uuid": uuid, "conversation_uuid": conversation, "to": to,
            "from": body["from"]["number"], "direction": "outbound",
        });
        let url = body["event_url"][0].as_str().unwrap_or("").to_owned();
        let hangs_up = body["machine_detection"] == "hangup";
        tokio::spawn(send_events(Arc::clone(&state), url, base, script, hangs_up));
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "uuid": uuid, "status": "started", "direction": "outbound",
            "conversation_uuid": conversation,
        })),
    )
        .into_response()
}

/// Send each event (merged over `base`) after its delay, in order; with `hangs_up`, a
/// `machine` event ends the call (`completed` follows, and the rest of the script is
/// not sent).
async fn send_events(
    state: Arc<MockState>,
    url: String,
    base: Value,
    script: Vec<Event>,
    hangs_up: bool,
) {
    for e in script {
        tokio::time::sleep(Duration::from_millis(e.after_ms)).await;
        let machine = e.fields["status"] == "machine";
        send_event(&state, &url, &base, &e.fields, e.call_uuid).await;
        if machine && hangs_up {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let completed = json!({
                "status": "completed", "duration": "3", "price": "0.00022500",
                "rate": "0.00450000", "disconnected_by": "platform",
            });
            send_event(&state, &url, &base, &completed, false).await;
            return;
        }
    }
}

async fn send_event(state: &MockState, url: &str, base: &Value, fields: &Value, call_uuid: bool) {
    let mut body = base.clone();
    body["timestamp"] = json!(now_rfc3339());
    if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
        b.extend(f.clone());
        if call_uuid && let Some(uuid) = b.remove("uuid") {
            b.insert("call_uuid".into(), uuid);
        }
    }
    let bytes = serde_json::to_vec(&body).unwrap();
    let (name, value) = vonage_sign(&bytes);
    let status = state
        .client
        .post(url)
        .header("content-type", "application/json")
        .header(name, value)
        .body(bytes)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    state.event_answers.lock().unwrap().push(status);
}
