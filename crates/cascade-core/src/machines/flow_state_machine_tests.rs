//! Tests of the failover machine without any runtime: build a definition, feed events,
//! assert the state and the commands. A small simulated runner answers funds requests
//! the way the store does, so whole flows can be driven and property-tested.

use proptest::prelude::*;

use super::*;
use crate::address::{Msisdn, SenderId};
use crate::channel::{Channel, StatusKind};
use crate::flow::*;
use crate::ids::FlowId;
use crate::money::Micros;
use crate::sms::plan;
use crate::time::Timestamp;

const T0: i64 = 1_772_356_502_000;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

fn sms_step(order: u32, body: &str, failover_on: &[StatusKind]) -> Step {
    let p = plan(body, false);
    Step {
        order,
        failover_on: failover_on.to_vec(),
        country: Some("GR".into()),
        operator: String::new(),
        unit_price: Micros::new(50_000),
        ttl_ms: Some(60_000),
        kind: StepKind::Sms(SmsStep {
            from: SenderId::parse("Cascade").unwrap(),
            to: Msisdn::parse("+306912345678").unwrap(),
            ttl_minutes: 1,
            body: body.into(),
            flash: false,
            label: None,
            inbound_url: None,
            transcode: false,
            encoding: p.encoding,
            parts: p.parts,
        }),
    }
}

fn viber_step(order: u32, expire_on_delivery: bool) -> Step {
    Step {
        order,
        failover_on: Channel::Viber.default_failover_statuses().to_vec(),
        country: Some("GR".into()),
        operator: String::new(),
        unit_price: Micros::new(20_000),
        ttl_ms: Some(30_000),
        kind: StepKind::Viber(ViberStep {
            sender_info_tracking_id: "snd".into(),
            sender_name: "Brand".into(),
            to: Msisdn::parse("+306912345678").unwrap(),
            ttl_tenths: 5,
            expire_on_delivery,
            label: None,
            inbound_url: None,
            content: ViberContent {
                text: Some("hi".into()),
                image_url: None,
                action: None,
                file: None,
                video: None,
            },
        }),
    }
}

fn voice_step(order: u32) -> Step {
    Step {
        order,
        failover_on: Channel::Voice.default_failover_statuses().to_vec(),
        country: Some("GR".into()),
        operator: String::new(),
        unit_price: Micros::new(100_000),
        ttl_ms: Some(7_200_000),
        kind: StepKind::Voice(VoiceStep {
            from: SenderId::parse("+306900000000").unwrap(),
            to: VoiceTo {
                phone: Some(Msisdn::parse("+306912345678").unwrap()),
                viber: None,
                sip: None,
            },
            dial_plan: vec![Verb::Say {
                text: "hello".into(),
                language: "en-US".into(),
                gender: Gender::Female,
                repeat: 0,
                barge_in: false,
            }],
            machine_detection: None,
        }),
    }
}

fn flow(steps: Vec<Step>) -> FlowDefinition {
    FlowDefinition {
        tracking_id: FlowId::new_v7(T0),
        account_id: "acc".into(),
        application_id: "app".into(),
        created_at: t(0),
        steps,
        callback: None,
    }
}

/// Plays the runner's part: answers funds requests against a balance, keeps timers and
/// pending submits, and tallies money moved.
struct Sim {
    def: FlowDefinition,
    state: FlowState,
    balance: Micros,
    debited: Micros,
    pending_submits: Vec<u32>,
    timers: Vec<(u32, Timestamp)>,
    log: Vec<TimelineEntry>,
    notified: Vec<Change>,
}

impl Sim {
    fn new(def: FlowDefinition, balance: Micros) -> Self {
        let state = FlowState::new(def.created_at);
        Self {
            def,
            state,
            balance,
            debited: Micros::ZERO,
            pending_submits: Vec::new(),
            timers: Vec::new(),
            log: Vec::new(),
            notified: Vec::new(),
        }
    }

