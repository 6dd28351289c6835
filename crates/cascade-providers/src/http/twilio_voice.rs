//! Voice calls through Twilio's Calls API (`POST /2010-04-01/Accounts/{sid}/Calls.json`).
//!
//! A Voice step becomes one call whose inline TwiML says and plays the dial plan's verbs
//! in order. Twilio posts the call's progress (form-encoded, signed with
//! `X-Twilio-Signature`) to `/webhooks/{name}`, which Cascade passes as `StatusCallback`
//! with every call, so nothing needs registering in Twilio's console. With machine
//! detection `Hangup` the answering-machine result comes asynchronously to the same URL
//! and, when a machine answered, Cascade ends the call itself. Twilio puts no price in its
//! callbacks: after a call ends the adapter fetches the call for it and notes it in the
//! step's timeline.
//!
//! Twilio has no idempotency key for creating calls: a request whose answer was lost and
//! that is sent again may place a second call (at-least-once, as with Vonage).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use subtle::ConstantTimeEq;

use cascade_core::flow::{AnsweredBy, Gender, MachineDetection, Verb, VoiceStep};
use cascade_core::machines::Report;
use cascade_core::ports::{
    Accepted, Provider, ReportSink, SubmitError, SubmitRequest, WebhookError, WebhookItem,
    WebhookReceiver, WebhookRequest,
};
use cascade_core::{Clock, StatusKind, Timestamp, reasons};

use super::client::HttpClient;
use super::settings::{Common, ProviderSettings};
pub use super::voice::DEFAULT_SUBMIT_WINDOW;
use super::voice::{CallMemory, voice_step_in_window};
use super::{provider_time, webhook_url};

/// Twilio refuses a `Twiml` parameter longer than this.
pub const TWIML_LIMIT: usize = 4000;
/// Waits between fetches of a finished call while Twilio has no price for it yet.
const PRICE_WAITS_MS: &[u64] = &[500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000];

/// See the module documentation.
pub struct TwilioVoice {
    common: Common,
    client: HttpClient,
    api: Api,
    auth_token: SecretString,
    webhook_url: String,
    submit_window: Duration,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn ReportSink>,
    calls: CallMemory<CallNote>,
}

impl std::fmt::Debug for TwilioVoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioVoice")
            .field("name", &self.common.name)
            .field("base_url", &self.common.base_url)
            .finish_non_exhaustive()
    }
}

/// What the follow-up requests (hang up, fetch the price) need; cheap to clone into a
/// task. They are not paced by the section's throughput cap, which is about creating
/// calls.
#[derive(Clone)]
struct Api {
    name: String,
    client: reqwest::Client,
    /// `{base}/2010-04-01/Accounts/{AccountSid}/Calls`.
    calls_url: String,
    account_sid: String,
    auth_token: SecretString,
}

impl Api {
    fn call_url(&self, sid: &str) -> String {
        format!("{}/{sid}.json", self.calls_url)
    }

    /// End a call a machine answered (`Status=completed`); a few tries, then give up
    /// loudly (the call then ends by itself when the dial plan is over).
    async fn hang_up(self, sid: String) {
        for attempt in 1..=3u64 {
            let result = self
                .client
                .post(self.call_url(&sid))
                .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body("Status=completed")
                .send()
                .await;
            match result {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => {
                    tracing::warn!(target: "cascade::providers", provider = %self.name, call = %sid, status = r.status().as_u16(), "hanging up a call a machine answered failed");
                }
                Err(e) => {
                    tracing::warn!(target: "cascade::providers", provider = %self.name, call = %sid, error = %e, "hanging up a call a machine answered failed");
                }
            }
            tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
        }
        tracing::error!(target: "cascade::providers", provider = %self.name, call = %sid, "could not hang up a call a machine answered");
    }

