//! The SMS provider over SMPP: one [`SmscConnection`] per configured SMSC (its binds, the
//! receipts they bring), and [`SmppProvider`] routing each step to one of them.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cascade_core::StatusKind;
use cascade_core::flow::StepKind;
use cascade_smpp::driver::{
    BindState, ClientEvent, ClientOptions, EsmeClient, SubmitError as DriverError, SubmitOptions,
    SubmitOutcome, Target,
};
use cascade_smpp::receipt::submit_id_key;
use cascade_smpp::{
    BindMode, CommandStatus, EsmeConfig, IncomingMessage, MessageIdForm, ThroughputLimit, Tlv,
};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::metrics::SmscMetrics;
use super::receipt::to_report;
use super::settings::{BindModeSetting, Routes, SmscSettings};
use super::submit::{BuildOptions, build};
use super::vendor_tlv;
use crate::sandbox::wall_clock;
use crate::{Accepted, Provider, Recorded, ReportSink, SubmitError, SubmitRequest};

/// Longest one submit waits in a bind's queue (window full, throttled, reconnecting)
/// before the dispatcher is told to retry later; below the dispatcher's own timeout so
/// that parts already sent are remembered.
const QUEUE_BUDGET: Duration = Duration::from_secs(20);
/// Receipts handled at once per SMSC (each is a store write).
const RECEIPTS_IN_PROGRESS: usize = 512;
/// Submit times kept for the submit → receipt latency; past it new ones are not timed.
const LATENCY_ENTRIES: usize = 500_000;
/// How long a submit time waits for its receipt (one to two of these).
const TIMING_GENERATION: Duration = Duration::from_secs(30 * 60);

/// One SMSC: its binds, and what is known about the messages sent through it.
#[derive(Debug)]
pub struct SmscConnection {
    settings: SmscSettings,
    provider: String,
    /// The in-process simulator: it gets Cascade's message ids and its vendor TLVs are
    /// trusted.
    sandbox: bool,
    /// Binds that transmit (transceivers, or the transmitter half of each pair).
    transmitters: Vec<EsmeClient>,
    /// Every client, for shutdown and metrics.
    clients: Vec<EsmeClient>,
    next_bind: AtomicUsize,
    reference: AtomicU16,
    /// Parts already accepted of steps whose other parts failed to go: a retry sends only
    /// the rest. Keyed by the step's message id; with the concatenation reference the
    /// accepted parts carried, which the rest must carry too.
    partial: Mutex<HashMap<String, PartialSend>>,
    /// Shared with the receipt tasks: when each message id was accepted.
    timing: Arc<Timing>,
    metrics: Arc<SmscMetrics>,
}

/// A step partly accepted: its concatenation reference, and each part's id once accepted.
type PartialSend = (u16, Vec<Option<String>>);

/// Submit times by message-id key, for the submit → receipt latency. Two generations,
/// rotated every [`TIMING_GENERATION`]: a message whose final receipt never comes is
/// forgotten after one to two generations instead of filling the map for good.
#[derive(Debug)]
struct Timing {
    generations: Mutex<Generations>,
}

#[derive(Debug)]
struct Generations {
    current: HashMap<String, Instant>,
    previous: HashMap<String, Instant>,
    rotated: Instant,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            generations: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
                rotated: Instant::now(),
            }),
        }
    }
}

impl Timing {
    fn record(&self, key: String, at: Instant) {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if g.rotated.elapsed() >= TIMING_GENERATION {
            g.previous = std::mem::take(&mut g.current);
            g.rotated = Instant::now();
        }
        if g.current.len() < LATENCY_ENTRIES {
            g.current.insert(key, at);
        }
    }

    /// The submit time of the first candidate known, forgetting it.
    fn take(&self, candidates: &[String]) -> Option<Instant> {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        candidates
            .iter()
            .find_map(|c| g.current.remove(c).or_else(|| g.previous.remove(c)))
    }
}

