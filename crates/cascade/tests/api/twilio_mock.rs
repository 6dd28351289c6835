//! A mock of Twilio's Programmable Voice REST API, written from Twilio's public contract
//! (shared/providers/reference.md §3 and §8: paths, Basic auth with the account in the
//! path, form fields and limits, `CA` + 32 hex call sids, the error shape, form-encoded
//! status callbacks signed with `X-Twilio-Signature`), not from Cascade's adapter.
//!
//! It answers create-call requests as a script says, records them, then sends the
//! callbacks scripted for the destination to the `StatusCallback` (or, for machine
//! detection results, the `AsyncAmdStatusCallback`) the request gave, signed over that
//! exact URL. A hang-up (`POST …/Calls/{sid}.json` with `Status=completed`) ends the call
//! with a `completed` callback, as Twilio does. `GET …/Calls/{sid}.json` answers the call
//! with `price` null for the first fetches, then priced.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;

pub const ACCOUNT_SID: &str = "AC00112233445566778899aabbccddeeff";
pub const AUTH_TOKEN: &str = "twilio-auth-token-0123456789";

/// The `X-Twilio-Signature` of a form POST to `url` (Twilio's documented algorithm:
/// base64 HMAC-SHA1 keyed by the auth token over the URL and each parameter's name and
/// value, sorted).
pub fn twilio_sign(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut data = url.to_owned();
    let mut sorted = params.to_vec();
    sorted.sort();
    for (k, v) in sorted {
        data.push_str(&k);
        data.push_str(&v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn form_body(params: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// How the mock answers the next create-call request (when none is scripted, it takes
/// the call).
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status in Twilio's error shape, with `Retry-After` seconds.
    Status(u16, Option<u64>),
}

/// A callback the mock sends after creating a call.
#[derive(Debug, Clone)]
pub struct Callback {
    pub after_ms: u64,
    /// To `AsyncAmdStatusCallback` (a machine-detection result) instead of
    /// `StatusCallback`.
    pub amd: bool,
    pub fields: Vec<(String, String)>,
}

/// A status callback with `CallStatus` and more fields.
pub fn status(after_ms: u64, call_status: &str, more: &[(&str, &str)]) -> Callback {
    let mut fields = vec![("CallStatus".to_owned(), call_status.to_owned())];
    fields.extend(more.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Callback {
        after_ms,
        amd: false,
        fields,
    }
}

/// An asynchronous machine-detection result.
pub fn amd(after_ms: u64, answered_by: &str) -> Callback {
    Callback {
        after_ms,
        amd: true,
        fields: vec![
            ("AnsweredBy".to_owned(), answered_by.to_owned()),
            ("MachineDetectionDuration".to_owned(), "2150".to_owned()),
        ],
    }
}

/// A form's fields in order (a name may repeat).
pub type Form = Vec<(String, String)>;

#[derive(Debug, Clone)]
struct Call {
    to: String,
    from: String,
    status_callback: Option<String>,
    amd_callback: Option<String>,
    sequence: u32,
    fetches: u32,
    ended: bool,
}

#[derive(Debug)]
struct MockState {
    answers: Mutex<VecDeque<Answer>>,
    scripts: Mutex<HashMap<String, Vec<Callback>>>,
    calls: Mutex<HashMap<String, Call>>,
    /// Create-call requests: arrival, form, status answered.
    requests: Mutex<Vec<(Instant, Form, u16)>>,
    /// Update requests: (call sid, form).
    updates: Mutex<Vec<(String, Form)>>,
    /// Status codes Cascade answered the callbacks with.
    callback_answers: Mutex<Vec<u16>>,
    /// How many fetches of a call answer `price: null` before it is priced.
    unpriced_fetches: u32,
    client: reqwest::Client,
}

#[derive(Debug)]
pub struct TwilioMock {
    pub base: String,
    state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TwilioMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TwilioMock {
    pub async fn start() -> TwilioMock {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let state = Arc::new(MockState {
            answers: Mutex::new(VecDeque::new()),
            scripts: Mutex::new(HashMap::new()),
            calls: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            updates: Mutex::new(Vec::new()),
            callback_answers: Mutex::new(Vec::new()),
            unpriced_fetches: 1,
            client: reqwest::Client::new(),
        });
        let app = Router::new()
            .route("/2010-04-01/Accounts/{account}/Calls.json", post(create))
            .route(
                "/2010-04-01/Accounts/{account}/Calls/{file}",
                post(update).get(fetch),
            )
            .fallback(|| async { twilio_error(404, 20404, "The requested resource was not found") })
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TwilioMock { base, state, task }
    }

    pub fn script(&self, answers: Vec<Answer>) {
        self.state.answers.lock().unwrap().extend(answers);
    }

    /// Callbacks for calls to `to` (`+E.164` or `sip:…`, as sent).
    pub fn on(&self, to: &str, callbacks: Vec<Callback>) {
        self.state
            .scripts
            .lock()
            .unwrap()
            .insert(to.to_owned(), callbacks);
    }

    pub fn requests(&self) -> Vec<(Instant, Form, u16)> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn updates(&self) -> Vec<(String, Form)> {
        self.state.updates.lock().unwrap().clone()
    }

    pub fn callback_answers(&self) -> Vec<u16> {
        self.state.callback_answers.lock().unwrap().clone()
    }

    /// The sids of the calls created for `to`.
    pub fn sids_to(&self, to: &str) -> Vec<String> {
        self.state
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, c)| c.to == to)
            .map(|(sid, _)| sid.clone())
            .collect()
    }

    /// How often each call was fetched.
    pub fn fetches(&self, sid: &str) -> u32 {
        self.state
            .calls
            .lock()
            .unwrap()
            .get(sid)
            .map_or(0, |c| c.fetches)
    }
}

/// All values of `name` in a form.
pub fn values<'a>(form: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

pub fn value<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    values(form, name).first().copied()
}

fn twilio_error(status: u16, code: u32, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        json!({
            "code": code, "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        })
        .to_string(),
    )
        .into_response()
}

/// Basic `AccountSid:AuthToken`, and the account in the path is that account.
fn authorized(headers: &HeaderMap, account: &str) -> bool {
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    account == ACCOUNT_SID
        && headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Basic {expected}"))
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first violation of the documented limits of a create-call request.
fn violation(form: &[(String, String)]) -> Option<(u32, &'static str)> {
    let to = value(form, "To").unwrap_or("");
    let e164 = to
        .strip_prefix('+')
        .is_some_and(|d| (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    let sip = to.strip_prefix("sip:").is_some_and(|a| a.contains('@'));
    if !e164 && !sip {
        return Some((21211, "Invalid 'To' Phone Number"));
    }
    if value(form, "From").unwrap_or("").is_empty() {
        return Some((21212, "Invalid 'From' Phone Number"));
    }
    let twiml = value(form, "Twiml");
    if twiml.is_none() && value(form, "Url").is_none() {
        return Some((
            21205,
            "A 'Url', 'Twiml' or 'ApplicationSid' parameter is required",
        ));
    }
    if let Some(t) = twiml {
        if t.chars().count() > 4000 {
            return Some((21232, "Twiml parameter exceeds 4000 characters"));
        }
        if !t.contains("<Response>") || !t.ends_with("</Response>") {
            return Some((12100, "Document parse failure"));
        }
    }
    if let Some(t) = value(form, "Timeout")
        && t.parse::<u32>().map_or(true, |t| t > 600)
    {
        return Some((21216, "Timeout must be at most 600"));
    }
    for url in [
        value(form, "StatusCallback"),
        value(form, "AsyncAmdStatusCallback"),
    ]
    .into_iter()
    .flatten()
    {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Some((21609, "Invalid StatusCallback URL"));
        }
    }
    for event in values(form, "StatusCallbackEvent") {
        if !["initiated", "ringing", "answered", "completed"].contains(&event) {
            return Some((21626, "Invalid StatusCallbackEvent"));
        }
    }
    if let Some(m) = value(form, "MachineDetection")
        && m != "Enable"
        && m != "DetectMessageEnd"
    {
        return Some((21628, "Invalid MachineDetection"));
    }
    None
}

async fn create(
    State(state): State<Arc<MockState>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = parse_form(&body);
    let record = |status: u16| {
        state
            .requests
            .lock()
            .unwrap()
            .push((Instant::now(), form.clone(), status));
    };
    if !authorized(&headers, &account) {
        record(401);
        return twilio_error(401, 20003, "Authenticate");
    }
    if let Some(Answer::Status(status, retry_after)) = state.answers.lock().unwrap().pop_front() {
        record(status);
        let mut r = twilio_error(
            status,
            if status == 429 { 20429 } else { 20500 },
            "Scripted failure",
        );
        if let Some(s) = retry_after {
            r.headers_mut()
                .insert("retry-after", s.to_string().parse().unwrap());
        }
        return r;
    }
    if let Some((code, message)) = violation(&form) {
        record(400);
        return twilio_error(400, code, message);
    }
    record(201);
    let sid = format!("CA{}", uuid::Uuid::new_v4().simple());
    let to = value(&form, "To").unwrap().to_owned();
    let call = Call {
        to: to.clone(),
        from: value(&form, "From").unwrap().to_owned(),
        status_callback: value(&form, "StatusCallback").map(str::to_owned),
        amd_callback: value(&form, "AsyncAmdStatusCallback").map(str::to_owned),
        sequence: 0,
        fetches: 0,
        ended: false,
    };
    state
        .calls
        .lock()
        .unwrap()
        .insert(sid.clone(), call.clone());
    let script = state.scripts.lock().unwrap().get(&to).cloned();
    if let Some(script) = script {
        let state = Arc::clone(&state);
        let sid = sid.clone();
        tokio::spawn(async move {
            for cb in script {
                tokio::time::sleep(Duration::from_millis(cb.after_ms)).await;
                send_callback(&state, &sid, cb.amd, cb.fields).await;
            }
        });
    }
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        json!({
            "sid": sid, "account_sid": ACCOUNT_SID, "to": call.to, "from": call.from,
            "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
            "price": null, "price_unit": "USD", "duration": null, "answered_by": null,
            "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json"),
        })
        .to_string(),
    )
        .into_response()
}

/// Send one callback about `sid`, with Twilio's standard parameters, signed over the URL
/// the create request gave.
async fn send_callback(state: &MockState, sid: &str, amd: bool, fields: Vec<(String, String)>) {
    let (url, mut params) = {
        let mut calls = state.calls.lock().unwrap();
        let Some(call) = calls.get_mut(sid) else {
            return;
        };
        let url = if amd {
            call.amd_callback.clone()
        } else {
            call.status_callback.clone()
        };
        let Some(url) = url else { return };
        let mut params = vec![
            ("AccountSid".to_owned(), ACCOUNT_SID.to_owned()),
            ("CallSid".to_owned(), sid.to_owned()),
        ];
        if !amd {
            params.extend([
                ("From".to_owned(), call.from.clone()),
                ("To".to_owned(), call.to.clone()),
                ("Direction".to_owned(), "outbound-api".to_owned()),
                ("ApiVersion".to_owned(), "2010-04-01".to_owned()),
                (
                    "CallbackSource".to_owned(),
                    "call-progress-events".to_owned(),
                ),
                ("SequenceNumber".to_owned(), call.sequence.to_string()),
                ("Timestamp".to_owned(), chrono_like_now()),
            ]);
            call.sequence += 1;
        }
        (url, params)
    };
    params.extend(fields);
    let signature = twilio_sign(AUTH_TOKEN, &url, &params);
    let status = state
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .header(
            "i-twilio-idempotency-token",
            uuid::Uuid::new_v4().to_string(),
        )
        .body(form_body(&params))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    state.callback_answers.lock().unwrap().push(status);
}

/// Now in RFC 2822, as Twilio's `Timestamp` parameter.
fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    httpdate(secs)
}

/// RFC 2822 date for a Unix time (UTC).
fn httpdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn call_sid(file: &str) -> Option<&str> {
    file.strip_suffix(".json")
}

/// `POST …/Calls/{sid}.json`: `Status=completed` (or `canceled`) ends the call, and
/// Twilio then reports it `completed`.
async fn update(
    State(state): State<Arc<MockState>>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&headers, &account) {
        return twilio_error(401, 20003, "Authenticate");
    }
    let Some(sid) = call_sid(&file).map(str::to_owned) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    let form = parse_form(&body);
    let end = {
        let mut calls = state.calls.lock().unwrap();
        let Some(call) = calls.get_mut(&sid) else {
            return twilio_error(404, 20404, "The requested resource was not found");
        };
        state
            .updates
            .lock()
            .unwrap()
            .push((sid.clone(), form.clone()));
        let status = value(&form, "Status");
        if !matches!(status, Some("completed" | "canceled")) {
            return twilio_error(400, 21218, "Invalid Status");
        }
        let first = !call.ended;
        call.ended = true;
        first
    };
    if end {
        let state = Arc::clone(&state);
        let sid = sid.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            send_callback(
                &state,
                &sid,
                false,
                vec![
                    ("CallStatus".to_owned(), "completed".to_owned()),
                    ("CallDuration".to_owned(), "4".to_owned()),
                ],
            )
            .await;
        });
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({"sid": sid, "status": "completed"}).to_string(),
    )
        .into_response()
}

/// `GET …/Calls/{sid}.json`: the call, priced after the first fetches.
async fn fetch(
    State(state): State<Arc<MockState>>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers, &account) {
        return twilio_error(401, 20003, "Authenticate");
    }
    let Some(sid) = call_sid(&file) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    let mut calls = state.calls.lock().unwrap();
    let Some(call) = calls.get_mut(sid) else {
        return twilio_error(404, 20404, "The requested resource was not found");
    };
    call.fetches += 1;
    let price = if call.fetches > state.unpriced_fetches {
        json!("-0.01300")
    } else {
        json!(null)
    };
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({
            "sid": sid, "account_sid": ACCOUNT_SID, "to": call.to, "from": call.from,
            "status": "completed", "price": price, "price_unit": "USD", "duration": "4",
        })
        .to_string(),
    )
        .into_response()
}

#[test]
fn the_mock_writes_rfc_2822_dates() {
    assert_eq!(httpdate(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    assert_eq!(httpdate(1_795_688_100), "Thu, 26 Nov 2026 10:15:00 +0000");
}
