//! The failover state machine: what each phase of a step does with each event.
//!
//! | phase of the step the event names | event | what happens |
//! | --- | --- | --- |
//! | — (nothing started) | `Start` | record `accepted`; start the first step: **Reserving** + `ReserveFunds` |
//! | Reserving | `FundsReserved` | **Submitting** + `Submit` |
//! | Reserving | `FundsRefused` | messages `Unsent`; the flow ends `Failed`, statusCode `"1"` |
//! | Submitting | `Submitted` | **Sent**: provider ids kept, messages at the channel's sent status, `SetTimer(ttl)`; the flow is `InProgress` |
//! | Submitting | `SubmitFailed` | messages final with the provider's reason, the reservation refunded; evaluate |
//! | any started step | `Report` | the message moves (never backwards); an undecided step is evaluated |
//! | any started step | `Report` of the status the message has | a duplicate; only a new `answeredBy` (a machine-detection result) is kept |
//! | a Voice step with machine detection `Hangup` | `Report` `Completed` after a machine answered | read as `NoAnswer` / "Answered by machine" |
//! | Sent | `TimerFired` | the messages not final expire; evaluate |
//! | Reserving, Submitting, Sent | `InternalError` | open messages `Failed`; the flow ends `Failed`, statusCode `"0"` |
//! | decided, or the flow final | `Report` | a *late report*: the message moves, nothing else |
//! | decided, or the flow final | `Submitted`, `SubmitFailed`, `InternalError` | recorded as ignored |
//! | decided, or the flow final | `TimerFired` | nothing (the cancellation lost the race) |
//! | not Reserving | `FundsReserved`, `FundsRefused` | refused: only the runner sends them, in answer to `ReserveFunds` |
//!
//! *Evaluate*: once every message of the step is final (for Viber with
//! `expireOnDelivery`, `SEEN`), its outcome is the worst status; success ends the flow
//! `Succeeded`, a status listed in `failoverOnStatuses` starts the next step (or ends the
//! flow `Failed` "2" after the last), any other ends it `Failed` "3".
//!
//! Rules that hold everywhere:
//!
//! - A step's `outcome` is set once; only setting it advances the flow (exactly once per
//!   step, whatever order reports, duplicates and timers arrive in).
//! - A final flow is absorbing: later reports still update their message (a *late
//!   report*), nothing else changes.
//! - A report never moves a message backwards (stale reports are recorded and ignored).
//!
//! Events that cannot belong to the flow at all (a status another channel uses, a wrong
//! number of provider ids, a second `Start`) are refused with an [`EngineError`]; what the
//! runner does then is decided in one place, [`super::Apply`].

use crate::channel::{Channel, StatusKind};
use crate::flow::{FlowDefinition, Step, StepKind};
use crate::money::Micros;
use crate::pricing::voice_price;
use crate::reasons;
use crate::time::Timestamp;

use super::command::{Change, Command, TimerKind};
use super::event::{Event, Report};
use super::flow_state::*;
use super::timeline::{TimelineEntry, TimelineKind};

/// An event that cannot apply to this flow at all; the state is unchanged. It signals a
/// bug or a provider answering nonsense, never normal racing (races are absorbed by the
/// table above).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// `Start` for a definition without steps (parsing never produces one).
    #[error("the flow has no steps")]
    EmptyFlow,
    /// `Start` for a flow that already started.
    #[error("the flow was already started")]
    AlreadyStarted,
    /// A funds answer for a step that did not ask for funds: runner misuse.
    #[error("{event} for step {order}, which is not waiting for it")]
    UnexpectedEvent { event: &'static str, order: u32 },
    /// The provider answered a submission with a different number of ids than messages.
    #[error("step {order} has {expected} messages but the provider returned {actual} ids")]
    ProviderIdCount {
        order: u32,
        expected: usize,
        actual: usize,
    },
    /// A report or a refusal with a status this channel does not have.
    #[error("status {status:?} does not exist for {channel}")]
    StatusNotOfChannel {
        status: StatusKind,
        channel: Channel,
    },
}

