//! The sandbox SMSC: an SMPP 3.4 server on loopback that answers `submit_sm` and sends
//! delivery receipts as the `/sandbox/scenarios` rules script them.
//!
//! It is a peer like any SMSC: Cascade's own SMPP connector binds to it in sandbox mode,
//! and any other ESME may too (any system_id and password). What it received and the
//! receipts it owes live in the store (`sandbox_messages`, `sandbox_reports`), so a
//! restart neither forgets a receipt nor sends one twice once the ESME acknowledged it.
//!
//! Per message, not per part: the parts of a concatenated message (UDH, SAR, or one
//! `message_payload`) share one scenario and one send record; each part gets its own
//! message id and its own receipt (events with `part` script one part alone).

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cascade_core::machines::Report;
use cascade_core::sms::encoding::{decode_gsm7, decode_ucs2};
use cascade_core::{Channel, StatusKind, Timestamp};
use cascade_smpp::driver::{ConnId, DeliverOutcome, ServerEvent, SmscServer};
use cascade_smpp::pdu::consts::{ESM_CLASS_DELIVERY_RECEIPT, ESM_CLASS_UDHI};
use cascade_smpp::pdu::{DeliverSm, SubmitSm};
use cascade_smpp::{BindMode, CommandStatus, ReceiptState, SmscConfig, Tlv, TlvList};
use cascade_store::{SandboxReport, SandboxSend, Store};
use serde_json::json;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::vendor_tlv;
use crate::sandbox::{Rule, plan_sms_reports, wall_clock};

/// Sandbox reports of the simulator are stored under `smsc-sim:<system_id>`: the receipt
/// goes to a bind of the ESME that sent the message.
pub const PROVIDER_PREFIX: &str = "smsc-sim:";
const REPORT_BATCH: u32 = 512;
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long a delivered receipt's row id is remembered, so that a stale read of due
/// receipts cannot send it twice.
const ACKED_MEMORY: Duration = Duration::from_secs(30);
/// What the reporter knows of a receipt row, by row id and message id (SQLite reuses the
/// row ids of deleted rows).
type InFlight = HashMap<(i64, String), Sending>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    /// The `deliver_sm` is out.
    Now,
    /// Acknowledged and deleted at that moment (a read begun before the delete may
    /// still list it).
    Done(Instant),
    /// Refused or unanswered: not again before then.
    RetryAt(Instant),
}

/// How long a refused or unanswered receipt waits before it goes again.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// Parts of a concatenated message are grouped for this long after the first one.
const GROUP_LIFETIME: Duration = Duration::from_secs(600);
/// A message's addresses are kept this long for its receipts (then receipts go without).
const ORIGINAL_LIFETIME_MS: i64 = 6 * 60 * 60 * 1000;
/// How often the group and address tables are swept.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// A running simulator.
#[derive(Debug, Clone)]
pub struct SmscSimulator {
    state: Arc<SimState>,
}

#[derive(Debug)]
struct SimState {
    server: SmscServer,
    store: Arc<dyn Store>,
    /// system_id of each bound connection that can take `deliver_sm`.
    receivers: Mutex<HashMap<ConnId, String>>,
    /// system_id of every bound connection.
    systems: Mutex<HashMap<ConnId, String>>,
    groups: Mutex<HashMap<u64, (Instant, SharedGroup)>>,
    /// Addresses and text of each message id, for the receipt (lost on restart: a receipt
    /// then goes without them).
    originals: Mutex<HashMap<String, Original>>,
    /// When the tables were last swept.
    pruned: Mutex<Instant>,
    wake_reporter: Notify,
    submits: AtomicU64,
    receipts_sent: AtomicU64,
}

type SharedGroup = Arc<tokio::sync::Mutex<Group>>;

/// One message (all its parts) as the simulator grouped it. Parts are answered as they
/// come, each with its own id; the send is recorded, and its receipts scheduled, once
/// every part has arrived (so the record shows the whole text).
#[derive(Debug)]
struct Group {
    client_ref: String,
    ids: Vec<String>,
    texts: Vec<Option<String>>,
    /// The send is in the store (by us, or by an earlier life of the simulator).
    recorded: bool,
    /// The scenario rule applied when it was recorded.
    rule: Option<Rule>,
    /// Throttled answers given, per part.
    throttled: HashMap<u8, u32>,
    /// Parts answered for good (accepted or refused): once all are, the group goes.
    answered: HashSet<u8>,
}