    /// Apply one event through the runner's loop ([`Apply`]), answering funds from the
    /// balance; returns the commands the machine gave, or the first refusal.
    fn send(&mut self, event: Event, now: Timestamp) -> Result<Vec<Command>, EngineError> {
        let mut run = Apply::new(&self.def, vec![event], now);
        let mut all = Vec::new();
        let mut refused = None;
        while let Some(output) = run.poll(&mut self.state) {
            match output {
                Output::ReserveFunds { amount, debit, .. } => {
                    let covered = self.balance >= amount;
                    if covered && debit {
                        self.balance = self.balance - amount;
                        self.debited += amount;
                    }
                    run.funds(covered);
                }
                Output::Command(c) => {
                    match &c {
                        Command::Credit { amount } => {
                            self.balance += *amount;
                            self.debited = self.debited - *amount;
                        }
                        Command::Debit { amount } => {
                            self.balance = self.balance - *amount;
                            self.debited += *amount;
                        }
                        Command::Submit { order } => self.pending_submits.push(*order),
                        Command::SetTimer { order, at, .. } => {
                            self.timers.retain(|(o, _)| o != order);
                            self.timers.push((*order, *at));
                        }
                        Command::CancelTimer { order, .. } => {
                            self.timers.retain(|(o, _)| o != order);
                        }
                        Command::Record(e) => self.log.push(e.clone()),
                        Command::Notify(n) => self.notified.push(n.clone()),
                        Command::ReserveFunds { .. } => unreachable!("Apply answers these"),
                    }
                    all.push(c);
                }
                Output::Callback => {}
                Output::Refused(e) => {
                    refused.get_or_insert(e);
                }
            }
        }
        match refused {
            Some(e) => Err(e),
            None => Ok(all),
        }
    }

    fn start(&mut self) {
        self.send(Event::Start, t(0)).unwrap();
    }

    /// Hand every pending submit to the "provider".
    fn submit_all(&mut self, now: Timestamp) {
        for order in std::mem::take(&mut self.pending_submits) {
            let n = self.state.step(order).unwrap().messages.len();
            let ids = (1..=n).map(|p| format!("p-{order}-{p}")).collect();
            self.send(
                Event::Submitted {
                    order,
                    provider_ids: ids,
                },
                now,
            )
            .unwrap();
        }
    }

    fn report(&mut self, order: u32, part: u32, status: StatusKind, now: Timestamp) {
        self.send(
            Event::Report {
                order,
                part,
                report: Report::status(status, now),
            },
            now,
        )
        .unwrap();
    }

    fn fire_timers(&mut self, now: Timestamp) {
        for (order, _) in std::mem::take(&mut self.timers) {
            self.send(
                Event::TimerFired {
                    order,
                    kind: TimerKind::Ttl,
                },
                now,
            )
            .unwrap();
        }
    }

    fn kinds(&self) -> Vec<&str> {
        self.log.iter().map(|e| e.kind.as_str()).collect()
    }
}

fn eur(x: f64) -> Micros {
    Micros::from_decimal(x).unwrap()
}

// --- outcome rules ----------------------------------------------------------------------

#[test]
fn rule1_success_ends_the_flow() {
    let mut sim = Sim::new(
        flow(vec![
            sms_step(1, "hi", &[StatusKind::Undelivered]),
            voice_step(2),
        ]),
        eur(10.0),
    );
    sim.start();
    assert_eq!(
        sim.state.status,
        FlowStatus::Queued,
        "queued until handed to a provider"
    );
    sim.submit_all(t(1));
    assert_eq!(sim.state.status, FlowStatus::InProgress);
    assert_eq!(sim.timers, vec![(1, t(60_001))]);
    sim.report(1, 1, StatusKind::Delivered, t(30));
    assert_eq!(sim.state.status, FlowStatus::Succeeded);
    assert_eq!(sim.state.status_code, None);
    assert!(sim.timers.is_empty(), "the TTL timer is cancelled");
    assert_eq!(sim.state.steps.len(), 1, "no further step starts");
    assert_eq!(sim.state.total_price(), eur(0.05));
    assert_eq!(sim.debited, eur(0.05));
    let msg = &sim.state.steps[0].messages[0];
    assert_eq!(msg.latency_ms, Some(29));
    assert_eq!(
        sim.kinds(),
        [
            "accepted",
            "step_started",
            "submitted",
            "report",
            "step_completed",
            "flow_completed"
        ]
    );
}

#[test]
fn rule2_listed_failure_starts_next_step() {
    let mut sim = Sim::new(
        flow(vec![
            viber_step(1, false),
            sms_step(2, "hi", &[StatusKind::Undelivered]),
        ]),
        eur(10.0),
    );
    sim.start();
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::Expired, t(5));
    assert_eq!(sim.state.status, FlowStatus::InProgress);
    assert_eq!(sim.state.steps.len(), 2);
    assert_eq!(sim.pending_submits, vec![2]);
    assert_eq!(sim.state.termination_channel(&sim.def), Some(Channel::Sms));
}

#[test]
fn rule3_listed_failure_on_last_step_is_code_2() {
    let mut sim = Sim::new(
        flow(vec![sms_step(
            1,
            "hi",
            &[StatusKind::Undelivered, StatusKind::Failed],
        )]),
        eur(1.0),
    );
    sim.start();
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::Undelivered, t(5));
    assert_eq!(sim.state.status, FlowStatus::Failed);
    assert_eq!(sim.state.status_code, Some(FailureCode::StepsExhausted));
}

