//! Viber Business Messages through the Vonage Messages API (`POST /v1/messages`,
//! channel `viber_service`).
//!
//! Cascade authenticates with an application's RS256 JWT or with the account's key and
//! secret (HTTP Basic), puts the step's message id in `client_ref` (so a resent request is
//! recognisable) and asks for status webhooks at `/webhooks/{name}`. Vonage signs those
//! with an HS256 JWT in `Authorization: Bearer`, keyed by the signature secret, whose
//! `payload_hash` claim is the body's SHA-256: both are checked.

use std::sync::Arc;

use async_trait::async_trait;
use jsonwebtoken::{DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use cascade_core::flow::ViberStep;
use cascade_core::inbound::{self, InboundMessage};
use cascade_core::machines::Report;
use cascade_core::ports::{
    Accepted, Provider, SubmitError, SubmitRequest, WebhookError, WebhookItem, WebhookReceiver,
    WebhookRequest,
};
use cascade_core::reasons::viber as names;
use cascade_core::{Channel, Clock, StatusKind, Timestamp};

use super::client::HttpClient;
use super::settings::{Common, ProviderSettings, VonageAuth};
use super::{provider_time, ttl_seconds, viber_step, vonage_auth, webhook_url};

/// Vonage's `viber_service.ttl` range, seconds.
const TTL_RANGE: (u64, u64) = (30, 259_200);

/// See the module documentation.
pub struct VonageMessages {
    common: Common,
    client: HttpClient,
    auth: Auth,
    signature_key: DecodingKey,
    category: String,
    webhook_url: String,
    clock: Arc<dyn Clock>,
}

enum Auth {
    Jwt {
        application_id: String,
        key: EncodingKey,
    },
    Basic {
        api_key: String,
        api_secret: SecretString,
    },
}

impl std::fmt::Debug for VonageMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VonageMessages")
            .field("name", &self.common.name)
            .field("base_url", &self.common.base_url)
            .finish_non_exhaustive()
    }
}

impl VonageMessages {
    /// # Errors
    /// When `settings` is not a Vonage Messages section, or its key or client cannot be
    /// set up.
    pub fn new(
        settings: &ProviderSettings,
        public_url: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let ProviderSettings::VonageMessages {
            common,
            auth,
            signature_secret,
            category,
        } = settings
        else {
            return Err("not a vonage-messages section".into());
        };
        let auth = match auth {
            VonageAuth::Jwt {
                application_id,
                key_pem,
            } => Auth::Jwt {
                application_id: application_id.clone(),
                key: EncodingKey::from_rsa_pem(key_pem.expose_secret().as_bytes())
                    .map_err(|e| format!("{}: private key: {e}", common.name))?,
            },
            VonageAuth::Basic {
                api_key,
                api_secret,
            } => Auth::Basic {
                api_key: api_key.clone(),
                api_secret: api_secret.clone(),
            },
        };
        Ok(VonageMessages {
            client: HttpClient::new(common)?,
            signature_key: vonage_auth::signature_key(
                &common.name,
                signature_secret.expose_secret(),
            )?,
            category: category.clone(),
            webhook_url: webhook_url(public_url, &common.name),
            common: common.clone(),
            auth,
            clock,
        })
    }

    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        now: Timestamp,
    ) -> Result<reqwest::RequestBuilder, SubmitError> {
        match &self.auth {
            Auth::Basic {
                api_key,
                api_secret,
            } => Ok(request.basic_auth(api_key, Some(api_secret.expose_secret()))),
            Auth::Jwt {
                application_id,
                key,
            } => Ok(request.bearer_auth(vonage_auth::request_token(
                &self.common.name,
                application_id,
                key,
                now,
            )?)),
        }
    }

    /// The request body for a Viber step (reference §7.1).
    fn body(&self, step: &ViberStep, client_ref: &str, ttl_s: u64) -> Value {
        let mut viber = json!({"category": self.category, "ttl": ttl_s});
        let c = &step.content;
        let mut body = json!({
            "channel": "viber_service",
            "to": step.to.digits(),
            "from": self.common.sender(&step.sender_name),
            "client_ref": client_ref,
            "webhook_url": self.webhook_url,
            "webhook_version": "v1",
        });
        if let Some(video) = &c.video {
            body["message_type"] = json!("video");
            let mut v = json!({"url": video.video_url, "thumb_url": video.video_thumbnail});
            if let Some(text) = &c.text {
                v["caption"] = json!(text);
            }
            body["video"] = v;
            viber["duration"] = json!(format!("{}", video.duration.ceil().max(1.0)));
            viber["file_size"] = json!(format!("{}", video.file_size.ceil().max(1.0)));
        } else if let Some(file) = &c.file {
            body["message_type"] = json!("file");
            body["file"] = json!({"url": file.file_url, "name": file.file_name});
        } else if let Some(image) = &c.image_url {
            body["message_type"] = json!("image");
            // Vonage requires a caption when a button goes with an image.
            let caption = c
                .text
                .clone()
                .or_else(|| c.action.as_ref().map(|a| a.caption.clone()));
            body["image"] = match caption {
                Some(caption) => json!({"url": image, "caption": caption}),
                None => json!({"url": image}),
            };
        } else {
            body["message_type"] = json!("text");
            body["text"] = json!(c.text.clone().unwrap_or_default());
        }
        if let Some(action) = &c.action
            && c.video.is_none()
            && c.file.is_none()
        {
            viber["action"] = json!({"url": action.target_url, "text": action.caption});
        }
        body["viber_service"] = viber;
        body
    }
}

