//! Health endpoints and the JSON answers for unknown routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::Operator;

/// 200 while the process runs.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// 200 when the store answers, 503 otherwise.
pub async fn readyz(State(state): State<Arc<ApiState>>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
            )
        }
    }
}

/// `GET /metrics` (admin token): the connectors' metrics in the Prometheus text format,
/// plus the process's own basics.
pub async fn metrics(State(state): State<Arc<ApiState>>, _: Operator) -> impl IntoResponse {
    let mut out = String::new();
    out.push_str(
        "# HELP cascade_up 1 while the process serves.\n# TYPE cascade_up gauge\ncascade_up 1\n",
    );
    if let Some(render) = &state.metrics {
        (render.0)(&mut out);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

pub async fn no_route() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

pub async fn no_method() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(
            json!({"code": "405000000", "developerMessage": "This method is not allowed on this endpoint."}),
        ),
    )
}