    /// Fetch a finished call until Twilio has priced it, then note the price.
    async fn fetch_price(self, sid: String, sink: Arc<dyn ReportSink>) {
        for wait in PRICE_WAITS_MS {
            tokio::time::sleep(Duration::from_millis(*wait)).await;
            let answer = self
                .client
                .get(self.call_url(&sid))
                .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await;
            let body = match answer {
                Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
                Ok(r) => {
                    tracing::debug!(target: "cascade::providers", provider = %self.name, call = %sid, status = r.status().as_u16(), "fetching a call's price");
                    continue;
                }
                Err(e) => {
                    tracing::debug!(target: "cascade::providers", provider = %self.name, call = %sid, error = %e, "fetching a call's price");
                    continue;
                }
            };
            let Some(price) = price_of(&body) else {
                continue;
            };
            match sink.note_price(&self.name, &sid, &price).await {
                Ok(true) => return,
                // The call's id is not recorded yet (its callbacks overtook the submit
                // answer): try again.
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(target: "cascade::providers", provider = %self.name, call = %sid, error = %e, "could not note a call's price");
                }
            }
        }
        tracing::info!(target: "cascade::providers", provider = %self.name, call = %sid, "no price for the call; gave up asking");
    }
}

/// `"<price> <price_unit>"` from a Call resource, when Twilio has priced it (`price` is
/// null until then; a string like `"-0.01300"`, sometimes a number).
fn price_of(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let amount = match v.get("price")? {
        Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let unit = v.get("price_unit").and_then(Value::as_str).unwrap_or("");
    Some(format!("{amount} {unit}").trim().to_owned())
}

/// What Cascade remembers about a call between its callbacks: the machine-detection
/// result (the engine ignores a report whose status does not change, so the result is
/// carried into the final report), whether Cascade hung up because a machine answered
/// (the `completed` that follows is then `NoAnswer`), and whether its price is being
/// fetched already.
#[derive(Debug, Default, Clone, Copy)]
struct CallNote {
    answered_by: Option<AnsweredBy>,
    hung_up_for_machine: bool,
    price_asked: bool,
}

impl TwilioVoice {
    /// # Errors
    /// When `settings` is not a Twilio Voice section or its client cannot be set up.
    pub fn new(
        settings: &ProviderSettings,
        public_url: &str,
        clock: Arc<dyn Clock>,
        sink: Arc<dyn ReportSink>,
    ) -> Result<Self, String> {
        let ProviderSettings::TwilioVoice {
            common,
            account_sid,
            auth_token,
        } = settings
        else {
            return Err("not a twilio-voice section".into());
        };
        let client = HttpClient::new(common)?;
        let api = Api {
            name: common.name.clone(),
            client: client.reqwest().clone(),
            calls_url: format!(
                "{}/2010-04-01/Accounts/{account_sid}/Calls",
                common.base_url
            ),
            account_sid: account_sid.clone(),
            auth_token: auth_token.clone(),
        };
        Ok(TwilioVoice {
            client,
            api,
            webhook_url: webhook_url(public_url, &common.name),
            common: common.clone(),
            auth_token: auth_token.clone(),
            submit_window: DEFAULT_SUBMIT_WINDOW,
            clock,
            sink,
            calls: CallMemory::default(),
        })
    }

    /// Place calls only within `window` of their step starting.
    #[must_use]
    pub fn with_submit_window(mut self, window: Duration) -> Self {
        self.submit_window = window;
        self
    }

    /// The form of a create-call request (reference §7.3).
    fn form(&self, step: &VoiceStep, to: &str, twiml: &str) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", to)
            .append_pair("From", step.from.as_ref())
            .append_pair("Twiml", twiml)
            .append_pair("StatusCallback", &self.webhook_url)
            .append_pair("StatusCallbackMethod", "POST");
        for event in ["initiated", "ringing", "answered", "completed"] {
            form.append_pair("StatusCallbackEvent", event);
        }
        match step.machine_detection {
            Some(MachineDetection::Hangup) => {
                form.append_pair("MachineDetection", "Enable")
                    .append_pair("AsyncAmd", "true")
                    .append_pair("AsyncAmdStatusCallback", &self.webhook_url)
                    .append_pair("AsyncAmdStatusCallbackMethod", "POST");
            }
            Some(MachineDetection::Continue) => {
                form.append_pair("MachineDetection", "DetectMessageEnd");
            }
            None => {}
        }
        form.finish()
    }
}

