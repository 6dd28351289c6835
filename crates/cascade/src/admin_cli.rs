//! `cascade admin ...`: the admin API's operations, run directly against the store (the
//! server does not need to be running). Results are printed as JSON.

use std::sync::Arc;

use anyhow::{Context, bail};
use cascade_core::FlowId;
use cascade_core::Micros;
use cascade_core::callbacks::CallbackState;
use cascade_service::clock::SystemClock;
use cascade_service::credentials::{random_secret, token_digest};
use cascade_service::tenancy::{self, NewApplication, TenancyError};
use cascade_store::{CallbackFilter, RateLimit, Store};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::config::Config;
use crate::startup::{Opener, open_store};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Accounts: create one or show one.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Set an account's balance.
    #[command(subcommand)]
    Balance(BalanceCommand),
    /// Applications (API clients) of an account.
    #[command(subcommand)]
    Applications(ApplicationsCommand),
    /// Viber senders registered to an account.
    #[command(subcommand, name = "viber-senders")]
    ViberSenders(ViberSendersCommand),
    /// The admin API's token.
    #[command(subcommand, name = "admin-token")]
    AdminToken(AdminTokenCommand),
    /// The callback outbox: list, and send dead letters again.
    #[command(subcommand)]
    Callbacks(CallbacksCommand),
    /// Copy an SQLite store into an empty PostgreSQL database (scale-out §3): accounts,
    /// applications, flows with their state and timeline, pending jobs, timers,
    /// callbacks, sandbox rules. Stop the server first; flows in progress continue when
    /// nodes start on the new store.
    #[command(name = "migrate-store")]
    MigrateStore {
        /// The SQLite store, e.g. sqlite://cascade-data/cascade.db
        #[arg(long)]
        from: String,
        /// The PostgreSQL database, e.g. postgres://cascade:secret@db:5432/cascade
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CallbacksCommand {
    /// List callbacks (dead letters by default).
    List {
        /// pending, delivered or dead.
        #[arg(long, default_value = "dead")]
        state: String,
        /// Only this flow's callbacks.
        #[arg(long)]
        tracking_id: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Send one dead callback again (a running server picks it up within a second).
    Redeliver { callback_id: i64 },
    /// Send every dead callback of a flow again.
    RedeliverFlow { tracking_id: String },
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        balance: f64,
        #[arg(long, default_value = "EUR")]
        currency: String,
    },
    Show {
        account_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BalanceCommand {
    Set {
        account_id: String,
        #[arg(allow_negative_numbers = true)]
        balance: f64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApplicationsCommand {
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
        /// Comma-separated subset of failover,sms,viber,voice,account (default: all).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        #[arg(long)]
        token_lifetime: Option<u32>,
        /// Choose the application id instead of a generated one.
        #[arg(long)]
        id: Option<String>,
        #[arg(long, requires = "rate_burst")]
        rate_per_second: Option<u32>,
        #[arg(long, requires = "rate_per_second")]
        rate_burst: Option<u32>,
    },
    /// Issue a new secret; the old one stops working.
    ResetSecret { application_id: String },
    /// Issue a new webhook signing secret.
    RotateWebhookSecret { application_id: String },
}

#[derive(Debug, Subcommand)]
pub enum ViberSendersCommand {
    Add {
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Generate a new admin token (the old one stops working at the next start).
    Rotate,
}

/// Run one admin command and print its result.
///
/// # Errors
/// Invalid input, unknown ids, or an unreachable store.
pub async fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    if let AdminCommand::MigrateStore { from, to } = &command {
        // Not the configured store: the two it is told about.
        let copied = migrate_store(from, to).await?;
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"rowsCopied": copied}))?
        );
        return Ok(());
    }
    let store = open_store(config, Opener::Tool).await?;
    let result = execute(&store, config, command).await;
    store.close().await;
    let value = result?;
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

async fn execute(
    store: &Arc<dyn Store>,
    config: &Config,
    command: AdminCommand,
) -> anyhow::Result<Value> {
    let now = SystemClock::read();
    let money = |x: f64| Micros::from_decimal(x).context("not a valid amount");
    Ok(match command {
        AdminCommand::Accounts(AccountsCommand::Create {
            name,
            balance,
            currency,
        }) => {
            let a = tenancy::create_account(
                &**store,
                &name,
                money(balance)?,
                &currency.to_ascii_uppercase(),
                now,
            )
            .await
            .map_err(explain)?;
            json!({"accountId": a.id, "name": a.name, "balance": a.balance, "currency": a.currency})
        }
        AdminCommand::Accounts(AccountsCommand::Show { account_id }) => {
            let Some(a) = store.account(&account_id).await? else {
                bail!("account {account_id} not found")
            };
            json!({"accountId": a.id, "name": a.name, "balance": a.balance, "currency": a.currency, "createdAt": a.created_at})
        }
        AdminCommand::Balance(BalanceCommand::Set {
            account_id,
            balance,
        }) => {
            let a = tenancy::set_balance(&**store, &account_id, money(balance)?)
                .await
                .map_err(explain)?;
            json!({"accountId": a.id, "balance": a.balance, "currency": a.currency})
        }
        AdminCommand::Applications(ApplicationsCommand::Create {
            account,
            name,
            scopes,
            token_lifetime,
            id,
            rate_per_second,
            rate_burst,
        }) => {
            let rate_limit = rate_per_second
                .zip(rate_burst)
                .map(|(per_second, burst)| RateLimit { per_second, burst });
            let req = NewApplication {
                id,
                name,
                scopes,
                token_lifetime_s: token_lifetime,
                rate_limit,
                secret: None,
            };
            let c = tenancy::create_application(&**store, &account, req, now)
                .await
                .map_err(explain)?;
            json!({
                "applicationId": c.application.id,
                "accountId": c.application.account_id,
                "scopes": c.application.scopes,
                "tokenLifetimeSeconds": c.application.token_lifetime_s,
                "secret": c.secret,
                "webhookSecret": c.webhook_secret,
            })
        }
        AdminCommand::Applications(ApplicationsCommand::ResetSecret { application_id }) => {
            let secret = tenancy::reset_secret(&**store, &application_id)
                .await
                .map_err(explain)?;
            json!({"applicationId": application_id, "secret": secret})
        }
        AdminCommand::Applications(ApplicationsCommand::RotateWebhookSecret { application_id }) => {
            let secret = tenancy::rotate_webhook_secret(&**store, &application_id)
                .await
                .map_err(explain)?;
            json!({"applicationId": application_id, "webhookSecret": secret})
        }
        AdminCommand::ViberSenders(ViberSendersCommand::Add { account, name }) => {
            let s = tenancy::add_viber_sender(&**store, &account, &name, now)
                .await
                .map_err(explain)?;
            json!({"senderInfoTrackingId": s.id, "name": s.name})
        }
        AdminCommand::Callbacks(CallbacksCommand::List {
            state,
            tracking_id,
            limit,
        }) => {
            let state = CallbackState::parse(&state)
                .context("--state must be pending, delivered or dead")?;
            let flow_id = tracking_id
                .as_deref()
                .map(FlowId::parse)
                .transpose()
                .context("--tracking-id must be a UUID")?;
            let records = store
                .callbacks(&CallbackFilter {
                    state: Some(state),
                    flow_id,
                    limit: limit.clamp(1, 10_000),
                })
                .await?;
            let items: Vec<Value> = records
                .iter()
                .map(|r| {
                    json!({
                        "callbackId": r.id, "eventId": r.event_id, "trackingId": r.flow_id.to_string(),
                        "sequence": r.seq, "url": r.url, "state": r.state.name(), "attempts": r.attempts,
                        "lastError": r.last_error, "createdAt": r.created_at,
                    })
                })
                .collect();
            json!({"callbacks": items})
        }
        AdminCommand::MigrateStore { .. } => {
            anyhow::bail!("migrate-store works on the stores it names, not the configured one")
        }
        AdminCommand::Callbacks(CallbacksCommand::Redeliver { callback_id }) => {
            if !store.redeliver_callback(callback_id, now).await? {
                bail!("no dead callback {callback_id}");
            }
            json!({"callbackId": callback_id, "redelivered": 1})
        }
        AdminCommand::Callbacks(CallbacksCommand::RedeliverFlow { tracking_id }) => {
            let id = FlowId::parse(&tracking_id).context("the tracking id must be a UUID")?;
            let n = store.redeliver_flow_callbacks(id, now).await?;
            json!({"trackingId": tracking_id, "redelivered": n})
        }
        AdminCommand::AdminToken(AdminTokenCommand::Rotate) => {
            if config.admin_token.is_some() {
                bail!("CASCADE_ADMIN_TOKEN is set; change it there instead");
            }
            let token = random_secret();
            store
                .put_setting("admin_token_sha256", &token_digest(&token))
                .await?;
            json!({"adminToken": token, "note": "takes effect when cascade serve next starts"})
        }
    })
}

/// Turn a tenancy error into a readable message.
fn explain(e: TenancyError) -> anyhow::Error {
    match e {
        TenancyError::Invalid(errors) => {
            let lines: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            anyhow::anyhow!("invalid: {}", lines.join("; "))
        }
        other => anyhow::Error::new(other),
    }
}

/// A progress bar on stderr over every row to copy.
struct Bar(indicatif::ProgressBar);

impl cascade_store::postgres::copy::Progress for Bar {
    fn table(&self, table: &str, _rows: u64) {
        self.0.set_message(table.to_owned());
    }

    fn copied(&self, rows: u64) {
        self.0.inc(rows);
    }
}

/// `cascade admin migrate-store`: check both URLs, count, copy with a progress bar.
async fn migrate_store(from: &str, to: &str) -> anyhow::Result<u64> {
    use cascade_store::postgres::{check_url, copy, is_postgres_url};
    if !from.starts_with("sqlite:") {
        anyhow::bail!("--from must be an sqlite:// URL (the store to move)");
    }
    if !is_postgres_url(to) {
        anyhow::bail!("--to must be a postgres:// URL (the database to move it into)");
    }
    check_url(to).map_err(|problem| anyhow::anyhow!("--to: {problem}"))?;
    let path =
        crate::startup::sqlite_file(from).unwrap_or_else(|| from.split('?').next().unwrap_or(from));
    if !std::path::Path::new(path).exists() {
        anyhow::bail!("--from: no store at {path}");
    }
    let counts = copy::count_rows(from)
        .await
        .context("reading the SQLite store")?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({per_sec}) {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let copied = copy::sqlite_to_postgres(from, to, &Bar(bar.clone()))
        .await
        .context("copying into PostgreSQL (nothing was written)")?;
    bar.finish_and_clear();
    Ok(copied)
}
