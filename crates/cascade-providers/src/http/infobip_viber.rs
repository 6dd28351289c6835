//! Viber Business Messages through Infobip (`POST /viber/2/messages`).
//!
//! Cascade chooses each message's `messageId` (the step's message id), so a request sent
//! again after a crash carries the same id and Infobip refuses it as a duplicate instead
//! of sending twice; that refusal counts as accepted. Infobip does not sign webhooks:
//! Cascade gives it `/webhooks/{name}/{webhook_token}` for delivery and seen reports and
//! compares the token in constant time.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use cascade_core::flow::ViberStep;
use cascade_core::inbound::{self, InboundMessage};
use cascade_core::machines::Report;
use cascade_core::ports::{
    Accepted, Provider, SubmitError, SubmitRequest, WebhookError, WebhookItem, WebhookReceiver,
    WebhookRequest,
};
use cascade_core::reasons::{self, viber as names};
use cascade_core::{Channel, Clock, StatusKind, Timestamp};

use super::client::HttpClient;
use super::settings::{Common, ProviderSettings};
use super::{provider_time, ttl_seconds, viber_step};

/// Infobip caps a Viber validity period at 48 hours.
const TTL_RANGE: (u64, u64) = (30, 172_800);

/// See the module documentation.
pub struct InfobipViber {
    common: Common,
    client: HttpClient,
    api_key: SecretString,
    webhook_token: SecretString,
    webhook_url: String,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for InfobipViber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfobipViber")
            .field("name", &self.common.name)
            .field("base_url", &self.common.base_url)
            .finish_non_exhaustive()
    }
}

impl InfobipViber {
    /// # Errors
    /// When `settings` is not an Infobip Viber section or its client cannot be set up.
    pub fn new(
        settings: &ProviderSettings,
        public_url: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let ProviderSettings::InfobipViber {
            common,
            api_key,
            webhook_token,
        } = settings
        else {
            return Err("not an infobip-viber section".into());
        };
        Ok(InfobipViber {
            client: HttpClient::new(common)?,
            webhook_url: format!(
                "{}/webhooks/{}/{}",
                public_url.trim_end_matches('/'),
                common.name,
                webhook_token.expose_secret()
            ),
            common: common.clone(),
            api_key: api_key.clone(),
            webhook_token: webhook_token.clone(),
            clock,
        })
    }

    /// The request body for a Viber step (reference §7.1).
    fn body(&self, step: &ViberStep, message_id: &str, ttl_s: u64) -> Value {
        let c = &step.content;
        let button = c
            .action
            .as_ref()
            .map(|a| json!({"title": a.caption, "action": a.target_url}));
        let mut content = if let Some(video) = &c.video {
            json!({
                "type": "VIDEO",
                "mediaUrl": video.video_url,
                "thumbnailUrl": video.video_thumbnail,
                "mediaDuration": format!("PT{}S", video.duration.ceil().max(1.0)),
            })
        } else if let Some(file) = &c.file {
            json!({"type": "FILE", "fileName": file.file_name, "mediaUrl": file.file_url})
        } else if let Some(image) = &c.image_url {
            json!({"type": "IMAGE", "mediaUrl": image})
        } else {
            json!({"type": "TEXT"})
        };
        let takes_text = c.file.is_none();
        if takes_text && let Some(text) = &c.text {
            content["text"] = json!(text);
        }
        if c.file.is_none()
            && let Some(button) = button
        {
            if content.get("text").is_none() && c.image_url.is_some() {
                // Infobip requires a text when an image has a button.
                content["text"] = button["title"].clone();
            }
            content["button"] = button;
        }
        json!({
            "messages": [{
                "sender": self.common.sender(&step.sender_name),
                "destinations": [{"to": step.to.digits(), "messageId": message_id}],
                "content": content,
                "options": {
                    "validityPeriod": {"amount": ttl_s, "timeUnit": "SECONDS"},
                    "label": "TRANSACTIONAL",
                },
                "webhooks": {
                    "delivery": {"url": self.webhook_url, "intermediateReport": false, "notify": true},
                    "seen": {"url": self.webhook_url},
                    "contentType": "application/json",
                    "callbackData": message_id,
                },
            }],
        })
    }
}

