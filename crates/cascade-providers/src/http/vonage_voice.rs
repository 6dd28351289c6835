//! Voice calls through the Vonage Voice API (`POST /v1/calls`).
//!
//! A Voice step becomes one call whose inline NCCO says and plays the dial plan's verbs in
//! order. Cascade authenticates with the application's RS256 JWT (the only scheme the
//! Voice API takes) and passes `event_url = <public URL>/webhooks/{name}` with every call,
//! so nothing needs registering. Vonage posts the call's events there as JSON, signed
//! with an HS256 JWT in `Authorization: Bearer` (keyed by the signature secret, with the
//! body's SHA-256 as `payload_hash`): both are checked. With machine detection `Hangup`
//! Vonage itself ends a call a machine answered; its `completed` is then `NoAnswer`.
//! `completed` carries the call's duration and what Vonage charged (EUR).
//!
//! Vonage has no idempotency key for creating calls: a request whose answer was lost and
//! that is sent again may place a second call (at-least-once, as with Twilio).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::{DecodingKey, EncodingKey};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use cascade_core::flow::{AnsweredBy, Gender, MachineDetection, Verb, VoiceStep};
use cascade_core::machines::Report;
use cascade_core::ports::{
    Accepted, Provider, SubmitError, SubmitRequest, WebhookError, WebhookItem, WebhookReceiver,
    WebhookRequest,
};
use cascade_core::{Clock, StatusKind, Timestamp, reasons};

use super::client::HttpClient;
use super::settings::{Common, ProviderSettings};
use super::voice::{CallMemory, DEFAULT_SUBMIT_WINDOW, voice_step_in_window};
use super::{provider_time, vonage_auth, webhook_url};

/// See the module documentation.
pub struct VonageVoice {
    common: Common,
    client: HttpClient,
    application_id: String,
    key: EncodingKey,
    signature_key: DecodingKey,
    event_url: String,
    submit_window: Duration,
    clock: Arc<dyn Clock>,
    calls: CallMemory<CallNote>,
}

impl std::fmt::Debug for VonageVoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VonageVoice")
            .field("name", &self.common.name)
            .field("base_url", &self.common.base_url)
            .finish_non_exhaustive()
    }
}

/// What Cascade remembers about a call between its events: whether its machine detection
/// says `Hangup` (noted when the call is placed), and who answered (the engine ignores a
/// report whose status does not change, so a `human`/`machine` result that comes after
/// `answered` is carried into the final report). Lost on a restart, in which case the
/// call's final status is reported as Vonage sends it.
#[derive(Debug, Default, Clone, Copy)]
struct CallNote {
    hangup_on_machine: bool,
    answered_by: Option<AnsweredBy>,
}

impl VonageVoice {
    /// # Errors
    /// When `settings` is not a Vonage Voice section, or its key or client cannot be set
    /// up.
    pub fn new(
        settings: &ProviderSettings,
        public_url: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let ProviderSettings::VonageVoice {
            common,
            application_id,
            key,
            signature_secret,
        } = settings
        else {
            return Err("not a vonage-voice section".into());
        };
        Ok(VonageVoice {
            client: HttpClient::new(common)?,
            application_id: application_id.clone(),
            key: EncodingKey::from_rsa_pem(key.expose_secret().as_bytes())
                .map_err(|e| format!("{}: private key: {e}", common.name))?,
            signature_key: vonage_auth::signature_key(
                &common.name,
                signature_secret.expose_secret(),
            )?,
            event_url: webhook_url(public_url, &common.name),
            common: common.clone(),
            submit_window: DEFAULT_SUBMIT_WINDOW,
            clock,
            calls: CallMemory::default(),
        })
    }

    /// Place calls only within `window` of their step starting.
    #[must_use]
    pub fn with_submit_window(mut self, window: Duration) -> Self {
        self.submit_window = window;
        self
    }

