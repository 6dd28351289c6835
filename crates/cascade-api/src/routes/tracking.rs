//! `GET /failover/tracking/{trackingId}` and its timeline.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use cascade_core::FlowId;
use cascade_core::tracking::render_tracking;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::openapi::schemas::{Timeline, Tracking};
use crate::openapi::{AppErrors, TrackingNotFound};

/// `GET /failover/tracking/{trackingId}`.
#[utoipa::path(
    get, path = "/failover/tracking/{trackingId}", tag = "failover",
    summary = "A flow's tracking object",
    params(("trackingId" = String, Path, description = "The flow's id (a UUID).")),
    security(("oauth2" = ["failover"])),
    responses(
        (status = 200, description = "The tracking object.", body = Tracking),
        (status = 404, response = TrackingNotFound),
        AppErrors,
    ),
)]
pub async fn get_tracking(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(tracking_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = tracking_id_of(&caller, &tracking_id)?;
    let flow = state
        .store
        .flow(&caller.account_id, id)
        .await?
        .ok_or(ApiError::TrackingNotFound)?;
    Ok(Json(render_tracking(&flow.definition, &flow.state)))
}

/// `GET /failover/tracking/{trackingId}/events`.
#[utoipa::path(
    get, path = "/failover/tracking/{trackingId}/events", tag = "failover",
    summary = "A flow's timeline",
    description = "Everything that happened to the flow, in order: accepted, steps started, provider reports (duplicates and late ones marked), TTL expiries, balance refusals, completion, callback attempts.",
    params(("trackingId" = String, Path, description = "The flow's id (a UUID).")),
    security(("oauth2" = ["failover"])),
    responses(
        (status = 200, description = "The timeline.", body = Timeline),
        (status = 404, response = TrackingNotFound),
        AppErrors,
    ),
)]
pub async fn get_events(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(tracking_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = tracking_id_of(&caller, &tracking_id)?;
    let events = state
        .store
        .timeline(&caller.account_id, id)
        .await?
        .ok_or(ApiError::TrackingNotFound)?;
    Ok(Json(
        json!({"trackingId": id.to_string(), "events": events}),
    ))
}

/// The caller may read trackings, and the id can exist at all (a text that is not even a
/// UUID gets the same 404 as an unknown id).
fn tracking_id_of(caller: &Caller, raw: &str) -> Result<FlowId, ApiError> {
    caller.require("failover")?;
    FlowId::parse(raw).map_err(|_| ApiError::TrackingNotFound)
}
