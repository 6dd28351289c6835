//! `/sandbox/scenarios` and `/sandbox/messages`, guarded by the admin token.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use cascade_providers::sandbox::{message_json, messages_limit, parse_scenario, scenario_json};
use cascade_service::clock;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{JsonBody, Operator};

pub async fn create_scenario(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scenario = parse_scenario(&body).map_err(ApiError::Invalid)?;
    let stored = state.store.create_scenario(&scenario, clock::now()).await?;
    Ok((StatusCode::CREATED, Json(scenario_json(&stored))))
}

pub async fn list_scenarios(
    State(state): State<Arc<ApiState>>,
    _: Operator,
) -> Result<Json<Value>, ApiError> {
    let all = state.store.scenarios().await?;
    Ok(Json(
        json!({"scenarios": all.iter().map(scenario_json).collect::<Vec<_>>()}),
    ))
}

pub async fn delete_scenarios(
    State(state): State<Arc<ApiState>>,
    _: Operator,
) -> Result<Json<Value>, ApiError> {
    let deleted = state.store.delete_scenarios().await?;
    Ok(Json(json!({"deleted": deleted})))
}

/// What the sandbox providers received, oldest first (`?limit=`, default 100, max 1000).
pub async fn list_messages(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = messages_limit(query.get("limit").map(String::as_str))
        .map_err(|m| ApiError::Malformed(m.into()))?;
    let messages = state.store.sandbox_messages(limit).await?;
    let items: Vec<Value> = messages.iter().map(message_json).collect();
    Ok(Json(json!({"messages": items})))
}