#[derive(Debug, Clone)]
struct Original {
    source: Bytes,
    destination: Bytes,
    text: String,
    submitted: Timestamp,
}

impl SmscSimulator {
    /// Listens on `listen` (port 0 picks one) and runs until `stop`.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn start(
        listen: SocketAddr,
        store: Arc<dyn Store>,
        stop: CancellationToken,
    ) -> std::io::Result<SmscSimulator> {
        let config = SmscConfig {
            system_id: "cascade-sim".into(),
            deliver_window: 100,
            ..SmscConfig::default()
        };
        let (server, events) = SmscServer::bind(listen, config).await?;
        let state = Arc::new(SimState {
            server,
            store,
            receivers: Mutex::new(HashMap::new()),
            systems: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
            originals: Mutex::new(HashMap::new()),
            pruned: Mutex::new(Instant::now()),
            wake_reporter: Notify::new(),
            submits: AtomicU64::new(0),
            receipts_sent: AtomicU64::new(0),
        });
        tracing::info!(addr = %state.server.local_addr(), "sandbox SMSC listening (SMPP 3.4, any system_id/password)");
        tokio::spawn(handle_events(Arc::clone(&state), events, stop.clone()));
        tokio::spawn(run_reporter(Arc::clone(&state), stop.clone()));
        let server = state.server.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            server.shutdown().await;
        });
        Ok(SmscSimulator { state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.state.server.local_addr()
    }

    /// `submit_sm` received so far.
    pub fn submits(&self) -> u64 {
        self.state.submits.load(Ordering::Relaxed)
    }

    /// Receipts the ESMEs acknowledged so far.
    pub fn receipts_sent(&self) -> u64 {
        self.state.receipts_sent.load(Ordering::Relaxed)
    }

    /// Drops every connection without unbinding, as a failing SMSC would (for tests of
    /// link loss).
    pub fn drop_connections(&self) {
        for (conn, _) in self.state.server.connections() {
            let _ = self.state.server.disconnect(conn);
        }
    }
}

async fn handle_events(
    state: Arc<SimState>,
    mut events: mpsc::UnboundedReceiver<ServerEvent>,
    stop: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = events.recv() => match event { Some(e) => e, None => return },
        };
        match event {
            ServerEvent::Bound {
                conn,
                system_id,
                mode,
            } => {
                let system = system_id.to_string_lossy().into_owned();
                tracing::info!(%conn, system_id = %system, ?mode, "sandbox SMSC: ESME bound");
                lock(&state.systems).insert(conn, system.clone());
                if mode != BindMode::Transmitter {
                    lock(&state.receivers).insert(conn, system);
                    state.wake_reporter.notify_one();
                }
            }
            ServerEvent::Disconnected { conn, reason } => {
                tracing::info!(%conn, ?reason, "sandbox SMSC: ESME gone");
                lock(&state.systems).remove(&conn);
                lock(&state.receivers).remove(&conn);
            }
            ServerEvent::Submit { conn, seq, submit } => {
                state.submits.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(handle_submit(Arc::clone(&state), conn, seq, submit));
            }
            ServerEvent::DataSm { conn, seq, .. } => {
                // Not a way Cascade sends; refuse rather than pretend.
                let _ = state
                    .server
                    .reject(conn, seq, CommandStatus::ESME_RINVCMDID)
                    .await;
            }
            _ => {}
        }
    }
}

/// Where a `submit_sm` sits in its message: (reference, total, this part's number).
fn concatenation(submit: &SubmitSm) -> Option<(u16, u8, u8)> {
    if let (Some(r), Some(t), Some(s)) = (
        submit.tlvs.sar_msg_ref_num(),
        submit.tlvs.sar_total_segments(),
        submit.tlvs.sar_segment_seqnum(),
    ) {
        return Some((r, t, s));
    }
    if submit.esm_class & ESM_CLASS_UDHI == 0 {
        return None;
    }
    let (udh, _) = split_udh(&submit.short_message);
    let mut ies = udh.get(1..)?;
    while let [iei, len, rest @ ..] = ies {
        let len = usize::from(*len);
        let data = rest.get(..len)?;
        match (iei, data) {
            (0x00, [r, t, s]) => return Some((u16::from(*r), *t, *s)),
            (0x08, [r1, r2, t, s]) => return Some((u16::from_be_bytes([*r1, *r2]), *t, *s)),
            _ => {}
        }
        ies = rest.get(len..)?;
    }
    None
}

