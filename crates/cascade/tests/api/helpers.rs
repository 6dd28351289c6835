//! The test harness: [`spawn_app`] builds the application exactly as `cascade serve`
//! does, on port 0 with a store in a temporary directory, and creates an account with an
//! application and a Viber sender through the admin API. [`TestApp`] has one method per
//! call the tests make. Logs stay quiet unless `TEST_LOG` is set.

use std::collections::HashMap;

use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use cascade::config::Config;
use cascade::startup::Application;
use cascade_store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const PHONE: &str = "+306912345678";

static LOGS: Once = Once::new();

/// Which store the black-box tests run against: each test binary says (`api` SQLite,
/// `api_postgres` PostgreSQL); the tests are the same files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty store for one test: an SQLite file in `dir`, or a new database on the
/// PostgreSQL test server (a throwaway cluster, or `CASCADE_TEST_DATABASE_URL`).
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    match crate::BACKEND {
        Backend::Sqlite => format!("sqlite://{}", dir.join("cascade.db").display()),
        Backend::Postgres => cascade_store::postgres::cluster::fresh_database().await,
    }
}

fn init_logs() {
    LOGS.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            cascade::telemetry::init("info,sqlx=warn");
        }
    });
}

/// A running application and the credentials made for the test.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub account_id: String,
    pub app_id: String,
    pub app_secret: String,
    pub sender_id: String,
    /// The store's URL (an SQLite file, or a PostgreSQL database of its own).
    pub database_url: String,
    /// The running server's store, for looks the API does not offer.
    store: Arc<dyn Store>,
    token: tokio::sync::OnceCell<String>,
    env: HashMap<String, String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// A running server: its base URL, its store, and how to stop it.
struct Server {
    base: String,
    store: Arc<dyn Store>,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Build and serve the application.
async fn start_server(
    env: &HashMap<String, String>,
    listener: Option<std::net::TcpListener>,
) -> Server {
    let config = Config::load(None, env).expect("test configuration is valid");
    let app = match listener {
        Some(listener) => Application::build_on(config, listener).await,
        None => Application::build(config).await,
    }
    .expect("the application builds");
    let base = format!("http://{}", app.local_addr());
    let store = Arc::clone(app.store());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = rx.await;
        })
        .await
        .expect("the server runs");
    });
    Server {
        base,
        store,
        shutdown: tx,
        task: server,
    }
}

/// Start with the defaults used by most tests: the sandbox with a TTL minute of 60 s.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Start with extra `CASCADE_*` settings (e.g. `("CASCADE_SANDBOX_MINUTE_MS", "100")`).
pub async fn spawn_app_with(settings: &[(&str, &str)]) -> TestApp {
    spawn_app_configured(None, settings, None).await
}

/// Start with a configuration file (e.g. `[[smsc]]` sections) plus extra settings.
pub async fn spawn_app_with_file(toml: &str, settings: &[(&str, &str)]) -> TestApp {
    spawn_app_configured(Some(toml), settings, None).await
}

