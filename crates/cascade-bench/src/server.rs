//! Starting Cascade in-process on a fresh SQLite file, with one application and a token.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use cascade::config::Config;
use cascade::startup::Application;
use cascade_store::Store;
use serde_json::Value;

use crate::{ADMIN, APP, Cli, SECRET};

/// A Cascade server running in this process, until [`Running::stop`].
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A bearer token of the application [`APP`].
    pub token: String,
    /// The account [`APP`] belongs to.
    pub account: String,
    /// The store the server runs on, for the bench's own reads and writes (filling a
    /// store, counting flows) without going through HTTP. Shared with the server.
    pub store: Arc<dyn Store>,
    /// The SQLite database file; its write-ahead log is the same path plus `-wal`.
    pub db: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    /// Removed (with the database in it) when this is dropped.
    _dir: tempfile::TempDir,
}

impl Running {
    /// Ask the server to shut down and wait until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }

    /// [`Running::stop`], then move the SQLite database (and its log, if any is left)
    /// into the directory `to` (created if missing) instead of deleting it. Returns the
    /// database's new path. Renames only: `to` must be on the temporary directory's file
    /// system.
    pub async fn stop_keeping(self, to: &std::path::Path) -> anyhow::Result<PathBuf> {
        let Running {
            stop,
            server,
            store,
            db,
            _dir,
            ..
        } = self;
        let _ = stop.send(());
        let _ = server.await;
        // The last handle on the store: its connections close (and checkpoint) here.
        drop(store);
        std::fs::create_dir_all(to)?;
        let name = db.file_name().context("the database file's name")?;
        let kept = to.join(name);
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", db.display()));
            if from.exists() {
                let dest = PathBuf::from(format!("{}{suffix}", kept.display()));
                std::fs::rename(&from, &dest)
                    .with_context(|| format!("moving {} to {}", from.display(), dest.display()))?;
            }
        }
        Ok(kept)
    }
}

/// Start Cascade on a new database in a temporary directory: sandbox providers, no rate
/// limit, a balance that never runs out, the durability asked for on the command line,
/// and one application ([`APP`]) with a token already fetched.
pub async fn start_cascade(cli: &Cli) -> anyhow::Result<Running> {
    start_cascade_with(cli, None, &[]).await
}

/// [`start_cascade`] with a configuration file's text (e.g. `[[provider]]` sections) and
/// extra `CASCADE_*` settings, which win over the defaults.
pub async fn start_cascade_with(
    cli: &Cli,
    file: Option<&str>,
    settings: &[(&str, String)],
) -> anyhow::Result<Running> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let mut env: HashMap<String, String> = [
        ("CASCADE_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "CASCADE_DATABASE_URL",
            cli.database_url
                .clone()
                .unwrap_or_else(|| format!("sqlite://{}", db.display())),
        ),
        ("CASCADE_ADMIN_TOKEN", ADMIN.to_owned()),
        ("CASCADE_BOOTSTRAP_APPLICATION", format!("{APP}:{SECRET}")),
        ("CASCADE_DEFAULT_BALANCE", "1000000000".to_owned()),
        ("CASCADE_RATE_LIMIT_PER_SECOND", "0".to_owned()),
        ("CASCADE_DURABILITY", cli.durability.clone()),
        ("CASCADE_SQLITE_READERS", cli.readers.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in settings {
        env.insert((*k).to_owned(), v.clone());
    }
    let file = match file {
        Some(text) => {
            let path = dir.path().join("cascade.toml");
            std::fs::write(&path, text)?;
            Some(path)
        }
        None => None,
    };
    let app = Application::build(Config::load(file.as_deref(), &env)?).await?;
    let base = format!("http://{}", app.local_addr());
    let store = Arc::clone(app.store());
    let account = store
        .application(APP)
        .await?
        .context("the bootstrap application")?
        .account_id;
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async {
                let _ = rx.await;
            })
            .await;
    });
    let token = token(&base).await?;
    Ok(Running {
        base,
        token,
        account,
        store,
        db,
        stop,
        server,
        _dir: dir,
    })
}

/// A token of the bench application ([`APP`]) from the server at `base`.
pub async fn token(base: &str) -> anyhow::Result<String> {
    let answer: Value = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(APP, Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .json()
        .await?;
    Ok(answer["access_token"]
        .as_str()
        .context("a token")?
        .to_owned())
}
