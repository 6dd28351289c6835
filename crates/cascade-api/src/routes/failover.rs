//! `POST /failover`, with optional `Idempotency-Key`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use cascade_core::FlowId;
use cascade_core::flow::{AcceptContext, FlowDefinition, ValidationErrors, echo_flow, parse_flow};
use cascade_core::net::is_private_host;
use cascade_store::{IdempotencyKey, IdempotentAccept};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody};

const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Validate, store (durably) and start a flow, then echo it back with its trackingId.
#[tracing::instrument(name = "send_flow", skip_all, fields(application_id = %caller.application_id))]
pub async fn send_flow(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require("failover")?;
    let Some(key) = idempotency_key(&headers)? else {
        let def = accept_request(&state, &caller, &body).await?;
        let echo = echo_flow(&def);
        state.runtime.accept(def).await?;
        return Ok(Json(echo).into_response());
    };

    let now = state.runtime.clock().now();
    let hash = request_hash(&body);
    if let Some((stored_hash, response)) = state
        .store
        .idempotent_response(&caller.application_id, &key, now)
        .await?
    {
        return replay_or_conflict(&stored_hash, &hash, response);
    }
    // A request with this key is still being processed here: the spec's in-flight 409.
    let _guard = state
        .in_flight
        .claim(&caller.application_id, &key)
        .ok_or_else(|| {
            ApiError::IdempotencyConflict(
                "A request with this Idempotency-Key is still being processed.".into(),
            )
        })?;
    let def = accept_request(&state, &caller, &body).await?;
    let echo = echo_flow(&def);
    let record = IdempotencyKey {
        application_id: caller.application_id.clone(),
        key,
        request_hash: hash,
        response: echo.to_string(),
    };
    match state.runtime.accept_idempotent(def, record).await? {
        IdempotentAccept::Accepted(_) => Ok(Json(echo).into_response()),
        IdempotentAccept::Replayed { response } => replayed(response),
        IdempotentAccept::Conflict => Err(reused_key()),
    }
}

/// Everything a request must pass before anything is stored: validation, the scope of
/// each channel, the callback address.
async fn accept_request(
    state: &ApiState,
    caller: &Caller,
    body: &Value,
) -> Result<FlowDefinition, ApiError> {
    let now = state.runtime.clock().now();
    let senders = if mentions_viber(body) {
        state
            .store
            .viber_senders(&caller.account_id)
            .await?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect()
    } else {
        HashMap::new()
    };
    let ctx = AcceptContext {
        tracking_id: FlowId::new_v7(now.as_millis()),
        now,
        account_id: &caller.account_id,
        application_id: &caller.application_id,
        viber_senders: &senders,
        prices: &state.settings.prices,
        operators: &state.settings.operators,
        ttl_clock: state.settings.ttl_clock,
    };
    let def = parse_flow(body, &ctx).map_err(ApiError::Validation)?;
    for channel in def.channels() {
        if !caller.scopes.iter().any(|s| s == channel.scope()) {
            return Err(ApiError::Forbidden(format!(
                "This token lacks the {:?} scope needed for {channel} steps.",
                channel.scope()
            )));
        }
    }
    if let Some(callback) = &def.callback
        && !state.settings.allow_private_callbacks
        && callback_host(&callback.url).is_some_and(|h| is_private_host(&h))
    {
        let mut errors = ValidationErrors::new();
        errors.add(
            "callback.url",
            "must not point to a loopback, private, link-local or multicast address",
        );
        return Err(ApiError::Validation(errors));
    }
    Ok(def)
}

/// The host of an absolute http(s) URL as an HTTP client will read it: the WHATWG URL
/// parser turns `127.1`, `2130706433` or `0x7f000001` into `127.0.0.1`, so checking the
/// parsed host sees through those spellings.
fn callback_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.host()? {
        url::Host::Domain(d) => Some(d.to_owned()),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

/// `Idempotency-Key`: absent, or 1–255 printable ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let text = value.to_str().ok().filter(|t| {
        !t.is_empty() && t.len() <= 255 && t.bytes().all(|b| (0x20..0x7f).contains(&b))
    });
    match text {
        Some(t) => Ok(Some(t.to_owned())),
        None => {
            let mut errors = ValidationErrors::new();
            errors.add(
                "Idempotency-Key",
                "must be 1 to 255 printable ASCII characters",
            );
            Err(ApiError::Validation(errors))
        }
    }
}

/// SHA-256 of the body in a canonical form (object keys sorted, no whitespace), so the
/// same JSON written differently counts as the same request.
fn request_hash(body: &Value) -> String {
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

fn replay_or_conflict(
    stored_hash: &str,
    hash: &str,
    response: String,
) -> Result<Response, ApiError> {
    if stored_hash == hash {
        replayed(response)
    } else {
        Err(reused_key())
    }
}

fn reused_key() -> ApiError {
    ApiError::IdempotencyConflict(
        "This Idempotency-Key was used with a different request body.".into(),
    )
}

/// The first response again, marked as a replay.
fn replayed(response: String) -> Result<Response, ApiError> {
    let value: Value = serde_json::from_str(&response).map_err(|e| {
        tracing::error!(error = %e, "a stored idempotent response is not JSON");
        ApiError::Internal
    })?;
    let mut r = Json(value).into_response();
    r.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(r)
}

/// Keys of requests being processed by this process right now.
#[derive(Debug, Default)]
pub struct InFlightKeys {
    keys: Mutex<HashSet<(String, String)>>,
}

impl InFlightKeys {
    /// Mark a key as in flight until the guard is dropped; `None` when it already is.
    pub fn claim(&self, application_id: &str, key: &str) -> Option<InFlightGuard<'_>> {
        let id = (application_id.to_owned(), key.to_owned());
        let fresh = self
            .keys
            .lock()
            .expect("no panics under this lock")
            .insert(id.clone());
        fresh.then_some(InFlightGuard { keys: self, id })
    }
}

/// Releases an in-flight key when the request ends, however it ends.
#[derive(Debug)]
pub struct InFlightGuard<'a> {
    keys: &'a InFlightKeys,
    id: (String, String),
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.keys
            .keys
            .lock()
            .expect("no panics under this lock")
            .remove(&self.id);
    }
}

/// Whether any step says it is Viber — only then are the account's senders needed.
fn mentions_viber(body: &Value) -> bool {
    body.get("flow")
        .and_then(Value::as_array)
        .is_some_and(|steps| {
            steps.iter().any(|s| {
                s.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("viber"))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn callback_hosts() {
        let host = |u: &str| callback_host(u).unwrap();
        assert_eq!(host("https://hooks.example.com/x?y=1"), "hooks.example.com");
        assert_eq!(host("http://127.0.0.1:9000/cb"), "127.0.0.1");
        assert_eq!(host("http://user:pw@localhost:1/cb"), "localhost");
        assert_eq!(host("http://[::1]:8080/cb"), "::1");
        for loopback in [
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
        ] {
            assert_eq!(host(loopback), "127.0.0.1", "{loopback}");
        }
    }

    #[test]
    fn keys_are_claimed_once_until_released() {
        let keys = InFlightKeys::default();
        let first = keys.claim("app", "k").unwrap();
        assert!(keys.claim("app", "k").is_none());
        assert!(
            keys.claim("other-app", "k").is_some(),
            "keys are per application"
        );
        drop(first);
        assert!(keys.claim("app", "k").is_some());
    }
}
