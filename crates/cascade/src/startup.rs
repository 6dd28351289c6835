//! Building and running the application: store, runtime, sandbox providers, HTTP API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use cascade_api::{ApiSettings, ApiState};
use cascade_core::Channel;
use cascade_core::machines::Report;
use cascade_core::ports::{Provider, Providers, Recorded, ReportSink, WebhookReceiver};
use cascade_core::{Clock, FlowId};
use cascade_providers::http::failover::{Candidate, ChannelProviders};
use cascade_providers::http::metrics::ProviderCollector;
use cascade_providers::smpp::{SmscConnection, SmscSettings};
use cascade_sandbox::{SandboxProvider, SmscSimulator, run_reporter_until_stopped};
use cascade_service::clock::SystemClock;
use cascade_service::leases::StoreLeases;
use cascade_service::runtime::{CallbackSettings, Runtime, RuntimeConfig};
use cascade_service::tenancy::{self, Prepared};
use cascade_store::sqlite::{Durability, SqliteConfig, SqliteStore};
use cascade_store::{RateLimit, Store};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Longest start-up waits for the bind to the in-process sandbox SMSC.
const SANDBOX_BIND_WAIT: Duration = Duration::from_secs(10);

/// A built application, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    runtime: Arc<Runtime>,
    store: Arc<dyn Store>,
    prepared: Prepared,
    config: Config,
    smsc: Vec<Arc<SmscConnection>>,
    simulator: Option<SmscSimulator>,
    /// Stops the SMPP binds and the simulator, after the runtime.
    smpp_stop: CancellationToken,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

/// Who opens a store: its one server, or a tool beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    /// `cascade serve` (or `smsc-sim`): refuses to start while another server holds the
    /// store, and takes over the work a dead earlier run left leased.
    Server,
    /// `cascade admin`: works beside a running server.
    Tool,
}

/// Open the store the configuration names, creating an SQLite file's directory.
///
/// # Errors
/// When the directory or database cannot be created or migrated, or (for a server) when
/// another server holds the store.
pub async fn open_store(config: &Config, opener: Opener) -> anyhow::Result<Arc<dyn Store>> {
    if cascade_store::postgres::is_postgres_url(&config.database_url) {
        return open_postgres(&config.database_url, &config.node_id, config.lease_ms).await;
    }
    open_sqlite(
        &config.database_url,
        config.durability,
        config.sqlite_readers,
        opener,
    )
    .await
}

/// Connect to PostgreSQL and migrate, waiting for the database while it cannot be
/// reached (scale-out §1: a node never gives up on an unreachable database). A URL
/// that cannot be read fails at once. Nothing logged names the URL.
///
/// # Errors
/// A URL that is not a PostgreSQL URL.
pub async fn open_postgres(
    url: &str,
    node_id: &str,
    lease_ms: i64,
) -> anyhow::Result<Arc<dyn Store>> {
    use cascade_store::postgres::{PgConfig, PgStore};
    let mut config = PgConfig::new(url, node_id);
    config.lease_ms = lease_ms;
    let mut wait = std::time::Duration::from_millis(250);
    loop {
        match PgStore::open(&config).await {
            Ok(store) => return Ok(Arc::new(store)),
            Err(cascade_store::StoreError::Io(problem)) => anyhow::bail!("{problem}"),
            Err(e) => {
                tracing::warn!(error = %cascade_core::error_chain(&e), retry_in_ms = wait.as_millis() as u64, "PostgreSQL is not reachable yet");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(5));
            }
        }
    }
}

/// Where an SMSC connection keeps its intent log: beside the SQLite store
/// (`<database>.smsc-<name>.intents`). None on PostgreSQL, where a dead node's jobs go to
/// other nodes, which cannot read its file.
fn intent_log_path(url: &str, smsc: &str) -> Option<std::path::PathBuf> {
    let path = sqlite_file(url)?;
    (path != ":memory:" && !path.is_empty())
        .then(|| std::path::PathBuf::from(format!("{path}.smsc-{smsc}.intents")))
}

/// The file of an SQLite URL (`sqlite://path?options` or `sqlite:path`), its options
/// left out; None for any other URL.
pub(crate) fn sqlite_file(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(path.split('?').next().unwrap_or(path))
}

