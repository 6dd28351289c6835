//! The sandbox's HTTP shapes: what `POST /sandbox/scenarios` accepts (parsed into a
//! [`NewScenario`]), and how scenarios and received messages are shown.

use cascade_core::fields::Presence::Optional;
use cascade_core::fields::{FieldReader, JsonObject, ValidationErrors};
use cascade_core::flow::AnsweredBy;
use cascade_core::sandbox::{NewScenario, Rule, Scenario, ScriptedEvent};
use cascade_core::{Channel, Msisdn, StatusKind};
use cascade_store::SandboxMessage;
use serde_json::{Value, json};

const MAX_AFTER_MS: u64 = 24 * 60 * 60 * 1000;
const MAX_EVENTS: usize = 20;
const MAX_TEXT: usize = 200;

/// Parse a `POST /sandbox/scenarios` body.
///
/// # Errors
/// Every problem, keyed by field path.
pub fn parse_scenario(body: &Value) -> Result<NewScenario, ValidationErrors> {
    let mut r = FieldReader::new();
    let Some(map) = body.as_object() else {
        r.report("body", "must be a JSON object");
        return Err(r.into_errors());
    };
    let obj = JsonObject::new(map, "");
    // A channel or a `to` that is not a string is reported as missing.
    let channel = match obj.get("channel").and_then(Value::as_str) {
        Some(text) => {
            Channel::parse(text).or_else(|| r.fail("channel", "must be one of Sms, Viber, Voice"))
        }
        None => r.fail("channel", "is required"),
    };
    let to = match obj.get("to").and_then(Value::as_str) {
        Some("*") => Some("*".to_owned()),
        Some(text) => match Msisdn::parse(text) {
            Ok(m) => Some(m.to_string()),
            Err(e) => r.fail("to", e),
        },
        None => r.fail("to", "is required: an E.164 number or \"*\""),
    };
    let events = r
        .array(&obj, "events", Optional, "must be an array")
        .map(|items| {
            if items.len() > MAX_EVENTS {
                r.report("events", format!("has at most {MAX_EVENTS} events"));
            }
            items
                .iter()
                .enumerate()
                .filter_map(|(i, e)| parse_event(e, i, channel, &mut r))
                .collect::<Vec<_>>()
        });
    let operator = optional_text(&mut r, &obj, "operator");
    let answered_by = r.field(&obj, "answeredBy", Optional).and_then(|v| {
        v.as_str()
            .and_then(AnsweredBy::parse)
            .or_else(|| r.fail("answeredBy", "must be human, machine or unknown"))
    });
    let duration_seconds = optional_u32(&mut r, &obj, "durationSeconds", 86_400);
    let reject_with = parse_command_status(&mut r, &obj);
    let throttle = optional_u32(&mut r, &obj, "throttle", 100);
    if channel != Some(Channel::Sms) {
        for (key, set) in [
            ("rejectWith", reject_with.is_some()),
            ("throttle", throttle.is_some()),
        ] {
            if set {
                r.report(key, "applies to Sms rules only (the SMSC simulator)");
            }
        }
    }
    let times = optional_u32(&mut r, &obj, "times", u32::MAX);
    if times == Some(0) {
        r.report("times", "must be at least 1");
    }
    let (Some(channel), Some(to)) = (channel, to) else {
        return Err(r.into_errors());
    };
    r.finish()?;
    let rule = Rule {
        events,
        operator,
        answered_by,
        duration_seconds,
        reject_with,
        throttle,
    };
    Ok(NewScenario {
        channel,
        to,
        rule: serde_json::to_value(&rule).expect("a rule always serializes"),
        times,
    })
}

