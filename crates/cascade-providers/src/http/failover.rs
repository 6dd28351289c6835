//! Failover between the providers of one channel (spec: providers §4).
//!
//! The providers whose routes match a destination form an ordered list: lowest
//! `priority` first, then the longest matching prefix, then the order of the sections.
//! A message goes to the first provider whose circuit lets it through. When that
//! provider cannot take it — refused credentials at once, connection errors, 5xx and 429
//! once the step has been trying for longer than the failover budget — the same message
//! goes to the next one in the same hand-over (one with no connection up, such as an
//! SMSC whose binds are down, is passed over at once); a verdict on the message (a 4xx) is not
//! an outage and ends there. Failures in a row open a provider's circuit: it is skipped
//! for the cool-down, then tried with one request. Every attempt that did not take is
//! noted in the flow's timeline, naming the provider.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cascade_core::ports::{Accepted, Provider, ReportSink, SubmitError, SubmitRequest};
use cascade_core::{Channel, Clock, reasons};
use cascade_pace::{CircuitBreaker, CircuitPolicy, CircuitState};

/// Failures in a row that open a provider's circuit.
pub const FAILURES_TO_OPEN: u32 = 5;

/// One provider of the channel with where it serves.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub provider: Arc<dyn Provider>,
    /// `+30`-style prefixes, `*` for any.
    pub routes: Vec<String>,
    pub priority: u32,
}

/// When to leave a provider for the next.
#[derive(Debug, Clone, Copy)]
pub struct FailoverPolicy {
    /// How long a step keeps retrying a provider that errs before the next one is tried
    /// (`CASCADE_PROVIDER_FAILOVER_AFTER_MS`).
    pub budget: Duration,
    /// Failures in a row and cool-down (`CASCADE_PROVIDER_COOLDOWN_MS`).
    pub circuit: CircuitPolicy,
    /// No next provider is started after this long in one hand-over, so the whole chain
    /// ends before the dispatcher gives up on the hand-over (30 s) and drops a request
    /// that may have been taken.
    pub chain_deadline: Duration,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        FailoverPolicy {
            budget: Duration::from_secs(10),
            circuit: CircuitPolicy {
                failures_to_open: FAILURES_TO_OPEN,
                cooldown: Duration::from_secs(30),
            },
            chain_deadline: Duration::from_secs(15),
        }
    }
}

/// Counts per provider, for `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProviderCounts {
    /// Hand-overs the provider took.
    pub accepted: u64,
    /// Verdicts on a message (refused for good).
    pub rejected: u64,
    /// Outages: connection errors, timeouts, 5xx, 429, refused credentials.
    pub errors: u64,
    /// Of those, refused credentials (401/403).
    pub misconfigured: u64,
    /// Hand-overs that passed the provider over: its circuit was open, or it had no
    /// connection up while another provider could take the message.
    pub skipped: u64,
}

#[derive(Debug)]
struct Slot {
    candidate: Candidate,
    breaker: Mutex<CircuitBreaker>,
    counts: Mutex<ProviderCounts>,
}

/// The providers of one channel as one [`Provider`]; see the module documentation.
pub struct ChannelProviders {
    channel: Channel,
    name: String,
    slots: Vec<Slot>,
    policy: FailoverPolicy,
    clock: Arc<dyn Clock>,
    notes: Arc<dyn ReportSink>,
    /// When each message's hand-overs first met an outage (by Cascade message id): the
    /// failover budget counts from there, not from the step's start, so a message that
    /// waited in the queue does not leave its provider at the first 5xx. In memory: after
    /// a restart the budget starts again, which only delays a failover.
    first_outage: Mutex<std::collections::HashMap<String, cascade_core::Timestamp>>,
    /// Messages a provider may hold already (its answer was lost, or the hand-over was
    /// dropped while it was asked): later hand-overs go to that provider only, with the
    /// same reference, until it answers for good. By Cascade message id; slot index.
    pinned: Mutex<std::collections::HashMap<String, usize>>,
}

/// Messages whose first outage is remembered at most; past it the memory starts again.
const OUTAGE_MEMORY: usize = 100_000;

impl std::fmt::Debug for ChannelProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelProviders")
            .field("channel", &self.channel)
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

