//! `GET /accounts/me/balance`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use cascade_service::tenancy::currency;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::openapi::schemas::Balance;
use crate::openapi::{AppErrors, NotFound};

/// `GET /accounts/me/balance`.
#[utoipa::path(
    get, path = "/accounts/me/balance", tag = "account",
    summary = "The caller's balance",
    security(("oauth2" = ["account"])),
    responses(
        (status = 200, description = "The balance and its currency.", body = Balance),
        (status = 404, response = NotFound),
        AppErrors,
    ),
)]
pub async fn balance(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require("account")?;
    let account = state
        .store
        .account(&caller.account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("account".into()))?;
    Ok(Json(
        json!({"balance": account.balance, "currency": currency_json(&account.currency)}),
    ))
}

/// `{"code": "EUR", "name": "Euro", "sign": "€"}`.
pub fn currency_json(code: &str) -> Value {
    let (name, sign) = currency(code).unwrap_or((code, code));
    json!({"code": code, "name": name, "sign": sign})
}
