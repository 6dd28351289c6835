//! The sandbox's HTTP shapes: what `POST /sandbox/scenarios` accepts (parsed into a
//! [`NewScenario`]), and how scenarios and received messages are shown.

use cascade_core::flow::{AnsweredBy, ValidationErrors};
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
    let mut errors = ValidationErrors::new();
    let Some(obj) = body.as_object() else {
        errors.add("body", "must be a JSON object");
        return Err(errors);
    };
    let channel = match obj.get("channel").and_then(Value::as_str) {
        Some(text) => Channel::parse(text).or_else(|| {
            errors.add("channel", "must be one of Sms, Viber, Voice");
            None
        }),
        None => {
            errors.add("channel", "is required");
            None
        }
    };
    let to = match obj.get("to").and_then(Value::as_str) {
        Some("*") => Some("*".to_owned()),
        Some(text) => match Msisdn::parse(text) {
            Ok(m) => Some(m.to_string()),
            Err(e) => {
                errors.add("to", e);
                None
            }
        },
        None => {
            errors.add("to", "is required: an E.164 number or \"*\"");
            None
        }
    };
    let events = match (obj.get("events"), channel) {
        (None | Some(Value::Null), _) => None,
        (Some(Value::Array(items)), channel) => {
            if items.len() > MAX_EVENTS {
                errors.add("events", format!("has at most {MAX_EVENTS} events"));
            }
            let parsed: Vec<_> = items
                .iter()
                .enumerate()
                .filter_map(|(i, e)| parse_event(e, i, channel, &mut errors))
                .collect();
            Some(parsed)
        }
        (Some(_), _) => {
            errors.add("events", "must be an array");
            None
        }
    };
    let operator = optional_text(obj.get("operator"), "operator", &mut errors);
    let answered_by = match obj.get("answeredBy") {
        None | Some(Value::Null) => None,
        Some(v) => v.as_str().and_then(AnsweredBy::parse).or_else(|| {
            errors.add("answeredBy", "must be human, machine or unknown");
            None
        }),
    };
    let duration_seconds = optional_u32(
        obj.get("durationSeconds"),
        "durationSeconds",
        86_400,
        &mut errors,
    );
    let reject_with = parse_command_status(obj.get("rejectWith"), &mut errors);
    let throttle = optional_u32(obj.get("throttle"), "throttle", 100, &mut errors);
    if channel != Some(Channel::Sms) {
        for (key, set) in [
            ("rejectWith", reject_with.is_some()),
            ("throttle", throttle.is_some()),
        ] {
            if set {
                errors.add(key, "applies to Sms rules only (the SMSC simulator)");
            }
        }
    }
    let times = optional_u32(obj.get("times"), "times", u32::MAX, &mut errors);
    if times == Some(0) {
        errors.add("times", "must be at least 1");
    }
    let (Some(channel), Some(to)) = (channel, to) else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
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

fn parse_event(
    v: &Value,
    i: usize,
    channel: Option<Channel>,
    errors: &mut ValidationErrors,
) -> Option<ScriptedEvent> {
    let path = format!("events[{i}]");
    let Some(obj) = v.as_object() else {
        errors.add(path, "must be an object");
        return None;
    };
    let after_ms = match obj.get("afterMs") {
        None => 0,
        Some(x) => match x.as_u64().filter(|ms| *ms <= MAX_AFTER_MS) {
            Some(ms) => ms,
            None => {
                errors.add(
                    format!("{path}.afterMs"),
                    "must be an integer from 0 to 86400000",
                );
                return None;
            }
        },
    };
    let status = match (obj.get("status").and_then(Value::as_str), channel) {
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
                errors.add(
                    format!("{path}.status"),
                    format!("must be one of {}", names.join(", ")),
                );
                return None;
            }
        },
        (Some(_), None) => return None,
        (None, _) => {
            errors.add(format!("{path}.status"), "is required");
            return None;
        }
    };
    let detailed_status = optional_text(
        obj.get("detailedStatus"),
        &format!("{path}.detailedStatus"),
        errors,
    );
    let description = optional_text(
        obj.get("description"),
        &format!("{path}.description"),
        errors,
    );
    let part = match obj.get("part") {
        None | Some(Value::Null) => None,
        Some(x) => match x
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=255).contains(n))
        {
            Some(n) if channel == Some(Channel::Sms) => Some(n),
            Some(_) => {
                errors.add(format!("{path}.part"), "applies to Sms events only");
                None
            }
            None => {
                errors.add(format!("{path}.part"), "must be an integer from 1 to 255");
                None
            }
        },
    };
    Some(ScriptedEvent {
        after_ms,
        status,
        detailed_status,
        description,
        part,
    })
}

/// `rejectWith`: an SMPP command status as a number (`11`) or a name (`"ESME_RINVDSTADR"`);
/// not 0 (that is success) and not a throttling status (use `throttle`).
fn parse_command_status(v: Option<&Value>, errors: &mut ValidationErrors) -> Option<u32> {
    use cascade_smpp::CommandStatus;
    let status = match v {
        None | Some(Value::Null) => return None,
        Some(Value::String(name)) => (0..=0x4FF_u32)
            .map(CommandStatus)
            .find(|s| s.name() == Some(name.as_str())),
        Some(x) => x
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(CommandStatus),
    };
    match status {
        Some(s) if !s.is_ok() && !s.is_throttling() => Some(s.0),
        _ => {
            errors.add(
                "rejectWith",
                "must be an SMPP error status other than ESME_ROK and the throttling ones, as a number or a name like \"ESME_RINVDSTADR\"",
            );
            None
        }
    }
}

fn optional_text(v: Option<&Value>, path: &str, errors: &mut ValidationErrors) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_TEXT => Some(s.clone()),
        Some(_) => {
            errors.add(
                path,
                format!("must be a string of at most {MAX_TEXT} characters"),
            );
            None
        }
    }
}

fn optional_u32(
    v: Option<&Value>,
    path: &str,
    max: u32,
    errors: &mut ValidationErrors,
) -> Option<u32> {
    match v {
        None | Some(Value::Null) => None,
        Some(x) => match x
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= max)
        {
            Some(n) => Some(n),
            None => {
                errors.add(path, format!("must be an integer from 0 to {max}"));
                None
            }
        },
    }
}

/// A scenario as `GET /sandbox/scenarios` lists it.
pub fn scenario_json(s: &Scenario) -> Value {
    let rule = Rule::from_scenario(s);
    let events = rule.events.as_ref().map(|evs| {
        evs.iter()
            .map(|e| {
                json!({
                    "afterMs": e.after_ms,
                    "status": e.status.name_for(s.channel),
                    "detailedStatus": e.detailed_status,
                    "description": e.description,
                    "part": e.part,
                })
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
        assert_eq!(rule.events.unwrap()[0].status, StatusKind::Undelivered);
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
