//! The API's error shape: `{"code": "<9 digits>", "developerMessage": "...",
//! "properties": {...}}` — HTTP status, module (`000` generic, `022` failover), counter.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cascade_core::flow::ValidationErrors;
use cascade_service::tenancy::TenancyError;
use cascade_store::StoreError;
use serde_json::json;

/// Everything a handler can answer besides success. Variants the client caused carry
/// what to tell them; internal failures are logged where they are turned into a
/// response and never described to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `400000000`: the body is not JSON (or not a form), or a query is malformed.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 400 `400022001`: validation failed; `properties` names each bad field.
    #[error("validation failed")]
    Validation(ValidationErrors),
    /// 400 `400000001`: validation of an administrative or sandbox request failed.
    #[error("invalid request")]
    Invalid(ValidationErrors),
    /// 401 `401000000`: no, unknown or expired bearer token.
    #[error("unauthorized")]
    Unauthorized,
    /// 403 `403000000`: the token lacks a scope.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404 `404022001`: no such tracking for this account.
    #[error("tracking not found")]
    TrackingNotFound,
    /// 404 `404000000`: another resource or route does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409 `409000000`: the resource already exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 409 `409022001`: an idempotency key in flight, or reused with another body.
    #[error("idempotency conflict: {0}")]
    IdempotencyConflict(String),
    /// 429 `429000000`: the application's rate limit; retry after the given seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// 413 `413000000`.
    #[error("body too large")]
    PayloadTooLarge { limit: usize },
    /// 415 `415000000`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 500 `500000000`.
    #[error("internal error")]
    Internal,
    /// 503 `503000000`: the store is unavailable; retry.
    #[error("store unavailable")]
    Unavailable,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Malformed(m) => (
                StatusCode::BAD_REQUEST,
                "400000000",
                format!("Malformed request: {m}"),
            ),
            ApiError::Validation(e) => (StatusCode::BAD_REQUEST, "400022001", e.summary()),
            ApiError::Invalid(e) => (StatusCode::BAD_REQUEST, "400000001", e.summary()),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "401000000",
                "A valid bearer token is required (missing, unknown or expired).".into(),
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "403000000", m.clone()),
            ApiError::TrackingNotFound => (
                StatusCode::NOT_FOUND,
                "404022001",
                "Tracking not found.".into(),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "404000000",
                format!("Not found: {what}."),
            ),
            ApiError::Conflict(what) => (
                StatusCode::CONFLICT,
                "409000000",
                format!("Already exists: {what}."),
            ),
            ApiError::IdempotencyConflict(m) => (StatusCode::CONFLICT, "409022001", m.clone()),
            ApiError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "429000000",
                format!("Rate limit exceeded; retry after {retry_after_secs} s."),
            ),
            ApiError::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "413000000",
                format!("The body is larger than the limit of {limit} bytes."),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "415000000",
                "The body must be sent with Content-Type: application/json.".into(),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "500000000",
                "Internal error.".into(),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "503000000",
                "The store is unavailable; retry shortly.".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let mut body = json!({"code": code, "developerMessage": message});
        if let ApiError::Validation(e) | ApiError::Invalid(e) = &self {
            body["properties"] = serde_json::to_value(e).unwrap_or_default();
        }
        let mut response = (status, axum::Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, ApiError::Unavailable) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) | StoreError::CommitFailed(_) | StoreError::Closed => {
                tracing::error!(error = %e, error.cause_chain = ?e, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::Conflict(what) => ApiError::Conflict(what),
            StoreError::NotFound(what) => ApiError::NotFound(what),
            other => {
                tracing::error!(error = %other, error.cause_chain = ?other, "store failure");
                ApiError::Internal
            }
        }
    }
}

impl From<TenancyError> for ApiError {
    fn from(e: TenancyError) -> Self {
        match e {
            TenancyError::Invalid(errors) => ApiError::Invalid(errors),
            TenancyError::NotFound(what) => ApiError::NotFound(what),
            TenancyError::Conflict(what) => ApiError::Conflict(what),
            TenancyError::Store(e) => e.into(),
            other => {
                tracing::error!(error = %other, "tenancy failure");
                ApiError::Internal
            }
        }
    }
}
