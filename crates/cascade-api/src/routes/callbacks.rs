//! The operator's view of the callback outbox: list, and re-deliver dead letters.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use cascade_core::FlowId;
use cascade_core::callbacks::CallbackState;
use cascade_store::{CallbackFilter, CallbackRecord};
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::Operator;
use crate::openapi::schemas::{CallbackList, FlowRedelivered, Redelivered};
use crate::openapi::{AdminErrors, BadRequest, NotFound, TrackingNotFound};

/// `GET /admin/callbacks?state=dead&trackingId=...&limit=100`
#[utoipa::path(
    get, path = "/admin/callbacks", tag = "admin",
    summary = "The callback outbox",
    params(
        ("state" = Option<crate::openapi::schemas::CallbackState>, Query, nullable = false, description = "Only callbacks in this state."),
        ("trackingId" = Option<String>, Query, nullable = false, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Only this flow's callbacks."),
        ("limit" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 1000, description = "At most this many (default 100)."),
    ),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The callbacks.", body = CallbackList),
        (status = 400, response = BadRequest),
        AdminErrors,
    ),
)]
pub async fn list(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let filter = CallbackFilter {
        state: match query.get("state") {
            None => None,
            Some(s) => Some(CallbackState::parse(s).ok_or_else(|| {
                ApiError::Malformed("state must be pending, delivered or dead".into())
            })?),
        },
        flow_id: match query.get("trackingId") {
            None => None,
            Some(id) => Some(
                FlowId::parse(id)
                    .map_err(|_| ApiError::Malformed("trackingId must be a UUID".into()))?,
            ),
        },
        limit: match query.get("limit") {
            None => 100,
            Some(n) => n
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ApiError::Malformed("limit must be an integer from 1 to 1000".into())
                })?,
        },
    };
    let records = state.store.callbacks(&filter).await?;
    Ok(Json(
        json!({"callbacks": records.iter().map(record_json).collect::<Vec<_>>()}),
    ))
}

/// `POST /admin/callbacks/{id}/redeliver`: a dead callback goes out again, with a fresh
/// retry schedule.
#[utoipa::path(
    post, path = "/admin/callbacks/{callbackId}/redeliver", tag = "admin",
    summary = "Redeliver a dead callback",
    params(("callbackId" = String, Path, description = "The callback's id (an integer).")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "It goes out again, with a fresh retry schedule.", body = Redelivered),
        (status = 404, response = NotFound),
        AdminErrors,
    ),
)]
pub async fn redeliver(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("dead callback {id}")))?;
    if !state
        .store
        .redeliver_callback(id, state.runtime.clock().now())
        .await?
    {
        return Err(ApiError::NotFound(format!("dead callback {id}")));
    }
    state.runtime.wake_callbacks();
    Ok(Json(json!({"callbackId": id, "redelivered": 1})))
}

/// `POST /admin/flows/{trackingId}/callbacks/redeliver`: all of a flow's dead callbacks.
#[utoipa::path(
    post, path = "/admin/flows/{trackingId}/callbacks/redeliver", tag = "admin",
    summary = "Redeliver a flow's dead callbacks",
    params(("trackingId" = String, Path, description = "The flow's id (a UUID).")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "How many go out again (0 when none was dead).", body = FlowRedelivered),
        (status = 404, response = TrackingNotFound),
        AdminErrors,
    ),
)]
pub async fn redeliver_flow(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Path(tracking_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = FlowId::parse(&tracking_id).map_err(|_| ApiError::TrackingNotFound)?;
    let n = state
        .store
        .redeliver_flow_callbacks(id, state.runtime.clock().now())
        .await?;
    state.runtime.wake_callbacks();
    Ok(Json(
        json!({"trackingId": id.to_string(), "redelivered": n}),
    ))
}

pub fn record_json(r: &CallbackRecord) -> Value {
    json!({
        "callbackId": r.id,
        "eventId": r.event_id,
        "trackingId": r.flow_id.to_string(),
        "sequence": r.seq,
        "applicationId": r.application_id,
        "url": r.url,
        "state": r.state.name(),
        "attempts": r.attempts,
        "nextAttemptAt": (r.state == CallbackState::Pending).then_some(r.next_at),
        "lastError": r.last_error,
        "createdAt": r.created_at,
    })
}
