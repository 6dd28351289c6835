//! Flow definitions for the SQLite store's unit tests.

use std::collections::HashMap;

use cascade_core::flow::{AcceptContext, FlowDefinition, TtlClock, parse_flow};
use cascade_core::pricing::{OperatorTable, PriceList};
use cascade_core::{Channel, FlowId, Timestamp};
use serde_json::{Value, json};

/// A flow of `account` accepted at `now` with these steps (channel, recipient), in
/// order; its trackingId is a new UUIDv7 of `now`.
pub(super) fn definition(
    account: &str,
    now: Timestamp,
    steps: &[(Channel, &str)],
) -> FlowDefinition {
    let steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, (channel, to))| match channel {
            Channel::Sms => json!({"type": "Sms", "order": i + 1, "from": "Cascade", "to": to, "message": {"body": "Hi"}}),
            Channel::Viber => json!({"type": "Viber", "order": i + 1, "senderInfoTrackingId": "snd-1", "to": to, "message": {"text": "Hi"}}),
            Channel::Voice => json!({"type": "Voice", "order": i + 1, "from": "+306900000000", "to": to, "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": "Hi"}}]}}),
        })
        .collect();
    let senders = HashMap::from([("snd-1".to_owned(), "Brand".to_owned())]);
    let (prices, operators) = (PriceList::default(), OperatorTable::default());
    let ctx = AcceptContext {
        tracking_id: FlowId::new_v7(now.as_millis()),
        now,
        account_id: account,
        application_id: "app",
        viber_senders: &senders,
        prices: &prices,
        operators: &operators,
        ttl_clock: TtlClock::default(),
    };
    parse_flow(&json!({ "flow": steps }), &ctx).expect("a valid flow")
}
