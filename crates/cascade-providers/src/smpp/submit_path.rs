//! The submit path: a step's parts as `submit_sm`s on one bind, with the memory of parts
//! already accepted when the rest failed (a retry sends only the rest, with the same
//! concatenation reference).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cascade_core::flow::StepKind;
use cascade_core::ports::{Accepted, SubmitError, SubmitRequest};
use cascade_core::reasons;
use cascade_smpp::driver::{SubmitError as DriverError, SubmitOptions, SubmitOutcome};
use cascade_smpp::receipt::submit_id_key;
use cascade_smpp::{CommandStatus, vendor_tlv};

use super::connection::SmscConnection;
use super::submit::{BuildOptions, build_submit_pdus};

/// Longest one submit waits in a bind's queue (window full, throttled, reconnecting)
/// before the dispatcher is told to retry later; below the dispatcher's own timeout so
/// that parts already sent are remembered.
const QUEUE_BUDGET: Duration = Duration::from_secs(20);

impl SmscConnection {
    pub(super) async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let StepKind::Sms(step) = &request.payload.step.kind else {
            return Err(reasons::not_an_sms().into());
        };
        if let Some(recovery) = self.recovery.get() {
            // A step the run before may have handed over already: its receipts, if they
            // come in time, answer for it instead of a second copy ([`super::recovery`]).
            if let Some(ids) = recovery
                .receipts_for(&request.payload.message_id, step.to.as_ref(), &step.parts)
                .await
            {
                tracing::info!(smsc = %self.settings.name, message_id = %request.payload.message_id, "not sent again: the SMSC's receipts show the run before sent it");
                self.metrics.count_recovered();
                return Ok(Accepted {
                    provider: self.provider.clone(),
                    message_ids: ids,
                });
            }
            recovery.log.record(&request.payload.message_id);
        }
        let now = tokio::time::Instant::now().into_std();
        let ttl_left = request.payload.ttl_remaining(self.clock.now());
        let ttl_bound = ttl_left.is_some_and(|left| left <= QUEUE_BUDGET);
        let deadline = now + ttl_left.map_or(QUEUE_BUDGET, |left| left.min(QUEUE_BUDGET));
        let part_count = request.payload.message_ids.len().max(step.parts.len());
        let known = self
            .partial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&request.payload.message_id)
            .filter(|(_, known)| known.len() == part_count);
        // A retry of a partly sent long message reuses the reference of the parts already
        // accepted: with a new one (UDH or SAR) the handset gets two unrelated
        // concatenated messages and can never put the text together.
        let reference = match &known {
            Some((reference, _)) => *reference,
            None => self.reference.fetch_add(1, Ordering::Relaxed),
        };
        let pdus = build_submit_pdus(
            step,
            BuildOptions {
                long_messages: self.settings.long_messages,
                gsm7: self.settings.gsm7_coding,
                reference,
                validity_seconds: ttl_left
                    .map(|d| d.as_millis().div_ceil(1000))
                    .map(|s| u64::try_from(s).unwrap_or(u64::MAX)),
            },
        );
        let pdus = if self.sandbox {
            let client_ref = vendor_tlv::text(vendor_tlv::CLIENT_REF, &request.payload.message_id);
            // Parts left over from an earlier attempt go with `known`: not a first one.
            let first = (request.first_attempt && known.is_none())
                .then(|| vendor_tlv::flag(vendor_tlv::FIRST_ATTEMPT));
            pdus.into_iter()
                .map(|(mut pdu, parts)| {
                    pdu.tlvs.push(client_ref.clone());
                    if let Some(first) = &first {
                        pdu.tlvs.push(first.clone());
                    }
                    (pdu, parts)
                })
                .collect()
        } else {
            pdus
        };
        let mut ids: Vec<Option<String>> =
            known.map_or_else(|| vec![None; part_count], |(_, ids)| ids);
        let Some(client) = self.pick_bind() else {
            // Several nodes share the SMSC and its binds are all another node's: that
            // node takes the job (this one leaves SMS jobs alone while it holds none).
            return Err(SubmitError::Retryable {
                reason: format!(
                    "smsc {}: another node of the deployment holds its binds",
                    self.settings.name
                ),
            });
        };
        let options = SubmitOptions {
            deadline: Some(deadline),
            fail_when_throttled: false,
            wait_for_bind: true,
        };
        // Queue every missing part at once (in order: the call order is the sending
        // order), then collect the answers.
        let pending: Vec<_> = pdus
            .into_iter()
            .filter(|(_, parts)| {
                parts
                    .iter()
                    .any(|&p| ids.get(p).is_some_and(Option::is_none))
            })
            .map(|(pdu, parts)| (client.submit_with(pdu, options), parts))
            .collect();
        let mut failure: Option<SubmitError> = None;
        for (submission, parts) in pending {
            let outcome = submission.await;
            let accepted_at = tokio::time::Instant::now().into_std();
            match outcome {
                Ok(SubmitOutcome::Accepted { message_id }) => {
                    let key = submit_id_key(&message_id.to_string_lossy());
                    self.timing.record(key.clone(), accepted_at);
                    for p in parts {
                        if let Some(slot) = ids.get_mut(p) {
                            *slot = Some(key.clone());
                        }
                    }
                }
                // A system error is the SMSC's trouble, not a verdict on the message
                // (SMSCs answer it while their own storage is away): tried again later,
                // like a dropped link.
                Ok(SubmitOutcome::Rejected {
                    status: CommandStatus::ESME_RSYSERR,
                }) => {
                    failure.get_or_insert(SubmitError::Retryable {
                        reason: format!(
                            "smsc {}: ESME_RSYSERR (system error); trying again",
                            self.settings.name
                        ),
                    });
                }
                Ok(SubmitOutcome::Rejected { status }) => {
                    self.metrics.count_rejected();
                    failure.get_or_insert(rejected(status));
                }
                Err(e) => {
                    failure.get_or_insert(self.not_sent(&e, ttl_bound));
                }
            }
        }
        match failure {
            None => Ok(Accepted {
                provider: self.provider.clone(),
                message_ids: ids.into_iter().map(Option::unwrap_or_default).collect(),
            }),
            Some(e) => {
                if matches!(
                    e,
                    SubmitError::Retryable { .. } | SubmitError::RateLimited { .. }
                ) && ids.iter().any(Option::is_some)
                {
                    self.partial
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(request.payload.message_id.clone(), (reference, ids));
                }
                Err(e)
            }
        }
    }

    /// What the dispatcher should do with a submit that got no answer.
    fn not_sent(&self, error: &DriverError, ttl_bound: bool) -> SubmitError {
        match error {
            DriverError::Expired if ttl_bound => reasons::expired_waiting_for_smsc().into(),
            DriverError::Invalid(e) => reasons::invalid_message(e).into(),
            DriverError::Throttled { until } => SubmitError::RateLimited {
                retry_after_ms: u64::try_from(
                    until.saturating_duration_since(Instant::now()).as_millis(),
                )
                .unwrap_or(u64::MAX)
                .max(100),
            },
            other => SubmitError::Retryable {
                reason: format!("smsc {}: {other}", self.settings.name),
            },
        }
    }
}

/// A refused `submit_sm`: the step fails with the SMSC's reason.
fn rejected(status: CommandStatus) -> SubmitError {
    reasons::rejected_by_smsc(status).into()
}
