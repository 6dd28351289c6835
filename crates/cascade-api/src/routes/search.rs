//! `POST /failover/tracking`: search an account's trackings.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use cascade_core::search::parse_search;
use cascade_core::tracking::render_tracking;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{Caller, OptionalJsonBody};
use crate::openapi::schemas::{SearchRequest, TrackingPage};
use crate::openapi::{AppErrors, JsonErrors};

/// Search the caller's account (scope `failover`) and answer one page of tracking
/// objects in Spring's page shape:
/// `{"content", "totalPages", "totalElements", "number", "size", "numberOfElements",
/// "first", "last"}`.
///
/// # Errors
/// 400 `400022001` naming each bad parameter or filter (`size`, `filters[1].searchTerm`,
/// …), 400 `400000000` for a body that is not JSON or a malformed query string, 401/403
/// for the token, 503 when the store cannot be read.
#[utoipa::path(
    post, path = "/failover/tracking", tag = "failover",
    summary = "Search the account's trackings",
    description = "Filters are ANDed and match case-insensitively; an empty body, an empty array or a single filter object are accepted too. Only the caller's account is searched.",
    params(
        ("dateStart" = Option<String>, Query, nullable = false, format = DateTime, description = "RFC 3339 (minutes-only forms like `2026-05-05T15:00Z` accepted); `createdAt` at or after it."),
        ("dateEnd" = Option<String>, Query, nullable = false, format = DateTime, description = "RFC 3339; `createdAt` before it."),
        ("page" = Option<u32>, Query, nullable = false, minimum = 0, maximum = 2147483647, description = "From 0 (default 0) to 2147483647."),
        ("size" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 1000, description = "1 to 1000 (default 10)."),
        ("sort" = Option<String>, Query, nullable = false, pattern = "^(createdAt|updatedAt),(asc|desc)$", description = "`createdAt,desc` (default), `createdAt,asc`, `updatedAt,asc` or `updatedAt,desc`; ties are broken by trackingId."),
    ),
    request_body(content = Option<SearchRequest>, description = "Optional."),
    security(("oauth2" = ["failover"])),
    responses(
        (status = 200, description = "One page of tracking objects.", body = TrackingPage),
        JsonErrors,
        AppErrors,
    ),
)]
#[tracing::instrument(name = "search", skip_all, fields(application_id = %caller.application_id))]
pub async fn search(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Json<Value>, ApiError> {
    caller.require("failover")?;
    let Query(params) = params.map_err(|e| ApiError::Malformed(e.body_text()))?;
    let query = parse_search(&params, &body).map_err(ApiError::Validation)?;
    let page = state.store.search(&caller.account_id, &query).await?;

    let content: Vec<Value> = page
        .flows
        .iter()
        .map(|f| render_tracking(&f.definition, &f.state))
        .collect();
    let size = u64::from(query.size.get());
    let number = u64::from(query.page);
    let total_pages = page.total.div_ceil(size);
    Ok(Json(json!({
        "content": content,
        "totalPages": total_pages,
        "totalElements": page.total,
        "number": number,
        "size": size,
        "numberOfElements": content.len(),
        "first": number == 0,
        // Also true past the end, and when there are no results at all.
        "last": number + 1 >= total_pages,
    })))
}