/// The `To` of a call: the phone number, else the SIP address. A call to a Viber user is
/// not something Twilio places.
fn destination(provider: &str, step: &VoiceStep) -> Result<String, SubmitError> {
    if let Some(phone) = &step.to.phone {
        return Ok(phone.to_string());
    }
    if let Some(sip) = &step.to.sip {
        return Ok(format!("sip:{}", sip.as_ref()));
    }
    Err(SubmitError::from(reasons::unsupported_by_provider(
        provider,
        "a Viber call",
    )))
}

/// Twilio's voice for a (language, gender) of the spec's fourteen. Amazon Polly voices
/// where Polly speaks the language; Google voices for Greek, Bulgarian and Hungarian,
/// which Polly does not. Where only one gender is offered for a language (as far as the
/// published voice lists show; unverified against a live account), that voice is used for
/// both. `es-LA` (Latin American Spanish) is spoken with the US Spanish voices.
/// Returns (voice, language attribute).
pub fn voice_for(language: &str, gender: Gender) -> Option<(&'static str, &'static str)> {
    let (female, male, lang) = match language {
        "en-US" => ("Polly.Joanna", "Polly.Matthew", "en-US"),
        "en-GB" => ("Polly.Amy", "Polly.Brian", "en-GB"),
        "de-DE" => ("Polly.Marlene", "Polly.Hans", "de-DE"),
        "fr-FR" => ("Polly.Celine", "Polly.Mathieu", "fr-FR"),
        "it-IT" => ("Polly.Carla", "Polly.Giorgio", "it-IT"),
        "pt-BR" => ("Polly.Camila", "Polly.Ricardo", "pt-BR"),
        "es-ES" => ("Polly.Conchita", "Polly.Enrique", "es-ES"),
        "es-LA" => ("Polly.Penelope", "Polly.Miguel", "es-US"),
        "el-GR" => (
            "Google.el-GR-Standard-A",
            "Google.el-GR-Standard-A",
            "el-GR",
        ),
        "bg-BG" => (
            "Google.bg-BG-Standard-A",
            "Google.bg-BG-Standard-A",
            "bg-BG",
        ),
        "pl-PL" => ("Polly.Ewa", "Polly.Jacek", "pl-PL"),
        "hu-HU" => (
            "Google.hu-HU-Standard-A",
            "Google.hu-HU-Standard-A",
            "hu-HU",
        ),
        "sv-SE" => ("Polly.Astrid", "Polly.Astrid", "sv-SE"),
        "ru-RU" => ("Polly.Tatyana", "Polly.Maxim", "ru-RU"),
        _ => return None,
    };
    Some((
        match gender {
            Gender::Female => female,
            Gender::Male => male,
        },
        lang,
    ))
}

/// Text and attribute values for XML.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The dial plan as TwiML: one `<Say>` or `<Play>` per verb, in order. A verb's `repeat`
/// is its `loop`, at least 1 (Twilio's `loop="0"` means "until hang-up"). `bargeIn` has no
/// TwiML of its own without `<Gather>` and is not rendered.
///
/// # Errors
/// A language without a voice (the API refuses those before they get here).
pub fn twiml(verbs: &[Verb]) -> Result<String, String> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
    for verb in verbs {
        match verb {
            Verb::Say {
                text,
                language,
                gender,
                repeat,
                ..
            } => {
                let (voice, lang) = voice_for(language, *gender)
                    .ok_or_else(|| format!("no voice for language {language}"))?;
                out.push_str(&format!(
                    "<Say voice=\"{voice}\" language=\"{lang}\" loop=\"{}\">{}</Say>",
                    (*repeat).max(1),
                    xml_escape(text)
                ));
            }
            Verb::Play {
                file_url, repeat, ..
            } => {
                out.push_str(&format!(
                    "<Play loop=\"{}\">{}</Play>",
                    (*repeat).max(1),
                    xml_escape(file_url)
                ));
            }
        }
    }
    out.push_str("</Response>");
    Ok(out)
}

