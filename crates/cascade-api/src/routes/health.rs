//! Health endpoints and the JSON answers for unknown routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::Operator;
use crate::openapi::schemas::Health;
use crate::openapi::{Internal, Unauthorized};

/// 200 while the process runs.
#[utoipa::path(
    get, path = "/healthz", tag = "health",
    summary = "Liveness",
    security(()),
    responses((status = 200, description = "The process runs.", body = Health, example = json!({"status": "ok"}))),
)]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// How long `/readyz` waits for the store: a database that is away often shows as a
/// connection attempt that hangs, not as an error.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// 200 when the store answers within [`READY_WITHIN`], 503 otherwise.
#[utoipa::path(
    get, path = "/readyz", tag = "health",
    summary = "Readiness",
    security(()),
    responses(
        (status = 200, description = "The store answers.", body = Health, example = json!({"status": "ready"})),
        (status = 503, description = "The store does not answer.", body = Health, example = json!({"status": "unavailable"})),
    ),
)]
pub async fn readyz(State(state): State<Arc<ApiState>>) -> impl IntoResponse {
    let answer = tokio::time::timeout(READY_WITHIN, state.store.ping())
        .await
        .map_err(|_| format!("the store did not answer within {READY_WITHIN:?}"))
        .and_then(|r| r.map_err(|e| cascade_core::error_chain(&e)));
    match answer {
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

/// `GET /metrics` (admin token): the registry in the OpenMetrics text format, under the
/// OpenMetrics content type when the scraper asks for it (Prometheus does) and under the
/// classic Prometheus one otherwise (the samples read the same either way).
#[utoipa::path(
    get, path = "/metrics", tag = "health",
    summary = "Metrics",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The OpenMetrics text format.", content(
            (String = "text/plain; version=0.0.4; charset=utf-8"),
            (String = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
    ),
)]
pub async fn metrics(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &state.metrics).map_err(|e| {
        tracing::error!(error = %e, "metrics could not be encoded");
        ApiError::Internal
    })?;
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], out))
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