/// Where the step an event names stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The current step, undecided, in this phase (index into `state.steps`).
    Open(usize, StepPhase),
    /// Not started, decided, not the current step, or the flow is final.
    Closed,
}

/// Apply `event` to a flow at time `now`: the table above.
///
/// # Errors
/// [`EngineError`] for an event that cannot belong to this flow; the state is then
/// unchanged.
pub fn transition(
    def: &FlowDefinition,
    state: FlowState,
    event: Event,
    now: Timestamp,
) -> Result<(FlowState, Vec<Command>), EngineError> {
    let mut m = Machine {
        def,
        state,
        now,
        out: Vec::new(),
    };
    let phase = match &event {
        Event::Start => Phase::Closed,
        Event::FundsReserved { order }
        | Event::FundsRefused { order }
        | Event::Submitted { order, .. }
        | Event::SubmitFailed { order, .. }
        | Event::Report { order, .. }
        | Event::TimerFired { order, .. }
        | Event::InternalError { order, .. } => m.phase(*order),
    };
    use Phase::{Closed, Open};
    use StepPhase::{Reserving, Sent, Submitting};
    match (phase, event) {
        (_, Event::Start) => m.on_start()?,

        (Open(i, Reserving), Event::FundsReserved { order }) => m.on_funds_reserved(i, order),
        (Open(i, Reserving), Event::FundsRefused { order }) => m.on_funds_refused(i, order),
        (_, Event::FundsReserved { order }) => {
            return Err(EngineError::UnexpectedEvent {
                event: "FundsReserved",
                order,
            });
        }
        (_, Event::FundsRefused { order }) => {
            return Err(EngineError::UnexpectedEvent {
                event: "FundsRefused",
                order,
            });
        }

        (
            Open(i, Submitting),
            Event::Submitted {
                order,
                provider_ids,
            },
        ) => m.on_submitted(i, order, provider_ids)?,
        // A retried submission answered twice, or an answer after the flow ended.
        (
            _,
            Event::Submitted {
                order,
                provider_ids,
            },
        ) => m.ignore_submitted(order, provider_ids),

        (
            phase,
            Event::SubmitFailed {
                order,
                status,
                detailed_status,
                description,
            },
        ) => {
            m.check_status(order, status, true)?;
            match phase {
                Open(i, Submitting) => {
                    m.on_submit_failed(i, order, status, &detailed_status, &description);
                }
                _ => m.ignore_submit_failed(order, detailed_status),
            }
        }

        // Reports apply to any started step; a decided one takes them as late reports.
        (
            _,
            Event::Report {
                order,
                part,
                report,
            },
        ) => m.on_report(order, part, report)?,

        (Open(i, Sent), Event::TimerFired { order, kind }) => m.on_timer(i, order, kind),
        // The step ended before its timer fired; the cancellation lost the race.
        (_, Event::TimerFired { .. }) => {}

        (Open(i, _), Event::InternalError { order, detail }) => {
            m.record_internal_error(order, &detail);
            m.on_internal_error(i, order);
        }
        (Closed, Event::InternalError { order, detail }) => {
            m.record_internal_error(order, &detail);
        }
    }
    Ok((m.state, m.out))
}

struct Machine<'a> {
    def: &'a FlowDefinition,
    state: FlowState,
    now: Timestamp,
    out: Vec<Command>,
}

impl<'a> Machine<'a> {
    fn record(&mut self, entry: TimelineEntry) {
        self.out.push(Command::Record(entry));
    }

    fn entry(&self, kind: TimelineKind) -> TimelineEntry {
        TimelineEntry::new(self.now, kind)
    }

    fn touch(&mut self) {
        self.state.updated_at = self.state.updated_at.max(self.now);
    }

