//! One SMSC connection: its binds (each an `EsmeClient` that connects, binds and
//! reconnects on its own) and what is known about the messages sent through it.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cascade_core::Clock;
use cascade_core::ports::ReportSink;
use cascade_smpp::driver::{BindState, ClientOptions, EsmeClient, Target};
use cascade_smpp::{BindMode, EsmeConfig, ThroughputLimit};
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
    /// Binds that transmit (transceivers, or the transmitter half of each pair).
    pub(super) transmitters: Vec<EsmeClient>,
    /// Every client, for shutdown and metrics.
    clients: Vec<EsmeClient>,
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
}

/// A step partly accepted: its concatenation reference, and each part's id once accepted.
pub(super) type PartialSend = (u16, Vec<Option<String>>);

impl SmscConnection {
    /// Opens the binds (in the background: they connect, bind, and reconnect on their own)
    /// and starts handling what they receive. `sandbox` trusts the simulator's vendor TLVs
    /// (scripted detailed statuses); `clock` dates receipts and measures what is left of a
    /// message's TTL.
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
        settings.validate()?;
        let provider = settings.provider_name();
        let metrics = Arc::new(SmscMetrics::default());
        let timing = Arc::new(Timing::default());
        let receipts = Arc::new(Semaphore::new(RECEIPTS_IN_PROGRESS));
        let modes: &[BindMode] = match settings.bind_mode {
            BindModeSetting::Transceiver => &[BindMode::Transceiver],
            BindModeSetting::TransmitterReceiver => &[BindMode::Transmitter, BindMode::Receiver],
        };
        let mut transmitters = Vec::new();
        let mut clients = Vec::new();
        for index in 0..settings.binds {
            for &mode in modes {
                let config = esme_config(&settings, mode);
                let target = Target {
                    host: settings.host.clone(),
                    port: settings.port,
                    tls: settings.tls,
                };
                let options = ClientOptions {
                    name: settings.name.clone(),
                    bind_index: usize::try_from(index).unwrap_or(usize::MAX),
                    ..ClientOptions::default()
                };
                let (client, events) = EsmeClient::connect(target, config, options)
                    .map_err(|e| format!("smsc {}: {e}", settings.name))?;
                tokio::spawn(handle_events(EventContext {
                    client: client.clone(),
                    sink: Arc::clone(&sink),
                    provider: provider.clone(),
                    form: settings.receipt_ids.form(),
                    sandbox,
                    metrics: Arc::clone(&metrics),
                    timing: Arc::clone(&timing),
                    receipts: Arc::clone(&receipts),
                    clock: Arc::clone(&clock),
                    events,
                }));
                if mode != BindMode::Receiver {
                    transmitters.push(client.clone());
                }
                clients.push(client);
            }
        }
        let connection = Arc::new(SmscConnection {
            settings,
            provider,
            sandbox,
            transmitters,
            clients,
            next_bind: AtomicUsize::new(0),
            reference: AtomicU16::new(rand_seed()),
            partial: Mutex::new(HashMap::new()),
            timing,
            metrics,
            clock,
        });
        let on_stop = Arc::clone(&connection);
        let stop = stop.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            on_stop.shutdown().await;
        });
        Ok(connection)
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

    /// Every bind's client (transmitters and receivers).
    pub fn clients(&self) -> &[EsmeClient] {
        &self.clients
    }

    /// True when at least one transmitting bind is bound.
    pub fn is_bound(&self) -> bool {
        self.transmitters
            .iter()
            .any(|c| c.state() == BindState::Bound)
    }

    /// Waits until every bind is bound, or `timeout` passes; true when they all are.
    pub async fn wait_bound(&self, timeout: Duration) -> bool {
        let all = async {
            for client in &self.clients {
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
        futures_util::future::join_all(self.clients.iter().map(EsmeClient::shutdown)).await;
    }

    /// Whether a bind that can transmit is up now.
    pub fn has_bound_transmitter(&self) -> bool {
        self.transmitters
            .iter()
            .any(|c| c.state() == BindState::Bound)
    }

    /// A bound transmitter, round robin; any transmitter when none is bound (its submit
    /// then waits for the bind, up to the deadline).
    pub(super) fn pick_bind(&self) -> &EsmeClient {
        let n = self.transmitters.len();
        let start = self.next_bind.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.transmitters[(start + i) % n])
            .find(|c| c.state() == BindState::Bound)
            .unwrap_or(&self.transmitters[start % n])
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
