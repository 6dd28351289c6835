//! Request extractors that answer in the API's error shape: a JSON body (content type,
//! size limit, syntax), the calling application (bearer token), and the operator
//! (admin token).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde_json::Value;

use cascade_service::tenancy::AdminAuth;

use crate::ApiState;
use crate::error::ApiError;

/// What the extractors need from a router's state.
pub trait RequestContext: Send + Sync + 'static {
    /// Largest accepted request body, in bytes.
    fn body_limit(&self) -> usize;
    /// How the operator proves who they are; `None`: the routes are open (a local tool
    /// started without an admin token).
    fn admin(&self) -> Option<&AdminAuth>;
}

impl RequestContext for ApiState {
    fn body_limit(&self) -> usize {
        self.settings.body_limit
    }

    fn admin(&self) -> Option<&AdminAuth> {
        Some(&self.admin)
    }
}

/// A JSON body, parsed to a [`Value`] so validation can report field paths itself.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: RequestContext> FromRequest<Arc<S>> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<S>) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_limited(req.into_body(), state.body_limit()).await?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Malformed(format!("invalid JSON: {e}")))?;
        Ok(JsonBody(value))
    }
}

/// Like [`JsonBody`], but an empty body (with or without a content type) reads as `null`.
#[derive(Debug)]
pub struct OptionalJsonBody(pub Value);

impl<S: RequestContext> FromRequest<Arc<S>> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<S>) -> Result<Self, Self::Rejection> {
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        let json = is_json(req.headers());
        let bytes = read_limited(req.into_body(), state.body_limit()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(Value::Null));
        }
        if has_type && !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Malformed(format!("invalid JSON: {e}")))?;
        Ok(OptionalJsonBody(value))
    }
}

/// `application/json` or any `+json` type, with or without parameters.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// Read a body of at most `limit` bytes.
pub async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if too_large {
                Err(ApiError::PayloadTooLarge { limit })
            } else {
                Err(ApiError::Malformed("the body could not be read".into()))
            }
        }
    }
}

/// The application a bearer token acts for.
#[derive(Debug, Clone)]
pub struct Caller {
    pub application_id: String,
    pub account_id: String,
    pub scopes: Vec<String>,
}

impl Caller {
    /// # Errors
    /// [`ApiError::Forbidden`] when the token lacks `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "This token lacks the {scope:?} scope."
            )))
        }
    }
}

impl FromRequestParts<Arc<ApiState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthorized)?;
        let now = state.runtime.clock().now();
        let caller = state.tokens.authenticate(&*state.store, token, now).await?;
        state
            .limiter
            .check(&*state.store, &caller.application_id)
            .await?;
        Ok(caller)
    }
}

/// The operator, proven by the admin token (anyone, on routes whose state has none).
#[derive(Debug, Clone, Copy)]
pub struct Operator;

impl<S: RequestContext> FromRequestParts<Arc<S>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<S>,
    ) -> Result<Self, Self::Rejection> {
        let Some(admin) = state.admin() else {
            return Ok(Operator);
        };
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthorized)?;
        if admin.accepts(token) {
            Ok(Operator)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