/// A provider's state as metrics show it.
#[derive(Debug, Clone)]
pub struct ProviderStatus {
    pub name: String,
    pub channel: Channel,
    pub circuit: CircuitState,
    pub counts: ProviderCounts,
}

impl ChannelProviders {
    pub fn new(
        channel: Channel,
        candidates: Vec<Candidate>,
        policy: FailoverPolicy,
        clock: Arc<dyn Clock>,
        notes: Arc<dyn ReportSink>,
    ) -> Self {
        ChannelProviders {
            channel,
            name: format!("{channel} providers"),
            slots: candidates
                .into_iter()
                .map(|candidate| Slot {
                    candidate,
                    breaker: Mutex::new(CircuitBreaker::new(policy.circuit)),
                    counts: Mutex::new(ProviderCounts::default()),
                })
                .collect(),
            policy,
            clock,
            notes,
            first_outage: Mutex::new(std::collections::HashMap::new()),
            pinned: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The providers serving `destination`, in the order they are tried (indexes).
    pub fn order(&self, destination: &str) -> Vec<usize> {
        route_order(
            self.slots
                .iter()
                .map(|s| (s.candidate.priority, s.candidate.routes.as_slice())),
            destination,
        )
    }

    /// Every provider's circuit and counts now.
    pub fn statuses(&self) -> Vec<ProviderStatus> {
        let now = Instant::now();
        self.slots
            .iter()
            .map(|slot| ProviderStatus {
                name: slot.candidate.provider.name().to_owned(),
                channel: self.channel,
                circuit: lock(&slot.breaker).state(now),
                counts: *lock(&slot.counts),
            })
            .collect()
    }

    fn count(&self, slot: &Slot, f: impl FnOnce(&mut ProviderCounts)) {
        f(&mut lock(&slot.counts));
    }
}

/// Which of several (priority, routes) serve `destination`, in the order to try them:
/// lowest priority first, then the longest matching prefix (`*` matches with length 0),
/// then their own order. The one rule for choosing a provider or an SMSC.
pub fn route_order<'a>(
    providers: impl Iterator<Item = (u32, &'a [String])>,
    destination: &str,
) -> Vec<usize> {
    let digits = destination.trim_start_matches('+');
    // A SIP address (`to.sip`) matches `*` and `sip:` only, never a number prefix.
    let sip_address = destination.contains('@');
    let mut matching: Vec<(u32, std::cmp::Reverse<usize>, usize)> = providers
        .enumerate()
        .filter_map(|(i, (priority, routes))| {
            let best = routes
                .iter()
                .filter_map(|r| {
                    if r == "*" {
                        Some(0)
                    } else if r == "sip:" {
                        sip_address.then_some(r.len())
                    } else {
                        let p = r.trim_start_matches('+');
                        (!sip_address && digits.starts_with(p)).then_some(p.len())
                    }
                })
                .max()?;
            Some((priority, std::cmp::Reverse(best), i))
        })
        .collect();
    matching.sort();
    matching.into_iter().map(|(_, _, i)| i).collect()
}

/// Resolves a circuit breaker's half-open trial that a request took, when the request
/// ends without an answer (its future was dropped): counted as a failure, so the breaker
/// re-opens instead of waiting forever for a trial that will never report.
struct TrialGuard<'a> {
    breaker: &'a Mutex<CircuitBreaker>,
    done: bool,
}

impl<'a> TrialGuard<'a> {
    fn new(breaker: &'a Mutex<CircuitBreaker>) -> Self {
        TrialGuard {
            breaker,
            done: false,
        }
    }

    /// The request answered; the caller reports success or failure itself.
    fn resolved(mut self) {
        self.done = true;
    }
}

impl Drop for TrialGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            lock(self.breaker).failure(Instant::now());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Provider for ChannelProviders {
    fn name(&self) -> &str {
        &self.name
    }

