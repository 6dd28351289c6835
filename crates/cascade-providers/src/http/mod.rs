//! Viber and Voice through providers' HTTP APIs: one module per kind of `[[provider]]`
//! section, the HTTP client they share, and failover between the providers of a channel.
//!
//! Each adapter is a [`Provider`](cascade_core::ports::Provider) (it sends a step's
//! message and answers with the provider's id) and a
//! [`WebhookReceiver`](cascade_core::ports::WebhookReceiver) (it verifies the provider's
//! webhooks and reads them into reports). Recording what a webhook says is the API's
//! and the runtime's job; nothing here touches the store.

pub mod client;
pub mod failover;
pub mod infobip_viber;
pub mod metrics;
pub mod settings;
pub mod twilio_voice;
mod voice;
mod vonage_auth;
pub mod vonage_messages;
pub mod vonage_voice;

use std::sync::Arc;

use cascade_core::flow::{StepKind, ViberStep};
use cascade_core::ports::{Provider, ReportSink, SubmitError, SubmitRequest, WebhookReceiver};
use cascade_core::{Clock, Timestamp, reasons};

pub use settings::{ProviderSection, ProviderSettings, SectionError};

/// A built adapter: the sending side and the receiving side of one section (a SIP
/// trunk has no webhooks: its calls report from their own task).
#[derive(Debug, Clone)]
pub struct Adapter {
    pub provider: Arc<dyn Provider>,
    pub webhooks: Option<Arc<dyn WebhookReceiver>>,
}

/// Build the adapter a section describes. `public_url` is where the provider reaches
/// Cascade (`CASCADE_PUBLIC_URL`); `sink` takes what an adapter learns outside webhooks
/// (Twilio's call prices, fetched after the call); `voice_submit_window` is how long after
/// its step started a call may still be placed.
///
/// # Errors
/// When the section's keys cannot be loaded, its HTTP client built or its SIP socket
/// bound.
pub async fn build(
    settings: &ProviderSettings,
    public_url: &str,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn ReportSink>,
    voice_submit_window: std::time::Duration,
) -> Result<Adapter, String> {
    match settings {
        ProviderSettings::VonageMessages { .. } => {
            let a = Arc::new(vonage_messages::VonageMessages::new(
                settings, public_url, clock,
            )?);
            Ok(Adapter {
                provider: a.clone(),
                webhooks: Some(a),
            })
        }
        ProviderSettings::InfobipViber { .. } => {
            let a = Arc::new(infobip_viber::InfobipViber::new(
                settings, public_url, clock,
            )?);
            Ok(Adapter {
                provider: a.clone(),
                webhooks: Some(a),
            })
        }
        ProviderSettings::TwilioVoice { .. } => {
            let a = Arc::new(
                twilio_voice::TwilioVoice::new(settings, public_url, clock, sink)?
                    .with_submit_window(voice_submit_window),
            );
            Ok(Adapter {
                provider: a.clone(),
                webhooks: Some(a),
            })
        }
        ProviderSettings::VonageVoice { .. } => {
            let a = Arc::new(
                vonage_voice::VonageVoice::new(settings, public_url, clock)?
                    .with_submit_window(voice_submit_window),
            );
            Ok(Adapter {
                provider: a.clone(),
                webhooks: Some(a),
            })
        }
        ProviderSettings::Sip { common, sip } => {
            let provider = crate::sip::SipProvider::start(
                common.clone(),
                (**sip).clone(),
                clock,
                sink,
                voice_submit_window,
            )
            .await?;
            Ok(Adapter {
                provider: Arc::new(provider),
                webhooks: None,
            })
        }
    }
}

/// The Viber step of a request, or the refusal a Viber adapter gives anything else.
fn viber_step<'a>(
    provider: &str,
    request: &'a SubmitRequest,
) -> Result<&'a ViberStep, SubmitError> {
    match &request.payload.step.kind {
        StepKind::Viber(v) => Ok(v),
        _ => Err(SubmitError::from(reasons::unsupported_by_provider(
            provider,
            format!("a {} step", request.channel()),
        ))),
    }
}

/// The step's remaining TTL at `now` in whole seconds, within `min..=max` (providers
/// refuse values outside their range; Cascade's own timer stays the authority).
fn ttl_seconds(request: &SubmitRequest, now: Timestamp, min: u64, max: u64) -> u64 {
    request
        .payload
        .ttl_remaining(now)
        .map_or(max, |d| d.as_secs())
        .clamp(min, max)
}

/// A provider's timestamp in any of the forms they send: RFC 3339
/// (`2025-02-03T12:14:25Z`), Vonage's older `2020-01-01 14:00:00 +0000`, Infobip's
/// `2026-11-26T10:15:00.000+0000`.
fn provider_time(text: &str) -> Option<Timestamp> {
    if let Ok(t) = Timestamp::parse(text) {
        return Some(t);
    }
    for pattern in [
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%z",
    ] {
        if let Ok(t) = chrono::DateTime::parse_from_str(text.trim(), pattern) {
            return Some(Timestamp::from_millis(t.timestamp_millis()));
        }
    }
    None
}

/// Where a provider section's webhooks reach Cascade: `<public URL>/webhooks/<name>`.
fn webhook_url(public_url: &str, name: &str) -> String {
    format!("{}/webhooks/{name}", public_url.trim_end_matches('/'))
}

/// A reply addressed to a provider-side sender id, readdressed to the registered sender
/// name that Cascade matches steps by.
fn to_registered_sender(
    common: &settings::Common,
    item: cascade_core::ports::WebhookItem,
) -> cascade_core::ports::WebhookItem {
    match item {
        cascade_core::ports::WebhookItem::Inbound(mut m) => {
            m.to = common.registered_sender(&m.to);
            cascade_core::ports::WebhookItem::Inbound(m)
        }
        other => other,
    }
}

/// The body's SHA-256 in lower-case hex.
fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_timestamps_in_every_documented_form() {
        let expected = Timestamp::parse("2026-11-26T10:15:00Z").unwrap();
        for text in [
            "2026-11-26T10:15:00Z",
            "2026-11-26 10:15:00 +0000",
            "2026-11-26T10:15:00.000+0000",
            "2026-11-26T12:15:00+0200",
        ] {
            assert_eq!(provider_time(text), Some(expected), "{text}");
        }
        assert_eq!(provider_time("yesterday"), None);
    }
}
