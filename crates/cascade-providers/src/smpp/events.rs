//! What a bind receives: receipts and mobile-originated messages are recorded (then
//! acknowledged, so that a crash in between makes the SMSC send them again), link events
//! are logged.

use std::sync::Arc;

use cascade_core::inbound::{self, InboundMessage};
use cascade_core::machines::Report;
use cascade_core::ports::{Recorded, ReportSink};
use cascade_core::{Channel, Clock};
use cascade_smpp::driver::{ClientEvent, ConnSeq, EsmeClient};
use cascade_smpp::{CommandStatus, MessageIdForm};
use tokio::sync::{Semaphore, mpsc};

use super::latency::Timing;
use super::metrics::SmscMetrics;
use super::receipt::to_report;

pub(super) struct EventContext {
    pub(super) client: EsmeClient,
    pub(super) sink: Arc<dyn ReportSink>,
    pub(super) provider: String,
    pub(super) form: MessageIdForm,
    pub(super) sandbox: bool,
    pub(super) metrics: Arc<SmscMetrics>,
    pub(super) timing: Arc<Timing>,
    pub(super) receipts: Arc<Semaphore>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) recovery: Arc<std::sync::OnceLock<Arc<super::recovery::Recovery>>>,
    pub(super) events: mpsc::UnboundedReceiver<ClientEvent>,
}

/// Everything a bind receives: receipts are recorded (then acknowledged, so that a crash
/// in between makes the SMSC send them again), MO messages are logged and counted.
pub(super) async fn handle_events(mut cx: EventContext) {
    let name = cx.client.name().to_owned();
    while let Some(event) = cx.events.recv().await {
        match event {
            ClientEvent::Receipt {
                seq,
                receipt,
                message,
            } => {
                let Ok(permit) = Arc::clone(&cx.receipts).acquire_owned().await else {
                    return;
                };
                let tlvs = message.tlvs().clone();
                let task = ReceiptTask {
                    client: cx.client.clone(),
                    sink: Arc::clone(&cx.sink),
                    provider: cx.provider.clone(),
                    metrics: Arc::clone(&cx.metrics),
                    timing: Arc::clone(&cx.timing),
                    recovery: cx.recovery.get().cloned().map(|r| {
                        (
                            r,
                            message.source_addr().to_string_lossy().into_owned(),
                            receipt.text.clone(),
                        )
                    }),
                };
                let form = cx.form;
                let sandbox = cx.sandbox;
                let received_at = cx.clock.now();
                tokio::spawn(async move {
                    let report = to_report(&receipt, &tlvs, sandbox, received_at);
                    let candidates = receipt
                        .message_id
                        .as_deref()
                        .map(|id| form.candidates(id))
                        .unwrap_or_default();
                    task.record(seq, candidates, report).await;
                    drop(permit);
                });
            }
            ClientEvent::MobileOriginated { seq, message } => {
                cx.metrics.count_mobile_originated();
                let from = message.source_addr().to_string_lossy().into_owned();
                let to = message.destination_addr().to_string_lossy().into_owned();
                let inbound = InboundMessage {
                    channel: Channel::Sms,
                    // An international number (TON 1) is E.164 without its +; anything
                    // else (national, unknown, alphanumeric) is kept as the SMSC wrote
                    // it rather than guessed into a wrong country.
                    from: if message.source_addr_ton() == 1 {
                        inbound::e164(&from)
                    } else {
                        from.clone()
                    },
                    to,
                    text: mo_text(
                        message.data_coding(),
                        message.esm_class(),
                        message.message(),
                    ),
                    received_at: cx.clock.now(),
                    provider: name.clone(),
                    // deliver_sm carries no id for the message: an MO the SMSC sends
                    // again is recorded again.
                    provider_message_id: None,
                };
                // Acknowledged only once recorded: on a store error the SMSC sends it again.
                let status = match cx.sink.inbound(inbound).await {
                    Ok(()) => CommandStatus::ESME_ROK,
                    Err(e) => {
                        tracing::warn!(smsc = %name, %from, error = %e, "a mobile-originated message could not be recorded; asking the SMSC to send it again");
                        CommandStatus::ESME_RX_T_APPN
                    }
                };
                let _ = cx.client.ack_incoming(seq, status).await;
            }
            ClientEvent::Bound {
                connection,
                system_id,
                ..
            } => {
                tracing::info!(smsc = %name, connection, system_id = %system_id.to_string_lossy(), "SMPP bind up");
            }
            ClientEvent::BindFailed { status, .. } => {
                tracing::warn!(smsc = %name, %status, "the SMSC refused the bind; retrying with back-off");
            }
            ClientEvent::ConnectFailed { error, retry_in } => {
                tracing::warn!(smsc = %name, %error, ?retry_in, "could not connect to the SMSC");
            }
            ClientEvent::Disconnected {
                reason,
                error,
                retry_in,
                ..
            } => {
                tracing::warn!(smsc = %name, ?reason, error = ?error.map(|e| e.to_string()), ?retry_in, "SMPP bind down");
            }
            ClientEvent::Throttled { status, .. } => {
                tracing::info!(smsc = %name, %status, "the SMSC asks to slow down; submits paused");
            }
            ClientEvent::LateSubmitResponse {
                seq,
                status,
                message_id,
            } => {
                // The submit was reported as timed out and will be sent again: the SMSC
                // may deliver this copy too.
                tracing::warn!(smsc = %name, %seq, %status, message_id = %message_id.to_string_lossy(), "submit_sm_resp after the response timeout");
            }
            ClientEvent::ProtocolError { error, .. } => {
                tracing::warn!(smsc = %name, %error, "undecodable PDU from the SMSC");
            }
            ClientEvent::Stopped { .. } => return,
            _ => {}
        }
    }
}

