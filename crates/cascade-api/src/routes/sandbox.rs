//! `/sandbox/scenarios` and `/sandbox/messages`: the same routes for `cascade serve`
//! (guarded by the admin token) and for `cascade smsc-sim` (guarded by
//! `CASCADE_ADMIN_TOKEN` when it is set).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use cascade_core::Clock;
use cascade_service::tenancy::AdminAuth;
use cascade_store::Store;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sandbox_wire::{message_json, messages_limit, parse_scenario, scenario_json};
use crate::error::ApiError;
use crate::extract::{JsonBody, Operator, RequestContext};
use crate::openapi::schemas::{
    NewScenario, SandboxMessageList, Scenario, ScenarioList, ScenariosDeleted,
};
use crate::openapi::{AdminErrors, BadRequest, JsonErrors};

/// What the sandbox routes need.
#[derive(Debug)]
pub struct SandboxApi {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// `None`: open to anyone who reaches the address.
    pub admin: Option<AdminAuth>,
    pub body_limit: usize,
}

impl RequestContext for SandboxApi {
    fn body_limit(&self) -> usize {
        self.body_limit
    }

    fn admin(&self) -> Option<&AdminAuth> {
        self.admin.as_ref()
    }
}

/// The sandbox routes and their description.
pub fn routes() -> OpenApiRouter<Arc<SandboxApi>> {
    OpenApiRouter::new()
        .routes(routes!(list_scenarios, create_scenario, delete_scenarios))
        .routes(routes!(list_messages))
}

/// The sandbox routes.
pub fn router(api: Arc<SandboxApi>) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(api)
}

#[utoipa::path(
    post, path = "/sandbox/scenarios", tag = "sandbox",
    summary = "Add a scenario rule",
    description = "The newest rule matching a send decides what the channel's sandbox provider reports.",
    request_body = NewScenario,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Stored.", body = Scenario),
        JsonErrors,
        AdminErrors,
    ),
)]

async fn create_scenario(
    State(api): State<Arc<SandboxApi>>,
    _: Operator,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scenario = parse_scenario(&body).map_err(ApiError::Invalid)?;
    let stored = api
        .store
        .create_scenario(&scenario, api.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(scenario_json(&stored))))
}

#[utoipa::path(
    get, path = "/sandbox/scenarios", tag = "sandbox",
    summary = "The scenario rules",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "Every rule.", body = ScenarioList),
        AdminErrors,
    ),
)]
async fn list_scenarios(
    State(api): State<Arc<SandboxApi>>,
    _: Operator,
) -> Result<Json<Value>, ApiError> {
    let all = api.store.scenarios().await?;
    Ok(Json(
        json!({"scenarios": all.iter().map(scenario_json).collect::<Vec<_>>()}),
    ))
}

#[utoipa::path(
    delete, path = "/sandbox/scenarios", tag = "sandbox",
    summary = "Remove every scenario rule",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "How many were removed.", body = ScenariosDeleted),
        AdminErrors,
    ),
)]
async fn delete_scenarios(
    State(api): State<Arc<SandboxApi>>,
    _: Operator,
) -> Result<Json<Value>, ApiError> {
    let deleted = api.store.delete_scenarios().await?;
    Ok(Json(json!({"deleted": deleted})))
}

/// What the sandbox providers received, oldest first (`?limit=`, default 100, max 1000).
#[utoipa::path(
    get, path = "/sandbox/messages", tag = "sandbox",
    summary = "What the sandbox providers received, oldest first",
    params(("limit" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 1000, description = "At most this many (default 100).")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The messages.", body = SandboxMessageList),
        (status = 400, response = BadRequest),
        AdminErrors,
    ),
)]
async fn list_messages(
    State(api): State<Arc<SandboxApi>>,
    _: Operator,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = messages_limit(query.get("limit").map(String::as_str))
        .map_err(|m| ApiError::Malformed(m.into()))?;
    let messages = api.store.sandbox_messages(limit).await?;
    let items: Vec<Value> = messages.iter().map(message_json).collect();
    Ok(Json(json!({"messages": items})))
}
