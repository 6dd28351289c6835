//! The SMPP connector (`SmscConnection` / `SmppProvider`) against a real `SmscServer` on
//! loopback: what goes on the wire, how SMSC answers become `SubmitError`s, the TTL as the
//! hard deadline in Cascade's own queue, partial retries of long messages, routing, and
//! receipts acknowledged only once the sink has recorded them.
//!
//! Every wait is bounded ([`WAIT`]) and event-driven: server events are awaited with a
//! timeout, state without an event of its own is polled under a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use cascade_core::flow::{SmsStep, Step, StepKind};
use cascade_core::machines::Report;
use cascade_core::ports::{
    Accepted, JobPayload, Provider, Recorded, ReportSink, SubmitError, SubmitRequest,
};
use cascade_core::{FlowId, Micros, Msisdn, SenderId, StatusKind, Timestamp};
use cascade_providers::smpp::{ReceiptIds, SmppProvider, SmscConnection, SmscSettings};
use cascade_service::clock::SystemClock;
use cascade_smpp::driver::{ConnId, DeliverOutcome, ServerEvent, SmscServer};
use cascade_smpp::pdu::consts::ESM_CLASS_DELIVERY_RECEIPT;
use cascade_smpp::pdu::{DeliverSm, SubmitSm};
use cascade_smpp::receipt::submit_id_key;
use cascade_smpp::{BindPolicy, CommandStatus, SmscConfig, Tlv, TlvList};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Upper bound of any single wait: far above what a passing test needs.
const WAIT: Duration = Duration::from_secs(5);
/// How long a test watches for something that must NOT happen (yet).
const QUIET: Duration = Duration::from_millis(150);
/// `Cascade` as an SMPP source: alphanumeric.
const SENDER: &str = "Cascade";

// ----- waiting ------------------------------------------------------------------------

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Polls `cond` until it holds, under [`WAIT`].
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// True when `fut` is still not ready after [`QUIET`].
async fn stays_pending<F: Future + Unpin>(fut: &mut F) -> bool {
    tokio::time::timeout(QUIET, fut).await.is_err()
}

// ----- the recording sink -------------------------------------------------------------

type Delivered = (String, Vec<String>, Report);

/// Records every report it is given; can be switched to fail, or held shut (a slow store)
/// until opened.
struct RecordingSink {
    reports: Mutex<Vec<Delivered>>,
    inbound: Mutex<Vec<cascade_core::inbound::InboundMessage>>,
    fail: AtomicBool,
    /// Calls to `deliver`, failed or not (counted on entry).
    calls: AtomicUsize,
    /// `false` holds every `deliver` until it turns `true`.
    open: watch::Sender<bool>,
}

impl RecordingSink {
    fn new() -> Arc<RecordingSink> {
        Arc::new(RecordingSink {
            reports: Mutex::new(Vec::new()),
            inbound: Mutex::new(Vec::new()),
            fail: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            open: watch::Sender::new(true),
        })
    }

    fn reports(&self) -> Vec<Delivered> {
        self.reports.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn set_failing(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }
}

#[async_trait]
impl ReportSink for RecordingSink {
    async fn deliver(
        &self,
        provider: &str,
        provider_message_ids: &[String],
        report: Report,
    ) -> Result<Recorded, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|o| *o).await;
        if self.fail.load(Ordering::SeqCst) {
            return Err("the store is unavailable".into());
        }
        self.reports.lock().unwrap().push((
            provider.to_owned(),
            provider_message_ids.to_vec(),
            report,
        ));
        Ok(Recorded::Applied)
    }

    async fn note_attempt(&self, _: cascade_core::FlowId, _: u32, _: &str, _: &str) {
        unreachable!("the SMPP connector never fails over")
    }

    async fn note_price(&self, _: &str, _: &str, _: &str) -> Result<bool, String> {
        unreachable!("SMSCs report no prices")
    }

    async fn claim_dial(&self, _: cascade_core::FlowId, _: u32, _: &str) -> Result<bool, String> {
        unreachable!("the SMPP connector places no calls")
    }

    async fn inbound(&self, message: cascade_core::inbound::InboundMessage) -> Result<(), String> {
        if self.fail.load(Ordering::SeqCst) {
            return Err("the store is unavailable".into());
        }
        self.inbound.lock().unwrap().push(message);
        Ok(())
    }
}

// ----- the peer SMSC ------------------------------------------------------------------