#[test]
fn rule4_unlisted_failure_is_code_3() {
    let mut sim = Sim::new(
        flow(vec![
            sms_step(1, "hi", &[StatusKind::Undelivered]),
            voice_step(2),
        ]),
        eur(1.0),
    );
    sim.start();
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::Failed, t(5));
    assert_eq!(sim.state.status, FlowStatus::Failed);
    assert_eq!(sim.state.status_code, Some(FailureCode::NotListed));
    assert_eq!(sim.state.steps.len(), 1);
}

#[test]
fn rule5_balance_refusal_is_unsent_and_code_1() {
    // Enough for the Viber message (0.02), not for two SMS parts (0.10).
    let long = "x".repeat(200);
    let mut sim = Sim::new(
        flow(vec![
            viber_step(1, false),
            sms_step(2, &long, &[StatusKind::Failed]),
        ]),
        eur(0.05),
    );
    sim.start();
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::Undelivered, t(5));
    assert_eq!(sim.state.status, FlowStatus::Failed);
    assert_eq!(
        sim.state.status_code,
        Some(FailureCode::InsufficientBalance)
    );
    let sms = sim.state.step(2).unwrap();
    assert_eq!(sms.messages.len(), 2);
    assert!(
        sms.messages
            .iter()
            .all(|m| m.status == StatusKind::Unsent && m.price == Micros::ZERO)
    );
    assert!(sim.pending_submits.is_empty(), "nothing is sent");
    assert_eq!(sim.balance, eur(0.03));
    assert_eq!(sim.state.total_price(), eur(0.02));
}

#[test]
fn rule5_applies_to_the_first_step_too() {
    let mut sim = Sim::new(
        flow(vec![sms_step(1, "hi", &[StatusKind::Failed])]),
        Micros::ZERO,
    );
    sim.start();
    assert_eq!(sim.state.status, FlowStatus::Failed);
    assert_eq!(
        sim.state.status_code,
        Some(FailureCode::InsufficientBalance)
    );
    assert_eq!(sim.state.termination_channel(&sim.def), Some(Channel::Sms));
}

#[test]
fn rule6_internal_error_is_code_0() {
    let mut sim = Sim::new(
        flow(vec![
            sms_step(1, "hi", &[StatusKind::Failed]),
            voice_step(2),
        ]),
        eur(1.0),
    );
    sim.start();
    sim.send(
        Event::InternalError {
            order: 1,
            detail: "no provider".into(),
        },
        t(1),
    )
    .unwrap();
    assert_eq!(sim.state.status, FlowStatus::Failed);
    assert_eq!(sim.state.status_code, Some(FailureCode::Internal));
    assert_eq!(sim.state.steps[0].messages[0].status, StatusKind::Failed);
}

// --- submission ---------------------------------------------------------------------------

#[test]
fn refused_submission_refunds_and_fails_over() {
    let mut sim = Sim::new(
        flow(vec![
            sms_step(1, "hi", &[StatusKind::Failed]),
            voice_step(2),
        ]),
        eur(1.0),
    );
    sim.start();
    assert_eq!(
        std::mem::take(&mut sim.pending_submits),
        vec![1],
        "the dispatcher takes the job"
    );
    sim.send(
        Event::SubmitFailed {
            order: 1,
            status: StatusKind::Failed,
            detailed_status: "Rejected".into(),
            description: "ESME_RINVDSTADR".into(),
        },
        t(1),
    )
    .unwrap();
    assert_eq!(sim.state.steps[0].messages[0].price, Micros::ZERO);
    assert_eq!(sim.balance, eur(1.0), "the reservation is refunded");
    assert_eq!(sim.pending_submits, vec![2]);
}

#[test]
fn submitted_twice_is_ignored() {
    let mut sim = Sim::new(
        flow(vec![sms_step(1, "hi", &[StatusKind::Failed])]),
        eur(1.0),
    );
    sim.start();
    sim.submit_all(t(1));
    let cmds = sim
        .send(
            Event::Submitted {
                order: 1,
                provider_ids: vec!["other".into()],
            },
            t(2),
        )
        .unwrap();
    assert!(
        cmds.iter()
            .all(|c| matches!(c, Command::Record(e) if e.ignored))
    );
    assert_eq!(
        sim.state.steps[0].messages[0].provider_id.as_deref(),
        Some("p-1-1")
    );
}

#[test]
fn provider_id_count_must_match_parts() {
    let mut sim = Sim::new(
        flow(vec![sms_step(1, &"y".repeat(200), &[StatusKind::Failed])]),
        eur(1.0),
    );
    sim.start();
    let err = sim
        .send(
            Event::Submitted {
                order: 1,
                provider_ids: vec!["one".into()],
            },
            t(1),
        )
        .unwrap_err();
    assert_eq!(
        err,
        EngineError::ProviderIdCount {
            order: 1,
            expected: 2,
            actual: 1
        }
    );
}

