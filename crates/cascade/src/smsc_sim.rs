//! `cascade smsc-sim`: the sandbox SMSC on its own, for testing any ESME (another gateway,
//! a script, a second Cascade) against scripted receipts.
//!
//! It keeps its scenario rules, what it received and the receipts it owes in its own
//! SQLite store (with `CASCADE_SQLITE_READERS` read connections, as `cascade serve`), and serves `POST/GET/DELETE /sandbox/scenarios` and
//! `GET /sandbox/messages` on the admin address — the same rules and shapes as
//! `cascade serve`'s sandbox.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::routing::get;
use cascade_api::{ApiError, SandboxApi, sandbox_router};
use cascade_core::Clock;
use cascade_sandbox::SmscSimulator;
use cascade_service::clock::SystemClock;
use cascade_service::tenancy::AdminAuth;
use cascade_store::sqlite::Durability;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::startup::{Opener, open_sqlite};

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

/// Runs until `shutdown` completes.
///
/// # Errors
/// The store or an address cannot be opened.
pub async fn run(
    args: Args,
    env: &HashMap<String, String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let readers = crate::config::sqlite_readers(
        env.get("CASCADE_SQLITE_READERS")
            .map(String::as_str)
            .filter(|v| !v.is_empty()),
        None,
    )?;
    let store = open_sqlite(&args.database, Durability::Full, readers, Opener::Server).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let stop = CancellationToken::new();
    let sim = SmscSimulator::start(
        args.listen,
        Arc::clone(&store),
        Arc::clone(&clock),
        stop.clone(),
    )
    .await
    .with_context(|| format!("listening for SMPP on {}", args.listen))?;
    let token = env
        .get("CASCADE_ADMIN_TOKEN")
        .filter(|t| !t.is_empty())
        .cloned();
    if token.is_none() && !args.admin.ip().is_loopback() {
        tracing::warn!(admin = %args.admin, "the scenario endpoint is open to anyone who reaches it; set CASCADE_ADMIN_TOKEN");
    }
    let api = Arc::new(SandboxApi {
        store: Arc::clone(&store),
        clock,
        admin: token.map(|t| AdminAuth::Configured(t.into())),
        body_limit: 1024 * 1024,
    });
    let router = sandbox_router(api)
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) });
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