struct ReceiptTask {
    client: EsmeClient,
    sink: Arc<dyn ReportSink>,
    provider: String,
    metrics: Arc<SmscMetrics>,
    timing: Arc<Timing>,
    /// Where a receipt for an unknown id is also remembered, with its `source_addr` (the
    /// recipient) and `text:`.
    recovery: Option<(Arc<super::recovery::Recovery>, String, Option<String>)>,
}

impl ReceiptTask {
    async fn record(self, seq: ConnSeq, candidates: Vec<String>, report: Report) {
        let is_final = report.status.is_final();
        let status = if candidates.is_empty() {
            // Nothing to match it by, now or ever: count it and let it go.
            self.metrics.count_receipt(Recorded::Held);
            tracing::warn!(provider = %self.provider, "receipt without a message id");
            CommandStatus::ESME_ROK
        } else {
            match self.sink.deliver(&self.provider, &candidates, report).await {
                Ok(recorded) => {
                    self.metrics.count_receipt(recorded);
                    if recorded == Recorded::Held
                        && let Some((recovery, from, text)) = &self.recovery
                    {
                        recovery
                            .unmatched
                            .note(candidates.clone(), from, text.as_deref());
                    }
                    if is_final && let Some(sent) = self.timing.take(&candidates) {
                        self.metrics.observe_latency(sent.elapsed());
                    }
                    CommandStatus::ESME_ROK
                }
                Err(e) => {
                    // Not stored: a temporary error makes the SMSC deliver it again.
                    tracing::warn!(provider = %self.provider, error = %e, "receipt not recorded; asking the SMSC to retry");
                    CommandStatus::ESME_RX_T_APPN
                }
            }
        };
        if let Err(e) = self.client.ack_incoming(seq, status).await {
            tracing::debug!(provider = %self.provider, error = %e, "receipt answer not sent; the SMSC will deliver it again");
        }
    }
}

/// The text of a mobile-originated message: GSM-7 (unpacked, data_coding 0), Latin-1 (3),
/// ASCII (1) or UCS-2 (8), after a user data header when `esm_class` says there is one.
/// Undecodable octets come out as hex, so nothing is lost.
fn mo_text(data_coding: u8, esm_class: u8, octets: &[u8]) -> String {
    let body = if esm_class & 0x40 != 0 && !octets.is_empty() {
        let udh_len = usize::from(octets[0]) + 1;
        octets.get(udh_len..).unwrap_or_default()
    } else {
        octets
    };
    let decoded = match data_coding {
        0 => cascade_core::sms::encoding::decode_gsm7(body).ok(),
        8 => cascade_core::sms::encoding::decode_ucs2(body).ok(),
        1 | 3 => Some(body.iter().map(|&b| char::from(b)).collect()),
        _ => None,
    };
    decoded.unwrap_or_else(|| format!("hex:{}", hex::encode(body)))
}

#[cfg(test)]
mod tests {
    use super::mo_text;

    #[test]
    fn mobile_originated_text_in_each_coding() {
        assert_eq!(mo_text(0, 0, b"STOP"), "STOP");
        assert_eq!(mo_text(3, 0, &[0x53, 0xe9]), "S\u{e9}");
        assert_eq!(mo_text(8, 0, &[0x03, 0xa3, 0x03, 0xa4]), "\u{3a3}\u{3a4}");
        assert_eq!(
            mo_text(0, 0x40, &[5, 0, 3, 1, 2, 1, b'H', b'i']),
            "Hi",
            "after the UDH"
        );
        assert_eq!(mo_text(4, 0, &[1, 2]), "hex:0102", "binary is kept as hex");
    }
}