// --- TTL --------------------------------------------------------------------------------

#[test]
fn sms_ttl_expiry_is_undelivered_expired() {
    let mut sim = Sim::new(
        flow(vec![
            sms_step(1, "hi", &[StatusKind::Undelivered]),
            voice_step(2),
        ]),
        eur(1.0),
    );
    sim.start();
    sim.submit_all(t(1));
    sim.fire_timers(t(60_001));
    let msg = &sim.state.steps[0].messages[0];
    assert_eq!(
        (msg.status, msg.detailed_status()),
        (StatusKind::Undelivered, "Expired")
    );
    assert_eq!(
        sim.state.steps.len(),
        2,
        "expiry fails over like a report would"
    );
}

#[test]
fn viber_ttl_without_delivery_is_ttl_expired() {
    let mut sim = Sim::new(flow(vec![viber_step(1, false)]), eur(1.0));
    sim.start();
    sim.submit_all(t(1));
    sim.fire_timers(t(30_001));
    let msg = &sim.state.steps[0].messages[0];
    assert_eq!(
        (msg.status, msg.detailed_status()),
        (StatusKind::Expired, "TTL Expired")
    );
    assert_eq!(msg.expired_on_delivery_at, None);
    assert_eq!(sim.state.status_code, Some(FailureCode::StepsExhausted));
}

#[test]
fn expire_on_delivery_waits_for_seen() {
    let mut sim = Sim::new(flow(vec![viber_step(1, true), voice_step(2)]), eur(1.0));
    sim.start();
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::Delivered, t(20));
    assert_eq!(
        sim.state.status,
        FlowStatus::InProgress,
        "DELIVERED is not enough"
    );
    assert_eq!(sim.timers.len(), 1, "the TTL still runs");
    sim.fire_timers(t(30_001));
    let msg = &sim.state.steps[0].messages[0];
    assert_eq!(msg.status, StatusKind::Expired);
    assert_eq!(msg.expired_on_delivery_at, Some(t(30_001)));
    assert_eq!(sim.state.steps.len(), 2, "only then does the flow move on");
}

#[test]
fn expire_on_delivery_succeeds_on_seen() {
    let mut sim = Sim::new(flow(vec![viber_step(1, true), voice_step(2)]), eur(1.0));
    sim.start();
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::Delivered, t(20));
    sim.report(1, 1, StatusKind::Seen, t(40));
    assert_eq!(sim.state.status, FlowStatus::Succeeded);
    assert!(sim.timers.is_empty());
}

#[test]
fn timer_after_outcome_is_a_no_op() {
    let mut sim = Sim::new(
        flow(vec![sms_step(1, "hi", &[StatusKind::Undelivered])]),
        eur(1.0),
    );
    sim.start();
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::Delivered, t(10));
    let before = sim.state.clone();
    let cmds = sim
        .send(
            Event::TimerFired {
                order: 1,
                kind: TimerKind::Ttl,
            },
            t(60_001),
        )
        .unwrap();
    assert!(cmds.is_empty());
    assert_eq!(sim.state, before);
}

// --- reports ------------------------------------------------------------------------------

#[test]
fn duplicate_and_stale_reports_change_nothing() {
    let mut sim = Sim::new(
        flow(vec![
            sms_step(1, "hi", &[StatusKind::Undelivered]),
            voice_step(2),
        ]),
        eur(1.0),
    );
    sim.start();
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::Delivered, t(10));
    let before = sim.state.clone();
    sim.report(1, 1, StatusKind::Delivered, t(11));
    sim.report(1, 1, StatusKind::Sent, t(12));
    sim.report(1, 1, StatusKind::Undelivered, t(13));
    assert_eq!(sim.state, before);
    let flags: Vec<_> = sim
        .log
        .iter()
        .rev()
        .take(3)
        .map(|e| (e.duplicate, e.ignored))
        .collect();
    assert_eq!(flags, [(false, true), (false, true), (true, true)]);
}

#[test]
fn late_report_updates_its_message_but_not_the_flow() {
    let mut sim = Sim::new(
        flow(vec![
            sms_step(1, "hi", &[StatusKind::Undelivered]),
            voice_step(2),
        ]),
        eur(1.0),
    );
    sim.start();
    sim.submit_all(t(1));
    sim.fire_timers(t(60_001));
    sim.submit_all(t(60_002));
    assert_eq!(sim.state.steps.len(), 2);
    sim.report(1, 1, StatusKind::Delivered, t(60_500));
    let sms = &sim.state.steps[0].messages[0];
    assert_eq!(sms.status, StatusKind::Delivered, "recorded on its message");
    assert_eq!(
        sim.state.status,
        FlowStatus::InProgress,
        "the flow is not re-opened"
    );
    assert_eq!(sim.state.steps.len(), 2, "no step starts twice");
    assert!(sim.log.last().unwrap().late);
}

