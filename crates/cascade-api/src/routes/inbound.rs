//! `GET /admin/inbound?from=&since=&limit=`: replies from recipients, newest first,
//! matched to their flow or not.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use cascade_core::Timestamp;
use cascade_store::InboundRecord;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::Operator;
use crate::openapi::schemas::InboundList;
use crate::openapi::{AdminErrors, BadRequest};

/// `GET /admin/inbound`.
#[utoipa::path(
    get, path = "/admin/inbound", tag = "admin",
    summary = "Replies from recipients, newest first",
    params(
        ("from" = Option<String>, Query, nullable = false, description = "Only replies from this number."),
        ("since" = Option<String>, Query, nullable = false, format = DateTime, description = "Only replies received at or after this RFC 3339 time."),
        ("limit" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 1000, description = "At most this many (default 100)."),
    ),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The replies, matched to a flow or not.", body = InboundList),
        (status = 400, response = BadRequest),
        AdminErrors,
    ),
)]
pub async fn list(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let from = query
        .get("from")
        .map(|f| cascade_core::inbound::e164(f))
        .filter(|f| f.len() > 1);
    let since = match query.get("since") {
        None => None,
        Some(s) => Some(Timestamp::parse(s).map_err(|_| {
            ApiError::Malformed(
                "since must be an ISO 8601 date-time, e.g. 2026-12-01T00:00:00Z".into(),
            )
        })?),
    };
    let limit = match query.get("limit") {
        None => 100,
        Some(n) => n
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::Malformed("limit must be an integer from 1 to 1000".into()))?,
    };
    let records = state
        .store
        .inbound_messages(from.as_deref(), since, limit)
        .await?;
    Ok(Json(
        json!({"inbound": records.iter().map(record_json).collect::<Vec<_>>()}),
    ))
}

fn record_json(r: &InboundRecord) -> Value {
    let m = &r.message;
    json!({
        "id": r.id,
        "type": m.channel.to_string(),
        "from": m.from,
        "to": m.to,
        "text": m.text,
        "receivedAt": m.received_at.to_rfc3339(),
        "provider": m.provider,
        "trackingId": r.matched.as_ref().map(|x| x.flow.to_string()),
        "messageTrackingId": r.matched.as_ref().map(|x| x.message_id.clone()),
        "forwarded": r.forwarded,
    })
}
