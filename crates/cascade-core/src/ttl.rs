//! Time to live: every rule about how long a step may take, in one place.
//!
//! A step's TTL comes from its request (`ttl` in minutes for SMS, tenths of a minute for
//! Viber) measured on a [`TtlClock`] (real minutes in production, shorter ones in the
//! sandbox). A voice step has no TTL of its own, but a call whose provider never reports
//! its end must not hold the flow forever: it gets [`VOICE_REPORT_DEADLINE_MINUTES`].
//!
//! Two moments follow from it:
//!
//! - [`leave_by`]: counted from when the step *started*, the moment after which its
//!   messages must not be handed to a provider any more (SMS and Viber: a message that
//!   waited in Cascade's queue — retries, a restart, an SMSC's window — past its TTL ends
//!   `Unsent`/`Expired`; [`remaining`] is what is left of it for the SMSC's validity
//!   period). A call has none: it is placed whenever it can be.
//! - [`expiry_timer`]: counted from when the step was *sent*, when the engine expires the
//!   messages still not final (the reasons are [`crate::reasons::ttl_expired`]).

use std::time::Duration;

use crate::flow::{Step, StepKind};
use crate::time::Timestamp;

/// How long one TTL minute lasts per channel, in milliseconds (60 000 in production;
/// shorter in the sandbox so TTL paths can be exercised quickly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlClock {
    pub sms_minute_ms: i64,
    pub viber_minute_ms: i64,
    pub voice_minute_ms: i64,
}

impl Default for TtlClock {
    fn default() -> Self {
        Self {
            sms_minute_ms: 60_000,
            viber_minute_ms: 60_000,
            voice_minute_ms: 60_000,
        }
    }
}

/// Voice steps have no TTL, but a call whose provider never reports its end must not
/// hold the flow forever: after this many minutes the call counts as `Failed`.
pub const VOICE_REPORT_DEADLINE_MINUTES: i64 = 120;

/// A step's TTL in milliseconds on `clock` (the voice report deadline for a call).
pub fn step_ttl_ms(kind: &StepKind, clock: TtlClock) -> i64 {
    match kind {
        StepKind::Sms(s) => i64::from(s.ttl_minutes) * clock.sms_minute_ms,
        StepKind::Viber(v) => i64::from(v.ttl_tenths) * clock.viber_minute_ms / 10,
        StepKind::Voice(_) => VOICE_REPORT_DEADLINE_MINUTES * clock.voice_minute_ms,
    }
}

/// After this moment the step's messages must not be handed to a provider any more
/// (`None`: no such moment — a call, or a step without a TTL).
pub fn leave_by(step: &Step, started_at: Timestamp) -> Option<Timestamp> {
    match step.kind {
        StepKind::Sms(_) | StepKind::Viber(_) => step.ttl_ms.map(|ttl| started_at.plus_millis(ttl)),
        StepKind::Voice(_) => None,
    }
}

/// What is left at `now` of the time the step's messages may still be handed over
/// (zero once it has run out; `None`: no limit).
pub fn remaining(step: &Step, started_at: Timestamp, now: Timestamp) -> Option<Duration> {
    leave_by(step, started_at)
        .map(|t| Duration::from_millis(u64::try_from(t.millis_since(now)).unwrap_or(0)))
}

/// Whether at `now` the step's messages must no longer leave.
pub fn run_out(step: &Step, started_at: Timestamp, now: Timestamp) -> bool {
    leave_by(step, started_at).is_some_and(|t| now >= t)
}

/// When the engine expires a step sent at `sent_at` (`None`: never).
pub fn expiry_timer(step: &Step, sent_at: Timestamp) -> Option<Timestamp> {
    step.ttl_ms.map(|ttl| sent_at.plus_millis(ttl))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::FlowId;
    use crate::flow::{AcceptContext, parse_flow};
    use crate::pricing::{OperatorTable, PriceList};

    fn step(body: serde_json::Value, clock: TtlClock) -> Step {
        let ctx = AcceptContext {
            tracking_id: FlowId::new_v7(0),
            now: Timestamp::from_millis(0),
            account_id: "a",
            application_id: "b",
            viber_senders: &HashMap::from([("s".to_owned(), "Brand".to_owned())]),
            prices: &PriceList::default(),
            operators: &OperatorTable::default(),
            ttl_clock: clock,
        };
        parse_flow(&serde_json::json!({"flow": [body]}), &ctx)
            .expect("a valid step")
            .steps
            .remove(0)
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn each_channel_measures_its_ttl_on_its_own_clock() {
        let sandbox = TtlClock {
            sms_minute_ms: 100,
            viber_minute_ms: 1_000,
            voice_minute_ms: 10,
        };
        let sms = step(
            serde_json::json!({"type": "Sms", "order": 1, "from": "Cascade", "to": "+306912345678",
                "ttl": 3, "message": {"body": "Hi"}}),
            sandbox,
        );
        assert_eq!(sms.ttl_ms, Some(300));
        let viber = step(
            serde_json::json!({"type": "Viber", "order": 1, "senderInfoTrackingId": "s",
                "to": "+306912345678", "ttl": 0.5, "message": {"text": "Hi"}}),
            sandbox,
        );
        assert_eq!(viber.ttl_ms, Some(500), "tenths of a minute");
        let voice = step(
            serde_json::json!({"type": "Voice", "order": 1, "from": "+306900000000",
                "to": "+306912345678", "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": "Hi"}}]}}),
            sandbox,
        );
        assert_eq!(voice.ttl_ms, Some(VOICE_REPORT_DEADLINE_MINUTES * 10));
        assert_eq!(
            leave_by(&voice, at(0)),
            None,
            "a call leaves whenever it can"
        );
        assert_eq!(expiry_timer(&voice, at(5)), Some(at(5 + 1_200)));
    }

    #[test]
    fn leaving_is_counted_from_the_start_expiry_from_the_sending() {
        let sms = step(
            serde_json::json!({"type": "Sms", "order": 1, "from": "Cascade", "to": "+306912345678",
                "ttl": 1, "message": {"body": "Hi"}}),
            TtlClock::default(),
        );
        assert_eq!(leave_by(&sms, at(1_000)), Some(at(61_000)));
        assert_eq!(
            remaining(&sms, at(1_000), at(31_000)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(remaining(&sms, at(1_000), at(99_000)), Some(Duration::ZERO));
        assert!(!run_out(&sms, at(1_000), at(60_999)));
        assert!(run_out(&sms, at(1_000), at(61_000)));
        assert_eq!(expiry_timer(&sms, at(5_000)), Some(at(65_000)));
    }
}