#[async_trait]
impl Provider for VonageMessages {
    fn name(&self) -> &str {
        &self.common.name
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let step = viber_step(&self.common.name, request)?;
        let now = self.clock.now();
        let ttl = ttl_seconds(request, now, TTL_RANGE.0, TTL_RANGE.1);
        let body = self.body(step, &request.payload.message_id, ttl);
        let http = self
            .client
            .reqwest()
            .post(format!("{}/v1/messages", self.common.base_url))
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body);
        let answer = self
            .client
            .send(self.authorize(http, now)?, vonage_auth::error_text)
            .await?;
        let uuid = serde_json::from_str::<Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("message_uuid")?.as_str().map(str::to_owned))
            .ok_or_else(|| SubmitError::Ambiguous {
                reason: format!(
                    "{}: HTTP {} without a message_uuid",
                    self.common.name, answer.status
                ),
            })?;
        Ok(Accepted {
            provider: self.common.name.clone(),
            message_ids: vec![uuid; request.payload.message_ids.len().max(1)],
        })
    }
}

/// A Vonage Messages status (and, on `rejected`, its error code) as Cascade's status and
/// detailed status (reference §7.2). `None`: a status Cascade does not know.
pub fn map_status(status: &str, code: Option<&str>) -> Option<(StatusKind, Option<&'static str>)> {
    let mapped = match status {
        "submitted" => (StatusKind::Sent, None),
        "delivered" => (StatusKind::Delivered, Some(names::DELIVERED)),
        "read" => (StatusKind::Seen, None),
        "undeliverable" => (StatusKind::Undelivered, Some(names::SYSTEM_FAILURE)),
        "rejected" => match code.unwrap_or("") {
            "1360" => (StatusKind::Expired, Some(names::TTL_EXPIRED)),
            "1300" => (StatusKind::Undelivered, Some(names::NOT_VIBER_USER)),
            "1310" => (StatusKind::Undelivered, Some(names::UNSUPPORTED_EQUIPMENT)),
            "1240" | "1050" => (StatusKind::Undelivered, Some(names::OPTED_OUT)),
            "1331" => (StatusKind::Undelivered, Some(names::TIMED_OUT)),
            "1180" | "1230" | "1260" | "1250" | "1251" | "1330" => {
                (StatusKind::Undelivered, Some(names::SYSTEM_FAILURE))
            }
            "1282" => (StatusKind::Undelivered, Some(names::MESSAGE_REJECTED)),
            "1000" | "1020" | "1021" | "1022" | "1040" | "1120" | "1130" | "1140" | "1150"
            | "1170" | "1380" | "1381" | "1382" => {
                (StatusKind::Failed, Some(names::MESSAGE_REJECTED))
            }
            c if c.len() == 4 && c.starts_with("14") => {
                (StatusKind::Failed, Some(names::MESSAGE_REJECTED))
            }
            _ => (StatusKind::Failed, Some(names::SYSTEM_FAILURE)),
        },
        _ => return None,
    };
    Some(mapped)
}

