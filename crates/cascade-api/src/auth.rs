//! `POST /oauth/token` (OAuth 2.0 client credentials) and bearer-token checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cascade_core::Timestamp;
use cascade_service::credentials::{random_secret, token_digest, verify_secret};
use cascade_service::tenancy::permission;
use cascade_store::{AccessToken, Store};
use serde_json::json;

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{Caller, read_limited};
use crate::openapi::schemas::{OAuthErrorBody, TokenRequest, TokenResponse};

/// Tokens seen recently, by digest. Tokens are never revoked before they expire, so a
/// cached entry is valid until its own expiry; the cache only saves a read per request.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, AccessToken>>,
}

const CACHE_CAPACITY: usize = 100_000;

impl TokenCache {
    /// The caller a presented token stands for.
    ///
    /// # Errors
    /// [`ApiError::Unauthorized`] for an unknown or expired token,
    /// [`ApiError::Unavailable`] when the store cannot be read.
    pub async fn authenticate(
        &self,
        store: &dyn Store,
        token: &str,
        now: Timestamp,
    ) -> Result<Caller, ApiError> {
        let digest = token_digest(token);
        let cached = self
            .entries
            .lock()
            .expect("no panics under this lock")
            .get(&digest)
            .cloned();
        let record = match cached {
            Some(t) => t,
            None => {
                let t = store.token(&digest).await?.ok_or(ApiError::Unauthorized)?;
                let mut entries = self.entries.lock().expect("no panics under this lock");
                if entries.len() >= CACHE_CAPACITY {
                    entries.retain(|_, t| t.expires_at > now);
                    if entries.len() >= CACHE_CAPACITY {
                        entries.clear();
                    }
                }
                entries.insert(digest, t.clone());
                t
            }
        };
        if record.expires_at <= now {
            return Err(ApiError::Unauthorized);
        }
        Ok(Caller {
            application_id: record.application_id,
            account_id: record.account_id,
            scopes: record.scopes,
        })
    }
}

/// An OAuth error: `{"error": "...", "error_description": "..."}`.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"cascade\""),
            );
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::PayloadTooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "The body is too large.",
            ),
            ApiError::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Retry shortly.",
            ),
            ApiError::Malformed(m) => Self::new(StatusCode::BAD_REQUEST, "invalid_request", m),
            _ => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Internal error.",
            ),
        }
    }
}

/// `POST /oauth/token`.
#[utoipa::path(
    post, path = "/oauth/token", tag = "auth",
    summary = "Issue an access token (OAuth 2.0 client credentials)",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security((), ("clientBasic" = [])),
    responses(
        (status = 200, description = "A token.", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_request` (not a form, unparsable), `unsupported_grant_type`, or `invalid_scope` (a scope the application lacks).", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`: no, unknown or wrong credentials.", body = OAuthErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"cascade\"`"))),
        (status = 413, description = "`invalid_request`: the body is too large.", body = OAuthErrorBody),
        (status = 500, description = "`server_error`.", body = OAuthErrorBody),
        (status = 503, description = "`temporarily_unavailable`: the store cannot be reached.", body = OAuthErrorBody),
    ),
)]
pub async fn issue_token(
    State(state): State<Arc<ApiState>>,
    req: Request,
) -> Result<Response, OAuthError> {
    let headers = req.headers().clone();
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let body = read_limited(req.into_body(), state.settings.body_limit).await?;
    if !form_type && !body.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).map_err(|_| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The form could not be parsed.",
        )
    })?;

    let (client_id, secret) = basic_credentials(&headers)
        .or_else(|| {
            Some((
                form.get("client_id")?.clone(),
                form.get("client_secret")?.clone(),
            ))
        })
        .ok_or_else(OAuthError::invalid_client)?;
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Grant type {other:?} is not supported; use client_credentials."),
            ));
        }
        None => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type=client_credentials is required.",
            ));
        }
    }

    let app = state
        .store
        .application(&client_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(OAuthError::invalid_client)?;
    let hash = app.secret_hash.clone();
    let verified = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash))
        .await
        .unwrap_or(false);
    if !verified {
        return Err(OAuthError::invalid_client());
    }

    let scopes: Vec<String> = match form
        .get("scope")
        .map(|s| s.split_whitespace().collect::<Vec<_>>())
    {
        Some(asked) if !asked.is_empty() => {
            let mut out: Vec<String> = Vec::new();
            for s in asked {
                if !app.scopes.iter().any(|have| have == s) {
                    return Err(OAuthError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        format!("The application does not have the scope {s:?}."),
                    ));
                }
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_owned());
                }
            }
            out
        }
        _ => app.scopes.clone(),
    };

    let token = random_secret();
    let now = state.runtime.clock().now();
    let expires_at =
        Timestamp::from_millis(now.as_millis() + i64::from(app.token_lifetime_s) * 1000);
    let record = AccessToken {
        digest: token_digest(&token),
        application_id: app.id.clone(),
        account_id: app.account_id.clone(),
        scopes: scopes.clone(),
        expires_at,
    };
    state
        .store
        .insert_token(&record)
        .await
        .map_err(ApiError::from)?;
    let permissions: Vec<&str> = scopes.iter().filter_map(|s| permission(s)).collect();
    let body = json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": app.token_lifetime_s,
        "scope": scopes.join(" "),
        "permissions": permissions,
    });
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `Authorization: Basic base64(id:secret)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}