#[test]
fn report_for_unknown_step_is_recorded_and_ignored() {
    let mut sim = Sim::new(
        flow(vec![
            sms_step(1, "hi", &[StatusKind::Undelivered]),
            voice_step(2),
        ]),
        eur(1.0),
    );
    sim.start();
    let before = sim.state.clone();
    sim.report(2, 1, StatusKind::Completed, t(5));
    sim.report(9, 1, StatusKind::Completed, t(5));
    assert_eq!(sim.state, before);
    assert!(sim.log.iter().rev().take(2).all(|e| e.ignored));
}

#[test]
fn report_status_of_another_channel_is_refused() {
    let mut sim = Sim::new(
        flow(vec![sms_step(1, "hi", &[StatusKind::Undelivered])]),
        eur(1.0),
    );
    sim.start();
    sim.submit_all(t(1));
    let err = sim.send(
        Event::Report {
            order: 1,
            part: 1,
            report: Report::status(StatusKind::Seen, t(2)),
        },
        t(2),
    );
    assert!(matches!(err, Err(EngineError::StatusNotOfChannel { .. })));
}

#[test]
fn multipart_outcome_is_the_worst_part() {
    let body = "z".repeat(320); // 3 parts
    let mut sim = Sim::new(
        flow(vec![
            sms_step(1, &body, &[StatusKind::Undelivered]),
            voice_step(2),
        ]),
        eur(1.0),
    );
    sim.start();
    assert_eq!(sim.balance, eur(0.85), "charged per part when sent");
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::Delivered, t(10));
    sim.report(1, 3, StatusKind::Delivered, t(11));
    assert_eq!(sim.state.steps.len(), 1, "waits for every part");
    sim.report(1, 2, StatusKind::Undelivered, t(12));
    assert_eq!(sim.state.steps[0].outcome, Some(StatusKind::Undelivered));
    assert_eq!(sim.state.steps.len(), 2);
}

#[test]
fn voice_is_charged_per_started_minute_at_the_end() {
    let mut sim = Sim::new(flow(vec![voice_step(1)]), eur(1.0));
    sim.start();
    assert_eq!(sim.balance, eur(1.0), "a call is only checked at start");
    sim.submit_all(t(1));
    let mut report = Report::status(StatusKind::Completed, t(90_000));
    report.duration_s = Some(61);
    report.answered_by = Some(AnsweredBy::Human);
    sim.send(
        Event::Report {
            order: 1,
            part: 1,
            report,
        },
        t(90_000),
    )
    .unwrap();
    let msg = &sim.state.steps[0].messages[0];
    assert_eq!(
        (msg.price, msg.duration_s, msg.answered_by),
        (eur(0.2), Some(61), Some(AnsweredBy::Human))
    );
    assert_eq!(sim.balance, eur(0.8));
    assert_eq!(sim.state.status, FlowStatus::Succeeded);
}

#[test]
fn a_call_never_answered_keeps_duration_and_answered_by_null_when_its_provider_says_so() {
    for never_answered in [false, true] {
        let mut sim = Sim::new(flow(vec![voice_step(1)]), eur(1.0));
        sim.start();
        sim.submit_all(t(1));
        let mut report = Report::status(StatusKind::Busy, t(2_000));
        report.never_answered = never_answered;
        sim.send(
            Event::Report {
                order: 1,
                part: 1,
                report,
            },
            t(2_000),
        )
        .unwrap();
        let msg = &sim.state.steps[0].messages[0];
        let expected = if never_answered {
            (None, None)
        } else {
            (Some(0), Some(AnsweredBy::Unknown))
        };
        assert_eq!((msg.duration_s, msg.answered_by), expected);
        assert_eq!((msg.status, msg.price), (StatusKind::Busy, eur(0.0)));
    }
}

/// A call with machine detection `strategy`: in progress, a detection result, then the
/// provider's `completed`.
fn machine_answered_call(strategy: MachineDetection) -> Sim {
    let mut step = voice_step(1);
    if let StepKind::Voice(v) = &mut step.kind {
        v.machine_detection = Some(strategy);
    }
    let mut sim = Sim::new(flow(vec![step]), eur(1.0));
    sim.start();
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::InProgress, t(10));
    let mut amd = Report::status(StatusKind::InProgress, t(20));
    amd.answered_by = Some(AnsweredBy::Machine);
    sim.send(
        Event::Report {
            order: 1,
            part: 1,
            report: amd,
        },
        t(20),
    )
    .unwrap();
    assert_eq!(
        sim.state.steps[0].messages[0].answered_by,
        Some(AnsweredBy::Machine),
        "who answered is kept from a report that changes no status"
    );
    let mut completed = Report::status(StatusKind::Completed, t(30));
    completed.duration_s = Some(3);
    sim.send(
        Event::Report {
            order: 1,
            part: 1,
            report: completed,
        },
        t(30),
    )
    .unwrap();
    sim
}