/// The text of a Twilio error body `{code, message, more_info, status}` (or the newer
/// `{title, detail, code}`).
fn error_text(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let message = v
        .get("message")
        .or_else(|| v.get("detail"))
        .or_else(|| v.get("title"))
        .and_then(Value::as_str)?;
    Some(match v.get("code").filter(|c| !c.is_null()) {
        Some(Value::String(code)) => format!("{code} {message}"),
        Some(code) => format!("{code} {message}"),
        None => message.to_owned(),
    })
}

#[async_trait]
impl Provider for TwilioVoice {
    fn name(&self) -> &str {
        &self.common.name
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let step = voice_step_in_window(
            &self.common.name,
            request,
            self.clock.now(),
            self.submit_window,
        )?;
        let to = destination(&self.common.name, step)?;
        let twiml = twiml(&step.dial_plan).map_err(|e| {
            SubmitError::from(reasons::unsupported_by_provider(&self.common.name, e))
        })?;
        if twiml.chars().count() > TWIML_LIMIT {
            return Err(SubmitError::from(reasons::dial_plan_too_long(
                &self.common.name,
                TWIML_LIMIT,
            )));
        }
        let http = self
            .client
            .reqwest()
            .post(format!("{}.json", self.api.calls_url))
            .basic_auth(&self.api.account_sid, Some(self.auth_token.expose_secret()))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(self.form(step, &to, &twiml));
        let answer = self.client.send(http, error_text).await?;
        let v: Value = serde_json::from_str(&answer.body).map_err(|e| SubmitError::Ambiguous {
            reason: format!("{}: the answer is not JSON: {e}", self.common.name),
        })?;
        let sid = v
            .get("sid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SubmitError::Ambiguous {
                reason: format!("{}: an answer without a call sid", self.common.name),
            })?;
        Ok(Accepted {
            provider: self.common.name.clone(),
            message_ids: vec![sid.to_owned(); request.payload.message_ids.len().max(1)],
        })
    }
}

/// `X-Twilio-Signature` for a form POST to `url`: base64 of HMAC-SHA1 keyed by the auth
/// token over the URL followed by every parameter's name and value, sorted by name and
/// then value (byte order).
pub fn signature(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The URL as Twilio may have signed it: as given, and with the scheme's default port
/// written out or left out (Twilio's own validators try both).
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let with_port = format!(":{default}");
    if let Some(host) = authority.strip_suffix(&with_port) {
        out.push(format!("{scheme}://{host}{path}"));
    } else if !authority.contains(':') || authority.ends_with(']') {
        out.push(format!("{scheme}://{authority}{with_port}{path}"));
    }
    out
}

/// A `CallStatus` as Cascade's status and reason (reference §7.4). `hung_up_for_machine`:
/// Cascade ended the call because a machine answered (then `completed` is `NoAnswer`).
/// `None`: not a status Cascade knows.
pub fn map_status(
    provider: &str,
    call_status: &str,
    hung_up_for_machine: bool,
    sip_code: Option<&str>,
) -> Option<(StatusKind, Option<reasons::Reason>)> {
    Some(match call_status {
        "queued" => (StatusKind::Queued, None),
        "initiated" => (StatusKind::Initiated, None),
        "ringing" => (StatusKind::Ringing, None),
        // `answered` is the event's name; Twilio reports it as `in-progress`.
        "in-progress" | "answered" => (StatusKind::InProgress, None),
        "completed" if hung_up_for_machine => {
            (StatusKind::NoAnswer, Some(reasons::answered_by_machine()))
        }
        "completed" => (StatusKind::Completed, None),
        "busy" => (StatusKind::Busy, None),
        "no-answer" => (StatusKind::NoAnswer, None),
        "failed" => (
            StatusKind::Failed,
            Some(reasons::call_failed(provider, sip_code)),
        ),
        "canceled" => (StatusKind::Failed, Some(reasons::call_canceled(provider))),
        _ => return None,
    })
}

