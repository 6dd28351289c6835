//! One SMSC connection: its binds (each an `EsmeClient` that connects, binds and
//! reconnects on its own) and what is known about the messages sent through it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use cascade_core::Clock;
use cascade_core::ports::{Leases, ReportSink};
use cascade_smpp::driver::{BindState, ClientOptions, EsmeClient, Target};
use cascade_smpp::{BindMode, EsmeConfig, EsmeSession, ThroughputLimit};
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::events::{EventContext, handle_events};
use super::latency::Timing;
use super::metrics::SmscMetrics;
use super::settings::{BindModeSetting, SmscSettings};

/// Receipts handled at once per SMSC (each is a store write).
const RECEIPTS_IN_PROGRESS: usize = 512;

/// One SMSC: its binds, and what is known about the messages sent through it.
#[derive(Debug)]
pub struct SmscConnection {
    pub(super) settings: SmscSettings,
    pub(super) provider: String,
    /// The in-process simulator: it gets Cascade's message ids and its vendor TLVs are
    /// trusted.
    pub(super) sandbox: bool,
    /// The binds this node holds now: every configured one, or, when several nodes share
    /// the SMSC ([`SmscConnection::start_shared`]), the slots whose lease is this node's.
    live: RwLock<Vec<LiveBind>>,
    /// Bind slots held by this node.
    slots_held: AtomicUsize,
    pub(super) next_bind: AtomicUsize,
    pub(super) reference: AtomicU16,
    /// Parts already accepted of steps whose other parts failed to go: a retry sends only
    /// the rest. Keyed by the step's message id; with the concatenation reference the
    /// accepted parts carried, which the rest must carry too.
    pub(super) partial: Mutex<HashMap<String, PartialSend>>,
    /// Shared with the receipt tasks: when each message id was accepted.
    pub(super) timing: Arc<Timing>,
    pub(super) metrics: Arc<SmscMetrics>,
    pub(super) clock: Arc<dyn Clock>,
    sink: Sink,
    receipts: Arc<Semaphore>,
    /// What a restart knows of the submissions before it ([`super::recovery`]); set by
    /// [`SmscConnection::recover_with`] when the node has a place for the intent log.
    pub(super) recovery: Arc<std::sync::OnceLock<Arc<super::recovery::Recovery>>>,
}

/// Where the binds' receipts go (opaque in `Debug`).
struct Sink(Arc<dyn ReportSink>);

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportSink")
    }
}

/// One bind this node holds.
#[derive(Debug, Clone)]
struct LiveBind {
    slot: u32,
    /// Its place among all the configured binds (`bind` label of the metrics): slot ×
    /// binds per slot + its half (transmitter 0, receiver 1).
    label: usize,
    transmits: bool,
    client: EsmeClient,
}

/// A step partly accepted: its concatenation reference, and each part's id once accepted.
pub(super) type PartialSend = (u16, Vec<Option<String>>);

impl SmscConnection {
    /// Opens every bind (in the background: they connect, bind, and reconnect on their
    /// own) and starts handling what they receive. `sandbox` trusts the simulator's vendor
    /// TLVs (scripted detailed statuses); `clock` dates receipts and measures what is left
    /// of a message's TTL.
    ///
    /// # Errors
    /// A sentence when the settings cannot work (e.g. a system_id too long).
    pub fn start(
        settings: SmscSettings,
        sink: Arc<dyn ReportSink>,
        sandbox: bool,
        clock: Arc<dyn Clock>,
        stop: &CancellationToken,
    ) -> Result<Arc<SmscConnection>, String> {
        let connection = Self::new(settings, sink, sandbox, clock)?;
        for slot in 0..connection.settings.binds {
            connection.open_slot(slot)?;
        }
        connection.stop_with(stop);
        Ok(connection)
    }

    /// As [`SmscConnection::start`], for a deployment of several nodes: each bind slot
    /// is opened only while this node holds its lease (`smsc:<name>:bind:<slot>`), so the
    /// SMSC sees the configured number of binds in all. A slot whose holder dies is taken
    /// over by whichever node asks first once the lease runs out; a slot whose lease
    /// this node cannot confirm for [`Leases::trust_for`] is closed.
    ///
    /// # Errors
    /// A sentence when the settings cannot work.
    pub fn start_shared(
        settings: SmscSettings,
        sink: Arc<dyn ReportSink>,
        sandbox: bool,
        clock: Arc<dyn Clock>,
        stop: &CancellationToken,
        leases: Arc<dyn Leases>,
    ) -> Result<Arc<SmscConnection>, String> {
        let connection = Self::new(settings, sink, sandbox, clock)?;
        // What `EsmeClient::connect` would refuse, refused now rather than in a slot's
        // task later.
        for &mode in connection.modes() {
            EsmeSession::new(
                esme_config(&connection.settings, mode),
                std::time::Instant::now(),
            )
            .map_err(|e| format!("smsc {}: {e}", connection.settings.name))?;
        }
        for slot in 0..connection.settings.binds {
            tokio::spawn(hold_slot(
                Arc::clone(&connection),
                Arc::clone(&leases),
                slot,
                stop.clone(),
            ));
        }
        connection.stop_with(stop);
        Ok(connection)
    }

