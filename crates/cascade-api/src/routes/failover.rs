//! `POST /failover`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use cascade_core::FlowId;
use cascade_core::flow::{AcceptContext, echo_flow, parse_flow};
use cascade_service::clock;
use serde_json::Value;

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody};

/// Validate, store (durably) and start a flow, then echo it back with its trackingId.
#[tracing::instrument(name = "send_flow", skip_all, fields(application_id = %caller.application_id))]
pub async fn send_flow(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    caller.require("failover")?;
    let now = clock::now();
    let senders = if mentions_viber(&body) {
        state
            .store
            .viber_senders(&caller.account_id)
            .await?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect()
    } else {
        HashMap::new()
    };
    let ctx = AcceptContext {
        tracking_id: FlowId::new_v7(now.as_millis()),
        now,
        account_id: &caller.account_id,
        application_id: &caller.application_id,
        viber_senders: &senders,
        prices: &state.settings.prices,
        operators: &state.settings.operators,
        ttl_clock: state.settings.ttl_clock,
    };
    let def = parse_flow(&body, &ctx).map_err(ApiError::Validation)?;
    for channel in def.channels() {
        if !caller.scopes.iter().any(|s| s == channel.scope()) {
            return Err(ApiError::Forbidden(format!(
                "This token lacks the {:?} scope needed for {channel} steps.",
                channel.scope()
            )));
        }
    }
    let echo = echo_flow(&def);
    state.runtime.accept(def).await?;
    Ok(Json(echo))
}

/// Whether any step says it is Viber — only then are the account's senders needed.
fn mentions_viber(body: &Value) -> bool {
    body.get("flow")
        .and_then(Value::as_array)
        .is_some_and(|steps| {
            steps.iter().any(|s| {
                s.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("viber"))
            })
        })
}
