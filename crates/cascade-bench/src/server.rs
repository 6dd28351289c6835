//! Starting Cascade in-process on a fresh SQLite file, with one application and a token.

use std::collections::HashMap;

use anyhow::Context;
use cascade::config::Config;
use cascade::startup::Application;
use serde_json::Value;

use crate::{APP, Cli, SECRET};

pub struct Running {
    pub base: String,
    pub token: String,
    pub db: std::path::PathBuf,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

pub async fn start_cascade(cli: &Cli) -> anyhow::Result<Running> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let env: HashMap<String, String> = [
        ("CASCADE_LISTEN", "127.0.0.1:0".to_owned()),
        ("CASCADE_DATABASE_URL", format!("sqlite://{}", db.display())),
        (
            "CASCADE_ADMIN_TOKEN",
            "bench-admin-token-0123456789".to_owned(),
        ),
        ("CASCADE_BOOTSTRAP_APPLICATION", format!("{APP}:{SECRET}")),
        ("CASCADE_DEFAULT_BALANCE", "1000000000".to_owned()),
        ("CASCADE_RATE_LIMIT_PER_SECOND", "0".to_owned()),
        ("CASCADE_DURABILITY", cli.durability.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let app = Application::build(Config::load(None, &env)?).await?;
    let base = format!("http://{}", app.local_addr());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async {
                let _ = rx.await;
            })
            .await;
    });
    let token = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(APP, Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .json::<Value>()
        .await?["access_token"]
        .as_str()
        .context("a token")?
        .to_owned();
    Ok(Running {
        base,
        token,
        db,
        stop,
        server,
        _dir: dir,
    })
}