#[test]
fn a_machine_with_hangup_ends_no_answer_whatever_the_provider_calls_the_end() {
    let sim = machine_answered_call(MachineDetection::Hangup);
    let msg = &sim.state.steps[0].messages[0];
    assert_eq!(msg.status, StatusKind::NoAnswer);
    assert_eq!(msg.answered_by, Some(AnsweredBy::Machine));
    let reason = crate::reasons::answered_by_machine();
    let tracking = crate::tracking::render_tracking(&sim.def, &sim.state);
    assert_eq!(
        tracking["messages"][0]["status"]["reason"]["detailedStatus"],
        reason.detailed_status
    );
}

#[test]
fn a_machine_with_continue_completes() {
    let sim = machine_answered_call(MachineDetection::Continue);
    let msg = &sim.state.steps[0].messages[0];
    assert_eq!(msg.status, StatusKind::Completed);
    assert_eq!(msg.answered_by, Some(AnsweredBy::Machine));
}

#[test]
fn voice_without_final_report_fails_at_deadline() {
    let mut sim = Sim::new(flow(vec![voice_step(1)]), eur(1.0));
    sim.start();
    sim.submit_all(t(1));
    sim.report(1, 1, StatusKind::Ringing, t(5));
    sim.fire_timers(t(7_200_001));
    assert_eq!(sim.state.steps[0].messages[0].status, StatusKind::Failed);
    assert_eq!(sim.state.status_code, Some(FailureCode::NotListed));
}

#[test]
fn message_ids_are_stable_per_flow() {
    let def = flow(vec![sms_step(1, &"q".repeat(200), &[StatusKind::Failed])]);
    let mut a = Sim::new(def.clone(), eur(1.0));
    let mut b = Sim::new(def, eur(1.0));
    a.start();
    b.start();
    assert_eq!(a.state.steps[0].message_id, b.state.steps[0].message_id);
    let ids: Vec<_> = a.state.steps[0]
        .messages
        .iter()
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn message_ids_share_the_flow_time_prefix() {
    let def = flow(vec![sms_step(1, "hi", &[StatusKind::Failed])]);
    let mut sim = Sim::new(def.clone(), eur(1.0));
    sim.start();
    let flow_id = def.tracking_id.to_string();
    let msg = &sim.state.steps[0].messages[0].id;
    assert_eq!(&msg[..13], &flow_id[..13], "same millisecond prefix");
    assert_ne!(msg, &flow_id);
    assert_eq!(uuid::Uuid::parse_str(msg).unwrap().get_version_num(), 8);
}

#[test]
fn start_twice_is_refused() {
    let mut sim = Sim::new(
        flow(vec![sms_step(1, "hi", &[StatusKind::Failed])]),
        eur(1.0),
    );
    sim.start();
    assert_eq!(
        sim.send(Event::Start, t(1)),
        Err(EngineError::AlreadyStarted)
    );
}

// --- properties -----------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Input {
    Submit,
    Report {
        step: usize,
        part: u32,
        status: usize,
    },
    Timer {
        step: usize,
    },
    Refuse {
        step: usize,
    },
    Internal {
        step: usize,
    },
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => Just(Input::Submit),
        8 => (0usize..3, 1u32..=3, 0usize..10).prop_map(|(step, part, status)| Input::Report { step, part, status }),
        2 => (0usize..3).prop_map(|step| Input::Timer { step }),
        1 => (0usize..3).prop_map(|step| Input::Refuse { step }),
        1 => (0usize..3).prop_map(|step| Input::Internal { step }),
    ]
}

fn def_strategy() -> impl Strategy<Value = FlowDefinition> {
    let step = (0usize..4, any::<bool>()).prop_map(|(kind, flag)| match kind {
        0 => sms_step(0, "short", &[StatusKind::Undelivered, StatusKind::Failed]),
        1 => sms_step(
            0,
            &"m".repeat(200),
            if flag {
                &[StatusKind::Undelivered][..]
            } else {
                &[StatusKind::Failed][..]
            },
        ),
        2 => viber_step(0, flag),
        _ => voice_step(0),
    });
    prop::collection::vec(step, 1..=3).prop_map(|steps| {
        let steps = steps
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                s.order = u32::try_from(i + 1).unwrap() * 10;
                s
            })
            .collect();
        flow(steps)
    })
}