/// An `AnsweredBy` value as Cascade's (reference §3.3): fax and every machine variant are
/// a machine.
pub fn map_answered_by(value: &str) -> Option<AnsweredBy> {
    match value {
        "human" => Some(AnsweredBy::Human),
        "unknown" => Some(AnsweredBy::Unknown),
        "fax" => Some(AnsweredBy::Machine),
        v if v.starts_with("machine") => Some(AnsweredBy::Machine),
        _ => None,
    }
}

/// Twilio's `Timestamp` (RFC 2822), or any of the other forms providers use.
fn callback_time(text: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|t| Timestamp::from_millis(t.timestamp_millis()))
        .or_else(|| provider_time(text))
}

impl TwilioVoice {
    fn verify(&self, request: &WebhookRequest, params: &[(String, String)]) -> bool {
        let Some(given) = request.header("x-twilio-signature") else {
            return false;
        };
        let key = self.auth_token.expose_secret().as_bytes();
        url_variants(&request.public_url).iter().any(|url| {
            let expected = signature(key, url, params);
            bool::from(expected.as_bytes().ct_eq(given.trim().as_bytes()))
        })
    }

    /// Start a task on the runtime the webhook is served on. The receiver is synchronous;
    /// outside a runtime (unit tests) the follow-up is skipped, loudly.
    fn spawn(&self, what: &str, task: impl std::future::Future<Output = ()> + Send + 'static) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(task);
            }
            Err(_) => {
                tracing::warn!(target: "cascade::providers", provider = %self.common.name, what, "no runtime to run a follow-up request on");
            }
        }
    }
}

impl WebhookReceiver for TwilioVoice {
    fn name(&self) -> &str {
        &self.common.name
    }

