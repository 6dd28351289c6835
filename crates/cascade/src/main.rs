//! `cascade`: serve the failover API, or administer it.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use cascade::admin_cli::{self, AdminCommand};
use cascade::client_cli;
use cascade::config::Config;
use cascade::smsc_sim;
use cascade::startup::Application;
use cascade::telemetry;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

/// glibc's allocator spends a large share of the time under load on the many short-lived
/// strings and JSON buffers of each request; mimalloc handles them far faster. The
/// `system-allocator` feature leaves glibc's in place, for heap profilers that hook
/// `malloc` (heaptrack; BENCHMARKS.md, "Memory").
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "cascade",
    version,
    about = "Self-hosted omnichannel failover messaging"
)]
struct Cli {
    /// A TOML configuration file (also CASCADE_CONFIG). Environment variables win over it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API and the engine.
    Serve,
    /// Administer accounts, applications and senders directly in the store.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Run the sandbox SMSC on its own: an SMPP 3.4 server any ESME can bind to, with
    /// receipts scripted by scenario rules posted to its admin endpoint.
    SmscSim(smsc_sim::Args),
    /// Send a flow (from flags or a JSON file), or one per row of a CSV file, through a
    /// running server's API.
    Send(client_cli::SendArgs),
    /// A flow's tracking and timeline, readable in a terminal.
    Track(client_cli::TrackArgs),
    /// Search the account's flows.
    Search(client_cli::SearchArgs),
    /// Print the API's OpenAPI 3.1 description (what `GET /openapi.json` serves; the
    /// repository keeps it as `docs/openapi.json`).
    Openapi,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain; no backtrace for a user's mistake.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = Config::load(cli.config.as_deref(), &env)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    match cli.command {
        Command::Serve => {
            telemetry::init_for_node("info,sqlx=warn", &config.node_id, config.log_format);
            runtime.block_on(serve(config))
        }
        Command::Admin(cmd) => {
            telemetry::init("warn");
            runtime.block_on(admin_cli::run(&config, cmd))
        }
        Command::SmscSim(args) => {
            telemetry::init("info,sqlx=warn");
            runtime.block_on(smsc_sim::run(args, &env, shutdown_signal()))
        }
        Command::Send(args) => {
            telemetry::init("warn");
            runtime.block_on(client_cli::send(args))
        }
        Command::Track(args) => {
            telemetry::init("warn");
            runtime.block_on(client_cli::track(args))
        }
        Command::Openapi => {
            println!("{}", cascade_api::openapi_json());
            Ok(())
        }
        Command::Search(args) => {
            telemetry::init("warn");
            runtime.block_on(client_cli::search(args))
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    print_banner(&app);
    app.run_until_stopped(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

/// What a person starting Cascade needs: where it listens, and on the first run the
/// credentials created for them with a request they can paste.
fn print_banner(app: &Application) {
    let addr = app.local_addr();
    let base = format!("http://{addr}");
    println!("cascade: listening on {base}");
    if let Some(smsc) = app.sandbox_smsc_addr() {
        println!(
            "cascade: sandbox SMSC (SMPP 3.4, any system_id/password) on {smsc}; SMS steps travel through it"
        );
    }
    let prepared = app.prepared();
    if let Some(token) = &prepared.new_admin_token {
        println!();
        println!(
            "Admin token (shown once; keep it): {}",
            token.expose_secret()
        );
    }
    if let Some(demo) = &prepared.demo {
        let app_id = &demo.application.application.id;
        let secret = &demo.application.secret;
        let sender = &demo.viber_sender.id;
        println!();
        println!(
            "Demo account {} with balance {} EUR.",
            demo.account.id, demo.account.balance
        );
        println!("Demo application (secret shown once):");
        println!("  applicationId:        {app_id}");
        println!("  secret:               {secret}");
        println!(
            "  webhookSecret:        {}",
            demo.application.webhook_secret
        );
        println!(
            "  senderInfoTrackingId: {sender} (Viber sender \"{}\")",
            demo.viber_sender.name
        );
        println!();
        println!("Try it (a channel with no SMSC or provider configured runs in the sandbox):");
        println!();
        println!(
            "  TOKEN=$(curl -s -u '{app_id}:{secret}' -d grant_type=client_credentials {base}/oauth/token \\"
        );
        println!("          | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')");
        println!(
            "  curl -s {base}/failover -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{"
        );
        println!("    \"flow\": [");
        println!(
            "      {{\"type\": \"Viber\", \"order\": 1, \"senderInfoTrackingId\": \"{sender}\", \"to\": \"+306912345678\", \"message\": {{\"text\": \"Hello from Cascade\"}}}},"
        );
        println!(
            "      {{\"type\": \"Sms\", \"order\": 2, \"from\": \"Cascade\", \"to\": \"+306912345678\", \"message\": {{\"body\": \"Hello from Cascade\"}}}}"
        );
        println!("    ]}}'");
        println!();
        println!(
            "  # then: curl -s {base}/failover/tracking/<trackingId> -H \"Authorization: Bearer $TOKEN\""
        );
        println!();
        println!(
            "  # or watch it in the web console: {base}/console (sign in with the applicationId and secret above)"
        );
    } else if let Some(id) = &prepared.existing_demo {
        println!(
            "Demo application: {id} (its secret was shown at the first start; `cascade admin applications reset-secret {id}` issues a new one)."
        );
    }
}