    async fn submit(&self, request: &SubmitRequest) -> Result<Accepted, SubmitError> {
        let destination = request.payload.step.recipient();
        let message_id = request.payload.message_id.as_str();
        let pinned_to = lock(&self.pinned).get(message_id).copied();
        let order = match pinned_to {
            Some(i) if i < self.slots.len() => vec![i],
            _ => self.order(&destination),
        };
        if order.is_empty() {
            let reason = match self.channel {
                Channel::Sms => reasons::no_route(&destination),
                channel => reasons::no_provider_route(channel, &destination),
            };
            return Err(SubmitError::from(reason));
        }
        let now = self.clock.now();
        let message = request.payload.message_id.as_str();
        let since_first_outage = lock(&self.first_outage)
            .get(message)
            .map(|first| now.as_millis().saturating_sub(first.as_millis()));
        let budget_spent = since_first_outage.is_some_and(|waited| {
            u128::try_from(waited).unwrap_or(0) >= self.policy.budget.as_millis()
        }) || self.policy.budget.is_zero();
        let started = Instant::now();
        let mut last: Option<SubmitError> = None;
        for (position, &i) in order.iter().enumerate() {
            let slot = &self.slots[i];
            let name = slot.candidate.provider.name();
            let has_next = position + 1 < order.len();
            // A provider with no connection, or whose circuit is open, is passed over when
            // another can take the message: the last one left is tried anyway (skipping
            // it would only delay the retry). Readiness first: passing over takes no
            // half-open trial.
            let passed_over = if !has_next {
                None
            } else if !slot.candidate.provider.ready() {
                Some("not connected")
            } else if !lock(&slot.breaker).allow(Instant::now()) {
                Some("circuit open")
            } else {
                None
            };
            if let Some(why) = passed_over {
                self.count(slot, |c| c.skipped += 1);
                self.notes
                    .note_attempt(
                        request.flow_id,
                        request.order,
                        name,
                        &format!("skipped: {why}"),
                    )
                    .await;
                last = Some(SubmitError::Retryable {
                    reason: format!("{name}: {why}"),
                });
                continue;
            }
            // The breaker may have granted this request the half-open trial: whatever
            // happens to the request (even the future being dropped by a timeout
            // above), the trial resolves.
            let trial = TrialGuard::new(&slot.breaker);
            // Pinned while asked: if this hand-over is dropped mid-request, the next one
            // comes back here.
            {
                let mut pinned = lock(&self.pinned);
                if pinned.len() >= OUTAGE_MEMORY {
                    pinned.clear();
                }
                pinned.insert(message_id.to_owned(), i);
            }
            let answer = slot.candidate.provider.submit(request).await;
            trial.resolved();
            // A definite answer releases the pin; a lost one keeps it. A clean outage
            // releases it only if the message was not pinned before (an earlier request
            // whose answer was lost may still be there).
            let definite = match &answer {
                Ok(_) => true,
                Err(e) if !e.is_outage() => true,
                Err(SubmitError::Ambiguous { .. }) => false,
                Err(_) => pinned_to.is_none(),
            };
            if definite {
                lock(&self.pinned).remove(message_id);
            }
            match answer {
                Ok(accepted) => {
                    lock(&slot.breaker).success();
                    self.count(slot, |c| c.accepted += 1);
                    lock(&self.first_outage).remove(message);
                    return Ok(accepted);
                }
                Err(e) if !e.is_outage() => {
                    // The provider is up: it judged the message.
                    lock(&slot.breaker).success();
                    self.count(slot, |c| c.rejected += 1);
                    lock(&self.first_outage).remove(message);
                    return Err(e);
                }
                Err(e) => {
                    lock(&slot.breaker).failure(Instant::now());
                    {
                        let mut first = lock(&self.first_outage);
                        if first.len() >= OUTAGE_MEMORY {
                            first.clear();
                        }
                        first.entry(message.to_owned()).or_insert(now);
                    }
                    let misconfigured = matches!(e, SubmitError::Misconfigured { .. });
                    self.count(slot, |c| {
                        c.errors += 1;
                        if misconfigured {
                            c.misconfigured += 1;
                        }
                    });
                    // An answer that was lost (a timeout, an unreadable 2xx) may mean the
                    // provider took the message: never hand it to another one.
                    let ambiguous = matches!(e, SubmitError::Ambiguous { .. });
                    let in_time = started.elapsed() < self.policy.chain_deadline;
                    let move_on =
                        has_next && !ambiguous && in_time && (misconfigured || budget_spent);
                    let outcome = if move_on {
                        format!("{e}; trying the next provider")
                    } else {
                        format!("{e}; will retry")
                    };
                    self.notes
                        .note_attempt(request.flow_id, request.order, name, &outcome)
                        .await;
                    if !move_on {
                        return Err(e);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| SubmitError::Retryable {
            reason: "no provider could take the message".into(),
        }))
    }

    /// Some provider of the channel can be used from this node.
    fn held_here(&self) -> bool {
        self.slots.iter().any(|s| s.candidate.provider.held_here())
    }

    fn states(&self) -> Vec<cascade_core::ports::ProviderState> {
        let now = Instant::now();
        self.slots
            .iter()
            .flat_map(|slot| {
                let circuit = match lock(&slot.breaker).state(now) {
                    CircuitState::Closed => "closed",
                    CircuitState::Open => "open",
                    CircuitState::HalfOpen => "half_open",
                };
                let c = *lock(&slot.counts);
                let counts = format!(
                    "priority {}, accepted {}, rejected {}, errors {}, skipped {}",
                    slot.candidate.priority, c.accepted, c.rejected, c.errors, c.skipped
                );
                slot.candidate
                    .provider
                    .states()
                    .into_iter()
                    .map(move |mut s| {
                        s.circuit = Some(circuit);
                        s.detail = if s.detail.is_empty() {
                            counts.clone()
                        } else {
                            format!("{}; {counts}", s.detail)
                        };
                        s
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cascade_core::Timestamp;
    use std::collections::VecDeque;

    #[derive(Debug)]
    struct Scripted {
        name: String,
        answers: Mutex<VecDeque<Result<Accepted, SubmitError>>>,
        calls: Mutex<u32>,
    }

    impl Scripted {
        fn new(name: &str, answers: Vec<Result<Accepted, SubmitError>>) -> Arc<Scripted> {
            Arc::new(Scripted {
                name: name.into(),
                answers: Mutex::new(answers.into()),
                calls: Mutex::new(0),
            })
        }
        fn calls(&self) -> u32 {
            *lock(&self.calls)
        }
    }

    #[async_trait]
    impl Provider for Scripted {
        fn name(&self) -> &str {
            &self.name
        }
        async fn submit(&self, _: &SubmitRequest) -> Result<Accepted, SubmitError> {
            *lock(&self.calls) += 1;
            lock(&self.answers)
                .pop_front()
                .unwrap_or_else(|| Ok(self.ok()))
        }
    }

    impl Scripted {
        fn ok(&self) -> Accepted {
            Accepted {
                provider: self.name.clone(),
                message_ids: vec![format!("{}-id", self.name)],
            }
        }
    }

    #[derive(Debug, Default)]
    struct Notes(Mutex<Vec<(String, String)>>);

    #[async_trait]
    impl ReportSink for Notes {
        async fn deliver(
            &self,
            _: &str,
            _: &[String],
            _: cascade_core::machines::Report,
        ) -> Result<cascade_core::ports::Recorded, String> {
            Err("not used".into())
        }
        async fn note_attempt(
            &self,
            _: cascade_core::FlowId,
            _: u32,
            provider: &str,
            outcome: &str,
        ) {
            lock(&self.0).push((provider.to_owned(), outcome.to_owned()));
        }
        async fn note_price(&self, _: &str, _: &str, _: &str) -> Result<bool, String> {
            Err("not used".into())
        }
        async fn inbound(&self, _: cascade_core::inbound::InboundMessage) -> Result<(), String> {
            Err("not used".into())
        }
        async fn claim_dial(
            &self,
            _: cascade_core::FlowId,
            _: u32,
            _: &str,
        ) -> Result<bool, String> {
            Err("not used".into())
        }
    }

    #[derive(Debug)]
    struct FixedClock(Timestamp);

    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            self.0
        }
        fn sleep_until(
            &self,
            _: Timestamp,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
            Box::pin(std::future::ready(()))
        }
    }

    /// A clock the test moves.
    #[derive(Debug, Default)]
    struct MovingClock(std::sync::atomic::AtomicI64);

    impl Clock for MovingClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
        }
        fn sleep_until(
            &self,
            _: Timestamp,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
            Box::pin(std::future::ready(()))
        }
    }

    fn down() -> SubmitError {
        SubmitError::Retryable {
            reason: "HTTP 503".into(),
        }
    }

    fn candidate(p: &Arc<Scripted>, routes: &[&str], priority: u32) -> Candidate {
        Candidate {
            provider: p.clone(),
            routes: routes.iter().map(|r| (*r).to_owned()).collect(),
            priority,
        }
    }

    /// A chain at `now_ms`, for a step that started at 0.
    fn chain(candidates: Vec<Candidate>, now_ms: i64) -> (ChannelProviders, Arc<Notes>) {
        let notes = Arc::new(Notes::default());
        let chain = ChannelProviders::new(
            Channel::Viber,
            candidates,
            FailoverPolicy::default(),
            Arc::new(FixedClock(Timestamp::from_millis(now_ms))),
            notes.clone(),
        );
        (chain, notes)
    }

    fn request() -> SubmitRequest {
        use cascade_core::flow::{SmsStep, Step, StepKind};
        use cascade_core::ports::JobPayload;
        use cascade_core::{Micros, Msisdn, SenderId};
        let plan = cascade_core::sms::plan("hi", false);
        let step = Step {
            order: 1,
            failover_on: Vec::new(),
            country: None,
            operator: String::new(),
            unit_price: Micros::ZERO,
            ttl_ms: Some(600_000),
            kind: StepKind::Sms(SmsStep {
                from: SenderId::parse("Cascade").unwrap(),
                to: Msisdn::parse("+306912345678").unwrap(),
                ttl_minutes: 10,
                body: "hi".into(),
                flash: false,
                label: None,
                inbound_url: None,
                transcode: false,
                encoding: plan.encoding,
                parts: plan.parts,
            }),
        };
        SubmitRequest {
            flow_id: cascade_core::FlowId::new_v7(0),
            order: 1,
            first_attempt: true,
            payload: JobPayload {
                created_at: Timestamp::from_millis(0),
                account_id: "a".into(),
                application_id: "x".into(),
                step,
                message_id: "m-1".into(),
                message_ids: vec!["m-1".into()],
            },
        }
    }

    #[test]
    fn order_is_priority_then_longest_prefix_then_section_order() {
        let a = Scripted::new("a", vec![]);
        let b = Scripted::new("b", vec![]);
        let c = Scripted::new("c", vec![]);
        let d = Scripted::new("d", vec![]);
        let (providers, _) = chain(
            vec![
                candidate(&a, &["*"], 2),
                candidate(&b, &["+30"], 1),
                candidate(&c, &["+3069", "*"], 1),
                candidate(&d, &["+44"], 1),
            ],
            0,
        );
        assert_eq!(providers.order("+306912345678"), vec![2, 1, 0]);
        assert_eq!(providers.order("+491234"), vec![2, 0]);
        assert_eq!(providers.order("+447700900000"), vec![3, 2, 0]);
    }

    #[test]
    fn a_sip_address_matches_sip_and_star_routes_only() {
        let routes = [
            vec!["+1".to_owned()],
            vec!["*".to_owned()],
            vec!["sip:".to_owned()],
        ];
        let order = |d: &str| route_order(routes.iter().map(|r| (1, r.as_slice())), d);
        // A numeric SIP user is not a phone number: "+1" does not take it.
        assert_eq!(order("1234@pbx.example.net"), vec![2, 1]);
        assert_eq!(order("+12025550100"), vec![0, 1]);
    }

    #[tokio::test]
    async fn within_the_budget_an_outage_is_retried_on_the_same_provider() {
        let a = Scripted::new("a", vec![Err(down())]);
        let b = Scripted::new("b", vec![]);
        let (providers, notes) = chain(
            vec![candidate(&a, &["*"], 1), candidate(&b, &["*"], 2)],
            1_000,
        );
        assert_eq!(providers.submit(&request()).await, Err(down()));
        assert_eq!((a.calls(), b.calls()), (1, 0));
        assert_eq!(lock(&notes.0).len(), 1);
        assert!(lock(&notes.0)[0].1.ends_with("will retry"));
    }

    #[tokio::test]
    async fn past_the_budget_the_next_provider_takes_the_message() {
        let a = Scripted::new("a", vec![Err(down()), Err(down())]);
        let b = Scripted::new("b", vec![]);
        let clock = Arc::new(MovingClock::default());
        let notes = Arc::new(Notes::default());
        let providers = ChannelProviders::new(
            Channel::Viber,
            vec![candidate(&a, &["*"], 1), candidate(&b, &["*"], 2)],
            FailoverPolicy::default(),
            clock.clone(),
            notes.clone(),
        );
        // A step that waited a minute in the queue: its first outage starts the budget.
        clock.0.store(60_000, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            providers.submit(&request()).await,
            Err(down()),
            "retried first"
        );
        clock.0.store(70_000, std::sync::atomic::Ordering::SeqCst);
        let accepted = providers.submit(&request()).await.expect("b takes it");
        assert_eq!(accepted.provider, "b");
        assert_eq!(lock(&notes.0)[1].0, "a");
        assert!(lock(&notes.0)[1].1.ends_with("trying the next provider"));
    }

    #[tokio::test]
    async fn refused_credentials_fail_over_at_once_and_a_verdict_never_does() {
        let a = Scripted::new(
            "a",
            vec![Err(SubmitError::Misconfigured {
                reason: "401".into(),
            })],
        );
        let b = Scripted::new("b", vec![]);
        let (providers, _) = chain(vec![candidate(&a, &["*"], 1), candidate(&b, &["*"], 2)], 0);
        assert_eq!(providers.submit(&request()).await.unwrap().provider, "b");

        let verdict = SubmitError::from(reasons::rejected_by_provider("a", "Invalid number"));
        let a = Scripted::new("a", vec![Err(verdict.clone())]);
        let b = Scripted::new("b", vec![]);
        let (providers, _) = chain(
            vec![candidate(&a, &["*"], 1), candidate(&b, &["*"], 2)],
            60_000,
        );
        assert_eq!(providers.submit(&request()).await, Err(verdict));
        assert_eq!(b.calls(), 0);
        assert_eq!(providers.statuses()[0].counts.rejected, 1);
    }

    #[tokio::test]
    async fn failures_in_a_row_open_the_circuit_and_the_provider_is_skipped() {
        let a = Scripted::new("a", (0..FAILURES_TO_OPEN).map(|_| Err(down())).collect());
        let b = Scripted::new("b", vec![]);
        let (providers, notes) = chain(vec![candidate(&a, &["*"], 1), candidate(&b, &["*"], 2)], 0);
        for _ in 0..FAILURES_TO_OPEN {
            assert!(providers.submit(&request()).await.is_err());
        }
        assert_eq!(providers.statuses()[0].circuit, CircuitState::Open);
        assert_eq!(providers.submit(&request()).await.unwrap().provider, "b");
        assert_eq!(a.calls(), FAILURES_TO_OPEN, "a was skipped");
        assert_eq!(providers.statuses()[0].counts.skipped, 1);
        assert_eq!(lock(&notes.0).last().unwrap().1, "skipped: circuit open");
    }

    #[tokio::test]
    async fn a_destination_no_provider_serves_fails_with_no_route() {
        let a = Scripted::new("a", vec![]);
        let (providers, _) = chain(vec![candidate(&a, &["+44"], 1)], 0);
        match providers.submit(&request()).await {
            Err(SubmitError::Rejected {
                detailed_status, ..
            }) => assert_eq!(detailed_status, "No route"),
            other => panic!("{other:?}"),
        }
    }

    #[derive(Debug)]
    struct Down;

    #[async_trait]
    impl Provider for Down {
        fn name(&self) -> &str {
            "down"
        }
        async fn submit(&self, _: &SubmitRequest) -> Result<Accepted, SubmitError> {
            panic!("a provider that is not ready is not asked");
        }
        fn ready(&self) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn a_provider_with_no_connection_is_passed_over_unless_it_is_the_last() {
        let b = Scripted::new("b", vec![]);
        let notes = Arc::new(Notes::default());
        let providers = ChannelProviders::new(
            Channel::Sms,
            vec![
                Candidate {
                    provider: Arc::new(Down),
                    routes: vec!["*".into()],
                    priority: 1,
                },
                candidate(&b, &["*"], 2),
            ],
            FailoverPolicy::default(),
            Arc::new(FixedClock(Timestamp::from_millis(0))),
            notes.clone(),
        );
        assert_eq!(providers.submit(&request()).await.unwrap().provider, "b");
        assert_eq!(
            lock(&notes.0)[0],
            ("down".into(), "skipped: not connected".into())
        );
        assert_eq!(providers.statuses()[0].counts.skipped, 1);

        // Alone, it is asked anyway (its submit waits for the connection).
        let only = Scripted::new("only", vec![]);
        let (providers, _) = chain(vec![candidate(&only, &["*"], 1)], 0);
        assert!(providers.submit(&request()).await.is_ok());
    }

    /// Hangs on its first hand-over, answers the next ones.
    #[derive(Debug, Default)]
    struct HangsOnce {
        calls: Mutex<u32>,
    }

    #[async_trait]
    impl Provider for HangsOnce {
        fn name(&self) -> &str {
            "hangs"
        }
        async fn submit(&self, _: &SubmitRequest) -> Result<Accepted, SubmitError> {
            let first = {
                let mut calls = lock(&self.calls);
                *calls += 1;
                *calls == 1
            };
            if first {
                std::future::pending::<()>().await;
            }
            Ok(Accepted {
                provider: "hangs".into(),
                message_ids: vec!["h-1".into()],
            })
        }
    }

    #[tokio::test]
    async fn a_half_open_trial_whose_request_is_dropped_does_not_stick() {
        let a = Arc::new(HangsOnce::default());
        let b = Scripted::new("b", vec![]);
        let policy = FailoverPolicy {
            circuit: CircuitPolicy {
                failures_to_open: 1,
                cooldown: Duration::ZERO,
            },
            ..FailoverPolicy::default()
        };
        let providers = ChannelProviders::new(
            Channel::Viber,
            vec![
                Candidate {
                    provider: a.clone(),
                    routes: vec!["*".into()],
                    priority: 1,
                },
                candidate(&b, &["*"], 2),
            ],
            policy,
            Arc::new(FixedClock(Timestamp::from_millis(0))),
            Arc::new(Notes::default()),
        );
        // Open the circuit (one failure opens it; a zero cool-down makes it half-open at
        // once), then let the trial's request hang until the caller gives up on it.
        lock(&providers.slots[0].breaker).failure(Instant::now());
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), providers.submit(&request())).await;
        assert!(gave_up.is_err(), "the trial hung");
        // The dropped trial counted as a failure: the next hand-over may try again.
        let accepted = providers.submit(&request()).await.unwrap();
        assert_eq!(
            accepted.provider, "hangs",
            "not skipped for a trial that never ended"
        );
        assert_eq!(b.calls(), 0);
    }

    #[tokio::test]
    async fn a_lost_answer_is_never_handed_to_another_provider() {
        let lost = SubmitError::Ambiguous {
            reason: "timed out".into(),
        };
        let a = Scripted::new("a", vec![Err(lost.clone())]);
        let b = Scripted::new("b", vec![]);
        let (providers, _) = chain(
            vec![candidate(&a, &["*"], 1), candidate(&b, &["*"], 2)],
            60_000,
        );
        assert_eq!(providers.submit(&request()).await, Err(lost));
        assert_eq!(b.calls(), 0, "the first may have taken it");
    }

    #[tokio::test]
    async fn a_message_whose_answer_was_lost_stays_with_its_provider_until_it_answers() {
        let lost = SubmitError::Ambiguous {
            reason: "timed out".into(),
        };
        let a = Scripted::new("a", vec![Err(lost.clone()), Err(down())]);
        let b = Scripted::new("b", vec![]);
        let clock = Arc::new(MovingClock::default());
        let providers = ChannelProviders::new(
            Channel::Viber,
            vec![candidate(&a, &["*"], 1), candidate(&b, &["*"], 2)],
            FailoverPolicy {
                budget: Duration::ZERO,
                ..FailoverPolicy::default()
            },
            clock.clone(),
            Arc::new(Notes::default()),
        );
        assert_eq!(providers.submit(&request()).await, Err(lost));
        // A 503 now, with no budget left: without the pin, b would take it.
        assert_eq!(providers.submit(&request()).await, Err(down()));
        assert_eq!(providers.submit(&request()).await.unwrap().provider, "a");
        assert_eq!((a.calls(), b.calls()), (3, 0), "never sent through b");
        // Answered for good: the next message is free to fail over again.
        assert!(lock(&providers.pinned).is_empty());
    }
}
