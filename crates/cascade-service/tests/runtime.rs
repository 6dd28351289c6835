//! The runtime on virtual time: the real dispatcher, job poller, timer loop, callback
//! worker and report intake over a real SQLite store, with a scripted provider and a
//! [`ManualClock`] that moves only when a test says so. Every loop sleeps on that clock,
//! so "the retry goes one second later" is checked by moving time one second — and the
//! times recorded are exact, whatever the machine's load.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cascade_core::flow::{AcceptContext, FlowDefinition, parse_flow};
use cascade_core::machines::{FlowStatus, Report};
use cascade_core::ports::{
    Accepted, Provider, Providers, Recorded, ReportSink, SubmitError, SubmitRequest,
};
use cascade_core::pricing::{OperatorTable, PriceList};
use cascade_core::ttl::TtlClock;
use cascade_core::{Channel, Clock, FlowId, Micros, StatusKind, Timestamp};
use cascade_service::clock::ManualClock;
use cascade_service::runtime::{CallbackSettings, Runtime, RuntimeConfig};
use cascade_service::tenancy;
use cascade_store::sqlite::{SqliteConfig, SqliteStore};
use cascade_store::{Store, StoredFlow};
use serde_json::{Value, json};

const T0: i64 = 1_767_225_600_000;

/// A provider answering from a script (then accepting), recording when it was called.
#[derive(Debug, Default)]
struct ScriptedProvider {
    answers: Mutex<VecDeque<Result<Accepted, SubmitError>>>,
    calls: Mutex<Vec<Timestamp>>,
    clock: Mutex<Option<ManualClock>>,
}

#[async_trait]
impl Provider for ScriptedProvider {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let now = self.clock.lock().unwrap().as_ref().map(Clock::now);
        self.calls
            .lock()
            .unwrap()
            .push(now.expect("the clock is set"));
        self.answers.lock().unwrap().pop_front().unwrap_or_else(|| {
            Ok(Accepted {
                provider: "scripted".into(),
                message_ids: request
                    .payload
                    .message_ids
                    .iter()
                    .map(|m| format!("p-{m}"))
                    .collect(),
            })
        })
    }
}