    /// The create-call request for a Voice step (reference §4.1, §7.3).
    ///
    /// # Errors
    /// What Vonage cannot do: a call to a Viber user, a caller id that is not a number, a
    /// language it has no voice for.
    pub fn body(&self, step: &VoiceStep) -> Result<Value, SubmitError> {
        let unsupported = |what: String| {
            SubmitError::from(reasons::unsupported_by_provider(&self.common.name, what))
        };
        let to = if let Some(phone) = &step.to.phone {
            json!({"type": "phone", "number": phone.digits()})
        } else if let Some(sip) = &step.to.sip {
            let uri = sip.as_ref();
            let uri = if uri.starts_with("sip:") {
                uri.to_owned()
            } else {
                format!("sip:{uri}")
            };
            json!({"type": "sip", "uri": uri})
        } else {
            return Err(unsupported("a Viber call".into()));
        };
        let from = step.from.as_ref();
        let from = from.strip_prefix('+').unwrap_or(from);
        if from.is_empty() || !from.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unsupported(format!(
                "the caller id {from:?} (Vonage calls from a number)"
            )));
        }
        let mut body = json!({
            "to": [to],
            "from": {"type": "phone", "number": from},
            "ncco": ncco(&step.dial_plan).map_err(unsupported)?,
            "event_url": [self.event_url],
            "event_method": "POST",
        });
        match step.machine_detection {
            Some(MachineDetection::Hangup) => body["machine_detection"] = json!("hangup"),
            Some(MachineDetection::Continue) => body["machine_detection"] = json!("continue"),
            None => {}
        }
        Ok(body)
    }
}

/// Vonage's language and voice style for a (language, gender) of the spec's fourteen.
/// Vonage has no gender field: each language has numbered styles (reference §4.1). Style
/// 0 is Vonage's default; where a language offers more than one style the table takes 1
/// for the other gender. Which style is which gender is not published in the sources
/// read, so these numbers are unverified against a live account; a language with one
/// style uses it for both. `es-LA` (Latin American Spanish) is spoken as Mexican Spanish.
/// `bg-BG` is not in Vonage's language list (reference §9 item 9): `None`.
pub fn voice_for(language: &str, gender: Gender) -> Option<(&'static str, u8)> {
    let (lang, female, male) = match language {
        "en-US" => ("en-US", 0, 1),
        "en-GB" => ("en-GB", 0, 1),
        "de-DE" => ("de-DE", 0, 1),
        "fr-FR" => ("fr-FR", 0, 1),
        "it-IT" => ("it-IT", 0, 1),
        "pt-BR" => ("pt-BR", 0, 1),
        "es-ES" => ("es-ES", 0, 1),
        "es-LA" => ("es-MX", 0, 1),
        "el-GR" => ("el-GR", 0, 0),
        "pl-PL" => ("pl-PL", 0, 1),
        "hu-HU" => ("hu-HU", 0, 0),
        "sv-SE" => ("sv-SE", 0, 0),
        "ru-RU" => ("ru-RU", 0, 1),
        _ => return None,
    };
    Some((
        lang,
        match gender {
            Gender::Female => female,
            Gender::Male => male,
        },
    ))
}

/// The dial plan as an NCCO: one `talk` per SAY and one `stream` per PLAY, in order. A
/// verb's `repeat` is its `loop`, at least 1 (Vonage's `loop: 0` means "until hang-up").
/// `bargeIn` only means something before an `input` action, which Cascade's dial plans
/// do not have, so it is not rendered.
///
/// # Errors
/// A language Vonage has no voice for, named.
pub fn ncco(verbs: &[Verb]) -> Result<Value, String> {
    let mut actions = Vec::with_capacity(verbs.len());
    for verb in verbs {
        actions.push(match verb {
            Verb::Say {
                text,
                language,
                gender,
                repeat,
                ..
            } => {
                let (lang, style) = voice_for(language, *gender).ok_or_else(|| {
                    format!("the language {language} (Vonage has no text-to-speech voice for it)")
                })?;
                json!({
                    "action": "talk", "text": text, "language": lang, "style": style,
                    "loop": (*repeat).max(1),
                })
            }
            Verb::Play {
                file_url, repeat, ..
            } => json!({
                "action": "stream", "streamUrl": [file_url], "loop": (*repeat).max(1),
            }),
        });
    }
    Ok(Value::Array(actions))
}

#[async_trait]
impl Provider for VonageVoice {
    fn name(&self) -> &str {
        &self.common.name
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let now = self.clock.now();
        let step = voice_step_in_window(&self.common.name, request, now, self.submit_window)?;
        let body = self.body(step)?;
        let token =
            vonage_auth::request_token(&self.common.name, &self.application_id, &self.key, now)?;
        let http = self
            .client
            .reqwest()
            .post(format!("{}/v1/calls", self.common.base_url))
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body);
        let answer = self.client.send(http, vonage_auth::error_text).await?;
        let v: Value = serde_json::from_str(&answer.body).map_err(|e| SubmitError::Ambiguous {
            reason: format!("{}: the answer is not JSON: {e}", self.common.name),
        })?;
        let uuid = v
            .get("uuid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SubmitError::Ambiguous {
                reason: format!(
                    "{}: HTTP {} without a call uuid",
                    self.common.name, answer.status
                ),
            })?;
        tracing::debug!(target: "cascade::providers", provider = %self.common.name, call = uuid, conversation = ?v.get("conversation_uuid"), "call created");
        self.calls.lock().note(uuid).hangup_on_machine =
            step.machine_detection == Some(MachineDetection::Hangup);
        Ok(Accepted {
            provider: self.common.name.clone(),
            message_ids: vec![uuid.to_owned(); request.payload.message_ids.len().max(1)],
        })
    }
}