struct Smsc {
    server: SmscServer,
    events: mpsc::UnboundedReceiver<ServerEvent>,
}

impl Smsc {
    async fn start(bind_policy: BindPolicy) -> Smsc {
        let config = SmscConfig {
            system_id: "test-smsc".into(),
            bind_policy,
            enquire_link_interval: None,
            ..SmscConfig::default()
        };
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (server, events) = SmscServer::bind(addr, config).await.unwrap();
        Smsc { server, events }
    }

    fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    async fn next(&mut self, what: &str) -> ServerEvent {
        within(what, self.events.recv())
            .await
            .unwrap_or_else(|| panic!("server events closed while waiting for {what}"))
    }

    /// The next `submit_sm`, skipping connection and bind events.
    async fn next_submit(&mut self) -> (ConnId, u32, SubmitSm) {
        loop {
            match self.next("a submit_sm").await {
                ServerEvent::Submit { conn, seq, submit } => return (conn, seq, submit),
                ServerEvent::Connected { .. }
                | ServerEvent::Bound { .. }
                | ServerEvent::Disconnected { .. } => {}
                other => panic!("unexpected server event {other:?}"),
            }
        }
    }

    /// Events already reported, without waiting.
    fn drain(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }

    /// Sends `deliver` on the one bound connection.
    fn deliver(&self, deliver: DeliverSm) -> cascade_smpp::driver::Delivery {
        let receivers = self.server.bound_receivers();
        assert_eq!(receivers.len(), 1, "one bound transceiver expected");
        self.server.send_deliver_sm(receivers[0], deliver)
    }
}

fn submit_count(events: &[ServerEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, ServerEvent::Submit { .. }))
        .count()
}

// ----- the connector ------------------------------------------------------------------

fn settings(name: &str, smsc: &Smsc, routes: &[&str]) -> SmscSettings {
    let mut s = SmscSettings::simulator("127.0.0.1", smsc.addr().port());
    s.name = name.into();
    s.system_id = "cascade-test".into();
    s.password = "secret".into();
    s.receipt_ids = ReceiptIds::Auto;
    s.window = 10;
    s.response_timeout_seconds = 5;
    s.routes = routes.iter().map(|r| (*r).to_owned()).collect();
    s
}

/// Starts a connection to `smsc` (not the sandbox: no vendor TLVs either way).
fn start(
    settings: SmscSettings,
    sink: &Arc<RecordingSink>,
    stop: &CancellationToken,
) -> Arc<SmscConnection> {
    start_as(settings, sink, stop, false)
}

/// Starts a connection to `smsc`, as the sandbox's bind (vendor TLVs) when `sandbox`.
fn start_as(
    settings: SmscSettings,
    sink: &Arc<RecordingSink>,
    stop: &CancellationToken,
    sandbox: bool,
) -> Arc<SmscConnection> {
    SmscConnection::start(
        settings,
        Arc::clone(sink) as Arc<dyn ReportSink>,
        sandbox,
        Arc::new(SystemClock),
        stop,
    )
    .expect("valid settings")
}

/// A connection plus a provider routing everything to it, bound.
async fn bound_provider(
    name: &str,
    smsc: &Smsc,
    sink: &Arc<RecordingSink>,
    stop: &CancellationToken,
) -> (Arc<SmscConnection>, Arc<SmppProvider>) {
    let connection = start(settings(name, smsc, &["*"]), sink, stop);
    assert!(connection.wait_bound(WAIT).await, "{name} did not bind");
    let provider = Arc::new(SmppProvider::new(vec![Arc::clone(&connection)]));
    (connection, provider)
}

/// Runs `provider.submit(request)` in its own task, so the test can play the SMSC.
fn spawn_submit(
    provider: &Arc<SmppProvider>,
    request: &SubmitRequest,
) -> JoinHandle<Result<Accepted, SubmitError>> {
    let provider = Arc::clone(provider);
    let request = request.clone();
    tokio::spawn(async move { provider.submit(&request).await })
}

async fn outcome(
    what: &str,
    handle: JoinHandle<Result<Accepted, SubmitError>>,
) -> Result<Accepted, SubmitError> {
    within(what, handle).await.expect("submit task panicked")
}