    /// Where the step of this order stands: open only when it is the current step, still
    /// undecided, and the flow is not final.
    fn phase(&self, order: u32) -> Phase {
        let Some(last) = self.state.steps.len().checked_sub(1) else {
            return Phase::Closed;
        };
        let s = &self.state.steps[last];
        if s.order == order && s.outcome.is_none() && !self.state.is_final() {
            Phase::Open(last, s.phase)
        } else {
            Phase::Closed
        }
    }

    /// A status the step's channel must have (final ones only, for a refusal).
    fn check_status(
        &self,
        order: u32,
        status: StatusKind,
        final_only: bool,
    ) -> Result<(), EngineError> {
        let channel = self.definition(order).channel();
        if channel.statuses().contains(&status) && (status.is_final() || !final_only) {
            Ok(())
        } else {
            Err(EngineError::StatusNotOfChannel { status, channel })
        }
    }

    fn definition(&self, order: u32) -> &'a Step {
        // Steps only enter the state from the definition, so the order is always there.
        self.def
            .steps
            .iter()
            .find(|s| s.order == order)
            .expect("state steps come from the definition")
    }

    // --- handlers -------------------------------------------------------------------

    fn on_start(&mut self) -> Result<(), EngineError> {
        if self.def.steps.is_empty() {
            return Err(EngineError::EmptyFlow);
        }
        if !self.state.steps.is_empty() || self.state.is_final() {
            return Err(EngineError::AlreadyStarted);
        }
        let entry = self
            .entry(TimelineKind::Accepted)
            .detail(format!("{} steps", self.def.steps.len()));
        self.record(entry);
        self.start_step(0);
        Ok(())
    }

    fn on_funds_reserved(&mut self, idx: usize, order: u32) {
        let def = self.definition(order);
        let amount = reservation(def);
        let debit = def.channel() != Channel::Voice;
        let s = &mut self.state.steps[idx];
        s.phase = StepPhase::Submitting;
        if debit {
            s.reserved = amount;
        }
        self.out.push(Command::Submit { order });
    }

    fn on_funds_refused(&mut self, idx: usize, order: u32) {
        let entry = self
            .entry(TimelineKind::FundsRefused)
            .order(order)
            .detail("the balance cannot cover this step");
        self.record(entry);
        let now = self.now;
        let s = &mut self.state.steps[idx];
        let reason = reasons::insufficient_balance();
        for msg in &mut s.messages {
            msg.set_reason(&reason, now);
            msg.price = Micros::ZERO;
            msg.final_source = Some(FinalSource::Engine);
        }
        s.outcome = Some(reason.status);
        self.notify_messages(idx);
        self.finish(FlowStatus::Failed, Some(FailureCode::InsufficientBalance));
    }

    fn ignore_submitted(&mut self, order: u32, provider_ids: Vec<String>) {
        let mut entry = self.entry(TimelineKind::Submitted).order(order);
        entry.provider_ids = provider_ids;
        entry.ignored = true;
        entry.duplicate = self.state.step(order).is_some_and(|s| s.sent_at.is_some());
        self.record(entry);
    }

    fn on_submitted(
        &mut self,
        idx: usize,
        order: u32,
        provider_ids: Vec<String>,
    ) -> Result<(), EngineError> {
        let expected = self.state.steps[idx].messages.len();
        if provider_ids.len() != expected {
            return Err(EngineError::ProviderIdCount {
                order,
                expected,
                actual: provider_ids.len(),
            });
        }
        let def = self.definition(order);
        let channel = def.channel();
        let expiry = crate::ttl::expiry_timer(def, self.now);
        let now = self.now;
        let s = &mut self.state.steps[idx];
        s.phase = StepPhase::Sent;
        s.sent_at = Some(now);
        let sent = channel.sent_status();
        for (msg, id) in s.messages.iter_mut().zip(&provider_ids) {
            msg.provider_id = Some(id.clone());
            if msg.status.rank() < sent.rank() {
                msg.set_status(sent, None, None, now);
            }
        }
        let mut entry = self
            .entry(TimelineKind::Submitted)
            .order(order)
            .status(sent.name_for(channel));
        entry.provider_ids = provider_ids;
        self.record(entry);
        self.notify_messages(idx);
        if self.state.status == FlowStatus::Queued {
            self.state.status = FlowStatus::InProgress;
            self.out.push(Command::Notify(Change::Flow {
                status: FlowStatus::InProgress,
            }));
        }
        if let Some(at) = expiry {
            self.out.push(Command::SetTimer {
                order,
                kind: TimerKind::Ttl,
                at,
            });
        }
        self.touch();
        Ok(())
    }

    fn ignore_submit_failed(&mut self, order: u32, detailed_status: String) {
        let mut entry = self
            .entry(TimelineKind::SubmitFailed)
            .order(order)
            .detail(detailed_status);
        entry.ignored = true;
        self.record(entry);
    }

    fn on_submit_failed(
        &mut self,
        idx: usize,
        order: u32,
        status: StatusKind,
        detailed_status: &str,
        description: &str,
    ) {
        let channel = self.definition(order).channel();
        let entry = self
            .entry(TimelineKind::SubmitFailed)
            .order(order)
            .status(status.name_for(channel))
            .detail(detailed_status);
        self.record(entry);
        let now = self.now;
        let s = &mut self.state.steps[idx];
        let refund = std::mem::take(&mut s.reserved);
        for msg in &mut s.messages {
            msg.set_status(status, Some(detailed_status), Some(description), now);
            msg.price = Micros::ZERO;
            msg.final_source = Some(FinalSource::Provider);
        }
        if refund != Micros::ZERO {
            self.out.push(Command::Credit { amount: refund });
        }
        self.notify_messages(idx);
        self.evaluate(idx);
    }

    fn on_report(&mut self, order: u32, part: u32, report: Report) -> Result<(), EngineError> {
        let channel = match self.def.steps.iter().find(|s| s.order == order) {
            Some(d) => d.channel(),
            None => {
                self.record_unmatched(order, part, &report);
                return Ok(());
            }
        };
        if !channel.statuses().contains(&report.status) {
            return Err(EngineError::StatusNotOfChannel {
                status: report.status,
                channel,
            });
        }
        let Some(idx) = self.state.steps.iter().position(|s| s.order == order) else {
            self.record_unmatched(order, part, &report);
            return Ok(());
        };
        let Some(mi) = self.state.steps[idx]
            .messages
            .iter()
            .position(|m| m.part == part)
        else {
            self.record_unmatched(order, part, &report);
            return Ok(());
        };
        let report = machine_hang_up(
            self.definition(order),
            &self.state.steps[idx].messages[mi],
            report,
        );
        let late = self.state.steps[idx].outcome.is_some();
        let mut entry = self
            .entry(TimelineKind::Report)
            .order(order)
            .part(part)
            .status(report.status.name_for(channel));
        if let Some(d) = &report.detailed_status {
            entry = entry.detail(d.clone());
        }
        if channel == crate::channel::Channel::Voice {
            entry.description.clone_from(&report.description);
        }
        entry.provider_price.clone_from(&report.provider_price);
        entry.late = late;

        let msg = &self.state.steps[idx].messages[mi];
        match classify(msg, &report) {
            ReportFit::Duplicate => {
                // The same status may still say who answered (a machine-detection result
                // while the call is in progress): that is kept, nothing else moves.
                // A machine stays a machine: a later `unknown` must not undo it.
                let answers = report.answered_by.is_some()
                    && msg.answered_by != report.answered_by
                    && msg.answered_by != Some(crate::flow::AnsweredBy::Machine)
                    && !msg.status.is_final();
                entry.duplicate = true;
                entry.ignored = !answers;
                self.record(entry);
                if answers {
                    self.state.steps[idx].messages[mi].answered_by = report.answered_by;
                    self.touch();
                }
                return Ok(());
            }
            ReportFit::Stale | ReportFit::Conflicting => {
                entry.ignored = true;
                self.record(entry);
                return Ok(());
            }
            ReportFit::Applies => {}
        }
        self.record(entry);

        let def = self.definition(order);
        let unit_price = def.unit_price;
        let sent_at = self.state.steps[idx].sent_at;
        let msg = &mut self.state.steps[idx].messages[mi];
        let was_final = msg.status.is_final();
        msg.set_status(
            report.status,
            report.detailed_status.as_deref(),
            report.description.as_deref(),
            report.at,
        );
        if report.operator.is_some() {
            msg.operator.clone_from(&report.operator);
        }
        if report.answered_by.is_some() {
            msg.answered_by = report.answered_by;
        }
        if report.status.is_final() {
            msg.final_source = Some(FinalSource::Provider);
            if msg.latency_ms.is_none() {
                msg.latency_ms = sent_at.map(|t| report.at.millis_since(t).max(0));
            }
        }
        let mut debit = None;
        if channel == Channel::Voice && report.status.is_final() && !was_final {
            let duration = report.duration_s.unwrap_or(0);
            if !report.never_answered {
                msg.duration_s = Some(duration);
                if msg.answered_by.is_none() {
                    msg.answered_by = Some(crate::flow::AnsweredBy::Unknown);
                }
            }
            let price = voice_price(unit_price, duration);
            msg.price = price;
            debit = Some(price);
        }
        if let Some(amount) = debit.filter(|a| *a != Micros::ZERO) {
            self.out.push(Command::Debit { amount });
        }
        self.out.push(Command::Notify(Change::Message {
            order,
            part,
            status: report.status,
        }));
        self.touch();
        if !late && !self.state.is_final() {
            self.evaluate(idx);
        }
        Ok(())
    }

    fn on_timer(&mut self, idx: usize, order: u32, kind: TimerKind) {
        let TimerKind::Ttl = kind;
        let def = self.definition(order);
        let channel = def.channel();
        let needs_seen = def.needs_seen();
        let now = self.now;
        let mut expired = Vec::new();
        for msg in &mut self.state.steps[idx].messages {
            if step_final(msg.status, needs_seen) {
                continue;
            }
            let delivered = msg.status == StatusKind::Delivered;
            let reason = reasons::ttl_expired(channel, delivered);
            if channel == Channel::Viber && delivered {
                msg.expired_on_delivery_at = Some(now);
            }
            msg.set_reason(&reason, now);
            msg.final_source = Some(FinalSource::Engine);
            expired.push((msg.part, reason.status));
        }
        let entry = self
            .entry(TimelineKind::TtlExpired)
            .order(order)
            .detail(format!("{} message(s) expired", expired.len()));
        self.record(entry);
        for (part, status) in expired {
            self.out.push(Command::Notify(Change::Message {
                order,
                part,
                status,
            }));
        }
        self.touch();
        self.evaluate(idx);
    }

    fn record_internal_error(&mut self, order: u32, detail: &str) {
        let entry = self
            .entry(TimelineKind::InternalError)
            .order(order)
            .detail(detail);
        self.record(entry);
    }

    fn on_internal_error(&mut self, idx: usize, order: u32) {
        let now = self.now;
        let s = &mut self.state.steps[idx];
        let reason = reasons::internal_error();
        for msg in &mut s.messages {
            if !msg.status.is_final() {
                msg.set_reason(&reason, now);
                msg.final_source = Some(FinalSource::Engine);
            }
        }
        s.outcome = Some(reason.status);
        let had_timer = s.phase == StepPhase::Sent;
        self.notify_messages(idx);
        if had_timer {
            self.out.push(Command::CancelTimer {
                order,
                kind: TimerKind::Ttl,
            });
        }
        self.finish(FlowStatus::Failed, Some(FailureCode::Internal));
    }

    // --- shared moves -----------------------------------------------------------------

    /// Start `def.steps[index]`: create its messages as queued and ask for funds.
    fn start_step(&mut self, index: usize) {
        let def = &self.def.steps[index];
        let order = def.order;
        let now = self.now;
        let flow = self.def.tracking_id.as_uuid();
        let message_id = derived_id(flow, &format!("{order}"));
        let count = def.message_count();
        let per_message_price = match def.channel() {
            Channel::Voice => Micros::ZERO,
            Channel::Sms | Channel::Viber => def.unit_price,
        };
        let messages = (1..=count)
            .map(|part| {
                let part = u32::try_from(part).expect("at most 10 steps and a bounded body");
                let id = match &def.kind {
                    StepKind::Sms(_) => derived_id(flow, &format!("{order}:{part}")),
                    StepKind::Viber(_) | StepKind::Voice(_) => message_id.clone(),
                };
                MessageState::queued(id, part, per_message_price, now)
            })
            .collect();
        let amount = reservation(def);
        let debit = def.channel() != Channel::Voice;
        let channel = def.channel();
        self.state.steps.push(StepState {
            order,
            phase: StepPhase::Reserving,
            outcome: None,
            started_at: now,
            sent_at: None,
            message_id,
            reserved: Micros::ZERO,
            messages,
        });
        let entry = self
            .entry(TimelineKind::StepStarted)
            .order(order)
            .detail(format!(
                "{channel} to {}, {count} message(s)",
                def.recipient()
            ));
        self.record(entry);
        let idx = self.state.steps.len() - 1;
        self.notify_messages(idx);
        self.touch();
        self.out.push(Command::ReserveFunds {
            order,
            amount,
            debit,
        });
    }

    /// Decide the step's outcome once every message is final, then move the flow on.
    fn evaluate(&mut self, idx: usize) {
        let order = self.state.steps[idx].order;
        let def = self.definition(order);
        let needs_seen = def.needs_seen();
        let s = &self.state.steps[idx];
        if s.outcome.is_some() || !s.messages.iter().all(|m| step_final(m.status, needs_seen)) {
            return;
        }
        let outcome = s
            .messages
            .iter()
            .map(|m| m.status)
            .max_by_key(|st| st.severity())
            .expect("a step has at least one message");
        let had_timer = s.phase == StepPhase::Sent && def.ttl_ms.is_some();
        let failover = def.failover_on.contains(&outcome);
        let next = self
            .def
            .steps
            .get(self.def.step_index(order).map_or(usize::MAX, |i| i + 1));
        let has_next = next.is_some();
        self.state.steps[idx].outcome = Some(outcome);
        if had_timer {
            self.out.push(Command::CancelTimer {
                order,
                kind: TimerKind::Ttl,
            });
        }
        let channel = def.channel();
        let entry = self
            .entry(TimelineKind::StepCompleted)
            .order(order)
            .status(outcome.name_for(channel));
        self.record(entry);
        if outcome.is_success() {
            self.finish(FlowStatus::Succeeded, None);
        } else if failover && has_next {
            let next_index = self.def.step_index(order).map_or(0, |i| i + 1);
            self.start_step(next_index);
        } else if failover {
            self.finish(FlowStatus::Failed, Some(FailureCode::StepsExhausted));
        } else {
            self.finish(FlowStatus::Failed, Some(FailureCode::NotListed));
        }
    }

    fn finish(&mut self, status: FlowStatus, code: Option<FailureCode>) {
        self.state.status = status;
        self.state.status_code = code;
        self.touch();
        let mut entry = self
            .entry(TimelineKind::FlowCompleted)
            .status(status.name());
        if let Some(code) = code {
            entry = entry.detail(format!("statusCode {}", code.code()));
        }
        self.record(entry);
        self.out.push(Command::Notify(Change::Flow { status }));
    }

    fn notify_messages(&mut self, idx: usize) {
        let s = &self.state.steps[idx];
        let order = s.order;
        let changes: Vec<_> = s
            .messages
            .iter()
            .map(|m| {
                Command::Notify(Change::Message {
                    order,
                    part: m.part,
                    status: m.status,
                })
            })
            .collect();
        self.out.extend(changes);
    }

    fn record_unmatched(&mut self, order: u32, part: u32, report: &Report) {
        let mut entry = self
            .entry(TimelineKind::Report)
            .order(order)
            .part(part)
            .status(report.status.pascal_name())
            .detail("no such message in this flow");
        entry.ignored = true;
        self.record(entry);
    }
}

