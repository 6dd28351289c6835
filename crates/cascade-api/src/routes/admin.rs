//! The operator's API (`/admin/...`), guarded by the admin token.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cascade_core::Micros;
use cascade_core::fields::Presence::{self, Optional, Required};
use cascade_core::fields::{FieldReader, JsonObject};
use cascade_service::tenancy::{self, NewApplication};
use cascade_store::{Account, RateLimit};
use serde_json::{Value, json};

use super::accounts::currency_json;
use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{JsonBody, Operator};
use crate::openapi::schemas::{
    Account as AccountBody, CreatedApplication, NewAccount, NewApplication as NewApplicationBody,
    NewBalance, NewViberSender, ViberSender, WebhookSecret,
};
use crate::openapi::{AdminErrors, Conflict, JsonErrors, NotFound};

const NON_NEGATIVE: &str = "must be a non-negative integer";

/// The body of an admin request, which must be a JSON object: anything else is a
/// malformed request (`400000000`), not a field problem.
fn body_object(body: &Value) -> Result<JsonObject<'_>, ApiError> {
    body.as_object()
        .map(|map| JsonObject::new(map, ""))
        .ok_or_else(|| ApiError::Malformed("the body must be a JSON object".into()))
}

/// The field problems found, if any, as a `400000001`.
fn finish(reader: FieldReader) -> Result<(), ApiError> {
    reader.finish().map_err(ApiError::Invalid)
}

/// An amount of money: any JSON number that [`Micros`] can hold, else
/// `"must be a number"`. Whether a negative amount is allowed is for `tenancy` to say.
fn money(
    reader: &mut FieldReader,
    obj: &JsonObject<'_>,
    key: &str,
    presence: Presence,
) -> Option<Micros> {
    reader.number(obj, key, presence, "must be a number", |amount| {
        Micros::from_decimal(amount).ok()
    })
}

/// `scopes`: an array of strings. Every item that is not a string is reported, each time
/// with the same message.
fn scopes(reader: &mut FieldReader, obj: &JsonObject<'_>) -> Option<Vec<String>> {
    const RULE: &str = "must be an array of strings";
    let items = reader.array(obj, "scopes", Optional, RULE)?;
    let scopes = items
        .iter()
        .filter_map(|item| {
            let scope = item.as_str().map(str::to_owned);
            if scope.is_none() {
                reader.report(obj.at("scopes"), RULE);
            }
            scope
        })
        .collect();
    Some(scopes)
}

/// `rateLimit`: `{perSecond, burst}`. `perSecond` must be given; `burst` defaults to it,
/// and is reported like `perSecond` when it is not a non-negative integer (it used to be
/// replaced by `perSecond` silently, so a mistyped limit was stored as another one).
fn rate_limit(reader: &mut FieldReader, obj: &JsonObject<'_>) -> Option<RateLimit> {
    let value = reader.field(obj, "rateLimit", Optional)?;
    let rate = reader.object_with_rule(
        value,
        obj.at("rateLimit"),
        "must be an object {perSecond, burst}",
    )?;
    let per_second = match rate.get("perSecond") {
        // A missing perSecond is reported in the words of a bad one.
        None => reader.fail(rate.at("perSecond"), NON_NEGATIVE),
        Some(_) => reader.unsigned(
            &rate,
            "perSecond",
            Optional,
            0..=u64::from(u32::MAX),
            NON_NEGATIVE,
        ),
    };
    let burst = reader
        .unsigned(
            &rate,
            "burst",
            Optional,
            0..=u64::from(u32::MAX),
            NON_NEGATIVE,
        )
        .or(per_second);
    per_second
        .zip(burst)
        .map(|(per_second, burst)| RateLimit { per_second, burst })
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
#[utoipa::path(
    post, path = "/admin/accounts", tag = "admin",
    summary = "Create an account",
    request_body = NewAccount,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Created.", body = AccountBody,
            links(
                ("GetAccount" = (operation_id = "get_account", parameters(("accountId" = "$response.body#/accountId")))),
                ("CreateApplication" = (operation_id = "create_application", parameters(("accountId" = "$response.body#/accountId")))),
                ("SetBalance" = (operation_id = "set_balance", parameters(("accountId" = "$response.body#/accountId")))),
                ("AddViberSender" = (operation_id = "add_viber_sender", parameters(("accountId" = "$response.body#/accountId")))),
            )),
        (status = 409, response = Conflict),
        JsonErrors,
        AdminErrors,
    ),
)]
pub async fn create_account(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let obj = body_object(&body)?;
    let mut reader = FieldReader::new();
    let name = reader.string(&obj, "name", Required);
    let balance = money(&mut reader, &obj, "balance", Optional).unwrap_or(Micros::ZERO);
    let currency = reader.string(&obj, "currency", Optional).unwrap_or("EUR");
    finish(reader)?;
    let account = tenancy::create_account(
        &*state.store,
        name.unwrap_or_default(),
        balance,
        &currency.to_ascii_uppercase(),
        state.runtime.clock().now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(account_json(&account))))
}