impl SmscConnection {
    /// Opens the binds (in the background: they connect, bind, and reconnect on their own)
    /// and starts handling what they receive. `sandbox` trusts the simulator's vendor TLVs
    /// (scripted detailed statuses).
    ///
    /// # Errors
    /// A sentence when the settings cannot work (e.g. a system_id too long).
    pub fn start(
        settings: SmscSettings,
        sink: Arc<dyn ReportSink>,
        sandbox: bool,
        stop: &CancellationToken,
    ) -> Result<Arc<SmscConnection>, String> {
        settings.validate()?;
        let provider = settings.provider_name();
        let metrics = Arc::new(SmscMetrics::new(&settings.name));
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

    /// A bound transmitter, round robin; any transmitter when none is bound (its submit
    /// then waits for the bind, up to the deadline).
    fn pick_bind(&self) -> &EsmeClient {
        let n = self.transmitters.len();
        let start = self.next_bind.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.transmitters[(start + i) % n])
            .find(|c| c.state() == BindState::Bound)
            .unwrap_or(&self.transmitters[start % n])
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let StepKind::Sms(step) = &request.payload.step.kind else {
            return Err(SubmitError::Rejected {
                status: StatusKind::Failed,
                detailed_status: "Not an SMS".into(),
                description: "An SMSC only carries SMS steps.".into(),
            });
        };
        let now_wall = wall_clock();
        let now = tokio::time::Instant::now().into_std();
        let ttl_left = request
            .payload
            .not_after()
            .map(|t| Duration::from_millis(u64::try_from(t.millis_since(now_wall)).unwrap_or(0)));
        let ttl_bound = ttl_left.is_some_and(|left| left <= QUEUE_BUDGET);
        let deadline = now + ttl_left.map_or(QUEUE_BUDGET, |left| left.min(QUEUE_BUDGET));
        let part_count = request.payload.message_ids.len().max(step.parts.len());
        let known = self
            .partial
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&request.payload.message_id)
            .filter(|(_, known)| known.len() == part_count);
        // A retry of a partly sent long message reuses the reference of the parts already
        // accepted: with a new one (UDH or SAR) the handset gets two unrelated
        // concatenated messages and can never put the text together.
        let reference = match &known {
            Some((reference, _)) => *reference,
            None => self.reference.fetch_add(1, Ordering::Relaxed),
        };
        let pdus = build(
            step,
            BuildOptions {
                long_messages: self.settings.long_messages,
                gsm7: self.settings.gsm7_coding,
                reference,
                validity_seconds: ttl_left
                    .map(|d| d.as_millis().div_ceil(1000))
                    .map(|s| u64::try_from(s).unwrap_or(u64::MAX)),
            },
        );
        let pdus = if self.sandbox {
            let client_ref = Tlv::new(vendor_tlv::CLIENT_REF, {
                let mut v = request.payload.message_id.clone().into_bytes();
                v.push(0);
                v
            });
            pdus.into_iter()
                .map(|(mut pdu, parts)| {
                    pdu.tlvs.push(client_ref.clone());
                    (pdu, parts)
                })
                .collect()
        } else {
            pdus
        };
        let mut ids: Vec<Option<String>> =
            known.map_or_else(|| vec![None; part_count], |(_, ids)| ids);
        let client = self.pick_bind();
        let options = SubmitOptions {
            deadline: Some(deadline),
            fail_when_throttled: false,
            wait_for_bind: true,
        };
        // Queue every missing part at once (in order: the call order is the sending
        // order), then collect the answers.
        let pending: Vec<_> = pdus
            .into_iter()
            .filter(|(_, parts)| {
                parts
                    .iter()
                    .any(|&p| ids.get(p).is_some_and(Option::is_none))
            })
            .map(|(pdu, parts)| (client.submit_with(pdu, options), parts))
            .collect();
        let mut failure: Option<SubmitError> = None;
        for (submission, parts) in pending {
            let outcome = submission.await;
            let accepted_at = tokio::time::Instant::now().into_std();
            match outcome {
                Ok(SubmitOutcome::Accepted { message_id }) => {
                    let key = submit_id_key(&message_id.to_string_lossy());
                    self.timing.record(key.clone(), accepted_at);
                    for p in parts {
                        if let Some(slot) = ids.get_mut(p) {
                            *slot = Some(key.clone());
                        }
                    }
                }
                Ok(SubmitOutcome::Rejected { status }) => {
                    self.metrics.count_rejected();
                    failure.get_or_insert(rejected(status));
                }
                Err(e) => {
                    failure.get_or_insert(self.not_sent(&e, ttl_bound));
                }
            }
        }
        match failure {
            None => Ok(Accepted {
                provider: self.provider.clone(),
                message_ids: ids.into_iter().map(Option::unwrap_or_default).collect(),
            }),
            Some(e) => {
                if matches!(
                    e,
                    SubmitError::Retryable { .. } | SubmitError::RateLimited { .. }
                ) && ids.iter().any(Option::is_some)
                {
                    self.partial
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(request.payload.message_id.clone(), (reference, ids));
                }
                Err(e)
            }
        }
    }

    /// What the dispatcher should do with a submit that got no answer.
    fn not_sent(&self, error: &DriverError, ttl_bound: bool) -> SubmitError {
        match error {
            DriverError::Expired if ttl_bound => SubmitError::Rejected {
                status: StatusKind::Unsent,
                detailed_status: "Expired".into(),
                description: "The time to live ran out while the message waited for the SMSC."
                    .into(),
            },
            DriverError::Invalid(e) => SubmitError::Rejected {
                status: StatusKind::Failed,
                detailed_status: "Invalid message".into(),
                description: format!("The message cannot be encoded for SMPP: {e}"),
            },
            DriverError::Throttled { until } => SubmitError::RateLimited {
                retry_after_ms: u64::try_from(
                    until.saturating_duration_since(Instant::now()).as_millis(),
                )
                .unwrap_or(u64::MAX)
                .max(100),
            },
            other => SubmitError::Retryable {
                reason: format!("smsc {}: {other}", self.settings.name),
            },
        }
    }
}