// ----- requests -----------------------------------------------------------------------

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// An SMS step's job, as the engine would hand it over: created now, with `ttl_ms` left.
fn request(to: &str, body: &str, ttl_ms: i64) -> SubmitRequest {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let plan = cascade_core::sms::plan(body, false);
    let created = now_ms();
    let message_ids = (1..=plan.parts.len())
        .map(|p| format!("sms-{n}-{p}"))
        .collect();
    let step = Step {
        order: 1,
        failover_on: Vec::new(),
        country: None,
        operator: String::new(),
        unit_price: Micros::ZERO,
        ttl_ms: Some(ttl_ms),
        kind: StepKind::Sms(SmsStep {
            from: SenderId::parse(SENDER).unwrap(),
            to: Msisdn::parse(to).unwrap(),
            ttl_minutes: u32::try_from(ttl_ms.div_euclid(60_000).max(1)).unwrap(),
            body: body.to_owned(),
            flash: false,
            label: None,
            inbound_url: None,
            transcode: false,
            encoding: plan.encoding,
            parts: plan.parts,
        }),
    };
    SubmitRequest {
        flow_id: FlowId::new_v7(created),
        order: 1,
        first_attempt: true,
        payload: JobPayload {
            created_at: Timestamp::from_millis(created),
            account_id: "account-1".into(),
            application_id: "application-1".into(),
            step,
            message_id: format!("message-{n}"),
            message_ids,
        },
    }
}

const TEN_MINUTES: i64 = 600_000;
const GREEK: &str = "+306912345678";
const GERMAN: &str = "+4915112345678";

fn receipt(id: &str) -> DeliverSm {
    let text = format!(
        "id:{id} sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 text:Hello"
    );
    DeliverSm {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: "306912345678".into(),
        dest_addr_ton: 5,
        dest_addr_npi: 0,
        destination_addr: SENDER.into(),
        esm_class: ESM_CLASS_DELIVERY_RECEIPT,
        short_message: Bytes::from(text.into_bytes()),
        tlvs: TlvList::new().with(Tlv::receipted_message_id(&id.into())),
        ..DeliverSm::default()
    }
}

fn expect_accepted(result: Result<Accepted, SubmitError>) -> Accepted {
    result.unwrap_or_else(|e| panic!("expected Accepted, got {e:?}"))
}

// ----- 1. one GSM part ----------------------------------------------------------------

#[tokio::test]
async fn a_single_gsm_part_goes_as_one_submit_sm() {
    let mut smsc = Smsc::start(BindPolicy::AcceptAll).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let (connection, provider) = bound_provider("primary", &smsc, &sink, &stop).await;
    assert_eq!(connection.provider(), "smsc:primary");

    let req = request(GREEK, "Hello from Cascade", TEN_MINUTES);
    let handle = spawn_submit(&provider, &req);
    let (conn, seq, submit) = smsc.next_submit().await;
    assert_eq!(submit.data_coding, 0);
    assert_eq!(submit.esm_class, 0);
    assert_eq!(submit.registered_delivery, 1);
    assert_eq!((submit.source_addr_ton, submit.source_addr_npi), (5, 0));
    assert_eq!(submit.source_addr.as_bytes(), SENDER.as_bytes());
    assert_eq!((submit.dest_addr_ton, submit.dest_addr_npi), (1, 1));
    assert_eq!(submit.destination_addr.as_bytes(), b"306912345678");
    assert_eq!(&submit.short_message[..], b"Hello from Cascade");
    // Relative validity: the step's remaining TTL (10 minutes, give or take the second
    // that may have started since the request was built).
    let validity = submit.validity_period.to_string_lossy().into_owned();
    assert_eq!(validity.len(), 16, "{validity}");
    assert!(validity.ends_with('R'), "{validity}");
    assert!(
        ["000000001000000R", "000000000959000R"].contains(&validity.as_str()),
        "{validity}"
    );
    // Not the sandbox: Cascade's own message id does not travel.
    assert!(
        submit
            .tlvs
            .get(cascade_smpp::vendor_tlv::CLIENT_REF)
            .is_none()
    );

    smsc.server.accept(conn, seq, "00ab12cd").await.unwrap();
    let accepted = expect_accepted(outcome("the submit", handle).await);
    assert_eq!(accepted.provider, "smsc:primary");
    assert_eq!(accepted.message_ids, vec![submit_id_key("00ab12cd")]);
    assert_eq!(accepted.message_ids, vec!["AB12CD".to_owned()]);
    assert_eq!(submit_count(&smsc.drain()), 0, "exactly one submit_sm");
}