/// How a report relates to the message it names.
enum ReportFit {
    Applies,
    /// Same status again.
    Duplicate,
    /// Behind what the message already shows (e.g. `Sent` after `Delivered`).
    Stale,
    /// A different final status after the provider already gave one: the first stands.
    Conflicting,
}

/// A call that a machine answered, on a step whose machine detection says `Hangup`, ends
/// `NoAnswer` / "Answered by machine" whatever the provider calls its end (it reports
/// the call completed when Cascade, or the provider for it, hung up). Decided from what
/// the flow recorded, so it holds after a restart.
fn machine_hang_up(def: &Step, msg: &MessageState, mut report: Report) -> Report {
    let hangup = matches!(
        &def.kind,
        crate::flow::StepKind::Voice(v) if v.machine_detection == Some(crate::flow::MachineDetection::Hangup)
    );
    let machine = report.answered_by.or(msg.answered_by) == Some(crate::flow::AnsweredBy::Machine);
    if hangup && machine && report.status == StatusKind::Completed {
        let reason = crate::reasons::answered_by_machine();
        report.status = reason.status;
        report.detailed_status = Some(reason.detailed_status);
        report.description = Some(reason.description);
        report.answered_by = Some(crate::flow::AnsweredBy::Machine);
    }
    report
}

