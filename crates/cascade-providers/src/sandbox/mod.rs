//! Sandbox providers: behave like real ones (ids now, reports later, matched by provider
//! message id) with behaviour scripted by scenario rules. Their state — rules, what they
//! received, reports still owed — lives in the store, so a restart of Cascade does not
//! make the "provider" forget a report, just as a real provider would retry its webhook.

mod scenario;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cascade_core::flow::StepKind;
use cascade_core::{Channel, Timestamp};
use cascade_store::{SandboxSend, Store};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use scenario::{
    Rule, ScriptedEvent, parse_scenario, plan_reports, plan_sms_reports, scenario_json,
};

use crate::{Accepted, Provider, ReportSink, SubmitError, SubmitRequest};

/// What every name of [`provider_name`] starts with.
const PROVIDER_PREFIX: &str = "sandbox-";

/// The provider name reports from sandbox channels are matched under.
pub fn provider_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sandbox-sms",
        Channel::Viber => "sandbox-viber",
        Channel::Voice => "sandbox-voice",
    }
}

/// A sandbox provider for one channel.
#[derive(Debug, Clone)]
pub struct SandboxProvider {
    channel: Channel,
    store: Arc<dyn Store>,
    reports_due: Arc<Notify>,
}

impl SandboxProvider {
    /// `reports_due` is notified whenever new reports are scheduled; pass the same one to
    /// [`run_reporter_until_stopped`].
    pub fn new(channel: Channel, store: Arc<dyn Store>, reports_due: Arc<Notify>) -> Self {
        Self {
            channel,
            store,
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
        let step = payload.step.kind.clone();
        let count = payload.message_ids.len();
        let prefix = match self.channel {
            Channel::Sms => "sms",
            Channel::Viber => "vbr",
            Channel::Voice => "call",
        };
        let ids: Vec<String> = (0..count)
            .map(|_| format!("sbx-{prefix}-{}", uuid::Uuid::now_v7().simple()))
            .collect();
        let now = wall_clock();
        let send = SandboxSend {
            first_attempt: request.first_attempt,
            provider: self.name().to_owned(),
            channel: self.channel,
            client_ref: payload.message_id.clone(),
            to: payload.step.recipient(),
            payload: summary(&step),
            planner: Box::new(move |scenario| plan_reports(&step, scenario, ids, now)),
        };
        let outcome =
            self.store
                .sandbox_send(send, now)
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

/// One received message as `GET /sandbox/messages` lists it.
pub fn message_json(m: &cascade_store::SandboxMessage) -> serde_json::Value {
    json!({
        "channel": m.channel.name(),
        "provider": m.provider,
        "providerMessageIds": m.provider_message_ids,
        "clientRef": m.client_ref,
        "to": m.to,
        "content": m.payload,
        "scenarioId": m.scenario_id,
        "receivedAt": m.received_at,
    })
}

/// The `limit` query parameter of `GET /sandbox/messages`: 1 to 1000, default 100.
///
/// # Errors
/// A sentence for the client.
pub fn messages_limit(given: Option<&str>) -> Result<u32, &'static str> {
    match given {
        None => Ok(100),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or("limit must be an integer from 1 to 1000"),
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

/// Milliseconds since the epoch, from the system clock.
pub fn wall_clock() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_millis(ms)
}

const REPORT_BATCH: u32 = 512;
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Deliver sandbox reports when they fall due, until `stop` is cancelled. Reports of
/// one message go in order; different messages are delivered concurrently. A report is
/// acknowledged (deleted) only after the sink recorded it.
pub async fn run_reporter_until_stopped(
    store: Arc<dyn Store>,
    sink: Arc<dyn ReportSink>,
    reports_due: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        let delivered = match deliver_due(&*store, &sink).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "sandbox reporter could not read due reports");
                0
            }
        };
        if delivered > 0 {
            continue;
        }
        let now = wall_clock();
        let wait = match store.next_sandbox_report_due(PROVIDER_PREFIX).await {
            Ok(Some(due)) => {
                Duration::from_millis(u64::try_from(due.millis_since(now)).unwrap_or(0))
                    .min(IDLE_POLL)
            }
            _ => IDLE_POLL,
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = reports_due.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn deliver_due(
    store: &dyn Store,
    sink: &Arc<dyn ReportSink>,
) -> Result<usize, cascade_store::StoreError> {
    let due = store
        .due_sandbox_reports(PROVIDER_PREFIX, wall_clock(), REPORT_BATCH)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut by_message: BTreeMap<(String, String), Vec<_>> = BTreeMap::new();
    for r in due {
        by_message
            .entry((r.provider.clone(), r.provider_message_id.clone()))
            .or_default()
            .push(r);
    }
    let tasks = by_message.into_values().map(|reports| {
        let sink = Arc::clone(sink);
        async move {
            let mut done = Vec::new();
            for r in reports {
                let ids = [r.provider_message_id.clone()];
                match sink.deliver(&r.provider, &ids, r.report).await {
                    Ok(_) => done.push(r.id),
                    Err(e) => {
                        tracing::warn!(error = %e, provider_message_id = %r.provider_message_id, "sandbox report not recorded; will retry");
                        break;
                    }
                }
            }
            done
        }
    });
    let acked: Vec<i64> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect();
    let n = acked.len();
    store.ack_sandbox_reports(&acked).await?;
    Ok(n)
}
