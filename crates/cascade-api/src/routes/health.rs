//! Health endpoints and the JSON answers for unknown routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::ApiState;
use crate::error::ApiError;

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