/// `events[i]`. Returns `None` at the first bad field among `afterMs` and `status`, so
/// the fields after it are not checked; `None` without a report when the status cannot
/// be checked because the channel is unknown (the channel's problem is reported).
fn parse_event(
    v: &Value,
    i: usize,
    channel: Option<Channel>,
    r: &mut FieldReader,
) -> Option<ScriptedEvent> {
    const AFTER_MS_RULE: &str = "must be an integer from 0 to 86400000";
    let event = r.object(v, format!("events[{i}]"))?;
    let after_ms = match event.raw("afterMs") {
        None => 0,
        // Unlike every other optional field here, an explicit null is refused.
        Some(Value::Null) => return r.fail(event.at("afterMs"), AFTER_MS_RULE),
        Some(_) => r.unsigned(&event, "afterMs", Optional, 0..=MAX_AFTER_MS, AFTER_MS_RULE)?,
    };
    if event.raw("inbound").is_some() {
        let text = r.text(
            &event,
            "inbound",
            cascade_core::fields::Presence::Required,
            1000,
        )?;
        if event.raw("status").is_some() {
            return r.fail(
                event.at("inbound"),
                "an event is either a status or an inbound reply, not both",
            );
        }
        if channel == Some(Channel::Voice) {
            return r.fail(event.at("inbound"), "applies to Sms and Viber events only");
        }
        return Some(ScriptedEvent {
            after_ms,
            status: None,
            inbound: Some(text),
            detailed_status: None,
            description: None,
            part: None,
        });
    }
    let status = match (event.get("status").and_then(Value::as_str), channel) {
        (Some(text), Some(channel)) => match channel
            .parse_status(text)
            .filter(|s| *s != StatusKind::Queued)
        {
            Some(s) => s,
            None => {
                let names: Vec<String> = channel
                    .statuses()
                    .iter()
                    .filter(|s| **s != StatusKind::Queued)
                    .map(|s| s.name_for(channel))
                    .collect();
                return r.fail(
                    event.at("status"),
                    format!("must be one of {}", names.join(", ")),
                );
            }
        },
        (Some(_), None) => return None,
        (None, _) => return r.fail(event.at("status"), "is required"),
    };
    let detailed_status = optional_text(r, &event, "detailedStatus");
    let description = optional_text(r, &event, "description");
    let part = r
        .unsigned(
            &event,
            "part",
            Optional,
            1..=255,
            "must be an integer from 1 to 255",
        )
        .and_then(|n| match channel {
            Some(Channel::Sms) => Some(n),
            _ => r.fail(event.at("part"), "applies to Sms events only"),
        });
    Some(ScriptedEvent {
        after_ms,
        status: Some(status),
        inbound: None,
        detailed_status,
        description,
        part,
    })
}

/// `rejectWith`: an SMPP command status as a number (`11`) or a name (`"ESME_RINVDSTADR"`);
/// not 0 (that is success) and not a throttling status (use `throttle`).
fn parse_command_status(r: &mut FieldReader, obj: &JsonObject<'_>) -> Option<u32> {
    use cascade_smpp::CommandStatus;
    let status = match r.field(obj, "rejectWith", Optional)? {
        Value::String(name) => (0..=0x4FF_u32)
            .map(CommandStatus)
            .find(|s| s.name() == Some(name.as_str())),
        x => x
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(CommandStatus),
    };
    match status {
        Some(s) if !s.is_ok() && !s.is_throttling() => Some(s.0),
        _ => r.fail(
            obj.at("rejectWith"),
            "must be an SMPP error status other than ESME_ROK and the throttling ones, as a number or a name like \"ESME_RINVDSTADR\"",
        ),
    }
}

/// An optional free text: any string (the empty one included) of at most [`MAX_TEXT`]
/// characters.
fn optional_text(r: &mut FieldReader, obj: &JsonObject<'_>, key: &str) -> Option<String> {
    let rule = format!("must be a string of at most {MAX_TEXT} characters");
    r.bounded_string(obj, key, Optional, MAX_TEXT, &rule)
        .map(str::to_owned)
}

/// An optional JSON integer from 0 to `max`.
fn optional_u32(r: &mut FieldReader, obj: &JsonObject<'_>, key: &str, max: u32) -> Option<u32> {
    let rule = format!("must be an integer from 0 to {max}");
    r.unsigned(obj, key, Optional, 0..=u64::from(max), &rule)
}