    fn new(
        settings: SmscSettings,
        sink: Arc<dyn ReportSink>,
        sandbox: bool,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<SmscConnection>, String> {
        settings.validate()?;
        Ok(Arc::new(SmscConnection {
            provider: settings.provider_name(),
            settings,
            sandbox,
            live: RwLock::new(Vec::new()),
            slots_held: AtomicUsize::new(0),
            next_bind: AtomicUsize::new(0),
            reference: AtomicU16::new(rand_seed()),
            partial: Mutex::new(HashMap::new()),
            timing: Arc::new(Timing::default()),
            metrics: Arc::new(SmscMetrics::default()),
            clock,
            sink: Sink(sink),
            receipts: Arc::new(Semaphore::new(RECEIPTS_IN_PROGRESS)),
            recovery: Arc::new(std::sync::OnceLock::new()),
        }))
    }

    /// Keep an intent log at `path` and, for `wait` after now, let submissions of steps
    /// the run before may have sent wait for their receipts ([`super::recovery`]).
    /// Called once, right after the connection starts.
    ///
    /// # Errors
    /// When the log cannot be opened.
    pub fn recover_with(&self, path: &std::path::Path, wait: Duration) -> std::io::Result<usize> {
        let log = super::recovery::IntentLog::open(path)?;
        let previous = log.previous_len();
        let _ = self
            .recovery
            .set(Arc::new(super::recovery::Recovery::new(log, wait)));
        Ok(previous)
    }

    fn stop_with(self: &Arc<Self>, stop: &CancellationToken) {
        let on_stop = Arc::clone(self);
        let stop = stop.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            on_stop.shutdown().await;
        });
    }

    fn modes(&self) -> &'static [BindMode] {
        match self.settings.bind_mode {
            BindModeSetting::Transceiver => &[BindMode::Transceiver],
            BindModeSetting::TransmitterReceiver => &[BindMode::Transmitter, BindMode::Receiver],
        }
    }

    /// Opens the bind(s) of `slot` (a transceiver, or a transmitter and a receiver).
    fn open_slot(&self, slot: u32) -> Result<(), String> {
        let modes = self.modes();
        let mut opened = Vec::new();
        for (half, &mode) in modes.iter().enumerate() {
            let target = Target {
                host: self.settings.host.clone(),
                port: self.settings.port,
                tls: self.settings.tls,
            };
            let options = ClientOptions {
                name: self.settings.name.clone(),
                bind_index: usize::try_from(slot).unwrap_or(usize::MAX),
                ..ClientOptions::default()
            };
            let (client, events) =
                EsmeClient::connect(target, esme_config(&self.settings, mode), options)
                    .map_err(|e| format!("smsc {}: {e}", self.settings.name))?;
            tokio::spawn(handle_events(EventContext {
                client: client.clone(),
                sink: Arc::clone(&self.sink.0),
                provider: self.provider.clone(),
                form: self.settings.receipt_ids.form(),
                sandbox: self.sandbox,
                metrics: Arc::clone(&self.metrics),
                timing: Arc::clone(&self.timing),
                receipts: Arc::clone(&self.receipts),
                clock: Arc::clone(&self.clock),
                recovery: Arc::clone(&self.recovery),
                events,
            }));
            opened.push(LiveBind {
                slot,
                label: usize::try_from(slot).unwrap_or(usize::MAX) * modes.len() + half,
                transmits: mode != BindMode::Receiver,
                client,
            });
        }
        self.live
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .extend(opened);
        self.slots_held.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Unbinds the bind(s) of `slot` and forgets them.
    async fn close_slot(&self, slot: u32) {
        let closing: Vec<EsmeClient> = {
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            let (closing, kept): (Vec<LiveBind>, Vec<LiveBind>) =
                live.drain(..).partition(|b| b.slot == slot);
            *live = kept;
            closing.into_iter().map(|b| b.client).collect()
        };
        if !closing.is_empty() {
            self.slots_held.fetch_sub(1, Ordering::Relaxed);
        }
        futures_util::future::join_all(closing.iter().map(EsmeClient::shutdown)).await;
    }

    /// The name reports from this SMSC are matched under.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The section this connection was started from.
    pub fn settings(&self) -> &SmscSettings {
        &self.settings
    }

    pub fn metrics(&self) -> &SmscMetrics {
        &self.metrics
    }

    /// Every bind this node holds (transmitters and receivers), each with its place
    /// among the configured binds.
    pub fn binds(&self) -> Vec<(usize, EsmeClient)> {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|b| (b.label, b.client.clone()))
            .collect()
    }

    /// Bind slots this node holds (all of them unless several nodes share the SMSC).
    pub fn slots_held(&self) -> usize {
        self.slots_held.load(Ordering::Relaxed)
    }

    fn transmitters(&self) -> Vec<EsmeClient> {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|b| b.transmits)
            .map(|b| b.client.clone())
            .collect()
    }

    /// True when at least one transmitting bind is bound.
    pub fn is_bound(&self) -> bool {
        self.has_bound_transmitter()
    }

    /// Waits until every bind this node holds is bound, or `timeout` passes; true when
    /// they all are.
    pub async fn wait_bound(&self, timeout: Duration) -> bool {
        let clients: Vec<EsmeClient> = self.binds().into_iter().map(|(_, c)| c).collect();
        let all = async {
            for client in &clients {
                let mut states = client.state_changes();
                if states.wait_for(|s| *s == BindState::Bound).await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(timeout, all).await.unwrap_or(false)
    }

    /// Unbinds every bind politely.
    pub async fn shutdown(&self) {
        let clients: Vec<EsmeClient> = self.binds().into_iter().map(|(_, c)| c).collect();
        futures_util::future::join_all(clients.iter().map(EsmeClient::shutdown)).await;
    }

    /// Whether a bind that can transmit is up now.
    pub fn has_bound_transmitter(&self) -> bool {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|b| b.transmits && b.client.state() == BindState::Bound)
    }

    /// A bound transmitter, round robin; any transmitter when none is bound (its submit
    /// then waits for the bind, up to the deadline); `None` when this node holds none.
    pub(super) fn pick_bind(&self) -> Option<EsmeClient> {
        let transmitters = self.transmitters();
        let n = transmitters.len();
        if n == 0 {
            return None;
        }
        let start = self.next_bind.fetch_add(1, Ordering::Relaxed);
        let bound = (0..n)
            .map(|i| &transmitters[(start + i) % n])
            .find(|c| c.state() == BindState::Bound);
        Some(bound.unwrap_or(&transmitters[start % n]).clone())
    }
}