/// Cascade's sandbox bind names each message and says when it is the first try at it
/// (the simulator then skips its store lookup for an earlier copy); a retry says nothing.
#[tokio::test]
async fn the_sandbox_bind_names_the_message_and_flags_only_a_first_attempt() {
    use cascade_smpp::vendor_tlv::{CLIENT_REF, FIRST_ATTEMPT, read_flag, read_text};
    let mut smsc = Smsc::start(BindPolicy::AcceptAll).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let connection = start_as(settings("sandbox", &smsc, &["*"]), &sink, &stop, true);
    assert!(connection.wait_bound(WAIT).await, "did not bind");
    let provider = Arc::new(SmppProvider::new(vec![Arc::clone(&connection)]));
    for (n, first) in [(1, true), (2, false)] {
        let mut req = request(GREEK, "Hello from Cascade", TEN_MINUTES);
        req.payload.message_id = format!("message-sandbox-{n}");
        req.first_attempt = first;
        let handle = spawn_submit(&provider, &req);
        let (conn, seq, submit) = smsc.next_submit().await;
        assert_eq!(
            read_text(&submit.tlvs, CLIENT_REF).as_deref(),
            Some(req.payload.message_id.as_str())
        );
        assert_eq!(read_flag(&submit.tlvs, FIRST_ATTEMPT), first, "attempt {n}");
        let id = format!("0{n}");
        smsc.server.accept(conn, seq, id.as_str()).await.unwrap();
        expect_accepted(outcome("the submit", handle).await);
    }
}

// ----- 2. a receipt before its submit_sm_resp -----------------------------------------

#[tokio::test]
async fn a_receipt_before_the_submit_response_is_recorded_then_acked() {
    let mut smsc = Smsc::start(BindPolicy::AcceptAll).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let (connection, provider) = bound_provider("primary", &smsc, &sink, &stop).await;

    let handle = spawn_submit(&provider, &request(GREEK, "Early receipt", TEN_MINUTES));
    let (conn, seq, _) = smsc.next_submit().await;

    // The SMSC is fast: the receipt for id X comes before the submit_sm_resp carrying X.
    // The sink is slow (held shut): the deliver_sm must stay unanswered until it returns.
    let x = "7f3a01";
    sink.set_open(false);
    let mut delivery = smsc.deliver(receipt(x));
    eventually("the receipt to reach the sink", || sink.calls() == 1).await;
    assert!(
        stays_pending(&mut delivery).await,
        "deliver_sm answered before the sink returned"
    );

    // The submit is answered meanwhile and resolves on its own.
    smsc.server.accept(conn, seq, x).await.unwrap();
    let accepted = expect_accepted(outcome("the submit", handle).await);
    assert_eq!(accepted.provider, "smsc:primary");
    assert_eq!(accepted.message_ids, vec![submit_id_key(x)]);
    assert!(
        stays_pending(&mut delivery).await,
        "deliver_sm answered before the sink returned"
    );
    assert!(sink.reports().is_empty());

    sink.set_open(true);
    assert_eq!(
        within("the deliver_sm answer", delivery).await,
        DeliverOutcome::Acked
    );
    let reports = sink.reports();
    assert_eq!(reports.len(), 1);
    let (provider_name, candidates, report) = &reports[0];
    assert_eq!(provider_name, "smsc:primary");
    assert!(
        candidates.contains(&submit_id_key(x)),
        "{candidates:?} lacks {x}"
    );
    assert_eq!(report.status, StatusKind::Delivered);
    assert_eq!(connection.metrics().receipts_applied(), 1);
}

// ----- 3. the sink fails --------------------------------------------------------------

#[tokio::test]
async fn a_receipt_the_sink_cannot_record_is_refused_with_rx_t_appn() {
    let smsc = Smsc::start(BindPolicy::AcceptAll).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let (connection, _provider) = bound_provider("primary", &smsc, &sink, &stop).await;

    sink.set_failing(true);
    let refused = within("the deliver_sm answer", smsc.deliver(receipt("1234"))).await;
    assert_eq!(
        refused,
        DeliverOutcome::Rejected(CommandStatus::ESME_RX_T_APPN)
    );
    assert_eq!(CommandStatus::ESME_RX_T_APPN, CommandStatus(0x64));
    assert_eq!(sink.calls(), 1);
    assert!(sink.reports().is_empty());

    // The store is back: the SMSC's resend is recorded and acknowledged.
    sink.set_failing(false);
    let acked = within(
        "the resent deliver_sm answer",
        smsc.deliver(receipt("1234")),
    )
    .await;
    assert_eq!(acked, DeliverOutcome::Acked);
    assert_eq!(sink.calls(), 2);
    let reports = sink.reports();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].1.contains(&"1234".to_owned()));
    assert_eq!(connection.metrics().receipts_applied(), 1);
}

