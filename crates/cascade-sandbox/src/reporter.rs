//! Delivering the reports the sandbox providers owe.

use std::collections::BTreeMap;
use std::sync::Arc;

use cascade_core::Clock;
use cascade_core::inbound::InboundMessage;
use cascade_core::ports::ReportSink;
use cascade_core::sandbox::Delivery;
use cascade_store::{Store, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::provider::PROVIDER_PREFIX;

const REPORT_BATCH: u32 = 512;
const IDLE_POLL_MS: i64 = 1_000;

/// Deliver sandbox reports when they fall due, until `stop` is cancelled. Reports of
/// one message go in order; different messages are delivered concurrently. A report is
/// acknowledged (deleted) only after the sink recorded it.
pub async fn run_reporter_until_stopped(
    store: Arc<dyn Store>,
    sink: Arc<dyn ReportSink>,
    clock: Arc<dyn Clock>,
    reports_due: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        let delivered = match deliver_due(&*store, &sink, &*clock).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "sandbox reporter could not read due reports");
                0
            }
        };
        if delivered > 0 {
            continue;
        }
        let now = clock.now();
        let wake_at = match store.next_sandbox_report_due(PROVIDER_PREFIX).await {
            Ok(Some(due)) => due.min(now.plus_millis(IDLE_POLL_MS)),
            _ => now.plus_millis(IDLE_POLL_MS),
        };
        if wake_at <= now {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = reports_due.notified() => {}
            () = clock.sleep_until(wake_at) => {}
        }
    }
}

async fn deliver_due(
    store: &dyn Store,
    sink: &Arc<dyn ReportSink>,
    clock: &dyn Clock,
) -> Result<usize, StoreError> {
    let due = store
        .due_sandbox_reports(PROVIDER_PREFIX, clock.now(), REPORT_BATCH, &[])
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
                let recorded = match r.delivery {
                    Delivery::Report(report) => sink.deliver(&r.provider, &ids, report).await.map(|_| ()),
                    Delivery::Inbound(reply) => {
                        sink.inbound(InboundMessage {
                            channel: channel_of(&r.provider),
                            from: reply.from,
                            to: reply.to,
                            text: reply.inbound,
                            received_at: reply.at,
                            provider: r.provider.clone(),
                            provider_message_id: Some(reply_id(&r.provider_message_id, r.id)),
                        })
                        .await
                    }
                };
                match recorded {
                    Ok(()) => done.push(r.id),
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

/// What tells a scripted reply from a repeat of it: the message it answers and its report
/// row. The row's number alone is not enough: SQLite numbers a row one past the largest
/// left, so once every report is delivered the next reply's row gets a number an earlier
/// reply had, and the new reply was taken for that one's repeat.
fn reply_id(provider_message_id: &str, row: i64) -> String {
    format!("reply-{provider_message_id}-{row}")
}

/// The channel a sandbox provider serves, from its name (`sandbox:viber`).
fn channel_of(provider: &str) -> cascade_core::Channel {
    provider
        .strip_prefix(PROVIDER_PREFIX)
        .and_then(cascade_core::Channel::parse)
        .unwrap_or(cascade_core::Channel::Viber)
}