/// Read connections of the SQLite store unless `CASCADE_SQLITE_READERS` says otherwise.
pub const SQLITE_READERS: u32 = 4;

/// Open (and create, with its directory) the SQLite store at `url`, with `readers` read
/// connections.
///
/// # Errors
/// As [`open_store`].
pub async fn open_sqlite(
    url: &str,
    durability: Durability,
    readers: u32,
    opener: Opener,
) -> anyhow::Result<Arc<dyn Store>> {
    // Before the directory is made: a URL the store refuses creates nothing.
    cascade_store::sqlite::check_url_options(url)
        .with_context(|| format!("opening the store at {url}"))?;
    if let Some(path) = sqlite_file(url)
        && path != ":memory:"
        && let Some(dir) = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let sqlite = SqliteConfig {
        url: url.to_owned(),
        durability,
        readers,
        owner: opener == Opener::Server,
    };
    let store = SqliteStore::open(&sqlite)
        .await
        .with_context(|| format!("opening the store at {url}"))?;
    Ok(Arc::new(store))
}

impl Application {
    /// Open the store, prepare tenancy, start the runtime and bind the listener.
    ///
    /// # Errors
    /// Anything that keeps the service from starting, with context.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_inner(config, None).await
    }

    /// As [`Application::build`], serving the API on `listener`, a socket the caller has
    /// bound already (its address is then known before the build, e.g. for
    /// `CASCADE_PUBLIC_URL`, and no other process can take it in between).
    /// `config.listen` is not used.
    ///
    /// # Errors
    /// As [`Application::build`], and if the socket cannot be handed to the runtime.
    pub async fn build_on(
        config: Config,
        listener: std::net::TcpListener,
    ) -> anyhow::Result<Application> {
        Self::build_inner(config, Some(listener)).await
    }

    async fn build_inner(
        config: Config,
        bound: Option<std::net::TcpListener>,
    ) -> anyhow::Result<Application> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = open_store(&config, Opener::Server).await?;
        let bootstrap = config
            .bootstrap_application
            .as_ref()
            .map(|(id, s)| (id.as_str(), s));
        let (admin, prepared) = tenancy::prepare(
            &store,
            config.admin_token.as_ref(),
            bootstrap,
            config.default_balance,
            clock.now(),
        )
        .await
        .context("preparing accounts and credentials")?;

        let reports_due = Arc::new(Notify::new());
        let mut providers = Providers::default();
        for &channel in &config.sandbox_channels {
            if channel == Channel::Sms || config.has_providers(channel) {
                // SMS goes over SMPP, to real SMSCs or to the sandbox SMSC; a channel
                // with provider sections goes to its providers.
                continue;
            }
            let provider = SandboxProvider::new(
                channel,
                Arc::clone(&store),
                Arc::clone(&clock),
                Arc::clone(&reports_due),
            );
            providers = providers.with(channel, Arc::new(provider));
        }
        let smpp_stop = CancellationToken::new();
        let late_sink = Arc::new(LateSink::default());
        let simulator = if config.sms_sandboxed() {
            let sim = SmscSimulator::start(
                config.sandbox_smpp_listen,
                Arc::clone(&store),
                Arc::clone(&clock),
                smpp_stop.clone(),
            )
            .await
            .with_context(|| {
                format!(
                    "starting the sandbox SMSC on {} (set CASCADE_SANDBOX_SMPP_LISTEN to another address, port 0 for any)",
                    config.sandbox_smpp_listen
                )
            })?;
            Some(sim)
        } else {
            None
        };
        let smsc_settings: Vec<(SmscSettings, bool)> = match &simulator {
            Some(sim) => {
                let addr = sim.local_addr();
                vec![(
                    SmscSettings::simulator(&addr.ip().to_string(), addr.port()),
                    true,
                )]
            }
            None => config.smsc.iter().cloned().map(|s| (s, false)).collect(),
        };
        let mut smsc = Vec::new();
        for (settings, sandbox) in smsc_settings {
            let sink: Arc<dyn ReportSink> = Arc::clone(&late_sink) as Arc<dyn ReportSink>;
            // Several nodes on one database share each real SMSC's binds: a node opens a
            // bind slot only while it holds the slot's lease. Each node binds its own
            // sandbox SMSC.
            let shared = cascade_store::postgres::is_postgres_url(&config.database_url);
            let connection = if shared && !sandbox {
                let leases = Arc::new(StoreLeases::new(
                    Arc::clone(&store),
                    Duration::from_millis(u64::try_from(config.lease_ms).unwrap_or(15_000)),
                ));
                SmscConnection::start_shared(
                    settings,
                    sink,
                    sandbox,
                    Arc::clone(&clock),
                    &smpp_stop,
                    leases,
                )
            } else {
                SmscConnection::start(settings, sink, sandbox, Arc::clone(&clock), &smpp_stop)
            }
            .map_err(anyhow::Error::msg)
            .context("starting the SMPP connections")?;
            if let Some(path) = intent_log_path(&config.database_url, connection.name()) {
                let wait = Duration::from_secs(connection.settings().recovery_wait_seconds);
                match connection.recover_with(&path, wait) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        smsc = connection.name(),
                        steps = n,
                        ?wait,
                        "steps the last run may have sent wait for their receipts before going again"
                    ),
                    Err(e) => {
                        tracing::warn!(smsc = connection.name(), path = %path.display(), error = %e, "no SMPP intent log: a crash may send messages in flight twice")
                    }
                }
            }
            // The sandbox SMSC is in this process: bind before taking flows, so that the
            // first SMS does not spend its (possibly sandbox-short) TTL waiting for it.
            // Real SMSCs bind in the background; submits wait for them up to their TTL.
            if sandbox && !connection.wait_bound(SANDBOX_BIND_WAIT).await {
                tracing::warn!("the sandbox SMSC bind is not up yet; SMS will wait for it");
            }
            smsc.push(connection);
        }
        let mut channels = Vec::new();
        if !smsc.is_empty() {
            // SMSCs fail over to each other as providers do (priority, routes, circuits).
            let candidates = smsc
                .iter()
                .map(|c| Candidate {
                    provider: Arc::clone(c) as Arc<dyn Provider>,
                    routes: c.settings().routes.clone(),
                    priority: c.settings().priority,
                })
                .collect();
            let chain = Arc::new(ChannelProviders::new(
                Channel::Sms,
                candidates,
                config.failover,
                Arc::clone(&clock),
                Arc::clone(&late_sink) as Arc<dyn ReportSink>,
            ));
            providers = providers.with(Channel::Sms, Arc::clone(&chain) as Arc<dyn Provider>);
            channels.push(chain);
        }
        let public_url = config.public_url.clone().unwrap_or_default();
        let mut receivers: Vec<Arc<dyn WebhookReceiver>> = Vec::new();
        let mut candidates: Vec<(Channel, Candidate)> = Vec::new();
        for settings in &config.providers {
            let adapter = cascade_providers::http::build(
                settings,
                &public_url,
                Arc::clone(&clock),
                Arc::clone(&late_sink) as Arc<dyn ReportSink>,
                config.voice_submit_window,
            )
            .await
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("starting provider {}", settings.common().name))?;
            receivers.extend(adapter.webhooks);
            let common = settings.common();
            candidates.push((
                settings.channel(),
                Candidate {
                    provider: adapter.provider,
                    routes: common.routes.clone(),
                    priority: common.priority,
                },
            ));
        }
        for channel in [Channel::Viber, Channel::Voice] {
            let of_channel: Vec<Candidate> = candidates
                .iter()
                .filter(|(c, _)| *c == channel)
                .map(|(_, candidate)| candidate.clone())
                .collect();
            if of_channel.is_empty() {
                continue;
            }
            let chain = Arc::new(ChannelProviders::new(
                channel,
                of_channel,
                config.failover,
                Arc::clone(&clock),
                Arc::clone(&late_sink) as Arc<dyn ReportSink>,
            ));
            providers = providers.with(channel, Arc::clone(&chain) as Arc<dyn Provider>);
            channels.push(chain);
        }
        let runtime_config = RuntimeConfig {
            callbacks: CallbackSettings {
                timeout: std::time::Duration::from_millis(config.callback_timeout_ms),
                schedule: config.callback_retry_schedule.clone(),
                allow_private: config.allow_private_callbacks,
                ..CallbackSettings::default()
            },
            ..RuntimeConfig::default()
        };
        // The API's socket listens before the runtime starts: the submissions it makes at
        // once (jobs a crash left behind) can bring provider webhooks back within
        // milliseconds, and those must queue for the server, not find the port closed.
        let listener = match bound {
            Some(bound) => {
                bound
                    .set_nonblocking(true)
                    .context("making the given socket non-blocking")?;
                TcpListener::from_std(bound).context("serving on the given socket")?
            }
            None => TcpListener::bind(&config.listen)
                .await
                .with_context(|| format!("listening on {}", config.listen))?,
        };
        let runtime = Runtime::start(
            Arc::clone(&store),
            providers,
            Arc::clone(&clock),
            runtime_config,
        );
        let sink: Arc<dyn ReportSink> = Arc::clone(&runtime) as Arc<dyn ReportSink>;
        late_sink.set(Arc::clone(&sink));
        end_interrupted_calls(store.as_ref(), sink.as_ref(), clock.as_ref(), true)
            .await
            .context("ending the calls a restart cut")?;
        if cascade_store::postgres::is_postgres_url(&config.database_url) {
            // Other nodes share the store: a node that dies later cuts its calls then,
            // and they are ended once its heartbeat is a lease old.
            let (store, sink, clock) = (Arc::clone(&store), Arc::clone(&sink), Arc::clone(&clock));
            let every =
                std::time::Duration::from_millis(u64::try_from(config.lease_ms).unwrap_or(15_000));
            let stop = runtime.stop_token();
            runtime.spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(every) => {}
                    }
                    if let Err(e) =
                        end_interrupted_calls(store.as_ref(), sink.as_ref(), clock.as_ref(), false)
                            .await
                    {
                        tracing::warn!(error = %e, "ending calls of a node that is gone");
                    }
                }
            });
        }
        runtime.spawn(run_reporter_until_stopped(
            Arc::clone(&store),
            sink,
            Arc::clone(&clock),
            reports_due,
            runtime.stop_token(),
        ));

        let settings = ApiSettings {
            prices: config.prices.clone(),
            operators: config.operators.clone(),
            ttl_clock: config.ttl_clock(),
            body_limit: config.body_limit_bytes,
            allow_private_callbacks: config.allow_private_callbacks,
            rate_limit: RateLimit {
                per_second: config.rate_limit_per_second,
                burst: config.rate_limit_burst.max(config.rate_limit_per_second),
            },
            node_id: config.node_id.clone(),
            lease_ms: config.lease_ms,
        };
        let state = Arc::new(
            ApiState::new(Arc::clone(&runtime), admin, settings)
                .with_metrics(Box::new(
                    cascade_providers::smpp::metrics::SmppCollector::new(smsc.clone()),
                ))
                .with_metrics(Box::new(ProviderCollector::new(channels)))
                .with_webhooks(&public_url, receivers),
        );
        if cascade_store::postgres::is_postgres_url(&config.database_url) {
            // Rate limits and provider throughput caps are shared among the live nodes
            // (each takes its share).
            let throughput_shares: Vec<cascade_pace::NodeShare> = config
                .providers
                .iter()
                .map(|p| p.common().nodes.clone())
                .collect();
            let (state, clock) = (Arc::clone(&state), Arc::clone(&clock));
            let (lease, stop) = (config.lease_ms, runtime.stop_token());
            let every = std::time::Duration::from_millis(u64::try_from(lease / 3).unwrap_or(5_000));
            runtime.spawn(async move {
                loop {
                    match state.store.nodes(clock.now(), lease).await {
                        Ok(nodes) => {
                            let live = u32::try_from(nodes.len()).unwrap_or(u32::MAX);
                            state.limiter.set_nodes(live);
                            for share in &throughput_shares {
                                share.set(live);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "counting the live nodes"),
                    }
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(every) => {}
                    }
                }
            });
        }
        let router = cascade_api::router(state);
        Ok(Application {
            listener,
            router,
            runtime,
            store,
            prepared,
            config,
            smsc,
            simulator,
            smpp_stop,
        })
    }

    /// The sandbox SMSC's address, when SMS is sandboxed.
    pub fn sandbox_smsc_addr(&self) -> Option<SocketAddr> {
        self.simulator.as_ref().map(SmscSimulator::local_addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// What start-up created (admin token, demo application) to show once.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// The store the application runs on (for tools and tests in the same process).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Serve until `shutdown` completes, then stop the runtime and close the store.
    ///
    /// # Errors
    /// When the HTTP server fails.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        self.runtime.shutdown(Duration::from_secs(10)).await;
        // Unbind politely (answers to submits in flight still arrive), then stop the
        // simulator, then the store.
        futures_util::future::join_all(self.smsc.iter().map(|c| c.shutdown())).await;
        self.smpp_stop.cancel();
        self.store.close().await;
        served.context("serving HTTP")
    }
}