// ----- 4. the TTL runs out in Cascade's own queue --------------------------------------

#[tokio::test]
async fn a_message_whose_ttl_runs_out_while_waiting_for_the_bind_never_leaves() {
    let mut smsc = Smsc::start(BindPolicy::Manual).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let connection = start(settings("primary", &smsc, &["*"]), &sink, &stop);
    let provider = Arc::new(SmppProvider::new(vec![Arc::clone(&connection)]));

    // TCP is up, the bind stays unanswered.
    let conn = loop {
        match smsc.next("the bind request").await {
            ServerEvent::BindRequested { conn, .. } => break conn,
            ServerEvent::Connected { .. } => {}
            other => panic!("unexpected server event {other:?}"),
        }
    };
    assert!(!connection.is_bound());

    let started = Instant::now();
    let result = outcome(
        "the expiring submit",
        spawn_submit(&provider, &request(GREEK, "Too late", 300)),
    )
    .await;
    let took = started.elapsed();
    match result {
        Err(SubmitError::Rejected {
            status: StatusKind::Unsent,
            detailed_status,
            ..
        }) if detailed_status == "Expired" => {}
        other => panic!("expected Rejected Unsent/Expired, got {other:?}"),
    }
    assert!(
        took >= Duration::from_millis(200),
        "gave up before the TTL: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "waited past the TTL: {took:?}"
    );

    // The bind goes through now: the expired message must not follow it. A later message
    // is the first (and only) submit_sm the SMSC sees.
    smsc.server.accept_bind(conn).await.unwrap();
    assert!(connection.wait_bound(WAIT).await);
    let handle = spawn_submit(&provider, &request(GREEK, "On time", TEN_MINUTES));
    let (conn, seq, submit) = smsc.next_submit().await;
    assert_eq!(&submit.short_message[..], b"On time");
    smsc.server.accept(conn, seq, "1").await.unwrap();
    expect_accepted(outcome("the later submit", handle).await);
    assert_eq!(submit_count(&smsc.drain()), 0);
}

// ----- 5. the SMSC refuses ------------------------------------------------------------

