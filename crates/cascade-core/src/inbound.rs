//! Replies to a flow's messages (spec: providers §5): what one looks like, which step it
//! answers, and the body Cascade POSTs to the step's `inboundUrl`.
//!
//! A reply is matched to the newest flow of the last [`MATCH_WINDOW_DAYS`] days that
//! sent a message to its sender on its channel; an SMS reply must also have been sent to
//! the address that step sent from. Stores find the candidate flows; the decision is
//! [`step_answered`] of a step that [`reached`] its provider: one sent first, one still
//! being submitted only when no sent step is answered.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::channel::Channel;
use crate::flow::{Step, StepKind};
use crate::machines::{StepPhase, StepState};
use crate::time::Timestamp;

/// How far back a reply looks for the flow it answers.
pub const MATCH_WINDOW_DAYS: i64 = 7;

/// A message from a recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub channel: Channel,
    /// The recipient who answered, E.164 with `+`.
    pub from: String,
    /// Where the answer went: the Viber sender (its provider-side id or name), or the
    /// address an SMS reply was sent to.
    pub to: String,
    pub text: String,
    pub received_at: Timestamp,
    /// The provider section (or SMSC) it came through.
    pub provider: String,
    /// The provider's id for the reply (Vonage `message_uuid`, Infobip `messageId`):
    /// a reply the provider sends again is recorded once. `None` when there is none
    /// (SMPP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
}

impl InboundMessage {
    /// The earliest time a step may have started to be answered by this message.
    pub fn window_start(&self) -> Timestamp {
        self.received_at
            .plus_millis(-MATCH_WINDOW_DAYS * 24 * 3600 * 1000)
    }
}

/// How far a started step went towards its recipient, as far as a reply is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// Recorded as sent.
    Sent,
    /// Its price reserved and its submission queued or under way, not refused, not yet
    /// recorded as sent. A provider can pass a reply on before the write that records
    /// the step as sent has committed (the sandbox's replies scripted at `afterMs: 0`
    /// do, and on a shared store the two are written by different tasks), so such a
    /// step may be answered, but only when no step that was sent is.
    Submitting,
}

/// How far `state`'s step went; `None` for a step still reserving its price, or
/// refused: it never reached anyone.
pub fn reached(state: &StepState) -> Option<Reached> {
    if state.sent_at.is_some() {
        Some(Reached::Sent)
    } else if state.phase == StepPhase::Submitting && state.outcome.is_none() {
        Some(Reached::Submitting)
    } else {
        None
    }
}

/// A number as providers print it (`306912345678`, `+306912345678`, `00306912345678`)
/// in E.164 with `+`.
pub fn e164(number: &str) -> String {
    let n = number.trim();
    let digits = n
        .strip_prefix('+')
        .or_else(|| n.strip_prefix("00"))
        .unwrap_or(n);
    format!("+{digits}")
}

/// Whether `step` (of a flow that sent it) is what `message` answers: same channel, sent
/// to the message's sender, and for SMS sent from the address the reply went to (as
/// digits or, for an alphanumeric sender, case-insensitively).
pub fn step_answered(step: &Step, message: &InboundMessage) -> bool {
    if step.channel() != message.channel || step.recipient() != message.from {
        return false;
    }
    match &step.kind {
        StepKind::Sms(sms) => {
            let from: &str = sms.from.as_ref();
            let digits = |s: &str| {
                s.trim_start_matches('+')
                    .trim_start_matches("00")
                    .to_owned()
            };
            from.eq_ignore_ascii_case(&message.to) || digits(from) == digits(&message.to)
        }
        // The reply went to this step's sender (providers' own sender ids are mapped
        // back to the registered name by the adapter): another account writing to the
        // same number from another sender never receives it.
        StepKind::Viber(v) => v.sender_name.eq_ignore_ascii_case(message.to.trim()),
        StepKind::Voice(_) => false,
    }
}

/// The step's `inboundUrl`, if it has one.
pub fn inbound_url(step: &Step) -> Option<&str> {
    match &step.kind {
        StepKind::Viber(v) => v.inbound_url.as_deref(),
        StepKind::Sms(s) => s.inbound_url.as_deref(),
        StepKind::Voice(_) => None,
    }
}

/// The body POSTed to the `inboundUrl` (spec: providers §5).
pub fn body(tracking_id: &str, message_tracking_id: &str, message: &InboundMessage) -> Value {
    json!({
        "trackingId": tracking_id,
        "messageTrackingId": message_tracking_id,
        "type": message.channel.to_string(),
        "from": message.from,
        "to": message.to,
        "text": message.text,
        "receivedAt": message.received_at.to_rfc3339(),
        "provider": message.provider,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_any_provider_form_become_e164() {
        for n in [
            "306912345678",
            "+306912345678",
            "00306912345678",
            " 306912345678 ",
        ] {
            assert_eq!(e164(n), "+306912345678", "{n}");
        }
    }

    #[test]
    fn a_step_handed_to_its_provider_may_be_answered_before_it_is_recorded_as_sent() {
        let mut state = StepState {
            order: 1,
            phase: StepPhase::Reserving,
            outcome: None,
            started_at: Timestamp::from_millis(1_000),
            sent_at: None,
            message_id: "m-1".into(),
            reserved: crate::money::Micros::ZERO,
            messages: Vec::new(),
        };
        assert_eq!(reached(&state), None, "still reserving: nothing sent");
        state.phase = StepPhase::Submitting;
        assert_eq!(
            reached(&state),
            Some(Reached::Submitting),
            "the provider may have it"
        );
        state.outcome = Some(crate::channel::StatusKind::Failed);
        assert_eq!(reached(&state), None, "refused: nobody got it");
        state.phase = StepPhase::Sent;
        state.sent_at = Some(Timestamp::from_millis(1_005));
        assert_eq!(
            reached(&state),
            Some(Reached::Sent),
            "sent, then failed: answerable"
        );
        state.outcome = None;
        assert_eq!(reached(&state), Some(Reached::Sent));
    }

    #[test]
    fn the_window_is_seven_days_back() {
        let m = InboundMessage {
            channel: Channel::Viber,
            from: "+306912345678".into(),
            to: "Brand".into(),
            text: "STOP".into(),
            received_at: Timestamp::from_millis(8 * 86_400_000),
            provider: "p".into(),
            provider_message_id: None,
        };
        assert_eq!(m.window_start(), Timestamp::from_millis(86_400_000));
        let b = body("t-1", "m-1", &m);
        assert_eq!(b["type"], "Viber");
        assert_eq!(b["text"], "STOP");
        assert_eq!(b["receivedAt"], "1970-01-09T00:00:00.000Z");
    }
}