fn check_invariants(sim: &Sim, was_final: Option<(FlowStatus, Option<FailureCode>)>) {
    // Steps start in definition order, each at most once.
    let orders: Vec<u32> = sim.state.steps.iter().map(|s| s.order).collect();
    let expected: Vec<u32> = sim
        .def
        .steps
        .iter()
        .take(orders.len())
        .map(|s| s.order)
        .collect();
    assert_eq!(orders, expected, "steps start once each, in order");
    // Only the last step may be undecided.
    for s in &sim.state.steps[..sim.state.steps.len().saturating_sub(1)] {
        assert!(s.outcome.is_some(), "an earlier step is decided");
    }
    // A decided last step means a final flow.
    if sim.state.current().is_some_and(|s| s.outcome.is_some()) {
        assert!(sim.state.is_final(), "every step final ⇒ the flow is final");
    }
    // Final is absorbing.
    if let Some(before) = was_final {
        assert_eq!(
            (sim.state.status, sim.state.status_code),
            before,
            "a final flow never changes"
        );
    }
    // statusCode only on failure.
    assert_eq!(
        sim.state.status_code.is_some(),
        sim.state.status == FlowStatus::Failed
    );
    // Money: what the flow shows is what the account paid.
    assert_eq!(sim.state.total_price(), sim.debited);
    assert!(
        !sim.balance.is_negative() || sim.def.steps.iter().any(|s| s.channel() == Channel::Voice)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_event_orders_keep_the_invariants(
        def in def_strategy(),
        balance in prop_oneof![Just(10_000_000i64), 0i64..150_000],
        inputs in prop::collection::vec(input(), 0..40),
    ) {
        let mut sim = Sim::new(def, Micros::new(balance));
        sim.start();
        check_invariants(&sim, None);
        let mut now = 1i64;
        for inp in inputs {
            now += 7;
            let was_final = sim.state.is_final().then_some((sim.state.status, sim.state.status_code));
            let order_of = |sim: &Sim, i: usize| sim.def.steps[i % sim.def.steps.len()].order;
            let result = match inp {
                Input::Submit => { sim.submit_all(t(now)); Ok(Vec::new()) }
                Input::Report { step, part, status } => {
                    let order = order_of(&sim, step);
                    let channel = sim.def.steps[step % sim.def.steps.len()].channel();
                    let statuses = channel.statuses();
                    let status = statuses[status % statuses.len()];
                    let mut report = Report::status(status, t(now));
                    report.duration_s = Some(33);
                    sim.send(Event::Report { order, part, report }, t(now))
                }
                Input::Timer { step } => {
                    let order = order_of(&sim, step);
                    sim.send(Event::TimerFired { order, kind: TimerKind::Ttl }, t(now))
                }
                Input::Refuse { step } => {
                    let order = order_of(&sim, step);
                    let submitting = sim.state.current().is_some_and(|s| s.order == order && s.phase == StepPhase::Submitting && s.outcome.is_none());
                    let r = sim.send(Event::SubmitFailed { order, status: StatusKind::Failed, detailed_status: "x".into(), description: "y".into() }, t(now));
                    if submitting { sim.pending_submits.retain(|o| *o != order); }
                    r
                }
                Input::Internal { step } => {
                    let order = order_of(&sim, step);
                    sim.send(Event::InternalError { order, detail: "boom".into() }, t(now))
                }
            };
            // The only refusals random input can provoke are protocol misuse, never a
            // half-applied state.
            if let Err(e) = result {
                prop_assert!(matches!(e, EngineError::UnexpectedEvent { .. }), "{e}");
            }
            check_invariants(&sim, was_final);
        }
        // Whatever happened, driving the flow with its timers always ends it: never stuck.
        for _ in 0..(sim.def.steps.len() * 3 + 2) {
            if sim.state.is_final() { break; }
            now += 1_000_000_000;
            sim.submit_all(t(now));
            sim.fire_timers(t(now + 1));
        }
        prop_assert!(sim.state.is_final(), "flow stuck: {:?}", sim.state);
        check_invariants(&sim, None);
    }
}

// --- the runner's loop (Apply) ----------------------------------------------------------

/// Drive `events` through [`Apply`] with `balance`, returning the outputs in order.
fn run_outputs(
    def: &FlowDefinition,
    state: &mut FlowState,
    events: Vec<Event>,
    balance: Micros,
) -> Vec<Output> {
    let mut run = Apply::new(def, events, t(1));
    let mut outputs = Vec::new();
    while let Some(output) = run.poll(state) {
        if let Output::ReserveFunds { amount, .. } = &output {
            let covered = balance >= *amount;
            outputs.push(output.clone());
            run.funds(covered);
            continue;
        }
        outputs.push(output);
    }
    outputs
}

fn with_callback(mut def: FlowDefinition, strategy: CallbackStrategy) -> FlowDefinition {
    def.callback = Some(Callback {
        strategy,
        url: "https://hooks.example.com/cascade".into(),
    });
    def
}

#[test]
fn apply_answers_funds_before_the_next_queued_event() {
    let def = flow(vec![sms_step(1, "hi", &[StatusKind::Undelivered])]);
    let mut state = FlowState::new(def.created_at);
    // Start asks for funds; the InternalError queued behind it must see the step already
    // Submitting (the answer went first), so it fails the step rather than being ignored.
    let outputs = run_outputs(
        &def,
        &mut state,
        vec![
            Event::Start,
            Event::InternalError {
                order: 1,
                detail: "x".into(),
            },
        ],
        eur(1.0),
    );
    let submit_at = outputs
        .iter()
        .position(|o| matches!(o, Output::Command(Command::Submit { order: 1 })))
        .expect("the answer produced the submit");
    let funds_at = outputs
        .iter()
        .position(|o| matches!(o, Output::ReserveFunds { order: 1, .. }))
        .expect("funds were asked for");
    assert!(funds_at < submit_at);
    assert_eq!(state.status, FlowStatus::Failed);
    assert_eq!(state.status_code, Some(FailureCode::Internal));
}

#[test]
fn apply_turns_a_refused_submission_answer_into_an_internal_error() {
    let def = flow(vec![sms_step(1, "hi", &[StatusKind::Undelivered])]);
    let mut state = FlowState::new(def.created_at);
    run_outputs(&def, &mut state, vec![Event::Start], eur(1.0));
    let outputs = run_outputs(
        &def,
        &mut state,
        vec![Event::Submitted {
            order: 1,
            provider_ids: vec!["a".into(), "b".into()],
        }],
        eur(1.0),
    );
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Refused(EngineError::ProviderIdCount { .. })))
    );
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::Command(Command::Record(e)) if e.kind == TimelineKind::Rejected && e.ignored
    )));
    assert_eq!(
        (state.status, state.status_code),
        (FlowStatus::Failed, Some(FailureCode::Internal)),
        "its job is gone: left alone the step would wait forever"
    );
}