#[tokio::test]
async fn an_smsc_rejection_fails_the_step_with_the_reason() {
    let mut smsc = Smsc::start(BindPolicy::AcceptAll).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let (_connection, provider) = bound_provider("primary", &smsc, &sink, &stop).await;

    let handle = spawn_submit(&provider, &request(GREEK, "Nobody home", TEN_MINUTES));
    let (conn, seq, _) = smsc.next_submit().await;
    smsc.server
        .reject(conn, seq, CommandStatus::ESME_RINVDSTADR)
        .await
        .unwrap();
    match outcome("the rejected submit", handle).await {
        Err(SubmitError::Rejected {
            status: StatusKind::Failed,
            detailed_status,
            description,
        }) => {
            assert_eq!(detailed_status, "Rejected by SMSC");
            assert!(description.contains("ESME_RINVDSTADR"), "{description}");
        }
        other => panic!("expected Rejected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn an_smsc_system_error_is_tried_again_not_a_verdict() {
    let mut smsc = Smsc::start(BindPolicy::AcceptAll).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let (connection, provider) = bound_provider("primary", &smsc, &sink, &stop).await;

    let handle = spawn_submit(&provider, &request(GREEK, "Busy SMSC", TEN_MINUTES));
    let (conn, seq, _) = smsc.next_submit().await;
    smsc.server
        .reject(conn, seq, CommandStatus::ESME_RSYSERR)
        .await
        .unwrap();
    match outcome("the submit met by a system error", handle).await {
        Err(SubmitError::Retryable { reason }) => {
            assert!(reason.contains("ESME_RSYSERR"), "{reason}");
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
    assert_eq!(
        connection.metrics().rejected(),
        0,
        "not counted as a rejection"
    );
}

// ----- 6. a partial failure is retried with only the missing parts ---------------------

/// The UDH concatenation header of a part: (reference, total, sequence).
fn udh(submit: &SubmitSm) -> (u8, u8, u8) {
    assert_eq!(submit.esm_class & 0x40, 0x40, "UDHI expected");
    let m = &submit.short_message;
    assert_eq!(
        &m[..3],
        &[0x05, 0x00, 0x03],
        "8-bit concatenation IE expected"
    );
    (m[3], m[4], m[5])
}

#[tokio::test]
async fn a_retry_sends_only_the_parts_not_yet_accepted() {
    let mut smsc = Smsc::start(BindPolicy::AcceptAll).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let (connection, provider) = bound_provider("primary", &smsc, &sink, &stop).await;

    let body = "0123456789 ".repeat(40); // 440 GSM characters: three parts
    let req = request(GREEK, &body, TEN_MINUTES);
    let StepKind::Sms(step) = &req.payload.step.kind else {
        unreachable!()
    };
    assert_eq!(step.parts.len(), 3);
    let parts = step.parts.clone();

    // First attempt: all three go out; part 1 is accepted, then the link drops.
    let handle = spawn_submit(&provider, &req);
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(smsc.next_submit().await);
    }
    first.sort_by_key(|(_, _, s)| udh(s).2);
    let (conn, seq, part1) = &first[0];
    let (reference, total, _) = udh(part1);
    assert_eq!(total, 3);
    assert_eq!(&part1.short_message[6..], parts[0].as_bytes());
    smsc.server.accept(*conn, *seq, "0000a1").await.unwrap();
    smsc.server.disconnect(*conn).unwrap();
    match outcome("the first attempt", handle).await {
        Err(SubmitError::Retryable { .. }) => {}
        other => panic!("expected Retryable, got {other:?}"),
    }

    // The client reconnects on its own; the retry sends parts 2 and 3 only, as parts of
    // the same concatenated message as part 1 (same reference), or the handset could
    // never put them together.
    assert!(connection.wait_bound(WAIT).await, "no reconnect");
    let handle = spawn_submit(&provider, &req);
    let mut again = Vec::new();
    for expected in [2, 3] {
        let (conn, seq, submit) = smsc.next_submit().await;
        assert_eq!(
            udh(&submit),
            (reference, 3, expected),
            "resent part {expected}"
        );
        assert_eq!(
            &submit.short_message[6..],
            parts[usize::from(expected) - 1].as_bytes()
        );
        smsc.server
            .accept(conn, seq, format!("b{expected}"))
            .await
            .unwrap();
        again.push(submit);
    }
    let accepted = expect_accepted(outcome("the retry", handle).await);
    assert_eq!(accepted.provider, "smsc:primary");
    assert_eq!(
        accepted.message_ids,
        vec![submit_id_key("0000a1"), "B2".to_owned(), "B3".to_owned()]
    );
    assert_eq!(accepted.message_ids[0], "A1");
    assert_eq!(
        submit_count(&smsc.drain()),
        0,
        "exactly two submit_sm resent"
    );
}

// ----- 7. routing by destination prefix -----------------------------------------------

#[tokio::test]
async fn destinations_are_routed_by_prefix() {
    let mut greece = Smsc::start(BindPolicy::AcceptAll).await;
    let mut world = Smsc::start(BindPolicy::AcceptAll).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let gr = start(settings("gr", &greece, &["+30"]), &sink, &stop);
    let ww = start(settings("world", &world, &["*"]), &sink, &stop);
    assert!(gr.wait_bound(WAIT).await && ww.wait_bound(WAIT).await);
    let provider = Arc::new(SmppProvider::new(vec![Arc::clone(&gr), Arc::clone(&ww)]));

    let handle = spawn_submit(&provider, &request(GREEK, "To Greece", TEN_MINUTES));
    let (conn, seq, submit) = greece.next_submit().await;
    assert_eq!(submit.destination_addr.as_bytes(), b"306912345678");
    greece.server.accept(conn, seq, "g1").await.unwrap();
    let accepted = expect_accepted(outcome("the +30 submit", handle).await);
    assert_eq!(accepted.provider, "smsc:gr");
    assert_eq!(accepted.message_ids, vec!["G1".to_owned()]);

    let handle = spawn_submit(&provider, &request(GERMAN, "To Germany", TEN_MINUTES));
    let (conn, seq, submit) = world.next_submit().await;
    assert_eq!(submit.destination_addr.as_bytes(), b"4915112345678");
    world.server.accept(conn, seq, "w1").await.unwrap();
    let accepted = expect_accepted(outcome("the +49 submit", handle).await);
    assert_eq!(accepted.provider, "smsc:world");
    assert_eq!(accepted.message_ids, vec!["W1".to_owned()]);
    assert_eq!(submit_count(&greece.drain()), 0);
    assert_eq!(submit_count(&world.drain()), 0);

    // Without a default route, +49 goes nowhere.
    let greek_only = SmppProvider::new(vec![Arc::clone(&gr)]);
    match greek_only
        .submit(&request(GERMAN, "To Germany", TEN_MINUTES))
        .await
    {
        Err(SubmitError::Rejected {
            status: StatusKind::Failed,
            detailed_status,
            ..
        }) if detailed_status == "No route" => {}
        other => panic!("expected Rejected No route, got {other:?}"),
    }
    assert_eq!(submit_count(&greece.drain()), 0);
}

// ----- 8. mobile-originated messages --------------------------------------------------

#[tokio::test]
async fn a_mobile_originated_message_is_recorded_as_inbound_then_acked() {
    let smsc = Smsc::start(BindPolicy::AcceptAll).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let (connection, _provider) = bound_provider("primary", &smsc, &sink, &stop).await;

    let mo = |text: &'static [u8]| DeliverSm {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: "306912345678".into(),
        dest_addr_ton: 5,
        destination_addr: SENDER.into(),
        esm_class: 0,
        short_message: Bytes::from_static(text),
        ..DeliverSm::default()
    };
    assert!(!mo(b"STOP").is_receipt());
    let answer = within("the MO answer", smsc.deliver(mo(b"STOP"))).await;
    assert_eq!(answer, DeliverOutcome::Acked);
    assert_eq!(connection.metrics().mobile_originated(), 1);
    let inbound = sink.inbound.lock().unwrap().clone();
    assert_eq!(inbound.len(), 1);
    let m = &inbound[0];
    assert_eq!(m.channel, cascade_core::Channel::Sms);
    assert_eq!(
        (m.from.as_str(), m.to.as_str(), m.text.as_str()),
        ("+306912345678", SENDER, "STOP")
    );
    assert_eq!(m.provider, "primary");

    // A receipt after it on the same bind (events are handled in order) is a report.
    let answer = within("the receipt answer", smsc.deliver(receipt("99"))).await;
    assert_eq!(answer, DeliverOutcome::Acked);
    let reports = sink.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].1.contains(&"99".to_owned()));

    // A national number (TON 2) is kept as written, not given a + it does not have.
    let mut national = mo(b"NAT");
    national.source_addr_ton = 2;
    national.source_addr = "6912345678".into();
    assert_eq!(
        within("the national MO answer", smsc.deliver(national)).await,
        DeliverOutcome::Acked
    );
    assert_eq!(sink.inbound.lock().unwrap()[1].from, "6912345678");

    // One the sink cannot record is refused, so the SMSC sends it again.
    sink.set_failing(true);
    let answer = within("the refused MO answer", smsc.deliver(mo(b"AGAIN"))).await;
    assert_ne!(answer, DeliverOutcome::Acked, "{answer:?}");
    assert_eq!(sink.inbound.lock().unwrap().len(), 2);
}