/// The text of an Infobip error body, in either of its shapes.
fn error_text(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    if let Some(description) = v.get("description").and_then(Value::as_str) {
        let code = v.get("errorCode").and_then(Value::as_str).unwrap_or("");
        let mut text = format!("{code} {description}").trim().to_owned();
        if let Some(violations) = v.get("violations").and_then(Value::as_array) {
            for violation in violations {
                if let (Some(p), Some(w)) = (
                    violation.get("property").and_then(Value::as_str),
                    violation.get("violation").and_then(Value::as_str),
                ) {
                    text.push_str(&format!(" ({p}: {w})"));
                }
            }
        }
        return Some(text);
    }
    let e = v.pointer("/requestError/serviceException")?;
    let text = e.get("text").and_then(Value::as_str)?;
    Some(match e.get("messageId").and_then(Value::as_str) {
        Some(id) => format!("{id} {text}"),
        None => text.to_owned(),
    })
}

#[async_trait]
impl Provider for InfobipViber {
    fn name(&self) -> &str {
        &self.common.name
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let step = viber_step(&self.common.name, request)?;
        let now = self.clock.now();
        let ttl = ttl_seconds(request, now, TTL_RANGE.0, TTL_RANGE.1);
        let message_id = &request.payload.message_id;
        let http = self
            .client
            .reqwest()
            .post(format!("{}/viber/2/messages", self.common.base_url))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("App {}", self.api_key.expose_secret()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&self.body(step, message_id, ttl));
        let answer = self.client.send(http, error_text).await?;
        let v: Value = serde_json::from_str(&answer.body).map_err(|e| SubmitError::Ambiguous {
            reason: format!("{}: the answer is not JSON: {e}", self.common.name),
        })?;
        let message = v
            .pointer("/messages/0")
            .ok_or_else(|| SubmitError::Ambiguous {
                reason: format!("{}: an answer without messages", self.common.name),
            })?;
        let group = message
            .pointer("/status/groupName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = message
            .pointer("/status/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        // A request sent again after a crash: Infobip already has this id.
        let duplicate = name == "REJECTED_DUPLICATE_MESSAGE_ID";
        // Infobip's account cannot pay or has failed: the provider is down for this
        // message, not the message wrong, so another provider may take it.
        if matches!(
            name,
            "REJECTED_NOT_ENOUGH_CREDITS" | "REJECTED_SYSTEM_ERROR"
        ) {
            return Err(SubmitError::Misconfigured {
                reason: format!("{}: {name}", self.common.name),
            });
        }
        if (group == "REJECTED" || group == "UNDELIVERABLE") && !duplicate {
            let description = message
                .pointer("/status/description")
                .and_then(Value::as_str)
                .unwrap_or(name);
            return Err(SubmitError::from(reasons::rejected_by_provider(
                &self.common.name,
                format!("{name}: {description}"),
            )));
        }
        let id = message
            .get("messageId")
            .and_then(Value::as_str)
            .unwrap_or(message_id)
            .to_owned();
        Ok(Accepted {
            provider: self.common.name.clone(),
            message_ids: vec![id; request.payload.message_ids.len().max(1)],
        })
    }
}

/// An Infobip delivery report's status and error as Cascade's status and detailed status
/// (reference §7.2). `None`: not final and not worth a report (pending, or delivered to
/// the operator only).
pub fn map_report(
    group: &str,
    status_name: &str,
    error_name: &str,
) -> Option<(StatusKind, &'static str)> {
    Some(match group {
        "DELIVERED" if status_name == "DELIVERED_TO_HANDSET" => {
            (StatusKind::Delivered, names::DELIVERED)
        }
        "DELIVERED" | "PENDING" | "OK" | "ACCEPTED" => return None,
        // The answer to a resend: the first request's message goes on (its own reports
        // follow); this says nothing about it.
        "REJECTED" if status_name == "REJECTED_DUPLICATE_MESSAGE_ID" => return None,
        "EXPIRED" => (StatusKind::Expired, names::TTL_EXPIRED),
        "UNDELIVERABLE" => (
            StatusKind::Undelivered,
            match error_name {
                "EC_UNKNOWN_USER" => names::NOT_VIBER_USER,
                "EC_BLOCKED_USER" => names::OPTED_OUT,
                "EC_UNSUPPORTED_DEVICE" | "EC_UNSUPPORTED_MOBILE_APP_VERSION" => {
                    names::UNSUPPORTED_EQUIPMENT
                }
                "EC_PROVIDER_TIMEOUT" => names::TIMED_OUT,
                _ => names::SYSTEM_FAILURE,
            },
        ),
        "REJECTED" => (
            StatusKind::Failed,
            match status_name {
                "REJECTED_NOT_ENOUGH_CREDITS" | "REJECTED_SYSTEM_ERROR" => names::SYSTEM_FAILURE,
                _ => names::MESSAGE_REJECTED,
            },
        ),
        _ => return None,
    })
}

impl WebhookReceiver for InfobipViber {
    fn name(&self) -> &str {
        &self.common.name
    }

    fn receive(
        &self,
        request: &WebhookRequest,
        now: Timestamp,
    ) -> Result<Vec<WebhookItem>, WebhookError> {
        let expected = self.webhook_token.expose_secret().as_bytes();
        let given = request.path_token.as_deref().unwrap_or("").as_bytes();
        if !bool::from(given.ct_eq(expected)) {
            return Err(WebhookError::Unauthorized(
                "wrong or missing path token".into(),
            ));
        }
        let v: Value = serde_json::from_slice(&request.body)
            .map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
        let results = v
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| WebhookError::Malformed("no results array".into()))?;
        results
            .iter()
            .map(|r| {
                if r.get("integrationType").is_some() || r.get("pairedMessageId").is_some() {
                    read_inbound(r, &self.common.name, now)
                        .map(|item| super::to_registered_sender(&self.common, item))
                } else {
                    read_result(r, now)
                }
            })
            .collect()
    }
}

/// An inbound Viber message (a reply), as Infobip forwards it to the URL set up for the
/// account: `sender` is the user's number, `to` the Viber sender, `message` has a `type`
/// (`TEXT` with `text`; media with a URL).
fn read_inbound(r: &Value, provider: &str, now: Timestamp) -> Result<WebhookItem, WebhookError> {
    let text = |ptr: &str| r.pointer(ptr).and_then(Value::as_str);
    let from = text("/sender")
        .ok_or_else(|| WebhookError::Malformed("an inbound message without sender".into()))?;
    let body = match text("/message/type").unwrap_or("TEXT") {
        "TEXT" => text("/message/text").unwrap_or_default().to_owned(),
        other => {
            let url = text("/message/url").unwrap_or_default();
            format!("[{}] {url}", other.to_ascii_lowercase())
                .trim_end()
                .to_owned()
        }
    };
    Ok(WebhookItem::Inbound(InboundMessage {
        channel: Channel::Viber,
        from: inbound::e164(from),
        to: text("/to").unwrap_or_default().to_owned(),
        text: body,
        received_at: text("/receivedAt").and_then(provider_time).unwrap_or(now),
        provider: provider.to_owned(),
        provider_message_id: text("/messageId").map(str::to_owned),
    }))
}

/// One entry of `results`: a delivery report (it has a `status`) or a seen report (it
/// has `seenAt`).
fn read_result(r: &Value, now: Timestamp) -> Result<WebhookItem, WebhookError> {
    let text = |ptr: &str| r.pointer(ptr).and_then(Value::as_str);
    let id = text("/messageId")
        .ok_or_else(|| WebhookError::Malformed("a report without messageId".into()))?;
    if r.get("status").is_none() {
        let Some(seen_at) = text("/seenAt") else {
            return Ok(WebhookItem::Ignored {
                what: "a report with neither status nor seenAt".into(),
            });
        };
        let report = Report::status(StatusKind::Seen, provider_time(seen_at).unwrap_or(now));
        return Ok(WebhookItem::Report {
            provider_message_ids: vec![id.to_owned()],
            report,
        });
    }
    let group = text("/status/groupName").unwrap_or("");
    let status_name = text("/status/name").unwrap_or("");
    let error_name = text("/error/name").unwrap_or("");
    let Some((kind, detailed)) = map_report(group, status_name, error_name) else {
        return Ok(WebhookItem::Ignored {
            what: format!("status {status_name:?}"),
        });
    };
    let at = text("/doneAt").and_then(provider_time).unwrap_or(now);
    let mut report = Report::status(kind, at);
    report.detailed_status = Some(detailed.to_owned());
    if kind != StatusKind::Delivered {
        let description = text("/error/description")
            .filter(|_| error_name != "NO_ERROR")
            .or_else(|| text("/status/description"));
        report.description = description.map(|d| match error_name {
            "" | "NO_ERROR" => format!("{d} ({status_name})"),
            e => format!("{d} ({status_name}, {e})"),
        });
    }
    report.provider_price = r.get("price").and_then(|p| {
        let amount = p.get("pricePerMessage")?;
        let currency = p.get("currency").and_then(Value::as_str).unwrap_or("");
        Some(format!("{amount} {currency}").trim().to_owned())
    });
    Ok(WebhookItem::Report {
        provider_message_ids: vec![id.to_owned()],
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_outcome_maps() {
        let cases = [
            (
                "DELIVERED",
                "DELIVERED_TO_HANDSET",
                "NO_ERROR",
                Some((StatusKind::Delivered, "Delivered")),
            ),
            ("DELIVERED", "DELIVERED_TO_OPERATOR", "NO_ERROR", None),
            ("PENDING", "PENDING_ACCEPTED", "NO_ERROR", None),
            (
                "EXPIRED",
                "EXPIRED_EXPIRED",
                "",
                Some((StatusKind::Expired, "TTL Expired")),
            ),
            (
                "EXPIRED",
                "EXPIRED_DLR_UNKNOWN",
                "",
                Some((StatusKind::Expired, "TTL Expired")),
            ),
            (
                "UNDELIVERABLE",
                "UNDELIVERABLE_NOT_DELIVERED",
                "EC_UNKNOWN_USER",
                Some((StatusKind::Undelivered, "Not Viber User")),
            ),
            (
                "UNDELIVERABLE",
                "UNDELIVERABLE_NOT_DELIVERED",
                "EC_BLOCKED_USER",
                Some((StatusKind::Undelivered, "Opted Out")),
            ),
            (
                "UNDELIVERABLE",
                "UNDELIVERABLE_NOT_DELIVERED",
                "EC_UNSUPPORTED_DEVICE",
                Some((StatusKind::Undelivered, "Unsupported Equipment")),
            ),
            (
                "UNDELIVERABLE",
                "UNDELIVERABLE_NOT_DELIVERED",
                "EC_UNSUPPORTED_MOBILE_APP_VERSION",
                Some((StatusKind::Undelivered, "Unsupported Equipment")),
            ),
            (
                "UNDELIVERABLE",
                "UNDELIVERABLE_NOT_DELIVERED",
                "EC_PROVIDER_TIMEOUT",
                Some((StatusKind::Undelivered, "Timed Out")),
            ),
            (
                "UNDELIVERABLE",
                "UNDELIVERABLE_REJECTED_OPERATOR",
                "EC_OTHER",
                Some((StatusKind::Undelivered, "System Failure")),
            ),
            (
                "REJECTED",
                "REJECTED_DESTINATION",
                "",
                Some((StatusKind::Failed, "Message Rejected")),
            ),
            (
                "REJECTED",
                "REJECTED_NOT_ENOUGH_CREDITS",
                "",
                Some((StatusKind::Failed, "System Failure")),
            ),
        ];
        for (group, name, error, expected) in cases {
            assert_eq!(
                map_report(group, name, error),
                expected,
                "{group} {name} {error}"
            );
        }
    }

    #[test]
    fn delivery_and_seen_reports_read_into_reports() {
        let dr = json!({
            "messageId": "m-1", "to": "306900000001", "sender": "Brand",
            "doneAt": "2026-11-26T10:15:00.000+0000",
            "price": {"pricePerMessage": 0.01, "currency": "EUR"},
            "status": {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED", "description": "Not delivered"},
            "error": {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 7002, "name": "EC_UNKNOWN_USER", "description": "Unknown user", "permanent": true}
        });
        let WebhookItem::Report {
            provider_message_ids,
            report,
        } = read_result(&dr, Timestamp::from_millis(0)).unwrap()
        else {
            panic!("a report")
        };
        assert_eq!(provider_message_ids, vec!["m-1"]);
        assert_eq!(report.status, StatusKind::Undelivered);
        assert_eq!(report.detailed_status.as_deref(), Some("Not Viber User"));
        assert_eq!(
            report.description.as_deref(),
            Some("Unknown user (UNDELIVERABLE_NOT_DELIVERED, EC_UNKNOWN_USER)")
        );
        assert_eq!(report.provider_price.as_deref(), Some("0.01 EUR"));
        assert_eq!(report.at, Timestamp::parse("2026-11-26T10:15:00Z").unwrap());

        let seen = json!({"messageId": "m-1", "from": "306900000001", "to": "Brand", "sentAt": "2026-11-26T10:14:00.000+0000", "seenAt": "2026-11-26T10:16:00.000+0000"});
        let WebhookItem::Report { report, .. } =
            read_result(&seen, Timestamp::from_millis(0)).unwrap()
        else {
            panic!("a report")
        };
        assert_eq!(report.status, StatusKind::Seen);

        assert!(matches!(
            read_result(&json!({"status": {}}), Timestamp::from_millis(0)),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn both_error_shapes_are_read() {
        assert_eq!(
            error_text(r#"{"errorCode":"E400","description":"Bad request","violations":[{"property":"messages[0].sender","violation":"must not be blank"}]}"#).as_deref(),
            Some("E400 Bad request (messages[0].sender: must not be blank)")
        );
        assert_eq!(
            error_text(r#"{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request"}}}"#).as_deref(),
            Some("BAD_REQUEST Bad request")
        );
        assert_eq!(error_text("<html>"), None);
    }

    #[test]
    fn an_inbound_message_reads_into_a_reply() {
        let r = json!({
            "sender": "306912345678", "to": "brand-77", "integrationType": "VIBER",
            "receivedAt": "2026-11-26T10:15:00.000+0000", "messageId": "in-1",
            "pairedMessageId": "m-1", "message": {"type": "TEXT", "text": "STOP"},
            "price": {"pricePerMessage": 0, "currency": "EUR"}
        });
        let Ok(WebhookItem::Inbound(m)) = read_inbound(&r, "ib", Timestamp::from_millis(0)) else {
            panic!("a reply");
        };
        assert_eq!(
            (m.from.as_str(), m.to.as_str(), m.text.as_str()),
            ("+306912345678", "brand-77", "STOP")
        );
        assert_eq!(
            m.received_at,
            Timestamp::parse("2026-11-26T10:15:00Z").unwrap()
        );
        let image = json!({"sender": "306912345678", "to": "b", "integrationType": "VIBER",
            "message": {"type": "IMAGE", "url": "https://x/y.jpg"}});
        let Ok(WebhookItem::Inbound(m)) = read_inbound(&image, "ib", Timestamp::from_millis(0))
        else {
            panic!("a reply");
        };
        assert_eq!(m.text, "[image] https://x/y.jpg");
        assert!(matches!(
            read_inbound(&json!({"to": "b"}), "ib", Timestamp::from_millis(0)),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn a_duplicate_id_report_says_nothing_about_the_message() {
        assert_eq!(
            map_report("REJECTED", "REJECTED_DUPLICATE_MESSAGE_ID", ""),
            None
        );
    }
}