/// Keeps bind slot `slot` of `connection` open while this node holds its lease: asks
/// every [`Leases::renew_every`], opens the slot when the lease becomes this node's,
/// closes it when another node has it or when it could not be confirmed for
/// [`Leases::trust_for`], and gives it up on `stop` once the bind is closed.
async fn hold_slot(
    connection: Arc<SmscConnection>,
    leases: Arc<dyn Leases>,
    slot: u32,
    stop: CancellationToken,
) {
    let name = format!("smsc:{}:bind:{slot}", connection.settings.name);
    let mut held = false;
    let mut confirmed = tokio::time::Instant::now();
    loop {
        match leases.hold(&name).await {
            Ok(true) => {
                confirmed = tokio::time::Instant::now();
                if !held {
                    match connection.open_slot(slot) {
                        Ok(()) => {
                            held = true;
                            tracing::info!(lease = %name, "this node holds the bind slot");
                        }
                        Err(e) => {
                            tracing::error!(lease = %name, error = %e, "cannot open the bind")
                        }
                    }
                }
            }
            Ok(false) => {
                if held {
                    tracing::warn!(lease = %name, "another node holds the bind slot now; unbinding");
                    connection.close_slot(slot).await;
                    held = false;
                }
            }
            Err(e) => {
                tracing::warn!(lease = %name, error = %e, "could not confirm the bind slot");
                if held && confirmed.elapsed() >= leases.trust_for() {
                    tracing::warn!(lease = %name, "the bind slot's lease may have passed to another node; unbinding");
                    connection.close_slot(slot).await;
                    held = false;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(leases.renew_every()) => {}
        }
    }
    if held {
        connection.close_slot(slot).await;
        leases.release(&name).await;
    }
}

fn esme_config(settings: &SmscSettings, mode: BindMode) -> EsmeConfig {
    EsmeConfig {
        bind_mode: mode,
        system_id: settings.system_id.clone().into(),
        password: settings.password.expose_secret().into(),
        system_type: settings.system_type.clone().into(),
        enquire_link_interval: Some(Duration::from_secs(settings.enquire_link_seconds)),
        response_timeout: Duration::from_secs(settings.response_timeout_seconds),
        window: usize::try_from(settings.window).unwrap_or(usize::MAX),
        throughput: NonZeroU32::new(settings.throughput).map(ThroughputLimit::per_second),
        manual_deliver_ack: true,
        ..EsmeConfig::default()
    }
}

/// A starting point for concatenation references, so that two runs do not reuse the same.
fn rand_seed() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u16::try_from(nanos % 65_536).unwrap_or(0)
}