#[test]
fn apply_refusing_a_report_changes_nothing_else() {
    let def = flow(vec![sms_step(1, "hi", &[StatusKind::Undelivered])]);
    let mut state = FlowState::new(def.created_at);
    run_outputs(&def, &mut state, vec![Event::Start], eur(1.0));
    let before = state.clone();
    let outputs = run_outputs(
        &def,
        &mut state,
        vec![Event::Report {
            order: 1,
            part: 1,
            report: Report::status(StatusKind::Seen, t(2)),
        }],
        eur(1.0),
    );
    assert_eq!(state, before);
    assert_eq!(
        outputs.len(),
        2,
        "the rejected record and the refusal: {outputs:?}"
    );
}

#[test]
fn apply_asks_for_a_callback_per_change_or_only_at_the_end() {
    let events = |_: ()| {
        vec![
            Event::Start,
            Event::Submitted {
                order: 1,
                provider_ids: vec!["p".into()],
            },
            Event::Report {
                order: 1,
                part: 1,
                report: Report::status(StatusKind::Delivered, t(3)),
            },
        ]
    };
    let count = |strategy: Option<CallbackStrategy>| {
        let base = flow(vec![sms_step(1, "hi", &[StatusKind::Undelivered])]);
        let def = match strategy {
            Some(s) => with_callback(base, s),
            None => base,
        };
        let mut state = FlowState::new(def.created_at);
        let outputs = run_outputs(&def, &mut state, events(()), eur(1.0));
        assert_eq!(state.status, FlowStatus::Succeeded);
        outputs
            .iter()
            .filter(|o| matches!(o, Output::Callback))
            .count()
    };
    // Start (Queued), FundsReserved (nothing visible), Submitted (Sent + InProgress),
    // the report (Delivered + Succeeded): three events changed what a subscriber sees.
    assert_eq!(count(Some(CallbackStrategy::OnChange)), 3);
    assert_eq!(count(Some(CallbackStrategy::OnStep)), 3);
    assert_eq!(count(Some(CallbackStrategy::OnCompletion)), 1);
    assert_eq!(count(None), 0);
}

#[test]
#[should_panic(expected = "answer ReserveFunds")]
fn apply_refuses_to_go_on_while_funds_are_unanswered() {
    let def = flow(vec![sms_step(1, "hi", &[StatusKind::Undelivered])]);
    let mut state = FlowState::new(def.created_at);
    let mut run = Apply::new(&def, vec![Event::Start], t(1));
    while let Some(output) = run.poll(&mut state) {
        if matches!(output, Output::ReserveFunds { .. }) {
            let _ = run.poll(&mut state);
        }
    }
}