struct Harness {
    runtime: Arc<Runtime>,
    clock: ManualClock,
    store: Arc<dyn Store>,
    provider: Arc<ScriptedProvider>,
    account_id: String,
    application_id: String,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start(callbacks: CallbackSettings) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("cascade.db").display());
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&SqliteConfig::new(url).as_owner())
                .await
                .unwrap(),
        );
        let clock = ManualClock::new(Timestamp::from_millis(T0));
        let provider = Arc::new(ScriptedProvider::default());
        *provider.clock.lock().unwrap() = Some(clock.clone());
        let account =
            tenancy::create_account(&*store, "Acme", Micros::new(10_000_000), "EUR", clock.now())
                .await
                .unwrap();
        let application = tenancy::create_application(
            &*store,
            &account.id,
            tenancy::NewApplication {
                name: "tests".into(),
                ..tenancy::NewApplication::default()
            },
            clock.now(),
        )
        .await
        .unwrap();
        let providers =
            Providers::default().with(Channel::Sms, Arc::clone(&provider) as Arc<dyn Provider>);
        let config = RuntimeConfig {
            job_poll: Duration::from_secs(1),
            callbacks,
            ..RuntimeConfig::default()
        };
        let runtime = Runtime::start(
            Arc::clone(&store),
            providers,
            Arc::new(clock.clone()),
            config,
        );
        Harness {
            runtime,
            clock,
            store,
            provider,
            account_id: account.id,
            application_id: application.application.id,
            _dir: dir,
        }
    }

    fn flow(&self, body: Value) -> FlowDefinition {
        let ctx = AcceptContext {
            tracking_id: FlowId::new_v7(self.clock.now().as_millis()),
            now: self.clock.now(),
            account_id: &self.account_id,
            application_id: &self.application_id,
            viber_senders: &HashMap::new(),
            prices: &PriceList::default(),
            operators: &OperatorTable::default(),
            ttl_clock: TtlClock::default(),
        };
        parse_flow(&body, &ctx).expect("a valid flow")
    }

    async fn stored(&self, id: FlowId) -> StoredFlow {
        self.store
            .flow(&self.account_id, id)
            .await
            .unwrap()
            .expect("the flow exists")
    }

    /// Poll (in real time, briefly) until `done` holds for the flow.
    async fn wait_flow(
        &self,
        id: FlowId,
        what: &str,
        done: impl Fn(&StoredFlow) -> bool,
    ) -> StoredFlow {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let flow = self.stored(id).await;
            if done(&flow) {
                return flow;
            }
            assert!(Instant::now() < deadline, "{what}: {:?}", flow.state);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn wait_calls(&self, n: usize) -> Vec<Timestamp> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let calls = self.provider.calls.lock().unwrap().clone();
            if calls.len() >= n {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "{n} submits expected, got {calls:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Poll until the dispatcher has recorded `n` retries (so moving time cannot race
    /// the write that schedules the next one).
    async fn wait_retries(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.runtime.dispatch_counts().retried < n {
            assert!(Instant::now() < deadline, "{n} retries expected");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Move virtual time forward, letting the loops see it.
    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        tokio::task::yield_now().await;
    }
}

fn sms(ttl_minutes: u32) -> Value {
    json!({"flow": [{"type": "Sms", "order": 1, "from": "Cascade", "to": "+306912345678",
        "ttl": ttl_minutes, "message": {"body": "Hi"}}]})
}

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

#[tokio::test]
async fn the_dispatcher_retries_on_the_backoff_of_virtual_time() {
    let h = Harness::start(CallbackSettings::default()).await;
    let busy = || SubmitError::Retryable {
        reason: "HTTP 503".into(),
    };
    h.provider
        .answers
        .lock()
        .unwrap()
        .extend([Err(busy()), Err(busy())]);
    let def = h.flow(sms(10));
    let id = def.tracking_id;
    h.runtime.accept(def).await.unwrap();
    assert_eq!(h.wait_calls(1).await, [at(0)], "handed over at once");
    h.wait_retries(1).await;

    // The retry is due 1 s later; the poller looks every second of virtual time.
    h.advance(Duration::from_secs(1)).await;
    assert_eq!(h.wait_calls(2).await, [at(0), at(1_000)]);
    h.wait_retries(2).await;
    // Then 2 s after that: nothing at +2 s, the call at +3 s.
    h.advance(Duration::from_secs(1)).await;
    h.advance(Duration::from_secs(1)).await;
    assert_eq!(h.wait_calls(3).await, [at(0), at(1_000), at(3_000)]);
    let counts = h.runtime.dispatch_counts();
    assert_eq!((counts.submitted, counts.retried), (3, 2));
    let flow = h
        .wait_flow(id, "sent after the third attempt", |f| {
            f.state.status == FlowStatus::InProgress
        })
        .await;
    assert_eq!(
        flow.state.steps[0].messages[0]
            .provider_id
            .as_deref()
            .map(|p| p.starts_with("p-")),
        Some(true)
    );
}

#[tokio::test]
async fn a_ttl_timer_fires_exactly_when_virtual_time_reaches_it() {
    let h = Harness::start(CallbackSettings::default()).await;
    let def = h.flow(sms(1));
    let id = def.tracking_id;
    h.runtime.accept(def).await.unwrap();
    h.wait_flow(id, "sent", |f| f.state.status == FlowStatus::InProgress)
        .await;

    h.advance(Duration::from_millis(59_999)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        h.stored(id).await.state.status,
        FlowStatus::InProgress,
        "not a millisecond early"
    );
    h.advance(Duration::from_millis(1)).await;
    let flow = h
        .wait_flow(id, "expired by its TTL", |f| f.state.is_final())
        .await;
    let msg = &flow.state.steps[0].messages[0];
    assert_eq!(
        (msg.status, msg.detailed_status()),
        (StatusKind::Undelivered, "Expired")
    );
    assert_eq!(
        msg.updated_at,
        at(60_000),
        "expired at the TTL, in virtual time"
    );
}

#[tokio::test]
async fn report_intake_applies_a_report_and_holds_one_that_came_first() {
    let h = Harness::start(CallbackSettings::default()).await;
    let sink: Arc<dyn ReportSink> = Arc::clone(&h.runtime) as Arc<dyn ReportSink>;
    // A report for an id nobody knows yet is held, not lost.
    let early = sink
        .deliver(
            "scripted",
            &["p-unknown".into()],
            Report::status(StatusKind::Delivered, at(5)),
        )
        .await
        .unwrap();
    assert_eq!(early, Recorded::Held);

    let def = h.flow(sms(10));
    let id = def.tracking_id;
    h.runtime.accept(def).await.unwrap();
    let flow = h
        .wait_flow(id, "sent", |f| f.state.status == FlowStatus::InProgress)
        .await;
    let provider_id = flow.state.steps[0].messages[0].provider_id.clone().unwrap();
    let applied = sink
        .deliver(
            "scripted",
            &[provider_id],
            Report::status(StatusKind::Delivered, at(10)),
        )
        .await
        .unwrap();
    assert_eq!(applied, Recorded::Applied);
    let flow = h.stored(id).await;
    assert_eq!(flow.state.status, FlowStatus::Succeeded);
}

/// A receiver that answers 503 `failures` times, then 200, and records the virtual time
/// of every request.
async fn receiver(
    clock: ManualClock,
    failures: usize,
) -> (String, Arc<Mutex<Vec<(Timestamp, u16)>>>) {
    let seen: Arc<Mutex<Vec<(Timestamp, u16)>>> = Arc::default();
    let log = Arc::clone(&seen);
    let handler = move || {
        let log = Arc::clone(&log);
        let clock = clock.clone();
        async move {
            let mut log = log.lock().unwrap();
            let status = if log.len() < failures { 503 } else { 200 };
            log.push((clock.now(), status));
            axum::http::StatusCode::from_u16(status).unwrap()
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(handler))
            .await
            .unwrap();
    });
    (url, seen)
}

#[tokio::test]
async fn a_failing_callback_waits_for_each_point_of_its_schedule() {
    let h = Harness::start(CallbackSettings {
        schedule: vec![Duration::from_secs(10), Duration::from_secs(30)],
        allow_private: true,
        ..CallbackSettings::default()
    })
    .await;
    let (url, seen) = receiver(h.clock.clone(), 2).await;
    let mut body = sms(10);
    body["callback"] = json!({"strategy": "OnCompletion", "url": url});
    let def = h.flow(body);
    let id = def.tracking_id;
    h.runtime.accept(def).await.unwrap();
    let flow = h
        .wait_flow(id, "sent", |f| f.state.status == FlowStatus::InProgress)
        .await;
    let provider_id = flow.state.steps[0].messages[0].provider_id.clone().unwrap();
    let sink: Arc<dyn ReportSink> = Arc::clone(&h.runtime) as Arc<dyn ReportSink>;
    sink.deliver(
        "scripted",
        &[provider_id],
        Report::status(StatusKind::Delivered, at(0)),
    )
    .await
    .unwrap();

    let wait_requests = |n: usize| {
        let seen = Arc::clone(&seen);
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let got = seen.lock().unwrap().clone();
                if got.len() >= n {
                    return got;
                }
                assert!(Instant::now() < deadline, "{n} requests expected: {got:?}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    assert_eq!(wait_requests(1).await, [(at(0), 503)]);
    h.advance(Duration::from_secs(10)).await;
    assert_eq!(wait_requests(2).await, [(at(0), 503), (at(10_000), 503)]);
    h.advance(Duration::from_secs(20)).await;
    assert_eq!(
        wait_requests(3).await,
        [(at(0), 503), (at(10_000), 503), (at(30_000), 200)],
        "each attempt at its point of the schedule, counted from the first"
    );
}

#[tokio::test]
async fn points_that_pass_during_a_slow_attempt_are_skipped_not_fired_at_once() {
    let h = Harness::start(CallbackSettings {
        schedule: [500, 1_000, 2_000, 3_000, 5_000]
            .map(Duration::from_millis)
            .to_vec(),
        allow_private: true,
        ..CallbackSettings::default()
    })
    .await;
    // The receiver holds its first request until the test lets it answer (503); later
    // requests are answered 200 at once. Each is logged with its virtual time.
    let release = Arc::new(tokio::sync::Notify::new());
    let seen: Arc<Mutex<Vec<(Timestamp, u16)>>> = Arc::default();
    let handler = {
        let (release, seen, clock) = (Arc::clone(&release), Arc::clone(&seen), h.clock.clone());
        move || {
            let (release, seen, clock) = (Arc::clone(&release), Arc::clone(&seen), clock.clone());
            async move {
                let first = seen.lock().unwrap().is_empty();
                seen.lock()
                    .unwrap()
                    .push((clock.now(), if first { 503 } else { 200 }));
                if first {
                    release.notified().await;
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                axum::http::StatusCode::OK
            }
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(handler))
            .await
            .unwrap();
    });

    let mut body = sms(10);
    body["callback"] = json!({"strategy": "OnCompletion", "url": url});
    let def = h.flow(body);
    let id = def.tracking_id;
    h.runtime.accept(def).await.unwrap();
    let flow = h
        .wait_flow(id, "sent", |f| f.state.status == FlowStatus::InProgress)
        .await;
    let provider_id = flow.state.steps[0].messages[0].provider_id.clone().unwrap();
    let sink: Arc<dyn ReportSink> = Arc::clone(&h.runtime) as Arc<dyn ReportSink>;
    sink.deliver(
        "scripted",
        &[provider_id],
        Report::status(StatusKind::Delivered, at(0)),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the first attempt never came");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The first attempt lasts until +2.5 s of virtual time (within the real-time
    // timeout): the points at +0.5 s, +1 s and +2 s go by while it runs.
    h.advance(Duration::from_millis(2_500)).await;
    release.notify_one();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let timeline = h.store.timeline(&h.account_id, id).await.unwrap().unwrap();
        if timeline
            .iter()
            .any(|e| e.kind == cascade_core::machines::TimelineKind::Callback)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failed attempt was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "no attempt goes at once for the points that went by"
    );
    h.advance(Duration::from_millis(500)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the retry at +3 s never came");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(*seen.lock().unwrap(), [(at(0), 503), (at(3_000), 200)]);
}
