//! The operator's API (`/admin/...`), guarded by the admin token.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cascade_core::Micros;
use cascade_core::flow::ValidationErrors;
use cascade_service::tenancy::{self, NewApplication};
use cascade_store::{Account, RateLimit};
use serde_json::{Map, Value, json};

use super::accounts::currency_json;
use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{JsonBody, Operator};

/// Reads fields of a JSON object, collecting problems by field name.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: ValidationErrors,
}

impl<'a> Fields<'a> {
    fn of(body: &'a Value) -> Result<Self, ApiError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::Malformed("the body must be a JSON object".into()))?;
        Ok(Self {
            obj,
            errors: ValidationErrors::new(),
        })
    }

    fn string(&mut self, key: &str, required: bool) -> Option<String> {
        match self.obj.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.errors.add(key, "is required");
                }
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.errors.add(key, "must be a string");
                None
            }
        }
    }

    fn money(&mut self, key: &str, required: bool) -> Option<Micros> {
        match self.obj.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.errors.add(key, "is required");
                }
                None
            }
            Some(v) => match v.as_f64().map(Micros::from_decimal) {
                Some(Ok(m)) => Some(m),
                _ => {
                    self.errors.add(key, "must be a number");
                    None
                }
            },
        }
    }

    fn uint(&mut self, key: &str) -> Option<u32> {
        match self.obj.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Some(n),
                None => {
                    self.errors.add(key, "must be a non-negative integer");
                    None
                }
            },
        }
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.errors))
        }
    }
}

fn account_json(a: &Account) -> Value {
    json!({
        "accountId": a.id,
        "name": a.name,
        "balance": a.balance,
        "currency": a.currency,
        "currencyDetails": currency_json(&a.currency),
        "createdAt": a.created_at,
    })
}

/// `POST /admin/accounts` `{"name", "balance", "currency"}` → 201.
pub async fn create_account(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::of(&body)?;
    let name = f.string("name", true);
    let balance = f.money("balance", false).unwrap_or(Micros::ZERO);
    let currency = f.string("currency", false).unwrap_or_else(|| "EUR".into());
    f.finish()?;
    let name = name.unwrap_or_default();
    let account = tenancy::create_account(
        &*state.store,
        &name,
        balance,
        &currency.to_ascii_uppercase(),
        state.runtime.clock().now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(account_json(&account))))
}

/// `GET /admin/accounts/{accountId}`.
pub async fn get_account(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Path(account_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = state
        .store
        .account(&account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("account {account_id}")))?;
    Ok(Json(account_json(&account)))
}

/// `POST /admin/accounts/{accountId}/applications` → 201 with both secrets, shown once.
pub async fn create_application(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Path(account_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::of(&body)?;
    let name = f.string("name", true);
    let id = f.string("applicationId", false);
    let lifetime = f.uint("tokenLifetimeSeconds");
    let scopes = match f.obj.get("scopes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|v| {
                    let s = v.as_str().map(str::to_owned);
                    if s.is_none() {
                        f.errors.add("scopes", "must be an array of strings");
                    }
                    s
                })
                .collect::<Vec<_>>(),
        ),
        Some(_) => {
            f.errors.add("scopes", "must be an array of strings");
            None
        }
    };
    let rate_limit = match f.obj.get("rateLimit") {
        None | Some(Value::Null) => None,
        Some(Value::Object(r)) => {
            let per_second = r
                .get("perSecond")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok());
            let burst = r
                .get("burst")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok());
            if per_second.is_none() {
                f.errors
                    .add("rateLimit.perSecond", "must be a non-negative integer");
            }
            let burst = burst.or(per_second);
            per_second
                .zip(burst)
                .map(|(per_second, burst)| RateLimit { per_second, burst })
        }
        Some(_) => {
            f.errors
                .add("rateLimit", "must be an object {perSecond, burst}");
            None
        }
    };
    f.finish()?;
    let req = NewApplication {
        id,
        name: name.unwrap_or_default(),
        scopes,
        token_lifetime_s: lifetime,
        rate_limit,
        secret: None,
    };
    let created =
        tenancy::create_application(&*state.store, &account_id, req, state.runtime.clock().now())
            .await?;
    let app = &created.application;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "applicationId": app.id,
            "accountId": app.account_id,
            "name": app.name,
            "scopes": app.scopes,
            "tokenLifetimeSeconds": app.token_lifetime_s,
            "rateLimit": app.rate_limit.map(|r| json!({"perSecond": r.per_second, "burst": r.burst})),
            "secret": created.secret,
            "webhookSecret": created.webhook_secret,
            "createdAt": app.created_at,
        })),
    ))
}

/// `PUT /admin/accounts/{accountId}/balance` `{"balance": 50}`.
pub async fn set_balance(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Path(account_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let mut f = Fields::of(&body)?;
    let balance = f.money("balance", true);
    f.finish()?;
    let account =
        tenancy::set_balance(&*state.store, &account_id, balance.unwrap_or(Micros::ZERO)).await?;
    Ok(Json(account_json(&account)))
}

/// `POST /admin/accounts/{accountId}/viber-senders` `{"name": "MyBrand"}` → 201.
pub async fn add_viber_sender(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Path(account_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut f = Fields::of(&body)?;
    let name = f.string("name", true);
    f.finish()?;
    let sender = tenancy::add_viber_sender(
        &*state.store,
        &account_id,
        &name.unwrap_or_default(),
        state.runtime.clock().now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"senderInfoTrackingId": sender.id, "name": sender.name})),
    ))
}

/// `POST /admin/applications/{applicationId}/webhook-secret`: a new signing secret.
pub async fn rotate_webhook_secret(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Path(application_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let secret = tenancy::rotate_webhook_secret(&*state.store, &application_id).await?;
    state.runtime.webhook_secret_rotated(&application_id);
    Ok(Json(
        json!({"applicationId": application_id, "webhookSecret": secret}),
    ))
}