// ----- 9. settings that cannot work ---------------------------------------------------

#[tokio::test]
async fn invalid_settings_are_refused_and_nothing_connects() {
    let mut smsc = Smsc::start(BindPolicy::AcceptAll).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();

    type Spoil = fn(&mut SmscSettings);
    let bad: [(&str, Spoil); 3] = [
        ("system_id", |s| s.system_id = "x".repeat(16)),
        ("password", |s| s.password = "123456789".into()),
        ("name", |s| s.name = "has space".into()),
    ];
    for (field, spoil) in bad {
        let mut s = settings("primary", &smsc, &["*"]);
        spoil(&mut s);
        let error = SmscConnection::start(
            s,
            Arc::clone(&sink) as Arc<dyn ReportSink>,
            false,
            Arc::new(SystemClock),
            &stop,
        )
        .expect_err(field);
        assert!(error.contains(field), "{field}: {error}");
    }

    // A valid connection started after them is the only one the SMSC ever sees.
    let connection = start(settings("primary", &smsc, &["*"]), &sink, &stop);
    assert!(connection.wait_bound(WAIT).await);
    let mut connected = 0;
    loop {
        match smsc.next("the bind").await {
            ServerEvent::Connected { .. } => connected += 1,
            ServerEvent::Bound { system_id, .. } => {
                assert_eq!(system_id.as_bytes(), b"cascade-test");
                break;
            }
            other => panic!("unexpected server event {other:?}"),
        }
    }
    assert_eq!(connected, 1);
    assert_eq!(smsc.server.connections().len(), 1);
    assert!(
        tokio::time::timeout(QUIET, smsc.events.recv())
            .await
            .is_err(),
        "another connection showed up"
    );
}