fn classify(msg: &MessageState, report: &Report) -> ReportFit {
    if msg.status == report.status {
        return ReportFit::Duplicate;
    }
    let (have, got) = (msg.status.rank(), report.status.rank());
    if got < have {
        return ReportFit::Stale;
    }
    if got == have && msg.status.is_final() && msg.final_source == Some(FinalSource::Provider) {
        return ReportFit::Conflicting;
    }
    ReportFit::Applies
}

/// Whether a message status ends the step. A Viber message with `expireOnDelivery` must
/// be `SEEN` (or fail) — `DELIVERED` alone keeps the step open until its TTL.
fn step_final(status: StatusKind, needs_seen: bool) -> bool {
    status.is_final() && !(needs_seen && status == StatusKind::Delivered)
}

/// What a step costs up front: SMS per part and Viber per message are debited; a call is
/// only checked against one minute's price (it is charged when it ends).
fn reservation(def: &Step) -> Micros {
    match def.channel() {
        Channel::Sms => def.unit_price * i64::try_from(def.message_count()).unwrap_or(i64::MAX),
        Channel::Viber | Channel::Voice => def.unit_price,
    }
}

/// Message ids derive from the flow id, so a retried submission carries the same ids
/// and providers that deduplicate on them send once. They keep the flow's 48-bit
/// millisecond prefix (a UUIDv8 laid out like v7), so indexes keyed by message id grow at
/// their end like the flow ids do; the other bits come from a name-based hash.
fn derived_id(flow: uuid::Uuid, name: &str) -> String {
    let hashed = *uuid::Uuid::new_v5(&flow, name.as_bytes()).as_bytes();
    let mut bytes = hashed;
    bytes[..6].copy_from_slice(&flow.as_bytes()[..6]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}
