//! `POST /webhooks/{name}` (and `/webhooks/{name}/{token}` for providers that do not
//! sign): statuses and seen reports from Viber and Voice providers.
//!
//! The provider section's receiver verifies the request and reads it; every report is
//! then recorded by the runtime (applied, or held until its message id is known) before
//! the answer goes out, so a 2xx always means "durably recorded". A request that fails
//! verification gets 401 and changes nothing; one that cannot be read gets 400; a store
//! that cannot record gets 503 and the provider sends it again.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use cascade_core::ports::{ReportSink, WebhookError, WebhookItem, WebhookRequest};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::read_limited;
use crate::openapi::schemas::WebhookOutcome;
use crate::openapi::{BadRequest, NotFound, PayloadTooLarge, Unauthorized, Unavailable};

/// `POST /webhooks/{name}`.
#[utoipa::path(
    post, path = "/webhooks/{name}", tag = "webhooks",
    summary = "A provider's statuses, seen reports and replies",
    params(("name" = String, Path, description = "The provider section's name.")),
    request_body(description = "The provider's own request (JSON or a form), verified by the provider section: a signature, or the token in the path.",
        content(("application/json"), ("application/x-www-form-urlencoded"))),
    security(()),
    responses(
        (status = 200, description = "Everything it said is durably recorded.", body = WebhookOutcome),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 503, response = Unavailable),
    ),
)]
pub async fn receive(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    handle(&state, name, None, request).await
}

/// `POST /webhooks/{name}/{token}`.
#[utoipa::path(
    post, path = "/webhooks/{name}/{token}", tag = "webhooks",
    summary = "A provider's webhook, for providers that do not sign (the token proves it)",
    params(
        ("name" = String, Path, description = "The provider section's name."),
        ("token" = String, Path, description = "The section's webhook token."),
    ),
    request_body(description = "The provider's own request (JSON or a form), verified by the provider section: a signature, or the token in the path.",
        content(("application/json"), ("application/x-www-form-urlencoded"))),
    security(()),
    responses(
        (status = 200, description = "Everything it said is durably recorded.", body = WebhookOutcome),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 503, response = Unavailable),
    ),
)]
pub async fn receive_with_token(
    State(state): State<Arc<ApiState>>,
    Path((name, token)): Path<(String, String)>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    handle(&state, name, Some(token), request).await
}

async fn handle(
    state: &ApiState,
    name: String,
    token: Option<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let Some(receiver) = state.webhooks.get(&name) else {
        return Err(ApiError::NotFound(format!("provider {name}")));
    };
    let headers = lowercase_headers(request.headers());
    let content_type = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.clone());
    let body = read_limited(request.into_body(), state.settings.body_limit).await?;
    let public_url = format!("{}/webhooks/{name}", state.public_url);
    let webhook = WebhookRequest {
        public_url,
        path_token: token,
        headers,
        content_type,
        body: body.to_vec(),
    };
    let now = state.runtime.clock().now();
    let items = match receiver.receive(&webhook, now) {
        Ok(items) => items,
        Err(WebhookError::Unauthorized(why)) => {
            tracing::warn!(target: "cascade::webhooks", provider = %name, %why, "webhook refused");
            return Err(ApiError::Unauthorized);
        }
        Err(WebhookError::Malformed(why)) => {
            tracing::warn!(target: "cascade::webhooks", provider = %name, %why, "webhook not readable");
            return Err(ApiError::Malformed(why));
        }
    };
    let (mut applied, mut held, mut inbound, mut ignored) = (0u32, 0u32, 0u32, 0u32);
    for item in items {
        match item {
            WebhookItem::Report {
                provider_message_ids,
                report,
            } => match state
                .runtime
                .deliver(&name, &provider_message_ids, report)
                .await
            {
                Ok(cascade_core::ports::Recorded::Applied) => applied += 1,
                Ok(cascade_core::ports::Recorded::Held) => held += 1,
                Err(e) => {
                    tracing::error!(target: "cascade::webhooks", provider = %name, error = %e, "a report could not be recorded; the provider will send it again");
                    return Err(ApiError::Unavailable);
                }
            },
            WebhookItem::Inbound(message) => {
                if let Err(e) = state.runtime.inbound(message).await {
                    tracing::error!(target: "cascade::webhooks", provider = %name, error = %e, "an inbound message could not be recorded; the provider will send it again");
                    return Err(ApiError::Unavailable);
                }
                inbound += 1;
            }
            WebhookItem::Ignored { what } => {
                tracing::debug!(target: "cascade::webhooks", provider = %name, %what, "webhook item ignored");
                ignored += 1;
            }
        }
    }
    Ok(Json(
        json!({"applied": applied, "held": held, "inbound": inbound, "ignored": ignored}),
    ))
}

fn lowercase_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect()
}