/// What an event says about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// A status, with Cascade's reason for it.
    Status(StatusKind, Option<reasons::Reason>),
    /// Who answered (machine detection); no status of its own.
    AnsweredBy(AnsweredBy),
}

/// A Vonage event `status` (with its `detail`) as Cascade's (reference §7.4).
/// `hung_up_for_machine`: a machine answered a call whose detection says `Hangup`, so
/// Vonage ended it and `completed` is `NoAnswer`. `None`: nothing Cascade acts on
/// (`disconnected`, `transfer`, `input`, `record`, anything new).
pub fn map_event(
    provider: &str,
    status: &str,
    detail: Option<&str>,
    hung_up_for_machine: bool,
) -> Option<CallEvent> {
    use CallEvent::{AnsweredBy as By, Status};
    Some(match status {
        "started" => Status(StatusKind::Initiated, None),
        "ringing" => Status(StatusKind::Ringing, None),
        "answered" => Status(StatusKind::InProgress, None),
        "human" => By(AnsweredBy::Human),
        "machine" => By(AnsweredBy::Machine),
        "completed" if hung_up_for_machine => {
            Status(StatusKind::NoAnswer, Some(reasons::answered_by_machine()))
        }
        "completed" => Status(StatusKind::Completed, None),
        "busy" => Status(StatusKind::Busy, None),
        "timeout" => Status(
            StatusKind::NoAnswer,
            Some(reasons::call_timed_out(provider)),
        ),
        "unanswered" | "rejected" if detail == Some("declined") => {
            Status(StatusKind::NoAnswer, Some(reasons::call_declined(provider)))
        }
        "unanswered" => Status(
            StatusKind::NoAnswer,
            Some(reasons::call_unanswered(provider, detail)),
        ),
        "rejected" | "failed" => Status(
            StatusKind::Failed,
            Some(match detail {
                Some(d) => reasons::call_failed_because(provider, d),
                None => reasons::call_failed(provider, None),
            }),
        ),
        "cancelled" => Status(StatusKind::Failed, Some(reasons::call_canceled(provider))),
        _ => return None,
    })
}

/// A field Vonage sends as a string or as a number, as text.
fn number_text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl VonageVoice {
    /// Read a verified event into a report.
    fn read_event(&self, v: &Value, now: Timestamp) -> Result<WebhookItem, WebhookError> {
        let text = |key: &str| v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        let Some(status) = text("status") else {
            let what = match text("reason") {
                Some(reason) => {
                    tracing::warn!(target: "cascade::providers", provider = %self.common.name, conversation = ?text("conversation_uuid"), reason, "Vonage reports an error");
                    format!("an error event: {reason}")
                }
                None => "an event without a status".into(),
            };
            return Ok(WebhookItem::Ignored { what });
        };
        // Older machine-detection events name the leg `call_uuid` (reference §4.2).
        let uuid = text("uuid")
            .or_else(|| text("call_uuid"))
            .ok_or_else(|| WebhookError::Malformed(format!("a {status} event without uuid")))?
            .to_owned();
        let at = text("timestamp").and_then(provider_time).unwrap_or(now);
        let (remembered, hung_up_for_machine) = {
            let mut memory = self.calls.lock();
            let note = memory.note(&uuid);
            match status {
                "human" => note.answered_by = Some(AnsweredBy::Human),
                "machine" => note.answered_by = Some(AnsweredBy::Machine),
                _ => {}
            }
            (
                note.answered_by,
                note.hangup_on_machine && note.answered_by == Some(AnsweredBy::Machine),
            )
        };
        let Some(event) = map_event(
            &self.common.name,
            status,
            text("detail"),
            hung_up_for_machine,
        ) else {
            return Ok(WebhookItem::Ignored {
                what: format!("status {status:?}"),
            });
        };
        let report = match event {
            // Machine detection runs once the call is answered: in progress, with who
            // answered.
            CallEvent::AnsweredBy(by) => {
                let mut report = Report::status(StatusKind::InProgress, at);
                report.answered_by = Some(by);
                report
            }
            CallEvent::Status(kind, reason) => {
                let mut report = Report::status(kind, at);
                if let Some(reason) = reason {
                    report.detailed_status = Some(reason.detailed_status);
                    report.description = Some(reason.description);
                }
                report.answered_by = remembered;
                if kind.is_final() {
                    report.duration_s =
                        number_text(v, "duration").and_then(|d| d.parse::<u32>().ok());
                    report.provider_price =
                        number_text(v, "price").map(|price| format!("{price} EUR"));
                }
                report
            }
        };
        Ok(WebhookItem::Report {
            provider_message_ids: vec![uuid],
            report,
        })
    }
}

