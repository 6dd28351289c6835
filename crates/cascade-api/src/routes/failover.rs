//! `POST /failover`, with optional `Idempotency-Key`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use cascade_core::FlowId;
use cascade_core::callback_policy::private_host_of;
use cascade_core::flow::{AcceptContext, FlowDefinition, ValidationErrors, echo_flow, parse_flow};
use cascade_core::idempotency::{IdempotencyKey, request_hash};
use cascade_store::{IdempotentAccept, IdempotentRequest, KeyClaim, Store};
use serde_json::Value;

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody};
use crate::openapi::schemas::{FlowAccepted, FlowRequest};
use crate::openapi::{AppErrors, Conflict, JsonErrors};

const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Validate, store (durably) and start a flow, then echo it back with its trackingId.
///
/// With an `Idempotency-Key`, the key is claimed first (a claim is stored, so a second
/// request with the key — on any server sharing the store — finds it in flight), then the
/// flow is stored together with the key's response; a request that fails in between
/// releases its claim, so the corrected request can use the key.
#[utoipa::path(
    post, path = "/failover", tag = "failover",
    summary = "Send a flow",
    description = "Validates the flow, stores it durably, then starts it. Nothing is stored or sent when the request is refused.",
    request_body = FlowRequest,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[ -~]{1,255}$",
        description = "1 to 255 printable ASCII characters, scoped to the application and kept 24 h: the same key with the same body answers the first response again (with `Idempotent-Replayed: true`) and creates nothing.")),
    security(("oauth2" = ["failover"])),
    responses(
        (status = 200, description = "Accepted: the flow echoed with defaults filled in, its `trackingId` and `createdAt`.", body = FlowAccepted,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is a stored answer to an earlier request with the same key.")),
            links(
                ("GetTracking" = (operation_id = "get_tracking", parameters(("trackingId" = "$response.body#/trackingId")))),
                ("GetEvents" = (operation_id = "get_events", parameters(("trackingId" = "$response.body#/trackingId")))),
            )),
        (status = 409, response = Conflict),
        JsonErrors,
        AppErrors,
    ),
)]
#[tracing::instrument(name = "send_flow", skip_all, fields(application_id = %caller.application_id, flow_id = tracing::field::Empty))]
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
    // Decided to the end even when the client goes away half-way: a claim stored just as
    // the request was dropped would otherwise hold the key "in flight" for the claim's
    // whole lease, and the client's retry would get 409s instead of its answer.
    let span = tracing::Span::current();
    tokio::spawn(tracing::Instrument::instrument(
        send_with_key(state, caller, key, body),
        span,
    ))
    .await
    .map_err(|_| ApiError::Internal)?
}

/// The `Idempotency-Key` path of [`send_flow`].
async fn send_with_key(
    state: Arc<ApiState>,
    caller: Caller,
    key: IdempotencyKey,
    body: Value,
) -> Result<Response, ApiError> {
    let now = state.runtime.clock().now();
    let hash = request_hash(&body);
    let token = match state
        .store
        .claim_idempotency_key(&caller.application_id, key.as_ref(), &hash, now)
        .await?
    {
        KeyClaim::Claimed { token } => token,
        KeyClaim::Replay { response } => return replayed(response),
        KeyClaim::Conflict => return Err(reused_key()),
        KeyClaim::InFlight => return Err(in_flight()),
    };
    let mut claim = Claim {
        store: Arc::clone(&state.store),
        application_id: caller.application_id.clone(),
        key: key.as_ref().to_owned(),
        token,
        settled: false,
    };
    let def = match accept_request(&state, &caller, &body).await {
        Ok(def) => def,
        Err(e) => {
            claim.release().await;
            return Err(e);
        }
    };
    let echo = echo_flow(&def);
    let request = IdempotentRequest {
        application_id: caller.application_id.clone(),
        key: claim.key.clone(),
        request_hash: hash,
        token: claim.token.clone(),
        response: echo.to_string(),
    };
    let accepted = state.runtime.accept_idempotent(def, request).await;
    match accepted {
        // Stored with the key (or another request completed the key): settled either way.
        Ok(outcome) => {
            claim.settled = true;
            match outcome {
                IdempotentAccept::Accepted(_) => Ok(Json(echo).into_response()),
                IdempotentAccept::Replayed { response } => replayed(response),
                IdempotentAccept::Conflict => Err(reused_key()),
                IdempotentAccept::InFlight => Err(in_flight()),
            }
        }
        Err(e) => {
            claim.release().await;
            Err(e.into())
        }
    }
}

/// A claimed key that must be released unless its request settles it: released in line
/// on an error, and from a task when the request is abandoned half-way (the client went
/// away), so a retry does not find it in flight until the claim's lease runs out.
struct Claim {
    store: Arc<dyn Store>,
    application_id: String,
    key: String,
    token: String,
    settled: bool,
}

impl Claim {
    async fn release(&mut self) {
        self.settled = true;
        if let Err(e) = self
            .store
            .release_idempotency_key(&self.application_id, &self.key, &self.token)
            .await
        {
            // The claim's lease ends it anyway.
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (store, application_id, key, token) = (
            Arc::clone(&self.store),
            std::mem::take(&mut self.application_id),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.token),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = store
                    .release_idempotency_key(&application_id, &key, &token)
                    .await;
            });
        }
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
    // Every later line of this request is about this flow.
    tracing::Span::current().record("flow_id", tracing::field::display(def.tracking_id));
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
        && private_host_of(&callback.url).is_some()
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

/// `Idempotency-Key`: absent, or a valid key.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let parsed = value
        .to_str()
        .map_err(|_| "must be 1 to 255 printable ASCII characters")
        .and_then(IdempotencyKey::parse);
    parsed.map(Some).map_err(|rule| {
        let mut errors = ValidationErrors::new();
        errors.add("Idempotency-Key", rule);
        ApiError::Validation(errors)
    })
}

fn in_flight() -> ApiError {
    ApiError::IdempotencyConflict(
        "A request with this Idempotency-Key is still being processed.".into(),
    )
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
