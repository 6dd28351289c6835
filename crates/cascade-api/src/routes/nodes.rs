//! `GET /admin/nodes` (admin token): the nodes serving this deployment — with a shared
//! PostgreSQL store every live node (heartbeat within a lease) and the work it holds;
//! with SQLite the one server.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::Operator;
use crate::openapi::AdminErrors;
use crate::openapi::schemas::NodeList;

/// `GET /admin/nodes`.
#[utoipa::path(
    get, path = "/admin/nodes", tag = "admin",
    summary = "The nodes serving this deployment",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The live nodes and what each holds.", body = NodeList),
        AdminErrors,
    ),
)]
pub async fn list(
    State(state): State<Arc<ApiState>>,
    _: Operator,
) -> Result<Json<Value>, ApiError> {
    let now = state.runtime.clock().now();
    let lease = state.settings.lease_ms;
    let mut nodes: Vec<Value> = state
        .store
        .nodes(now, lease)
        .await?
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "self": n.id == state.settings.node_id,
                "startedAt": n.started_at.to_rfc3339(),
                "lastHeartbeat": n.heartbeat.to_rfc3339(),
                "holds": {"jobs": n.jobs, "callbacks": n.callbacks, "sandboxReports": n.sandbox_reports,
                          "binds": n.leases.iter().filter(|l| l.starts_with("smsc:")).collect::<Vec<_>>()},
            })
        })
        .collect();
    if !nodes.iter().any(|n| n["self"] == true) {
        // A store without node rows (SQLite): this server is the deployment.
        nodes.insert(
            0,
            json!({"id": state.settings.node_id, "self": true, "startedAt": null,
                   "lastHeartbeat": now.to_rfc3339(), "holds": null}),
        );
    }
    Ok(Json(json!({
        "nodes": nodes,
        "leaseMs": lease,
        // The nodes this one divides the rate limits by (it enforces 1/n of each).
        "rateLimitNodes": state.limiter.nodes(),
    })))
}