/// A [`ReportSink`] set after the fact: connectors start before the runtime that records
/// their reports exists. A report that comes before it is set waits for it (up to
/// [`LATE_SINK_WAIT`]) rather than being refused: an SMSC binds within milliseconds of a
/// restart and delivers the receipts it kept at once, and not every SMSC retries a
/// receipt it was refused (the chaos suite's crash loop met one that does not).
#[derive(Default)]
struct LateSink {
    sink: std::sync::OnceLock<Arc<dyn ReportSink>>,
    ready: tokio::sync::Notify,
}

/// How long a report waits for the runtime before it is refused (the provider then
/// delivers it again).
const LATE_SINK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl std::fmt::Debug for LateSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LateSink")
            .field("set", &self.sink.get().is_some())
            .finish()
    }
}

impl LateSink {
    /// Sets the sink; later calls are ignored.
    fn set(&self, sink: Arc<dyn ReportSink>) {
        let _ = self.sink.set(sink);
        self.ready.notify_waiters();
    }

    /// The sink, once set; `None` when it was not set within [`LATE_SINK_WAIT`].
    async fn sink(&self) -> Option<&Arc<dyn ReportSink>> {
        let deadline = tokio::time::Instant::now() + LATE_SINK_WAIT;
        loop {
            // Registered before the check, so a `set` in between is not missed.
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(sink) = self.sink.get() {
                return Some(sink);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.sink.get();
            }
        }
    }
}