// ----- bind slots shared by several nodes ---------------------------------------------

/// Leases as a test scripts them: the names granted to this node, and whether the store
/// answers at all.
#[derive(Debug, Default)]
struct ScriptedLeases {
    granted: Mutex<Vec<String>>,
    unreachable: AtomicBool,
    released: Mutex<Vec<String>>,
}

impl ScriptedLeases {
    fn grant(&self, names: &[&str]) {
        *self.granted.lock().unwrap() = names.iter().map(|n| (*n).to_owned()).collect();
    }
}

#[async_trait]
impl cascade_core::ports::Leases for ScriptedLeases {
    async fn hold(&self, name: &str) -> Result<bool, String> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err("the store does not answer".into());
        }
        Ok(self.granted.lock().unwrap().iter().any(|n| n == name))
    }

    async fn release(&self, name: &str) {
        self.released.lock().unwrap().push(name.to_owned());
    }

    fn renew_every(&self) -> Duration {
        Duration::from_millis(20)
    }

    fn trust_for(&self) -> Duration {
        Duration::from_millis(200)
    }
}

#[tokio::test]
async fn a_shared_smsc_is_bound_only_on_the_slots_this_node_holds() {
    let smsc = Smsc::start(BindPolicy::default()).await;
    let sink = RecordingSink::new();
    let stop = CancellationToken::new();
    let leases = Arc::new(ScriptedLeases::default());
    leases.grant(&["smsc:shared:bind:1"]);
    let mut s = settings("shared", &smsc, &["*"]);
    s.binds = 3;
    let connection = SmscConnection::start_shared(
        s,
        Arc::clone(&sink) as Arc<dyn ReportSink>,
        false,
        Arc::new(SystemClock),
        &stop,
        Arc::clone(&leases) as Arc<dyn cascade_core::ports::Leases>,
    )
    .expect("valid settings");
    let bound = || smsc.server.bound_receivers().len();
    eventually("the held slot binds", || bound() == 1).await;
    assert_eq!(connection.slots_held(), 1);
    let labels: Vec<usize> = connection.binds().iter().map(|(l, _)| *l).collect();
    assert_eq!(labels, [1], "the bind keeps its slot's place");
    assert!(<SmscConnection as Provider>::held_here(&connection));

    // Another node has the slot now: this node unbinds; none held, none sent here.
    leases.grant(&[]);
    eventually("the lost slot unbinds", || bound() == 0).await;
    assert_eq!(connection.slots_held(), 0);
    assert!(!<SmscConnection as Provider>::held_here(&connection));
    let provider = SmppProvider::new(vec![Arc::clone(&connection)]);
    match provider
        .submit(&request("+306912345678", "hello", 60_000))
        .await
    {
        Err(SubmitError::Retryable { reason }) => {
            assert!(reason.contains("another node"), "{reason}");
        }
        other => panic!("expected a retryable refusal, got {other:?}"),
    }

    // Two slots held; then the store stops answering: kept while trusted, then let go.
    leases.grant(&["smsc:shared:bind:0", "smsc:shared:bind:2"]);
    eventually("both held slots bind", || bound() == 2).await;
    leases.unreachable.store(true, Ordering::SeqCst);
    eventually("unconfirmed slots are let go", || bound() == 0).await;
    assert_eq!(connection.slots_held(), 0);

    // Back, then a clean stop: the binds close and the leases are given up.
    leases.unreachable.store(false, Ordering::SeqCst);
    eventually("the slots bind again", || bound() == 2).await;
    stop.cancel();
    eventually("the stop unbinds", || bound() == 0).await;
    eventually("the leases are given up", || {
        leases.released.lock().unwrap().len() == 2
    })
    .await;
    let mut released = leases.released.lock().unwrap().clone();
    released.sort();
    assert_eq!(released, ["smsc:shared:bind:0", "smsc:shared:bind:2"]);
}