/// A scenario as `GET /sandbox/scenarios` lists it.
pub fn scenario_json(s: &Scenario) -> Value {
    let rule = Rule::from_scenario(s);
    let events = rule.events.as_ref().map(|evs| {
        evs.iter()
            .map(|e| match (&e.inbound, e.status) {
                (Some(text), _) => json!({"afterMs": e.after_ms, "inbound": text}),
                (None, status) => json!({
                    "afterMs": e.after_ms,
                    "status": status.map(|st| st.name_for(s.channel)),
                    "detailedStatus": e.detailed_status,
                    "description": e.description,
                    "part": e.part,
                }),
            })
            .collect::<Vec<_>>()
    });
    json!({
        "scenarioId": s.id,
        "channel": s.channel.name(),
        "to": s.to,
        "events": events,
        "operator": rule.operator,
        "answeredBy": rule.answered_by.map(AnsweredBy::name),
        "durationSeconds": rule.duration_seconds,
        "rejectWith": rule.reject_with,
        "throttle": rule.throttle,
        "timesLeft": s.times_left,
        "createdAt": s.created_at,
    })
}

/// One received message as `GET /sandbox/messages` lists it.
pub fn message_json(m: &SandboxMessage) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(body: Value, key: &str) {
        let errors = parse_scenario(&body).expect_err("should be rejected");
        assert!(errors.get(key).is_some(), "{key} missing in {errors:?}");
    }

    #[test]
    fn parses_a_full_rule() {
        let s = parse_scenario(&json!({
            "channel": "sms", "to": "+306912345678",
            "events": [{"afterMs": 50, "status": "undelivered", "detailedStatus": "Unknown Number"}],
            "operator": "Cosmote", "times": 2
        }))
        .unwrap();
        assert_eq!(s.channel, Channel::Sms);
        assert_eq!(s.times, Some(2));
        let rule: Rule = serde_json::from_value(s.rule).unwrap();
        assert_eq!(
            rule.events.unwrap()[0].status,
            Some(StatusKind::Undelivered)
        );
        assert_eq!(rule.operator.as_deref(), Some("Cosmote"));
    }

    #[test]
    fn empty_events_means_never_report() {
        let s = parse_scenario(&json!({"channel": "Viber", "to": "*", "events": []})).unwrap();
        let rule: Rule = serde_json::from_value(s.rule).unwrap();
        assert_eq!(rule.events, Some(vec![]));
    }

    #[test]
    fn rejects_bad_rules() {
        bad(json!([]), "body");
        bad(json!({"to": "*"}), "channel");
        bad(json!({"channel": "Fax", "to": "*"}), "channel");
        bad(json!({"channel": "Sms"}), "to");
        bad(json!({"channel": "Sms", "to": "12345"}), "to");
        bad(json!({"channel": "Sms", "to": "*", "events": {}}), "events");
        bad(
            json!({"channel": "Sms", "to": "*", "events": [{"status": "Seen"}]}),
            "events[0].status",
        );
        bad(
            json!({"channel": "Sms", "to": "*", "events": [{"status": "Queued"}]}),
            "events[0].status",
        );
        bad(
            json!({"channel": "Sms", "to": "*", "events": [{}]}),
            "events[0].status",
        );
        bad(
            json!({"channel": "Sms", "to": "*", "events": [{"status": "Delivered", "afterMs": -1}]}),
            "events[0].afterMs",
        );
        bad(
            json!({"channel": "Voice", "to": "*", "answeredBy": "robot"}),
            "answeredBy",
        );
        bad(
            json!({"channel": "Voice", "to": "*", "durationSeconds": 1.5}),
            "durationSeconds",
        );
        bad(json!({"channel": "Sms", "to": "*", "times": 0}), "times");
        bad(
            json!({"channel": "Sms", "to": "*", "operator": 5}),
            "operator",
        );
    }
}