/// (UDH including its length octet, the rest); an empty UDH when there is none.
fn split_udh(message: &[u8]) -> (&[u8], &[u8]) {
    match message.first() {
        Some(&udhl) if message.len() > usize::from(udhl) => message.split_at(usize::from(udhl) + 1),
        _ => (&[], message),
    }
}

fn decode_text(submit: &SubmitSm) -> String {
    let body: &[u8] = match submit.tlvs.message_payload() {
        Some(payload) => payload,
        None if submit.esm_class & ESM_CLASS_UDHI != 0 => split_udh(&submit.short_message).1,
        None => &submit.short_message,
    };
    match submit.data_coding & 0x0F {
        0x08 => decode_ucs2(body).unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned()),
        0x00 | 0x01 => {
            decode_gsm7(body).unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

async fn handle_submit(state: Arc<SimState>, conn: ConnId, seq: u32, submit: SubmitSm) {
    let Some(system_id) = lock(&state.systems).get(&conn).cloned() else {
        return;
    };
    let (reference, total, part) = concatenation(&submit).unwrap_or((0, 1, 1));
    let (total, part) = (total.max(1), part.clamp(1, total.max(1)));
    let index = usize::from(part) - 1;
    let source = submit.source_addr.clone().into_bytes();
    let destination = submit.destination_addr.clone().into_bytes();
    let text = decode_text(&submit);
    // Cascade's own ESME names its message (idempotent resends); any other ESME's
    // message is grouped by sender, addresses and reference (a single part by content,
    // so that a throttled resend finds its group again).
    let client_ref = submit
        .tlvs
        .get(vendor_tlv::CLIENT_REF)
        .map(|t| {
            String::from_utf8_lossy(t.value.strip_suffix(&[0]).unwrap_or(&t.value)).into_owned()
        })
        .filter(|r| !r.is_empty());
    let key = {
        let mut h = DefaultHasher::new();
        match &client_ref {
            Some(r) => r.hash(&mut h),
            None => {
                (&system_id, &source, &destination, reference, total).hash(&mut h);
                if total == 1 {
                    submit.short_message.hash(&mut h);
                    submit.tlvs.message_payload().hash(&mut h);
                }
            }
        }
        h.finish()
    };
    let (group, created) = {
        let mut groups = lock(&state.groups);
        // Now and then, forget messages some of whose parts never came.
        let mut pruned = lock(&state.pruned);
        if pruned.elapsed() >= PRUNE_EVERY {
            *pruned = Instant::now();
            groups.retain(|_, (created, _)| created.elapsed() < GROUP_LIFETIME);
            let oldest = wall_clock().plus_millis(-ORIGINAL_LIFETIME_MS);
            lock(&state.originals).retain(|_, o| o.submitted >= oldest);
        }
        drop(pruned);
        let mut created = false;
        let group = Arc::clone(
            &groups
                .entry(key)
                .or_insert_with(|| {
                    created = true;
                    let group = Group {
                        client_ref: client_ref
                            .clone()
                            .unwrap_or_else(|| format!("smpp-{}", uuid::Uuid::now_v7().simple())),
                        ids: (0..total).map(|_| new_message_id()).collect(),
                        texts: vec![None; usize::from(total)],
                        recorded: false,
                        rule: None,
                        throttled: HashMap::new(),
                        answered: HashSet::new(),
                    };
                    (Instant::now(), Arc::new(tokio::sync::Mutex::new(group)))
                })
                .1,
        );
        (group, created)
    };
    let mut group = group.lock().await;
    // A resend after Cascade restarted, of a message sent before: its parts must get the
    // ids they had. (A single part is recorded at once, and the store's own check of the
    // client reference gives back the old id then.)
    if created && client_ref.is_some() && total > 1 {
        match state.store.sandbox_provider_ids(&group.client_ref).await {
            Ok(Some(ids)) if ids.len() == group.ids.len() => {
                group.ids = ids;
                group.recorded = true;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "sandbox SMSC could not look a message up; answering ESME_RSYSERR");
                let _ = state
                    .server
                    .reject(conn, seq, CommandStatus::ESME_RSYSERR)
                    .await;
                return;
            }
        }
    }
    if let Some(slot) = group.texts.get_mut(index) {
        *slot = Some(text.clone());
    }
    // Known before the receipt can fall due: a receipt carries the message's addresses.
    if let Some(id) = group.ids.get(index) {
        remember(&state, id, &source, &destination, &text);
    }
    if !group.recorded && group.texts.iter().all(Option::is_some) {
        let now = wall_clock();
        let chosen: Arc<Mutex<Option<Rule>>> = Arc::default();
        let chosen_in_planner = Arc::clone(&chosen);
        let ids = group.ids.clone();
        let parts: Vec<String> = group.texts.iter().flatten().cloned().collect();
        // registered_delivery 0: the ESME asked for no receipt (bits 0-1, SMPP 3.4 §5.2.17).
        let wants_receipt = submit.registered_delivery & 0x03 != 0;
        let coding = submit.data_coding;
        let send = SandboxSend {
            first_attempt: false,
            provider: format!("{PROVIDER_PREFIX}{system_id}"),
            channel: Channel::Sms,
            client_ref: group.client_ref.clone(),
            to: format!("+{}", String::from_utf8_lossy(&destination)),
            payload: json!({
                "from": String::from_utf8_lossy(&source),
                "parts": parts,
                "encoding": if coding & 0x0C == 0x08 { "Ucs2" } else { "Gsm7" },
                "flash": coding & 0xF3 == 0x10 || coding & 0xF3 == 0xF0,
                "dataCoding": coding,
                "systemId": system_id,
            }),
            planner: Box::new(move |scenario| {
                let (mut plan, rule) = plan_sms_reports(scenario, ids, now);
                if !wants_receipt {
                    plan.reports.clear();
                }
                *lock(&chosen_in_planner) = Some(rule);
                plan
            }),
        };
        match state.store.sandbox_send(send, now).await {
            Ok(outcome) => {
                if outcome.duplicate && outcome.provider_ids.len() == group.ids.len() {
                    group.ids = outcome.provider_ids;
                }
                group.recorded = true;
                group.rule = lock(&chosen).take();
                state.wake_reporter.notify_one();
            }
            Err(e) => {
                tracing::warn!(error = %e, "sandbox SMSC could not record a message; answering ESME_RSYSERR");
                let _ = state
                    .server
                    .reject(conn, seq, CommandStatus::ESME_RSYSERR)
                    .await;
                return;
            }
        }
    }
    let rule = group.rule.clone().unwrap_or_default();
    if let Some(status) = rule.reject_with {
        finish_part(&state, &mut group, key, part, total);
        let _ = state.server.reject(conn, seq, CommandStatus(status)).await;
        return;
    }
    if let Some(limit) = rule.throttle {
        let given = group.throttled.entry(part).or_insert(0);
        if *given < limit {
            *given += 1;
            let _ = state
                .server
                .reject(conn, seq, CommandStatus::ESME_RTHROTTLED)
                .await;
            return;
        }
    }
    let Some(message_id) = group.ids.get(index).cloned() else {
        let _ = state
            .server
            .reject(conn, seq, CommandStatus::ESME_RSUBMITFAIL)
            .await;
        return;
    };
    finish_part(&state, &mut group, key, part, total);
    drop(group);
    if !lock(&state.originals).contains_key(&message_id) {
        remember(&state, &message_id, &source, &destination, &text);
    }
    if let Err(e) = state.server.accept(conn, seq, message_id).await {
        tracing::debug!(error = %e, "sandbox SMSC: the ESME left before its answer");
    }
}

/// Marks `part` answered for good; the group is forgotten once every part is (a resend
/// from Cascade is still recognised, by its message id in the store).
fn finish_part(state: &SimState, group: &mut Group, key: u64, part: u8, total: u8) {
    group.answered.insert(part);
    if group.answered.len() >= usize::from(total) && group.recorded {
        lock(&state.groups).remove(&key);
    }
}

fn remember(state: &SimState, message_id: &str, source: &Bytes, destination: &Bytes, text: &str) {
    lock(&state.originals).insert(
        message_id.to_owned(),
        Original {
            source: source.clone(),
            destination: destination.clone(),
            text: text.chars().take(20).collect(),
            submitted: wall_clock(),
        },
    );
}

/// A message id as this SMSC hands them out: upper-case hex without leading zeros.
fn new_message_id() -> String {
    format!("{:X}", uuid::Uuid::now_v7().as_u128())
}

/// Sends receipts as they fall due, to a receiving bind of the ESME that sent the message;
/// a receipt is deleted only once the ESME acknowledged it.
async fn run_reporter(state: Arc<SimState>, stop: CancellationToken) {
    let in_flight: Arc<Mutex<InFlight>> = Arc::default();
    let mut next_conn = 0usize;
    loop {
        // Only the receipts of ESMEs bound now, each ESME on its own: receipts owed to
        // one that is away must not hold up everybody else's.
        let systems: std::collections::BTreeSet<String> =
            lock(&state.receivers).values().cloned().collect();
        let mut sent = 0;
        let mut next_due: Option<Timestamp> = None;
        for system in &systems {
            let provider = format!("{PROVIDER_PREFIX}{system}");
            match state
                .store
                .due_sandbox_reports(&provider, wall_clock(), REPORT_BATCH)
                .await
            {
                Ok(mut due) => {
                    // The prefix also matches longer system_ids; keep this one's.
                    due.retain(|r| r.provider == provider);
                    sent += dispatch_due(&state, &in_flight, due, &mut next_conn);
                }
                Err(e) => tracing::warn!(error = %e, "sandbox SMSC could not read due receipts"),
            }
            if let Ok(Some(due)) = state.store.next_sandbox_report_due(&provider).await {
                next_due = Some(next_due.map_or(due, |n| n.min(due)));
            }
        }
        let wait = if sent > 0 {
            Duration::from_millis(5)
        } else {
            next_due.map_or(IDLE_POLL, |due| {
                Duration::from_millis(u64::try_from(due.millis_since(wall_clock())).unwrap_or(0))
                    .clamp(Duration::from_millis(5), IDLE_POLL)
            })
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = state.wake_reporter.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Starts the delivery of due reports (the earliest not yet in flight of each message);
/// returns how many were started.
fn dispatch_due(
    state: &Arc<SimState>,
    in_flight: &Arc<Mutex<InFlight>>,
    due: Vec<SandboxReport>,
    next_conn: &mut usize,
) -> usize {
    let receivers: Vec<(ConnId, String)> = {
        let mut r: Vec<_> = lock(&state.receivers)
            .iter()
            .map(|(c, s)| (*c, s.clone()))
            .collect();
        r.sort();
        r
    };
    lock(in_flight).retain(|_, sending| match *sending {
        Sending::Now => true,
        Sending::Done(at) => at.elapsed() < ACKED_MEMORY,
        Sending::RetryAt(at) => Instant::now() < at,
    });
    let mut busy_messages: HashSet<String> = HashSet::new();
    let mut started = 0;
    for report in due {
        let key = (report.id, report.provider_message_id.clone());
        let mut flying = lock(in_flight);
        if flying.contains_key(&key) {
            busy_messages.insert(report.provider_message_id.clone());
            continue;
        }
        if !busy_messages.insert(report.provider_message_id.clone()) {
            continue;
        }
        let system = report
            .provider
            .strip_prefix(PROVIDER_PREFIX)
            .unwrap_or_default();
        let candidates: Vec<ConnId> = receivers
            .iter()
            .filter(|(_, s)| s == system)
            .map(|(c, _)| *c)
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let conn = candidates[*next_conn % candidates.len()];
        *next_conn = next_conn.wrapping_add(1);
        flying.insert(key.clone(), Sending::Now);
        drop(flying);
        let original = lock(&state.originals)
            .get(&report.provider_message_id)
            .cloned();
        let deliver = receipt_pdu(&report, original.as_ref(), wall_clock());
        let delivery = state.server.send_deliver_sm(conn, deliver);
        let state = Arc::clone(state);
        let in_flight = Arc::clone(in_flight);
        started += 1;
        tokio::spawn(async move {
            let outcome = delivery.await;
            if outcome == DeliverOutcome::Acked {
                match state.store.ack_sandbox_reports(&[report.id]).await {
                    Ok(()) => {
                        // Kept a while: a read of due receipts that began before the
                        // delete may still list it.
                        lock(&in_flight).insert(key.clone(), Sending::Done(Instant::now()));
                        state.receipts_sent.fetch_add(1, Ordering::Relaxed);
                        if report.report.status.is_final() {
                            lock(&state.originals).remove(&report.provider_message_id);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sandbox SMSC could not mark a receipt sent; it will go again")
                    }
                }
            } else {
                tracing::debug!(
                    ?outcome,
                    "sandbox SMSC: receipt not acknowledged; it will go again"
                );
            }
            {
                let mut flying = lock(&in_flight);
                if flying.get(&key) == Some(&Sending::Now) {
                    flying.insert(key, Sending::RetryAt(Instant::now() + RETRY_DELAY));
                }
            }
            state.wake_reporter.notify_one();
        });
    }
    started
}

/// The `stat:` of a scripted report.
fn receipt_state(report: &Report) -> ReceiptState {
    match report.status {
        StatusKind::Delivered => ReceiptState::Delivered,
        StatusKind::Undelivered if report.detailed_status.as_deref() == Some("Expired") => {
            ReceiptState::Expired
        }
        StatusKind::Undelivered => ReceiptState::Undeliverable,
        StatusKind::Failed if report.detailed_status.as_deref() == Some("Unknown Status") => {
            ReceiptState::Unknown
        }
        StatusKind::Failed => ReceiptState::Rejected,
        StatusKind::Queued | StatusKind::Sent => ReceiptState::Enroute,
        _ => ReceiptState::Unknown,
    }
}

/// A delivery receipt as SMSCs send them: Appendix B text, the receipt TLVs, and (our own
/// vendor tags) the scenario's detailed status, description and operator.
fn receipt_pdu(report: &SandboxReport, original: Option<&Original>, now: Timestamp) -> DeliverSm {
    let state = receipt_state(&report.report);
    let delivered = u8::from(state == ReceiptState::Delivered);
    let err = if matches!(state, ReceiptState::Delivered | ReceiptState::Enroute) {
        "000"
    } else {
        "001"
    };
    let submitted = original.map_or(now, |o| o.submitted);
    let text = format!(
        "id:{} sub:001 dlvrd:{delivered:03} submit date:{} done date:{} stat:{} err:{err} text:{}",
        report.provider_message_id,
        receipt_time(submitted),
        receipt_time(now),
        state.stat(),
        original.map_or("", |o| o.text.as_str()),
    );
    let mut tlvs = TlvList::new()
        .with(Tlv::receipted_message_id(
            &report.provider_message_id.clone().into(),
        ))
        .with(Tlv::message_state(state.message_state()));
    let r = &report.report;
    for (tag, value) in [
        (vendor_tlv::DETAILED_STATUS, &r.detailed_status),
        (vendor_tlv::DESCRIPTION, &r.description),
        (vendor_tlv::OPERATOR, &r.operator),
    ] {
        if let Some(v) = value {
            let mut bytes = v.as_bytes().to_vec();
            bytes.push(0);
            tlvs.push(Tlv::new(tag, bytes));
        }
    }
    // The receipt travels from the handset back to the sender.
    let (source, destination) = original.map_or_else(
        || (Bytes::new(), Bytes::new()),
        |o| (o.destination.clone(), o.source.clone()),
    );
    DeliverSm {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: source.into(),
        destination_addr: destination.into(),
        esm_class: ESM_CLASS_DELIVERY_RECEIPT,
        short_message: Bytes::from(text.into_bytes()),
        tlvs,
        ..DeliverSm::default()
    }
}

/// `YYMMDDhhmmss` in UTC.
fn receipt_time(t: Timestamp) -> String {
    let secs = t.as_millis().div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:02}{m:02}{d:02}{:02}{:02}{:02}",
        y.rem_euclid(100),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_smpp::DeliveryReceipt;

    fn submit(message: &[u8], esm_class: u8, tlvs: TlvList) -> SubmitSm {
        SubmitSm {
            esm_class,
            short_message: Bytes::copy_from_slice(message),
            tlvs,
            ..SubmitSm::default()
        }
    }

    #[test]
    fn finds_the_part_of_a_concatenated_message() {
        assert_eq!(
            concatenation(&submit(
                b"\x05\x00\x03\x2a\x03\x02abc",
                0x40,
                TlvList::new()
            )),
            Some((0x2a, 3, 2))
        );
        assert_eq!(
            concatenation(&submit(
                b"\x06\x08\x04\x01\x02\x02\x01abc",
                0x40,
                TlvList::new()
            )),
            Some((0x0102, 2, 1))
        );
        let sar = TlvList::new()
            .with(Tlv::sar_msg_ref_num(7))
            .with(Tlv::sar_total_segments(4))
            .with(Tlv::sar_segment_seqnum(4));
        assert_eq!(concatenation(&submit(b"abc", 0, sar)), Some((7, 4, 4)));
        // No UDHI bit: the bytes are text, whatever they look like.
        assert_eq!(
            concatenation(&submit(b"\x05\x00\x03\x2a\x03\x02abc", 0, TlvList::new())),
            None
        );
        // A truncated header is not a part.
        assert_eq!(
            concatenation(&submit(b"\x05\x00\x03", 0x40, TlvList::new())),
            None
        );
    }

    #[test]
    fn decodes_what_the_handset_would_show() {
        let mut s = submit(b"\x05\x00\x03\x01\x02\x01Hi \x1b\x65", 0x40, TlvList::new());
        assert_eq!(decode_text(&s), "Hi €");
        s.data_coding = 8;
        s.esm_class = 0;
        s.short_message = Bytes::from_static(&[0x03, 0x93, 0x03, 0xB5]);
        assert_eq!(decode_text(&s), "Γε");
    }

    #[test]
    fn receipts_parse_back_to_the_scripted_report() {
        let mut report = Report::status(StatusKind::Undelivered, Timestamp::from_millis(0));
        report.detailed_status = Some("Expired".into());
        report.operator = Some("Cosmote".into());
        let row = SandboxReport {
            id: 1,
            provider: "smsc-sim:cascade".into(),
            provider_message_id: "ABC123".into(),
            report,
        };
        let pdu = receipt_pdu(&row, None, Timestamp::from_millis(1_767_225_600_000));
        assert_eq!(pdu.esm_class, 0x04);
        let parsed = DeliveryReceipt::from_deliver_sm(&pdu);
        assert_eq!(parsed.message_id.as_deref(), Some("ABC123"));
        assert_eq!(parsed.state, Some(ReceiptState::Expired));
        assert_eq!(parsed.stat.as_deref(), Some("EXPIRED"));
        let back =
            super::super::receipt::to_report(&parsed, &pdu.tlvs, true, Timestamp::from_millis(5));
        assert_eq!(back.status, StatusKind::Undelivered);
        assert_eq!(back.detailed_status.as_deref(), Some("Expired"));
        assert_eq!(back.operator.as_deref(), Some("Cosmote"));
        assert!(String::from_utf8_lossy(&pdu.short_message).contains("done date:2601010000"));
    }

    #[test]
    fn every_sms_status_has_a_stat() {
        let state = |status, detailed: Option<&str>| {
            let mut r = Report::status(status, Timestamp::from_millis(0));
            r.detailed_status = detailed.map(str::to_owned);
            receipt_state(&r)
        };
        assert_eq!(state(StatusKind::Delivered, None), ReceiptState::Delivered);
        assert_eq!(
            state(StatusKind::Undelivered, None),
            ReceiptState::Undeliverable
        );
        assert_eq!(state(StatusKind::Failed, None), ReceiptState::Rejected);
        assert_eq!(
            state(StatusKind::Failed, Some("Unknown Status")),
            ReceiptState::Unknown
        );
        assert_eq!(state(StatusKind::Sent, None), ReceiptState::Enroute);
    }
}