/// `GET /admin/accounts/{accountId}`.
#[utoipa::path(
    get, path = "/admin/accounts/{accountId}", tag = "admin",
    summary = "An account",
    params(("accountId" = String, Path, description = "The account's id.")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The account.", body = AccountBody),
        (status = 404, response = NotFound),
        AdminErrors,
    ),
)]
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
#[utoipa::path(
    post, path = "/admin/accounts/{accountId}/applications", tag = "admin",
    summary = "Create an application",
    params(("accountId" = String, Path, description = "The account's id.")),
    request_body = NewApplicationBody,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Created, with its client secret and webhook signing secret (shown this once).", body = CreatedApplication,
            links(("RotateWebhookSecret" = (operation_id = "rotate_webhook_secret", parameters(("applicationId" = "$response.body#/applicationId")))))),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        JsonErrors,
        AdminErrors,
    ),
)]
pub async fn create_application(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Path(account_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let obj = body_object(&body)?;
    let mut reader = FieldReader::new();
    let name = reader.string(&obj, "name", Required);
    let id = reader
        .string(&obj, "applicationId", Optional)
        .map(str::to_owned);
    let lifetime = reader.unsigned(
        &obj,
        "tokenLifetimeSeconds",
        Optional,
        0..=u64::from(u32::MAX),
        NON_NEGATIVE,
    );
    let scopes = scopes(&mut reader, &obj);
    let rate_limit = rate_limit(&mut reader, &obj);
    finish(reader)?;
    let req = NewApplication {
        id,
        name: name.unwrap_or_default().to_owned(),
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
#[utoipa::path(
    put, path = "/admin/accounts/{accountId}/balance", tag = "admin",
    summary = "Set an account's balance",
    params(("accountId" = String, Path, description = "The account's id.")),
    request_body = NewBalance,
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The account.", body = AccountBody),
        (status = 404, response = NotFound),
        JsonErrors,
        AdminErrors,
    ),
)]
pub async fn set_balance(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Path(account_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let obj = body_object(&body)?;
    let mut reader = FieldReader::new();
    let balance = money(&mut reader, &obj, "balance", Required);
    finish(reader)?;
    let account =
        tenancy::set_balance(&*state.store, &account_id, balance.unwrap_or(Micros::ZERO)).await?;
    Ok(Json(account_json(&account)))
}

/// `POST /admin/accounts/{accountId}/viber-senders` `{"name": "MyBrand"}` → 201.
#[utoipa::path(
    post, path = "/admin/accounts/{accountId}/viber-senders", tag = "admin",
    summary = "Register a Viber sender",
    params(("accountId" = String, Path, description = "The account's id.")),
    request_body = NewViberSender,
    security(("adminToken" = [])),
    responses(
        (status = 201, description = "Registered; use `senderInfoTrackingId` in Viber steps.", body = ViberSender),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        JsonErrors,
        AdminErrors,
    ),
)]
pub async fn add_viber_sender(
    State(state): State<Arc<ApiState>>,
    _: Operator,
    Path(account_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let obj = body_object(&body)?;
    let mut reader = FieldReader::new();
    let name = reader.string(&obj, "name", Required);
    finish(reader)?;
    let sender = tenancy::add_viber_sender(
        &*state.store,
        &account_id,
        name.unwrap_or_default(),
        state.runtime.clock().now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"senderInfoTrackingId": sender.id, "name": sender.name})),
    ))
}

/// `POST /admin/applications/{applicationId}/webhook-secret`: a new signing secret.
#[utoipa::path(
    post, path = "/admin/applications/{applicationId}/webhook-secret", tag = "admin",
    summary = "Rotate an application's webhook signing secret",
    params(("applicationId" = String, Path, description = "The application's id.")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The new secret (shown this once).", body = WebhookSecret),
        (status = 404, response = NotFound),
        AdminErrors,
    ),
)]
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
