//! Applying engine events inside a store transaction, independent of the database.
//!
//! A backend implements [`FlowTx`] over its open transaction; [`apply_events`] runs the
//! pure state machine and turns its commands into rows in that same transaction, so a
//! flow's new state, its balance movements, jobs, timers and timeline commit together or
//! not at all.

use std::collections::VecDeque;

use async_trait::async_trait;
use cascade_core::flow::FlowDefinition;
use cascade_core::machines::{Command, Event, FlowState, Report, TimelineEntry, TimerKind, step};
use cascade_core::{FlowId, Micros, Timestamp};

use crate::Result;
use crate::model::{Applied, Job, JobPayload};

/// A flow loaded for update.
#[derive(Debug, Clone)]
pub(crate) struct LoadedFlow {
    pub def: FlowDefinition,
    pub state: FlowState,
    /// Number of timeline entries written so far.
    pub event_seq: i64,
    /// False until the flow's row exists (a new flow is inserted by its first save).
    pub persisted: bool,
}

impl LoadedFlow {
    pub fn id(&self) -> FlowId {
        self.def.tracking_id
    }
}

/// The operations [`apply_events`] needs from an open transaction.
#[async_trait]
pub(crate) trait FlowTx: Send {
    async fn load_flow(&mut self, id: FlowId) -> Result<Option<LoadedFlow>>;
    /// Insert the flow's row when it is new, update it otherwise.
    async fn save_flow(&mut self, flow: &mut LoadedFlow) -> Result<()>;
    /// Whether the balance covers `amount`; when `debit`, also subtract it.
    async fn reserve_funds(
        &mut self,
        account_id: &str,
        amount: Micros,
        debit: bool,
    ) -> Result<bool>;
    async fn adjust_balance(&mut self, account_id: &str, delta: Micros) -> Result<()>;
    /// Insert a job leased until `lease_until`; returns its id.
    async fn insert_job(
        &mut self,
        flow: FlowId,
        order: u32,
        payload: &JobPayload,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<i64>;
    async fn set_timer(
        &mut self,
        flow: FlowId,
        order: u32,
        kind: TimerKind,
        at: Timestamp,
    ) -> Result<()>;
    async fn cancel_timer(&mut self, flow: FlowId, order: u32, kind: TimerKind) -> Result<()>;
    async fn append_timeline(
        &mut self,
        flow: FlowId,
        first_seq: i64,
        entries: &[TimelineEntry],
    ) -> Result<()>;
}

/// How long a job created by a transaction stays leased to the caller that receives it.
pub(crate) const NEW_JOB_LEASE_MS: i64 = 5 * 60 * 1000;

/// Apply `events` in order (plus the funds answers they provoke) and persist the result.
pub(crate) async fn apply_events<T: FlowTx + ?Sized>(
    tx: &mut T,
    flow: &mut LoadedFlow,
    events: Vec<Event>,
    now: Timestamp,
    out: &mut Applied,
) -> Result<()> {
    let mut queue: VecDeque<Event> = events.into();
    let mut timeline: Vec<TimelineEntry> = Vec::new();
    let id = flow.id();
    while let Some(event) = queue.pop_front() {
        let event_name = event_name(&event);
        let (state, commands) = match step(&flow.def, flow.state.clone(), event, now) {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(flow_id = %id, error = %e, "engine refused an event");
                let mut entry =
                    TimelineEntry::new(now, "rejected").detail(format!("{event_name}: {e}"));
                entry.ignored = true;
                timeline.push(entry);
                out.rejected.push(e);
                continue;
            }
        };
        flow.state = state;
        for command in commands {
            match command {
                Command::ReserveFunds {
                    order,
                    amount,
                    debit,
                } => {
                    let ok = tx
                        .reserve_funds(&flow.def.account_id, amount, debit)
                        .await?;
                    // Answered before anything else queued: the machine waits on it.
                    queue.push_front(if ok {
                        Event::FundsReserved { order }
                    } else {
                        Event::FundsRefused { order }
                    });
                }
                Command::Credit { amount } => {
                    tx.adjust_balance(&flow.def.account_id, amount).await?
                }
                Command::Debit { amount } => {
                    tx.adjust_balance(&flow.def.account_id, Micros::ZERO - amount)
                        .await?;
                }
                Command::Submit { order } => {
                    let payload = job_payload(flow, order);
                    let lease_until = now.plus_millis(NEW_JOB_LEASE_MS);
                    let job_id = tx.insert_job(id, order, &payload, now, lease_until).await?;
                    out.jobs.push(Job {
                        id: job_id,
                        flow_id: id,
                        order,
                        attempts: 0,
                        payload,
                    });
                }
                Command::SetTimer { order, kind, at } => {
                    tx.set_timer(id, order, kind, at).await?;
                    out.earliest_timer = Some(out.earliest_timer.map_or(at, |t| t.min(at)));
                }
                Command::CancelTimer { order, kind } => tx.cancel_timer(id, order, kind).await?,
                Command::Record(entry) => timeline.push(entry),
                // Callbacks subscribe to these; until an outbox exists nothing listens.
                Command::Notify(_) => {}
            }
        }
    }
    if !timeline.is_empty() {
        tx.append_timeline(id, flow.event_seq, &timeline).await?;
        flow.event_seq += i64::try_from(timeline.len()).unwrap_or(i64::MAX);
    }
    tx.save_flow(flow).await?;
    out.status = Some(flow.state.status);
    Ok(())
}

/// Turn a provider's report into the engine event for its message.
pub(crate) fn report_event(order: u32, part: u32, report: Report) -> Event {
    Event::Report {
        order,
        part,
        report,
    }
}

fn job_payload(flow: &LoadedFlow, order: u32) -> JobPayload {
    let step = flow
        .def
        .steps
        .iter()
        .find(|s| s.order == order)
        .cloned()
        .expect("the engine only submits steps of its own definition");
    let state = flow
        .state
        .step(order)
        .expect("a submitted step has started");
    JobPayload {
        account_id: flow.def.account_id.clone(),
        application_id: flow.def.application_id.clone(),
        step,
        message_id: state.message_id.clone(),
        message_ids: state.messages.iter().map(|m| m.id.clone()).collect(),
    }
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::Start => "Start",
        Event::FundsReserved { .. } => "FundsReserved",
        Event::FundsRefused { .. } => "FundsRefused",
        Event::Submitted { .. } => "Submitted",
        Event::SubmitFailed { .. } => "SubmitFailed",
        Event::Report { .. } => "Report",
        Event::TimerFired { .. } => "TimerFired",
        Event::InternalError { .. } => "InternalError",
    }
}
