//! The tracking object of `GET /failover/tracking/{trackingId}`, rendered from a flow's
//! definition and state. Field names and shapes follow the seed document exactly.

use serde_json::{Map, Value, json};

use crate::flow::{FlowDefinition, Step, StepKind};
use crate::machines::{FlowState, MessageState, StepState};

/// Render the full tracking object.
pub fn render_tracking(def: &FlowDefinition, state: &FlowState) -> Value {
    let mut messages = Vec::new();
    let mut steps: Vec<&StepState> = state.steps.iter().collect();
    steps.sort_by_key(|s| s.order);
    for step_state in steps {
        let Some(step) = def.steps.iter().find(|d| d.order == step_state.order) else {
            continue;
        };
        let mut parts: Vec<&MessageState> = step_state.messages.iter().collect();
        parts.sort_by_key(|m| m.part);
        let total_parts = parts.len();
        for msg in parts {
            messages.push(render_message(step, step_state, msg, total_parts));
        }
    }
    json!({
        "trackingId": def.tracking_id.to_string(),
        "messages": messages,
        "terminationChannel": state.termination_channel(def).map(|c| c.name()),
        "status": state.status.name(),
        "statusCode": state.status_code.map(|c| c.code()),
        "totalPrice": state.total_price(),
        "originatingService": "failover",
        "applicationId": def.application_id,
        "createdAt": def.created_at,
        "updatedAt": state.updated_at,
    })
}

fn render_message(step: &Step, step_state: &StepState, msg: &MessageState, parts: usize) -> Value {
    let channel = step.channel();
    let mut m = Map::new();
    m.insert("type".into(), json!(channel.name()));
    m.insert("order".into(), json!(step.order));
    m.insert(
        "failoverOnStatuses".into(),
        json!(
            step.failover_on
                .iter()
                .map(|s| s.pascal_name())
                .collect::<Vec<_>>()
        ),
    );
    m.insert("createdAt".into(), json!(msg.created_at));
    let status = json!({
        "name": msg.status.name_for(channel),
        "reason": {
            "detailedStatus": msg.detailed_status(),
            "description": msg.description(),
        },
        "updatedDate": msg.updated_at,
    });
    let operator = msg
        .operator
        .clone()
        .unwrap_or_else(|| step.operator.clone());
    match &step.kind {
        StepKind::Sms(sms) => {
            let index = (msg.part as usize).saturating_sub(1);
            m.insert("messageId".into(), json!(step_state.message_id));
            m.insert("smsId".into(), json!(msg.id));
            m.insert("from".into(), json!(sms.from.as_ref()));
            m.insert("to".into(), json!(sms.to.as_ref()));
            m.insert(
                "body".into(),
                json!(sms.parts.get(index).cloned().unwrap_or_default()),
            );
            m.insert("country".into(), json!(step.country));
            m.insert("operator".into(), json!(operator));
            m.insert("status".into(), status);
            m.insert("part".into(), json!(msg.part));
            m.insert("parts".into(), json!(parts));
            m.insert("latency".into(), json!(msg.latency_ms));
            m.insert("price".into(), json!(msg.price));
            m.insert("label".into(), json!(sms.label));
            m.insert("ttl".into(), json!(sms.ttl_minutes));
        }
        StepKind::Viber(viber) => {
            m.insert("trackingId".into(), json!(msg.id));
            m.insert("from".into(), json!(viber.sender_name));
            m.insert("to".into(), json!(viber.to.as_ref()));
            m.insert(
                "body".into(),
                crate::flow::echo::viber_content_json(&viber.content),
            );
            m.insert("status".into(), status);
            m.insert("country".into(), json!(step.country));
            m.insert("price".into(), json!(msg.price));
            m.insert("inboundUrl".into(), json!(viber.inbound_url));
            m.insert("label".into(), json!(viber.label));
            m.insert("ttl".into(), crate::flow::echo::viber_ttl_json(viber));
            m.insert("expireOnDelivery".into(), json!(viber.expire_on_delivery));
            // The seed: "Present only when expireOnDelivery was true and the message expired."
            if let Some(at) = msg.expired_on_delivery_at {
                m.insert("expiredOnDeliveryAt".into(), json!(at));
            }
        }
        StepKind::Voice(voice) => {
            m.insert("messageId".into(), json!(msg.id));
            m.insert("from".into(), json!(voice.from.as_ref()));
            m.insert("to".into(), json!(voice.to.destination()));
            m.insert("country".into(), json!(step.country));
            m.insert("status".into(), status);
            m.insert("duration".into(), json!(msg.duration_s));
            m.insert("price".into(), json!(msg.price));
            m.insert(
                "answeredBy".into(),
                json!(msg.answered_by.map(|a| a.name())),
            );
        }
    }
    Value::Object(m)
}