impl WebhookReceiver for VonageMessages {
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
        if v.get("status").is_none() && v.get("message_type").is_some() {
            return read_inbound(&v, &self.common.name, now)
                .map(|item| vec![super::to_registered_sender(&self.common, item)]);
        }
        read_status(&v, now).map(|item| vec![item])
    }
}

/// An inbound Viber message (a reply): `from` is the user's number, `to` the service id.
/// Media arrive as their URL, prefixed with the type.
fn read_inbound(v: &Value, provider: &str, now: Timestamp) -> Result<WebhookItem, WebhookError> {
    let text = |key: &str| v.get(key).and_then(Value::as_str);
    let from = text("from")
        .ok_or_else(|| WebhookError::Malformed("an inbound message without from".into()))?;
    let kind = text("message_type").unwrap_or("text");
    let body = match kind {
        "text" => text("text").unwrap_or_default().to_owned(),
        other => {
            let url = v
                .pointer(&format!("/{other}/url"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            format!("[{other}] {url}").trim_end().to_owned()
        }
    };
    Ok(WebhookItem::Inbound(InboundMessage {
        channel: Channel::Viber,
        from: inbound::e164(from),
        to: text("to").unwrap_or_default().to_owned(),
        text: body,
        received_at: text("timestamp").and_then(provider_time).unwrap_or(now),
        provider: provider.to_owned(),
        provider_message_id: text("message_uuid").map(str::to_owned),
    }))
}

fn read_status(v: &Value, now: Timestamp) -> Result<WebhookItem, WebhookError> {
    let text = |key: &str| v.get(key).and_then(Value::as_str);
    let Some(status) = text("status") else {
        let what = if text("message_type").is_some() {
            "an inbound message"
        } else {
            "a webhook without a status"
        };
        return Ok(WebhookItem::Ignored { what: what.into() });
    };
    let uuid = text("message_uuid")
        .ok_or_else(|| WebhookError::Malformed("a status without message_uuid".into()))?;
    let error = v.get("error");
    let code = error.and_then(|e| e.get("title")).and_then(|t| match t {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let Some((kind, detailed)) = map_status(status, code.as_deref()) else {
        return Ok(WebhookItem::Ignored {
            what: format!("status {status:?}"),
        });
    };
    let mut report = Report::status(
        kind,
        text("timestamp").and_then(provider_time).unwrap_or(now),
    );
    report.detailed_status = detailed.map(str::to_owned);
    report.description = error.and_then(|e| {
        let detail = e.get("detail").and_then(Value::as_str)?;
        Some(match &code {
            Some(c) => format!("{detail} ({c})"),
            None => detail.to_owned(),
        })
    });
    report.provider_price = v.get("usage").and_then(|u| {
        let price = match u.get("price")? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let currency = u.get("currency").and_then(Value::as_str).unwrap_or("EUR");
        Some(format!("{price} {currency}"))
    });
    Ok(WebhookItem::Report {
        provider_message_ids: vec![uuid.to_owned()],
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status_maps() {
        let cases = [
            ("submitted", None, StatusKind::Sent, None),
            ("delivered", None, StatusKind::Delivered, Some("Delivered")),
            ("read", None, StatusKind::Seen, None),
            (
                "undeliverable",
                None,
                StatusKind::Undelivered,
                Some("System Failure"),
            ),
            (
                "rejected",
                Some("1360"),
                StatusKind::Expired,
                Some("TTL Expired"),
            ),
            (
                "rejected",
                Some("1300"),
                StatusKind::Undelivered,
                Some("Not Viber User"),
            ),
            (
                "rejected",
                Some("1310"),
                StatusKind::Undelivered,
                Some("Unsupported Equipment"),
            ),
            (
                "rejected",
                Some("1240"),
                StatusKind::Undelivered,
                Some("Opted Out"),
            ),
            (
                "rejected",
                Some("1050"),
                StatusKind::Undelivered,
                Some("Opted Out"),
            ),
            (
                "rejected",
                Some("1331"),
                StatusKind::Undelivered,
                Some("Timed Out"),
            ),
            (
                "rejected",
                Some("1260"),
                StatusKind::Undelivered,
                Some("System Failure"),
            ),
            (
                "rejected",
                Some("1282"),
                StatusKind::Undelivered,
                Some("Message Rejected"),
            ),
            (
                "rejected",
                Some("1020"),
                StatusKind::Failed,
                Some("Message Rejected"),
            ),
            (
                "rejected",
                Some("1420"),
                StatusKind::Failed,
                Some("Message Rejected"),
            ),
            (
                "rejected",
                Some("1070"),
                StatusKind::Failed,
                Some("System Failure"),
            ),
            ("rejected", None, StatusKind::Failed, Some("System Failure")),
        ];
        for (status, code, kind, detailed) in cases {
            assert_eq!(
                map_status(status, code),
                Some((kind, detailed)),
                "{status} {code:?}"
            );
        }
        assert_eq!(map_status("deleted", None), None);
    }

    #[test]
    fn a_status_webhook_reads_into_a_report() {
        let v = json!({
            "message_uuid": "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
            "to": "306900000001", "from": "9876543210",
            "timestamp": "2026-11-26T10:15:00Z",
            "status": "rejected", "channel": "viber_service",
            "client_ref": "m-1",
            "error": {"type": "https://developer.vonage.com/api-errors/messages#1360",
                      "title": "1360", "detail": "TTL was activated.", "instance": "x"},
            "usage": {"currency": "EUR", "price": "0.0333"}
        });
        let WebhookItem::Report {
            provider_message_ids,
            report,
        } = read_status(&v, Timestamp::from_millis(0)).unwrap()
        else {
            panic!("a report");
        };
        assert_eq!(
            provider_message_ids,
            vec!["aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"]
        );
        assert_eq!(report.status, StatusKind::Expired);
        assert_eq!(report.detailed_status.as_deref(), Some("TTL Expired"));
        assert_eq!(
            report.description.as_deref(),
            Some("TTL was activated. (1360)")
        );
        assert_eq!(report.provider_price.as_deref(), Some("0.0333 EUR"));
        assert_eq!(report.at, Timestamp::parse("2026-11-26T10:15:00Z").unwrap());
    }

    #[test]
    fn webhooks_without_a_status_or_an_id_are_told_apart() {
        let inbound = json!({"message_type": "text", "text": "STOP", "channel": "viber_service", "from": "306912345678", "to": "Brand", "timestamp": "2026-11-26T10:15:00Z"});
        assert!(matches!(
            read_status(&inbound, Timestamp::from_millis(0)),
            Ok(WebhookItem::Ignored { .. })
        ));
        let Ok(WebhookItem::Inbound(m)) = read_inbound(&inbound, "vv", Timestamp::from_millis(0))
        else {
            panic!("an inbound message");
        };
        assert_eq!(
            (m.from.as_str(), m.to.as_str(), m.text.as_str()),
            ("+306912345678", "Brand", "STOP")
        );
        assert_eq!(
            m.received_at,
            Timestamp::parse("2026-11-26T10:15:00Z").unwrap()
        );
        let image = json!({"message_type": "image", "image": {"url": "https://x/y.jpg"}, "from": "306912345678"});
        let Ok(WebhookItem::Inbound(m)) = read_inbound(&image, "vv", Timestamp::from_millis(0))
        else {
            panic!("an inbound image");
        };
        assert_eq!(m.text, "[image] https://x/y.jpg");
        let no_id = json!({"status": "delivered"});
        assert!(matches!(
            read_status(&no_id, Timestamp::from_millis(0)),
            Err(WebhookError::Malformed(_))
        ));
    }
}