#[async_trait]
impl ReportSink for LateSink {
    async fn deliver(
        &self,
        provider: &str,
        provider_message_ids: &[String],
        report: Report,
    ) -> Result<Recorded, String> {
        match self.sink().await {
            Some(sink) => sink.deliver(provider, provider_message_ids, report).await,
            None => Err("still starting".into()),
        }
    }

    async fn claim_dial(&self, flow: FlowId, order: u32, provider: &str) -> Result<bool, String> {
        match self.sink().await {
            Some(sink) => sink.claim_dial(flow, order, provider).await,
            None => Err("still starting".into()),
        }
    }

    async fn note_price(
        &self,
        provider: &str,
        provider_message_id: &str,
        price: &str,
    ) -> Result<bool, String> {
        match self.sink().await {
            Some(sink) => sink.note_price(provider, provider_message_id, price).await,
            None => Err("still starting".into()),
        }
    }

    async fn inbound(&self, message: cascade_core::inbound::InboundMessage) -> Result<(), String> {
        match self.sink().await {
            Some(sink) => sink.inbound(message).await,
            None => Err("still starting".into()),
        }
    }

    async fn note_attempt(&self, flow: FlowId, order: u32, provider: &str, outcome: &str) {
        if let Some(sink) = self.sink().await {
            sink.note_attempt(flow, order, provider, outcome).await;
        }
    }
}

/// Every call an earlier run was carrying when it stopped is over: the process that
/// held its media is gone (voice-sip §2: `Failed`, detailedStatus `Interrupted`). A step
/// whose INVITE was claimed but whose submission was not yet recorded is not listed
/// here: its job is handed over again, and the provider refuses to dial it twice with
/// the same outcome.
async fn end_interrupted_calls(
    store: &dyn Store,
    sink: &dyn ReportSink,
    clock: &dyn Clock,
    own_too: bool,
) -> anyhow::Result<()> {
    let cut = store.dials_in_flight(own_too).await?;
    for (provider, id) in &cut {
        let reason =
            cascade_core::sip_outcome::outcome(&cascade_core::sip_outcome::CallEnd::Interrupted);
        let mut report = Report::status(reason.status, clock.now());
        report.detailed_status = Some(reason.detailed_status);
        report.description = Some(reason.description);
        sink.deliver(provider, std::slice::from_ref(id), report)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    if !cut.is_empty() {
        tracing::warn!(
            calls = cut.len(),
            "calls cut by the restart were ended as Interrupted"
        );
    }
    Ok(())
}