async fn spawn_app_configured(
    toml: Option<&str>,
    settings: &[(&str, &str)],
    listener: Option<std::net::TcpListener>,
) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database_url = fresh_database_url(dir.path()).await;
    let mut env: HashMap<String, String> = HashMap::from([
        ("CASCADE_LISTEN".into(), "127.0.0.1:0".into()),
        ("CASCADE_SANDBOX_SMPP_LISTEN".into(), "127.0.0.1:0".into()),
        ("CASCADE_DATABASE_URL".into(), database_url.clone()),
        ("CASCADE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
    ]);
    if let Some(toml) = toml {
        let path = dir.path().join("cascade.toml");
        std::fs::write(&path, toml).expect("the config file is written");
        env.insert("CASCADE_CONFIG".into(), path.display().to_string());
    }
    for (k, v) in settings {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let server = start_server(&env, listener).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let mut test = TestApp {
        base: server.base,
        store: server.store,
        client,
        account_id: String::new(),
        app_id: String::new(),
        app_secret: String::new(),
        sender_id: String::new(),
        database_url,
        token: tokio::sync::OnceCell::new(),
        env,
        shutdown: Some(server.shutdown),
        server: Some(server.task),
        _dir: dir,
    };
    test.account_id = test.create_account(100.0).await;
    let (id, secret) = test
        .create_application(&test.account_id.clone(), json!({"name": "tests"}))
        .await;
    test.app_id = id;
    test.app_secret = secret;
    test.sender_id = test
        .add_viber_sender(&test.account_id.clone(), "TestBrand")
        .await;
    test
}

impl TestApp {
    /// Another node serving this app's store (PostgreSQL: several nodes share one
    /// database), with its own id and the same credentials.
    #[allow(dead_code)] // used by the PostgreSQL binary's multi-node tests only
    pub async fn another_node(&self, node_id: &str) -> TestApp {
        let mut env = self.env.clone();
        env.insert("CASCADE_NODE_ID".into(), node_id.to_owned());
        let server = start_server(&env, None).await;
        TestApp {
            base: server.base,
            store: server.store,
            client: self.client.clone(),
            account_id: self.account_id.clone(),
            app_id: self.app_id.clone(),
            app_secret: self.app_secret.clone(),
            sender_id: self.sender_id.clone(),
            database_url: self.database_url.clone(),
            token: tokio::sync::OnceCell::new(),
            env,
            shutdown: Some(server.shutdown),
            server: Some(server.task),
            _dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// Stop the server gracefully (as on SIGTERM) and start it again on the same store.
    /// Credentials and tokens stay valid; the address changes.
    pub async fn restart(mut self) -> TestApp {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("the server stops cleanly");
        }
        let server = start_server(&self.env, None).await;
        self.base = server.base;
        self.store = server.store;
        self.shutdown = Some(server.shutdown);
        self.server = Some(server.task);
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    // --- admin ---------------------------------------------------------------------------

    pub async fn admin_post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn create_account(&self, balance: f64) -> String {
        let r = self
            .admin_post(
                "/admin/accounts",
                json!({"name": "Test account", "balance": balance, "currency": "EUR"}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["accountId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Create an application; returns `(applicationId, secret)`.
    pub async fn create_application(&self, account_id: &str, body: Value) -> (String, String) {
        let r = self
            .admin_post(&format!("/admin/accounts/{account_id}/applications"), body)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        (
            v["applicationId"].as_str().unwrap().to_owned(),
            v["secret"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn add_viber_sender(&self, account_id: &str, name: &str) -> String {
        let r = self
            .admin_post(
                &format!("/admin/accounts/{account_id}/viber-senders"),
                json!({"name": name}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["senderInfoTrackingId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn set_balance(&self, account_id: &str, balance: f64) {
        let r = self
            .client
            .put(self.url(&format!("/admin/accounts/{account_id}/balance")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"balance": balance}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// The account's balance as the admin API reports it.
    pub async fn account_balance(&self, account_id: &str) -> f64 {
        let r = self
            .client
            .get(self.url(&format!("/admin/accounts/{account_id}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["balance"]
            .as_f64()
            .unwrap()
    }

    /// Add a sandbox scenario rule.
    pub async fn scenario(&self, rule: Value) -> Value {
        let r = self.admin_post("/sandbox/scenarios", rule).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// The sandbox's scenario rules.
    pub async fn scenarios(&self) -> Vec<Value> {
        let r = self
            .client
            .get(self.url("/sandbox/scenarios"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["scenarios"]
            .as_array()
            .expect("a scenarios array")
            .clone()
    }

    /// What the sandbox providers received.
    pub async fn sandbox_messages(&self) -> Vec<Value> {
        let r = self
            .client
            .get(self.url("/sandbox/messages?limit=1000"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["messages"]
            .as_array()
            .unwrap()
            .clone()
    }

    // --- auth ----------------------------------------------------------------------------

    pub async fn request_token(
        &self,
        id: &str,
        secret: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.client
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn token_for(&self, id: &str, secret: &str, scope: Option<&str>) -> String {
        let r = self.request_token(id, secret, scope).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A token of the test application with every scope (fetched once).
    pub async fn token(&self) -> String {
        self.token
            .get_or_init(|| self.token_for(&self.app_id, &self.app_secret, None))
            .await
            .clone()
    }

    // --- flows ---------------------------------------------------------------------------

    pub async fn post_flow_with(&self, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/failover"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_flow(&self, body: &Value) -> reqwest::Response {
        let token = self.token().await;
        self.post_flow_with(&token, body).await
    }

    /// Send a flow that must be accepted; returns its trackingId.
    pub async fn send_flow(&self, body: &Value) -> String {
        let r = self.post_flow(body).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{v}");
        v["trackingId"].as_str().unwrap().to_owned()
    }

    pub async fn get_tracking_with(&self, token: &str, id: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/failover/tracking/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn tracking(&self, id: &str) -> Value {
        let token = self.token().await;
        let r = self.get_tracking_with(&token, id).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub async fn events(&self, id: &str) -> Vec<Value> {
        let token = self.token().await;
        let r = self
            .client
            .get(self.url(&format!("/failover/tracking/{id}/events")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["events"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Poll the tracking until `done` holds, or panic after `within`.
    pub async fn wait_for(
        &self,
        id: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let t = self.tracking(id).await;
            if done(&t) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "condition not reached within {within:?}; last tracking: {t:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Poll until the flow is `Succeeded` or `Failed`.
    pub async fn wait_final(&self, id: &str) -> Value {
        self.wait_for(id, Duration::from_secs(20), |t| {
            matches!(t["status"].as_str(), Some("Succeeded" | "Failed"))
        })
        .await
    }

    /// `GET /metrics` as (series with labels, value) pairs.
    pub async fn metrics(&self) -> HashMap<String, f64> {
        let r = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect()
    }

    /// Number of flows in the store, over all accounts.
    pub async fn flow_count(&self) -> i64 {
        let n = self.store.count_flows().await.expect("the store counts");
        i64::try_from(n).expect("a count fits")
    }
}

// --- request bodies ----------------------------------------------------------------------

pub fn sms_step(order: u32, body: &str) -> Value {
    json!({"type": "Sms", "order": order, "from": "Cascade", "to": PHONE, "message": {"body": body}})
}

pub fn viber_step(order: u32, sender: &str) -> Value {
    json!({"type": "Viber", "order": order, "senderInfoTrackingId": sender, "to": PHONE, "message": {"text": "Hello"}})
}

pub fn voice_step(order: u32) -> Value {
    json!({
        "type": "Voice", "order": order, "from": "+306900000000", "to": PHONE,
        "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": "Hello"}}]}
    })
}

pub fn flow(steps: Vec<Value>) -> Value {
    json!({"flow": steps})
}

/// A message's status name.
pub fn status_of(message: &Value) -> &str {
    message["status"]["name"].as_str().unwrap_or("")
}

/// Prices are printed as JSON numbers; compare them to micro precision.
pub fn price(v: &Value) -> i64 {
    (v.as_f64().expect("a number") * 1_000_000.0).round() as i64
}

/// A free loopback port for Cascade, so its public URL is known before it starts.
/// A bearer token from the server at `base` (any server: a child process too) for the
/// application `id`; the answer must be 200.
pub async fn token_at(base: &str, id: &str, secret: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "signing in as {id}");
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start with a configuration file (provider sections) on a free port, with
/// `CASCADE_PUBLIC_URL` pointing at it so providers (the mocks) reach its webhooks; plus
/// extra settings. Returns the app and its public URL.
pub async fn spawn_app_public(toml: &str, extra: &[(&str, &str)]) -> (TestApp, String) {
    // The socket stays bound from here until the server serves on it: a port picked and
    // bound later could be taken by a parallel test in between.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("the socket's address");
    let listen = addr.to_string();
    let public = format!("http://{addr}");
    let mut settings = vec![
        ("CASCADE_LISTEN", listen.as_str()),
        ("CASCADE_PUBLIC_URL", public.as_str()),
    ];
    settings.extend_from_slice(extra);
    let app = spawn_app_configured(Some(toml), &settings, Some(listener)).await;
    (app, public)
}

/// A one-step voice flow calling `phone`.
pub fn call_to(phone: &str) -> Value {
    let mut step = voice_step(1);
    step["to"] = json!(phone);
    flow(vec![step])
}

/// Poll the tracking until its first message has `status`.
pub async fn wait_first_status(app: &TestApp, id: &str, status: &'static str) -> Value {
    app.wait_for(id, Duration::from_secs(15), |t| {
        status_of(&t["messages"][0]) == status
    })
    .await
}

/// Poll `check` until it holds, or panic after `within`.
pub async fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The repository's root (the peers' scripts and requirements live there).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// The `bin/` directory of the venv `name` at the repository root, made from
/// `requirements` (relative to the root) when it does not import `modules` (`"a, b"`).
/// PyPI must be reachable then; `.ci/run` makes the venvs beforehand.
pub fn venv_bin(name: &str, requirements: &str, modules: &str) -> std::path::PathBuf {
    let root = repo_root();
    let venv = root.join(name);
    let bin = venv.join("bin");
    let ready = |bin: &std::path::Path| {
        std::process::Command::new(bin.join("python"))
            .args(["-c", &format!("import {modules}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready(&bin) {
        let run = |cmd: &mut std::process::Command| {
            let status = cmd.status().unwrap_or_else(|e| {
                panic!(
                    "{cmd:?} cannot start ({e}): install python3 and python3-venv, or run .ci/run"
                )
            });
            assert!(
                status.success(),
                "{cmd:?} failed: install python3-venv and reach PyPI, or run .ci/run"
            );
        };
        run(std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv));
        run(std::process::Command::new(bin.join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(root.join(requirements)));
        assert!(ready(&bin), "{name} does not import {modules}: run .ci/run");
    }
    bin
}
