//! `Idempotency-Key` on `POST /failover`: what a key may look like, which requests count
//! as the same, and what a request finds when it arrives with a key and when it is about
//! to commit its flow. The store keeps each key's record in the same transaction as the
//! flow; these rules decide, so every store (and every node sharing one) decides alike.
//!
//! A key's record is *in flight* from the moment a request claims it until that request
//! commits its flow (the record becomes *done*, with the response to replay) or fails
//! (the record is removed, so the corrected request can use the key). A request that dies
//! in between leaves the claim until its lease runs out; then the key can be claimed again.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::time::Timestamp;

/// How long a key is remembered.
pub const KEY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a claim holds a key without its request finishing (a request that died).
pub const IN_FLIGHT_LEASE_MS: i64 = 30_000;
/// The longest key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// An `Idempotency-Key` header: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// # Errors
    /// The rule, for the client, when the text is empty, too long or not printable ASCII.
    pub fn parse(text: &str) -> Result<IdempotencyKey, &'static str> {
        if !text.is_empty()
            && text.len() <= MAX_KEY_CHARS
            && text.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            Ok(IdempotencyKey(text.to_owned()))
        } else {
            Err("must be 1 to 255 printable ASCII characters")
        }
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// SHA-256 (hex) of the body in a canonical form — object keys sorted, no whitespace —
/// so the same JSON written differently counts as the same request.
pub fn request_hash(body: &Value) -> String {
    let mut text = String::new();
    canonical(body, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// What the store holds for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// [`request_hash`] of the request that claimed the key.
    pub request_hash: String,
    pub created_at: Timestamp,
    pub state: KeyState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// A request holds the key until `until`; `token` names its claim.
    InFlight { token: String, until: Timestamp },
    /// The request committed its flow; this is its response.
    Done { response: String },
}

/// What a request with a key does, decided when it arrives and again when it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on: claim the key (on arrival) or complete it with the flow (at commit).
    Proceed,
    /// The key's request committed with the same body: answer its response again.
    Replay(String),
    /// The key was used with another body: 409.
    Conflict,
    /// Another request holds the key right now: 409.
    InFlight,
}

/// On arrival: a key unknown (or older than [`KEY_WINDOW_MS`], or abandoned by a request
/// whose claim ran out) may be claimed; a done key replays or conflicts; a key held by a
/// live claim is in flight, whatever the body.
pub fn on_arrival(record: Option<&KeyRecord>, request_hash: &str, now: Timestamp) -> Decision {
    match live(record, now) {
        None => Decision::Proceed,
        Some(r) => match &r.state {
            KeyState::Done { response } => done(r, response, request_hash),
            KeyState::InFlight { until, .. } if *until > now => Decision::InFlight,
            KeyState::InFlight { .. } => Decision::Proceed,
        },
    }
}

/// At commit, for the request holding claim `token`: it completes the key when its claim
/// still stands (or the record is gone); a key another request completed meanwhile
/// replays or conflicts; a key claimed by another request is in flight.
pub fn on_commit(
    record: Option<&KeyRecord>,
    token: &str,
    request_hash: &str,
    now: Timestamp,
) -> Decision {
    match live(record, now) {
        None => Decision::Proceed,
        Some(r) => match &r.state {
            KeyState::Done { response } => done(r, response, request_hash),
            KeyState::InFlight { token: held, .. } if held == token => Decision::Proceed,
            KeyState::InFlight { .. } => Decision::InFlight,
        },
    }
}

/// The record, unless it is older than the window.
fn live(record: Option<&KeyRecord>, now: Timestamp) -> Option<&KeyRecord> {
    record.filter(|r| r.created_at >= now.plus_millis(-KEY_WINDOW_MS))
}

fn done(record: &KeyRecord, response: &str, request_hash: &str) -> Decision {
    if record.request_hash == request_hash {
        Decision::Replay(response.to_owned())
    } else {
        Decision::Conflict
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn in_flight(token: &str, until: i64) -> KeyRecord {
        KeyRecord {
            request_hash: "h".into(),
            created_at: at(1_000),
            state: KeyState::InFlight {
                token: token.into(),
                until: at(until),
            },
        }
    }

    fn done_record(created: i64) -> KeyRecord {
        KeyRecord {
            request_hash: "h".into(),
            created_at: at(created),
            state: KeyState::Done {
                response: "{\"trackingId\":\"x\"}".into(),
            },
        }
    }

    #[test]
    fn keys_are_printable_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("order-42").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "\u{e9}t\u{e9}", "tab\there", "nl\n"] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }

    #[test]
    fn hashes_ignore_key_order_and_whitespace() {
        let a: Value =
            serde_json::from_str(r#"{"flow":[{"type":"Sms","order":1}],"callback":null}"#).unwrap();
        let b: Value = serde_json::from_str(
            r#"{ "callback": null, "flow": [ {"order": 1, "type": "Sms"} ] }"#,
        )
        .unwrap();
        assert_eq!(request_hash(&a), request_hash(&b));
        assert_ne!(
            request_hash(&a),
            request_hash(&json!({"flow": [{"type": "Sms", "order": 2}]}))
        );
        assert_ne!(
            request_hash(&json!([1, 2])),
            request_hash(&json!([2, 1])),
            "arrays keep their order"
        );
    }

    #[test]
    fn arrival() {
        let now = at(10_000);
        assert_eq!(on_arrival(None, "h", now), Decision::Proceed);
        assert_eq!(
            on_arrival(Some(&done_record(1_000)), "h", now),
            Decision::Replay("{\"trackingId\":\"x\"}".into())
        );
        assert_eq!(
            on_arrival(Some(&done_record(1_000)), "other", now),
            Decision::Conflict
        );
        assert_eq!(
            on_arrival(Some(&in_flight("t", 20_000)), "h", now),
            Decision::InFlight,
            "whatever the body"
        );
        assert_eq!(
            on_arrival(Some(&in_flight("t", 20_000)), "other", now),
            Decision::InFlight
        );
        assert_eq!(
            on_arrival(Some(&in_flight("t", 9_000)), "h", now),
            Decision::Proceed,
            "a claim whose request died is taken over"
        );
        let a_day_later = at(1_000 + KEY_WINDOW_MS + 1);
        assert_eq!(
            on_arrival(Some(&done_record(1_000)), "other", a_day_later),
            Decision::Proceed,
            "forgotten after 24 h"
        );
    }

    #[test]
    fn commit() {
        let now = at(10_000);
        assert_eq!(
            on_commit(Some(&in_flight("mine", 20_000)), "mine", "h", now),
            Decision::Proceed
        );
        assert_eq!(
            on_commit(Some(&in_flight("mine", 5_000)), "mine", "h", now),
            Decision::Proceed,
            "still ours though the lease ran out: nobody took it"
        );
        assert_eq!(
            on_commit(Some(&in_flight("theirs", 20_000)), "mine", "h", now),
            Decision::InFlight,
            "taken over: this request must not commit a second flow"
        );
        assert_eq!(on_commit(None, "mine", "h", now), Decision::Proceed);
        assert_eq!(
            on_commit(Some(&done_record(1_000)), "mine", "h", now),
            Decision::Replay("{\"trackingId\":\"x\"}".into())
        );
    }
}