/// A refused `submit_sm`: the step fails with the SMSC's reason.
fn rejected(status: CommandStatus) -> SubmitError {
    SubmitError::Rejected {
        status: StatusKind::Failed,
        detailed_status: "Rejected by SMSC".into(),
        description: format!("The SMSC refused the message: {status}."),
    }
}

fn esme_config(settings: &SmscSettings, mode: BindMode) -> EsmeConfig {
    EsmeConfig {
        bind_mode: mode,
        system_id: settings.system_id.clone().into(),
        password: settings.password.clone().into(),
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

struct EventContext {
    client: EsmeClient,
    sink: Arc<dyn ReportSink>,
    provider: String,
    form: MessageIdForm,
    sandbox: bool,
    metrics: Arc<SmscMetrics>,
    timing: Arc<Timing>,
    receipts: Arc<Semaphore>,
    events: mpsc::UnboundedReceiver<ClientEvent>,
}

/// Everything a bind receives: receipts are recorded (then acknowledged, so that a crash
/// in between makes the SMSC send them again), MO messages are logged and counted.
async fn handle_events(mut cx: EventContext) {
    let name = cx.client.name().to_owned();
    while let Some(event) = cx.events.recv().await {
        match event {
            ClientEvent::Receipt {
                seq,
                receipt,
                message,
            } => {
                let Ok(permit) = Arc::clone(&cx.receipts).acquire_owned().await else {
                    return;
                };
                let tlvs = match &message {
                    IncomingMessage::DeliverSm { pdu, .. } => pdu.tlvs.clone(),
                    IncomingMessage::DataSm { pdu, .. } => pdu.tlvs.clone(),
                };
                let task = ReceiptTask {
                    client: cx.client.clone(),
                    sink: Arc::clone(&cx.sink),
                    provider: cx.provider.clone(),
                    metrics: Arc::clone(&cx.metrics),
                    timing: Arc::clone(&cx.timing),
                };
                let form = cx.form;
                let sandbox = cx.sandbox;
                tokio::spawn(async move {
                    let report = to_report(&receipt, &tlvs, sandbox, wall_clock());
                    let candidates = receipt
                        .message_id
                        .as_deref()
                        .map(|id| form.candidates(id))
                        .unwrap_or_default();
                    task.record(seq, candidates, report).await;
                    drop(permit);
                });
            }
            ClientEvent::MobileOriginated { seq, message } => {
                cx.metrics.count_mobile_originated();
                let (from, to) = match &message {
                    IncomingMessage::DeliverSm { pdu, .. } => (
                        pdu.source_addr.to_string_lossy().into_owned(),
                        pdu.destination_addr.to_string_lossy().into_owned(),
                    ),
                    IncomingMessage::DataSm { pdu, .. } => (
                        pdu.source_addr.to_string_lossy().into_owned(),
                        pdu.destination_addr.to_string_lossy().into_owned(),
                    ),
                };
                tracing::info!(smsc = %name, %from, %to, "mobile-originated message received (not routed: Cascade has no inbound SMS yet)");
                let _ = cx.client.ack_incoming(seq, CommandStatus::ESME_ROK).await;
            }
            ClientEvent::Bound {
                connection,
                system_id,
                ..
            } => {
                tracing::info!(smsc = %name, connection, system_id = %system_id.to_string_lossy(), "SMPP bind up");
            }
            ClientEvent::BindFailed { status, .. } => {
                tracing::warn!(smsc = %name, %status, "the SMSC refused the bind; retrying with back-off");
            }
            ClientEvent::ConnectFailed { error, retry_in } => {
                tracing::warn!(smsc = %name, %error, ?retry_in, "could not connect to the SMSC");
            }
            ClientEvent::Disconnected {
                reason,
                error,
                retry_in,
                ..
            } => {
                tracing::warn!(smsc = %name, ?reason, error = ?error.map(|e| e.to_string()), ?retry_in, "SMPP bind down");
            }
            ClientEvent::Throttled { status, .. } => {
                tracing::info!(smsc = %name, %status, "the SMSC asks to slow down; submits paused");
            }
            ClientEvent::LateSubmitResponse {
                seq,
                status,
                message_id,
            } => {
                // The submit was reported as timed out and will be sent again: the SMSC
                // may deliver this copy too.
                tracing::warn!(smsc = %name, %seq, %status, message_id = %message_id.to_string_lossy(), "submit_sm_resp after the response timeout");
            }
            ClientEvent::ProtocolError { error, .. } => {
                tracing::warn!(smsc = %name, %error, "undecodable PDU from the SMSC");
            }
            ClientEvent::Stopped { .. } => return,
            _ => {}
        }
    }
}

struct ReceiptTask {
    client: EsmeClient,
    sink: Arc<dyn ReportSink>,
    provider: String,
    metrics: Arc<SmscMetrics>,
    timing: Arc<Timing>,
}

impl ReceiptTask {
    async fn record(
        self,
        seq: cascade_smpp::driver::ConnSeq,
        candidates: Vec<String>,
        report: cascade_core::machines::Report,
    ) {
        let is_final = report.status.is_final();
        let status = if candidates.is_empty() {
            // Nothing to match it by, now or ever: count it and let it go.
            self.metrics.count_receipt(Recorded::Held);
            tracing::warn!(provider = %self.provider, "receipt without a message id");
            CommandStatus::ESME_ROK
        } else {
            match self.sink.deliver(&self.provider, &candidates, report).await {
                Ok(recorded) => {
                    self.metrics.count_receipt(recorded);
                    if is_final && let Some(sent) = self.timing.take(&candidates) {
                        self.metrics.observe_latency(sent.elapsed());
                    }
                    CommandStatus::ESME_ROK
                }
                Err(e) => {
                    // Not stored: a temporary error makes the SMSC deliver it again.
                    tracing::warn!(provider = %self.provider, error = %e, "receipt not recorded; asking the SMSC to retry");
                    CommandStatus::ESME_RX_T_APPN
                }
            }
        };
        if let Err(e) = self.client.ack_incoming(seq, status).await {
            tracing::debug!(provider = %self.provider, error = %e, "receipt answer not sent; the SMSC will deliver it again");
        }
    }
}

/// SMS over SMPP: each step goes to the SMSC its destination routes to.
#[derive(Debug)]
pub struct SmppProvider {
    connections: Vec<Arc<SmscConnection>>,
    routes: Routes,
}

impl SmppProvider {
    /// `connections` in configuration order (routes refer to them by position).
    pub fn new(connections: Vec<Arc<SmscConnection>>) -> SmppProvider {
        let settings: Vec<SmscSettings> = connections.iter().map(|c| c.settings.clone()).collect();
        SmppProvider {
            routes: Routes::new(&settings),
            connections,
        }
    }

    pub fn connections(&self) -> &[Arc<SmscConnection>] {
        &self.connections
    }
}

#[async_trait]
impl Provider for SmppProvider {
    fn name(&self) -> &str {
        "smpp"
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let destination = request.payload.step.recipient();
        let Some(connection) = self
            .routes
            .pick(&destination)
            .and_then(|i| self.connections.get(i))
        else {
            return Err(SubmitError::Rejected {
                status: StatusKind::Failed,
                detailed_status: "No route".into(),
                description: format!("No SMSC is configured for {destination}."),
            });
        };
        connection.submit(request).await
    }
}