impl WebhookReceiver for VonageVoice {
    fn name(&self) -> &str {
        &self.common.name
    }

    fn receive(
        &self,
        request: &WebhookRequest,
        now: Timestamp,
    ) -> Result<Vec<WebhookItem>, WebhookError> {
        vonage_auth::verify_signature(request, &self.signature_key)?;
        let v: Value = serde_json::from_slice(&request.body)
            .map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
        self.read_event(&v, now).map(|item| vec![item])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::voice::say;
    use cascade_core::address::{Msisdn, SenderId, SipUri};
    use cascade_core::flow::VoiceTo;

    type Expected = Option<(StatusKind, Option<&'static str>)>;

    /// (status, detail, a machine answered a `Hangup` call, expected status and
    /// detailed status).
    const STATUSES: [(&str, Option<&str>, bool, Expected); 17] = [
        ("started", None, false, Some((StatusKind::Initiated, None))),
        ("ringing", None, false, Some((StatusKind::Ringing, None))),
        (
            "answered",
            None,
            false,
            Some((StatusKind::InProgress, None)),
        ),
        (
            "completed",
            None,
            false,
            Some((StatusKind::Completed, None)),
        ),
        (
            "completed",
            None,
            true,
            Some((StatusKind::NoAnswer, Some("Answered by machine"))),
        ),
        ("busy", None, false, Some((StatusKind::Busy, None))),
        (
            "timeout",
            None,
            false,
            Some((StatusKind::NoAnswer, Some("Timed Out"))),
        ),
        (
            "unanswered",
            None,
            false,
            Some((StatusKind::NoAnswer, Some("No Answer"))),
        ),
        (
            "unanswered",
            Some("unavailable"),
            false,
            Some((StatusKind::NoAnswer, Some("No Answer"))),
        ),
        (
            "unanswered",
            Some("declined"),
            false,
            Some((StatusKind::NoAnswer, Some("Declined"))),
        ),
        (
            "rejected",
            Some("declined"),
            false,
            Some((StatusKind::NoAnswer, Some("Declined"))),
        ),
        (
            "rejected",
            Some("restricted"),
            false,
            Some((StatusKind::Failed, Some("Call Failed"))),
        ),
        (
            "failed",
            Some("invalid_number"),
            false,
            Some((StatusKind::Failed, Some("Call Failed"))),
        ),
        (
            "failed",
            None,
            false,
            Some((StatusKind::Failed, Some("Call Failed"))),
        ),
        (
            "cancelled",
            None,
            false,
            Some((StatusKind::Failed, Some("Canceled"))),
        ),
        ("disconnected", None, false, None),
        ("input", None, false, None),
    ];

    #[test]
    fn every_event_status_maps_as_the_reference_says() {
        for (status, detail, machine, expected) in STATUSES {
            let got = match map_event("vv", status, detail, machine) {
                Some(CallEvent::Status(s, r)) => Some((s, r.map(|r| r.detailed_status))),
                Some(CallEvent::AnsweredBy(by)) => panic!("{status}: answered by {by:?}"),
                None => None,
            };
            assert_eq!(
                got,
                expected.map(|(s, d)| (s, d.map(str::to_owned))),
                "{status} {detail:?} machine={machine}"
            );
        }
        assert_eq!(
            map_event("vv", "human", None, false),
            Some(CallEvent::AnsweredBy(AnsweredBy::Human))
        );
        assert_eq!(
            map_event("vv", "machine", None, true),
            Some(CallEvent::AnsweredBy(AnsweredBy::Machine))
        );
        let Some(CallEvent::Status(_, Some(reason))) =
            map_event("vv", "failed", Some("invalid_number"), false)
        else {
            panic!("a reason");
        };
        assert_eq!(
            reason.description,
            "vv could not place the call (invalid_number)."
        );
    }

    #[test]
    fn the_ncco_talks_and_streams_in_order_with_loops() {
        let verbs = vec![
            say("Your code is 1 2 3", "en-GB", Gender::Male, 2),
            Verb::Play {
                file_url: "https://example.com/a.mp3?x=1&y=2".into(),
                repeat: 0,
                barge_in: false,
            },
            say("Hola", "es-LA", Gender::Female, 0),
        ];
        assert_eq!(
            ncco(&verbs).unwrap(),
            json!([
                {"action": "talk", "text": "Your code is 1 2 3", "language": "en-GB", "style": 1, "loop": 2},
                {"action": "stream", "streamUrl": ["https://example.com/a.mp3?x=1&y=2"], "loop": 1},
                {"action": "talk", "text": "Hola", "language": "es-MX", "style": 0, "loop": 1},
            ])
        );
        let e = ncco(&[say("Здравейте", "bg-BG", Gender::Female, 1)]).unwrap_err();
        assert_eq!(
            e,
            "the language bg-BG (Vonage has no text-to-speech voice for it)"
        );
    }

    /// Vonage's language list (reference §4.1, the spec and Python SDK enum).
    const VONAGE_LANGUAGES: &[&str] = &[
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

    #[test]
    fn every_spec_language_but_bulgarian_has_a_vonage_language_and_style() {
        for language in [
            "en-US", "en-GB", "de-DE", "fr-FR", "it-IT", "pt-BR", "es-ES", "es-LA", "el-GR",
            "pl-PL", "hu-HU", "sv-SE", "ru-RU",
        ] {
            for gender in [Gender::Male, Gender::Female] {
                let (lang, style) = voice_for(language, gender).expect(language);
                assert!(VONAGE_LANGUAGES.contains(&lang), "{language} → {lang}");
                assert!(style <= 1, "{language}: {style}");
            }
        }
        assert_eq!(voice_for("bg-BG", Gender::Female), None);
        assert_eq!(voice_for("xx-XX", Gender::Male), None);
        assert_eq!(voice_for("de-DE", Gender::Female), Some(("de-DE", 0)));
    }

    #[derive(Debug)]
    struct FixedClock;

    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(0)
        }
        fn sleep_until(
            &self,
            _: Timestamp,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
            Box::pin(std::future::ready(()))
        }
    }

    fn adapter() -> VonageVoice {
        let pem = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../cascade/tests/fixtures/vonage-test-private.pem"
        ))
        .unwrap();
        let settings = ProviderSettings::VonageVoice {
            common: Common {
                name: "vv".into(),
                base_url: "https://api.nexmo.com".into(),
                routes: vec!["*".into()],
                priority: 1,
                throughput: 0,
                nodes: Default::default(),
                timeout: Duration::from_secs(5),
                senders: Default::default(),
            },
            application_id: "app-1".into(),
            key: pem.into(),
            signature_secret: "secret".to_owned().into(),
        };
        VonageVoice::new(
            &settings,
            "https://cascade.example.com/",
            Arc::new(FixedClock),
        )
        .unwrap()
    }

    fn step(to: VoiceTo, from: &str, md: Option<MachineDetection>) -> VoiceStep {
        VoiceStep {
            from: SenderId::parse(from).unwrap(),
            to,
            dial_plan: vec![say("Hi", "en-US", Gender::Female, 1)],
            machine_detection: md,
        }
    }

    #[test]
    fn the_request_body_carries_destination_caller_events_and_detection() {
        let a = adapter();
        let phone = VoiceTo {
            phone: Some(Msisdn::parse("+306912345678").unwrap()),
            viber: None,
            sip: None,
        };
        let body = a
            .body(&step(
                phone.clone(),
                "+306900000000",
                Some(MachineDetection::Hangup),
            ))
            .unwrap();
        assert_eq!(
            body,
            json!({
                "to": [{"type": "phone", "number": "306912345678"}],
                "from": {"type": "phone", "number": "306900000000"},
                "ncco": [{"action": "talk", "text": "Hi", "language": "en-US", "style": 0, "loop": 1}],
                "event_url": ["https://cascade.example.com/webhooks/vv"],
                "event_method": "POST",
                "machine_detection": "hangup",
            })
        );
        let body = a
            .body(&step(
                phone.clone(),
                "306900000000",
                Some(MachineDetection::Continue),
            ))
            .unwrap();
        assert_eq!(body["machine_detection"], "continue");
        assert!(
            a.body(&step(phone, "306900000000", None))
                .unwrap()
                .get("machine_detection")
                .is_none()
        );

        let sip = VoiceTo {
            phone: None,
            viber: None,
            sip: Some(SipUri::parse("alice@pbx.example.com").unwrap()),
        };
        let body = a.body(&step(sip.clone(), "306900000000", None)).unwrap();
        assert_eq!(
            body["to"],
            json!([{"type": "sip", "uri": "sip:alice@pbx.example.com"}])
        );

        let viber = VoiceTo {
            phone: None,
            viber: Some(Msisdn::parse("+306912345678").unwrap()),
            sip: None,
        };
        for (to, from, what) in [
            (viber, "306900000000", "a Viber call"),
            (sip, "MyBrand", "the caller id \"MyBrand\""),
        ] {
            match a.body(&step(to, from, None)) {
                Err(SubmitError::Rejected {
                    status,
                    detailed_status,
                    description,
                }) => {
                    assert_eq!(status, StatusKind::Failed);
                    assert_eq!(detailed_status, "Not supported");
                    assert!(description.contains(what), "{description}");
                }
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    fn report(item: WebhookItem) -> (Vec<String>, Report) {
        match item {
            WebhookItem::Report {
                provider_message_ids,
                report,
            } => (provider_message_ids, report),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn events_read_into_reports_carrying_who_answered_duration_and_price() {
        let a = adapter();
        let now = Timestamp::from_millis(0);
        a.calls.lock().note("leg-1").hangup_on_machine = true;
        // An older machine-detection event names the leg `call_uuid`.
        let (ids, r) = report(
            a.read_event(
                &json!({"call_uuid": "leg-1", "status": "machine", "sub_state": "beep_start", "conversation_uuid": "CON-1", "timestamp": "2026-11-26T10:15:00.000Z"}),
                now,
            )
            .unwrap(),
        );
        assert_eq!(ids, vec!["leg-1"]);
        assert_eq!(
            (r.status, r.answered_by),
            (StatusKind::InProgress, Some(AnsweredBy::Machine))
        );
        assert_eq!(r.at, Timestamp::parse("2026-11-26T10:15:00Z").unwrap());
        let (_, r) = report(
            a.read_event(
                &json!({"uuid": "leg-1", "status": "completed", "duration": "4", "price": "0.00030000", "rate": "0.00450000"}),
                now,
            )
            .unwrap(),
        );
        assert_eq!(r.status, StatusKind::NoAnswer);
        assert_eq!(r.detailed_status.as_deref(), Some("Answered by machine"));
        assert_eq!(r.answered_by, Some(AnsweredBy::Machine));
        assert_eq!(r.duration_s, Some(4));
        assert_eq!(r.provider_price.as_deref(), Some("0.00030000 EUR"));

        // A machine on a `Continue` call: the call goes on and completes.
        let (_, r) = report(
            a.read_event(&json!({"uuid": "leg-2", "status": "machine"}), now)
                .unwrap(),
        );
        assert_eq!(r.answered_by, Some(AnsweredBy::Machine));
        let (_, r) = report(
            a.read_event(
                &json!({"uuid": "leg-2", "status": "completed", "duration": 9, "price": 0.0012}),
                now,
            )
            .unwrap(),
        );
        assert_eq!((r.status, r.duration_s), (StatusKind::Completed, Some(9)));
        assert_eq!(r.answered_by, Some(AnsweredBy::Machine));
        assert_eq!(r.provider_price.as_deref(), Some("0.0012 EUR"));

        // Non-final statuses carry no duration or price.
        let (_, r) = report(
            a.read_event(
                &json!({"uuid": "leg-3", "status": "answered", "rate": "0.0045"}),
                now,
            )
            .unwrap(),
        );
        assert_eq!(
            (r.status, r.duration_s, r.provider_price),
            (StatusKind::InProgress, None, None)
        );

        assert!(matches!(
            a.read_event(
                &json!({"reason": "Too many calls", "conversation_uuid": "CON-1"}),
                now
            ),
            Ok(WebhookItem::Ignored { .. })
        ));
        assert!(matches!(
            a.read_event(&json!({"uuid": "leg-3", "status": "transfer"}), now),
            Ok(WebhookItem::Ignored { .. })
        ));
        assert!(matches!(
            a.read_event(&json!({"status": "ringing"}), now),
            Err(WebhookError::Malformed(_))
        ));
    }
}
