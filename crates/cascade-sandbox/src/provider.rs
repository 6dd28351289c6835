//! The sandbox providers of Viber and Voice (and of SMS in tests that bypass SMPP).

use std::sync::Arc;

use async_trait::async_trait;
use cascade_core::flow::StepKind;
use cascade_core::ports::{Accepted, Provider, SubmitError, SubmitRequest};
use cascade_core::sandbox::SendKind;
use cascade_core::{Channel, Clock};
use cascade_store::{SandboxSend, Store};
use serde_json::json;
use tokio::sync::Notify;

/// The provider name reports from sandbox channels are matched under.
pub fn provider_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sandbox-sms",
        Channel::Viber => "sandbox-viber",
        Channel::Voice => "sandbox-voice",
    }
}

/// What every name of [`provider_name`] starts with.
pub(crate) const PROVIDER_PREFIX: &str = "sandbox-";

/// A sandbox provider for one channel: records each send in the store, which schedules
/// the reports its scenario rule scripts.
#[derive(Debug, Clone)]
pub struct SandboxProvider {
    channel: Channel,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    reports_due: Arc<Notify>,
}

impl SandboxProvider {
    /// `reports_due` is notified whenever new reports are scheduled; pass the same one to
    /// [`crate::run_reporter_until_stopped`].
    pub fn new(
        channel: Channel,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        reports_due: Arc<Notify>,
    ) -> Self {
        Self {
            channel,
            store,
            clock,
            reports_due,
        }
    }
}

#[async_trait]
impl Provider for SandboxProvider {
    fn name(&self) -> &str {
        provider_name(self.channel)
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let payload = &request.payload;
        let prefix = match self.channel {
            Channel::Sms => "sms",
            Channel::Viber => "vbr",
            Channel::Voice => "call",
        };
        let provider_ids = (0..payload.message_ids.len())
            .map(|_| format!("sbx-{prefix}-{}", uuid::Uuid::now_v7().simple()))
            .collect();
        let send = SandboxSend {
            first_attempt: request.first_attempt,
            provider: self.name().to_owned(),
            channel: self.channel,
            client_ref: payload.message_id.clone(),
            to: payload.step.recipient(),
            payload: summary(&payload.step.kind),
            provider_ids,
            kind: SendKind::of_step(&payload.step.kind),
        };
        let outcome = self
            .store
            .sandbox_send(send, self.clock.now())
            .await
            .map_err(|e| SubmitError::Retryable {
                reason: e.to_string(),
            })?;
        if !outcome.duplicate {
            self.reports_due.notify_one();
        }
        Ok(Accepted {
            provider: self.name().to_owned(),
            message_ids: outcome.provider_ids,
        })
    }
}

/// What the sandbox shows it received.
fn summary(step: &StepKind) -> serde_json::Value {
    match step {
        StepKind::Sms(s) => {
            json!({"from": s.from.as_ref(), "parts": s.parts, "encoding": s.encoding, "flash": s.flash})
        }
        StepKind::Viber(v) => {
            json!({"from": v.sender_name, "text": v.content.text, "rich": v.content.is_rich()})
        }
        StepKind::Voice(v) => json!({"from": v.from.as_ref(), "verbs": v.dial_plan.len(),
            "machineDetection": v.machine_detection.map(|m| m.name())}),
    }
}