    fn receive(
        &self,
        request: &WebhookRequest,
        now: Timestamp,
    ) -> Result<Vec<WebhookItem>, WebhookError> {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if !self.verify(request, &params) {
            return Err(WebhookError::Unauthorized(
                "X-Twilio-Signature missing or wrong".into(),
            ));
        }
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let sid = param("CallSid")
            .ok_or_else(|| WebhookError::Malformed("no CallSid".into()))?
            .to_owned();
        let at = param("Timestamp").and_then(callback_time).unwrap_or(now);
        let answered_by = param("AnsweredBy").and_then(map_answered_by);

        let Some(call_status) = param("CallStatus") else {
            // The asynchronous machine-detection result. Only calls whose strategy is
            // `Hangup` ask for it (see `form`), so a machine here means: end the call.
            let Some(answered_by) = answered_by else {
                return Ok(vec![WebhookItem::Ignored {
                    what: format!("a callback without CallStatus or a known AnsweredBy for {sid}"),
                }]);
            };
            let hang_up = {
                let mut memory = self.calls.lock();
                let note = memory.note(&sid);
                note.answered_by = Some(answered_by);
                let first = !note.hung_up_for_machine;
                if answered_by == AnsweredBy::Machine {
                    note.hung_up_for_machine = true;
                }
                answered_by == AnsweredBy::Machine && first
            };
            if hang_up {
                self.spawn("hang up", self.api.clone().hang_up(sid.clone()));
            }
            // Machine detection runs once the call is answered: in progress, with who
            // answered (kept for the final report too, as an unchanged status is
            // ignored).
            let mut report = Report::status(StatusKind::InProgress, at);
            report.answered_by = Some(answered_by);
            return Ok(vec![WebhookItem::Report {
                provider_message_ids: vec![sid],
                report,
            }]);
        };

        let (remembered, hung_up_for_machine, ask_price) = {
            let mut memory = self.calls.lock();
            let note = memory.note(&sid);
            if answered_by.is_some() {
                note.answered_by = answered_by;
            }
            (
                note.answered_by,
                note.hung_up_for_machine,
                !note.price_asked,
            )
        };
        let Some((status, reason)) = map_status(
            &self.common.name,
            call_status,
            hung_up_for_machine,
            param("SipResponseCode"),
        ) else {
            return Ok(vec![WebhookItem::Ignored {
                what: format!("CallStatus {call_status:?}"),
            }]);
        };
        let mut report = Report::status(status, at);
        if let Some(reason) = reason {
            report.detailed_status = Some(reason.detailed_status);
            report.description = Some(reason.description);
        }
        report.answered_by = remembered;
        if status.is_final() {
            report.duration_s = param("CallDuration").and_then(|d| d.trim().parse().ok());
            if ask_price {
                self.calls.lock().note(&sid).price_asked = true;
                self.spawn(
                    "fetch the price",
                    self.api
                        .clone()
                        .fetch_price(sid.clone(), Arc::clone(&self.sink)),
                );
            }
        }
        Ok(vec![WebhookItem::Report {
            provider_message_ids: vec![sid],
            report,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::voice::say;

    /// (CallStatus, hung up for a machine, expected status and detailed status).
    type Case = (
        &'static str,
        bool,
        Option<(StatusKind, Option<&'static str>)>,
    );

    const STATUSES: [Case; 12] = [
        ("queued", false, Some((StatusKind::Queued, None))),
        ("initiated", false, Some((StatusKind::Initiated, None))),
        ("ringing", false, Some((StatusKind::Ringing, None))),
        ("in-progress", false, Some((StatusKind::InProgress, None))),
        ("answered", false, Some((StatusKind::InProgress, None))),
        ("completed", false, Some((StatusKind::Completed, None))),
        (
            "completed",
            true,
            Some((StatusKind::NoAnswer, Some("Answered by machine"))),
        ),
        ("busy", false, Some((StatusKind::Busy, None))),
        ("no-answer", false, Some((StatusKind::NoAnswer, None))),
        (
            "failed",
            false,
            Some((StatusKind::Failed, Some("Call Failed"))),
        ),
        (
            "canceled",
            false,
            Some((StatusKind::Failed, Some("Canceled"))),
        ),
        ("exploded", false, None),
    ];

    #[test]
    fn every_call_status_maps_as_the_reference_says() {
        for (status, machine, expected) in STATUSES {
            let got = map_status("tw", status, machine, None)
                .map(|(s, r)| (s, r.map(|r| r.detailed_status)));
            assert_eq!(
                got,
                expected.map(|(s, d)| (s, d.map(str::to_owned))),
                "{status} machine={machine}"
            );
        }
        let (_, reason) = map_status("tw", "failed", false, Some("404")).unwrap();
        assert_eq!(
            reason.unwrap().description,
            "tw could not place the call (SIP 404)."
        );
    }

    #[test]
    fn answered_by_values_collapse_to_human_machine_unknown() {
        for (value, expected) in [
            ("human", Some(AnsweredBy::Human)),
            ("machine_start", Some(AnsweredBy::Machine)),
            ("machine_end_beep", Some(AnsweredBy::Machine)),
            ("machine_end_silence", Some(AnsweredBy::Machine)),
            ("machine_end_other", Some(AnsweredBy::Machine)),
            ("fax", Some(AnsweredBy::Machine)),
            ("unknown", Some(AnsweredBy::Unknown)),
            ("robot", None),
        ] {
            assert_eq!(map_answered_by(value), expected, "{value}");
        }
    }

    /// The signature computed independently: the string to sign written out by hand and
    /// fed to HMAC-SHA1 in one piece.
    #[test]
    fn the_signature_is_hmac_sha1_over_the_url_and_sorted_pairs() {
        let url = "https://cascade.example.com/webhooks/twilio";
        let params = vec![
            ("To".to_owned(), "+306912345678".to_owned()),
            ("CallStatus".to_owned(), "ringing".to_owned()),
            ("CallSid".to_owned(), "CA0123".to_owned()),
            ("Event".to_owned(), "b".to_owned()),
            ("Event".to_owned(), "a".to_owned()),
        ];
        let by_hand = "https://cascade.example.com/webhooks/twilioCallSidCA0123CallStatusringingEventaEventbTo+306912345678";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"secret-token").unwrap();
        mac.update(by_hand.as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(signature(b"secret-token", url, &params), expected);
        assert_ne!(signature(b"other-token", url, &params), expected);
        // RFC 2202 test case 2 pins the primitive itself.
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            signature(b"Jefe", "what do ya want for nothing?", &[]),
            base64::engine::general_purpose::STANDARD
                .encode(hex::decode("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79").unwrap())
        );
    }

    #[test]
    fn urls_are_tried_with_and_without_the_default_port() {
        assert_eq!(
            url_variants("https://c.example.com/webhooks/tw"),
            vec![
                "https://c.example.com/webhooks/tw",
                "https://c.example.com:443/webhooks/tw"
            ]
        );
        assert_eq!(
            url_variants("https://c.example.com:443/webhooks/tw"),
            vec![
                "https://c.example.com:443/webhooks/tw",
                "https://c.example.com/webhooks/tw"
            ]
        );
        assert_eq!(
            url_variants("http://127.0.0.1:8080/webhooks/tw"),
            vec!["http://127.0.0.1:8080/webhooks/tw"]
        );
    }

    #[test]
    fn twiml_says_and_plays_in_order_escaped_with_loops() {
        let verbs = vec![
            say("Tom & Jerry <3 \"quotes\"", "en-GB", Gender::Male, 2),
            Verb::Play {
                file_url: "https://example.com/a.mp3?x=1&y=2".into(),
                repeat: 0,
                barge_in: true,
            },
            say("Γεια σας", "el-GR", Gender::Female, 0),
        ];
        assert_eq!(
            twiml(&verbs).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Say voice=\"Polly.Brian\" language=\"en-GB\" loop=\"2\">Tom &amp; Jerry &lt;3 &quot;quotes&quot;</Say>\
             <Play loop=\"1\">https://example.com/a.mp3?x=1&amp;y=2</Play>\
             <Say voice=\"Google.el-GR-Standard-A\" language=\"el-GR\" loop=\"1\">Γεια σας</Say>\
             </Response>"
        );
        assert!(twiml(&[say("x", "xx-XX", Gender::Male, 1)]).is_err());
    }

    #[test]
    fn every_language_of_the_spec_has_a_voice_of_each_gender() {
        for language in [
            "en-US", "en-GB", "de-DE", "fr-FR", "it-IT", "pt-BR", "es-ES", "es-LA", "el-GR",
            "bg-BG", "pl-PL", "hu-HU", "sv-SE", "ru-RU",
        ] {
            for gender in [Gender::Male, Gender::Female] {
                let (voice, lang) = voice_for(language, gender).expect(language);
                assert!(
                    voice.starts_with("Polly.") || voice.starts_with("Google."),
                    "{voice}"
                );
                assert_eq!(lang.len(), 5, "{lang}");
            }
        }
        assert_eq!(
            voice_for("en-US", Gender::Female),
            Some(("Polly.Joanna", "en-US"))
        );
    }

    #[test]
    fn price_is_read_once_twilio_has_it() {
        assert_eq!(
            price_of(r#"{"sid":"CA1","price":null,"price_unit":"USD"}"#),
            None
        );
        assert_eq!(
            price_of(r#"{"sid":"CA1","price":"-0.01300","price_unit":"USD"}"#).as_deref(),
            Some("-0.01300 USD")
        );
        assert_eq!(
            price_of(r#"{"price":-0.005,"price_unit":"USD"}"#).as_deref(),
            Some("-0.005 USD")
        );
    }

    #[test]
    fn both_error_shapes_are_read() {
        assert_eq!(
            error_text(r#"{"code":21211,"message":"Invalid 'To' Phone Number","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#).as_deref(),
            Some("21211 Invalid 'To' Phone Number")
        );
        assert_eq!(
            error_text(r#"{"type":"x","title":"Bad","status":400,"code":20001,"detail":"Bad To"}"#)
                .as_deref(),
            Some("20001 Bad To")
        );
        assert_eq!(error_text("<html>"), None);
    }

    #[test]
    fn callback_timestamps_are_rfc_2822() {
        assert_eq!(
            callback_time("Thu, 26 Nov 2026 10:15:00 +0000"),
            Some(Timestamp::parse("2026-11-26T10:15:00Z").unwrap())
        );
    }
}
