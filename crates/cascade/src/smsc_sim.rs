//! `cascade smsc-sim`: the sandbox SMSC on its own, for testing any ESME (another gateway,
//! a script, a second Cascade) against scripted receipts.
//!
//! It keeps its scenario rules, what it received and the receipts it owes in its own
//! SQLite store, and serves `POST/GET/DELETE /sandbox/scenarios` and
//! `GET /sandbox/messages` on the admin address — the same rules and shapes as
//! `cascade serve`'s sandbox.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use cascade_api::ApiError;
use cascade_providers::sandbox::{message_json, messages_limit, parse_scenario, scenario_json};
use cascade_providers::smpp::SmscSimulator;
use cascade_service::clock;
use cascade_store::Store;
use cascade_store::sqlite::Durability;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::startup::open_sqlite;

/// `cascade smsc-sim` options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the SMPP server listens (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:2775")]
    pub listen: SocketAddr,
    /// Where the scenario endpoint listens.
    #[arg(long, default_value = "127.0.0.1:8775")]
    pub admin: SocketAddr,
    /// The simulator's own store.
    #[arg(long, default_value = "sqlite://cascade-data/smsc-sim.db")]
    pub database: String,
}

struct SimApi {
    store: Arc<dyn Store>,
    /// `CASCADE_ADMIN_TOKEN`, when set, guards the endpoint.
    token: Option<String>,
}

/// Runs until `shutdown` completes.
///
/// # Errors
/// The store or an address cannot be opened.
pub async fn run(
    args: Args,
    env: &HashMap<String, String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = open_sqlite(&args.database, Durability::Full).await?;
    let stop = CancellationToken::new();
    let sim = SmscSimulator::start(args.listen, Arc::clone(&store), stop.clone())
        .await
        .with_context(|| format!("listening for SMPP on {}", args.listen))?;
    let token = env
        .get("CASCADE_ADMIN_TOKEN")
        .filter(|t| !t.is_empty())
        .cloned();
    if token.is_none() && !args.admin.ip().is_loopback() {
        tracing::warn!(admin = %args.admin, "the scenario endpoint is open to anyone who reaches it; set CASCADE_ADMIN_TOKEN");
    }
    let api = Arc::new(SimApi {
        store: Arc::clone(&store),
        token,
    });
    let router = axum::Router::new()
        .route(
            "/sandbox/scenarios",
            get(list_scenarios)
                .post(create_scenario)
                .delete(delete_scenarios),
        )
        .route("/sandbox/messages", get(list_messages))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .with_state(api);
    let listener = tokio::net::TcpListener::bind(args.admin)
        .await
        .with_context(|| format!("listening on {}", args.admin))?;
    println!(
        "cascade smsc-sim: SMPP 3.4 on {} (any system_id/password); scenarios on http://{}/sandbox/scenarios",
        sim.local_addr(),
        listener.local_addr()?
    );
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    stop.cancel();
    store.close().await;
    served.context("serving the scenario endpoint")
}

fn authorize(api: &SimApi, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &api.token else {
        return Ok(());
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

async fn create_scenario(
    State(api): State<Arc<SimApi>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authorize(&api, &headers)?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Malformed(format!("the body is not JSON: {e}")))?;
    let scenario = parse_scenario(&body).map_err(ApiError::Invalid)?;
    let stored = api.store.create_scenario(&scenario, clock::now()).await?;
    Ok((StatusCode::CREATED, Json(scenario_json(&stored))))
}

async fn list_scenarios(
    State(api): State<Arc<SimApi>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&api, &headers)?;
    let all = api.store.scenarios().await?;
    Ok(Json(
        json!({"scenarios": all.iter().map(scenario_json).collect::<Vec<_>>()}),
    ))
}

async fn delete_scenarios(
    State(api): State<Arc<SimApi>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&api, &headers)?;
    let deleted = api.store.delete_scenarios().await?;
    Ok(Json(json!({"deleted": deleted})))
}

async fn list_messages(
    State(api): State<Arc<SimApi>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    authorize(&api, &headers)?;
    let limit = messages_limit(query.get("limit").map(String::as_str))
        .map_err(|m| ApiError::Malformed(m.into()))?;
    let messages = api.store.sandbox_messages(limit).await?;
    let items: Vec<Value> = messages.iter().map(message_json).collect();
    Ok(Json(json!({"messages": items})))
}
