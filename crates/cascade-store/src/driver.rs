//! Applying engine events inside a store transaction, independent of the database.
//!
//! A backend implements [`FlowTx`] over its open transaction; the procedures here run the
//! pure state machine and turn its commands into rows in that same transaction, so a
//! flow's new state, its balance movements, jobs, timers and timeline commit together or
//! not at all. Backends differ only in how `FlowTx` reads and writes (SQLite batches
//! writes in memory and flushes them with multi-row statements; PostgreSQL would lock the
//! flow's row).

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use cascade_core::flow::FlowDefinition;
use cascade_core::machines::{Command, Event, FlowState, Report, TimelineEntry, TimerKind, step};
use cascade_core::{FlowId, Micros, Timestamp};

use crate::model::{Applied, Job, JobPayload, ReportOutcome};
use crate::{Result, StoreError};

/// A flow loaded for update. The definition never changes, so it is shared.
#[derive(Debug, Clone)]
pub(crate) struct LoadedFlow {
    pub def: Arc<FlowDefinition>,
    /// The definition as stored (serialized once).
    pub def_json: Arc<str>,
    pub state: FlowState,
    /// Number of timeline entries written so far.
    pub event_seq: i64,
    /// Not stored yet: its definition must be written too.
    pub is_new: bool,
}

impl LoadedFlow {
    pub fn id(&self) -> FlowId {
        self.def.tracking_id
    }
}

/// Where a provider message id points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageRef {
    pub flow: FlowId,
    pub order: u32,
    pub part: u32,
}

/// The operations the procedures below need from an open transaction.
#[async_trait]
pub(crate) trait FlowTx: Send {
    async fn load_flow(&mut self, id: FlowId) -> Result<Option<LoadedFlow>>;
    /// Insert the flow's row when it is new, update it otherwise.
    async fn save_flow(&mut self, flow: &LoadedFlow) -> Result<()>;
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
    async fn delete_job(&mut self, id: i64) -> Result<()>;
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
    /// Record one provider id per message part (part = index + 1).
    async fn insert_provider_refs(
        &mut self,
        provider: &str,
        flow: FlowId,
        order: u32,
        ids: &[String],
        now: Timestamp,
    ) -> Result<()>;
    async fn find_provider_ref(
        &mut self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Option<MessageRef>>;
    /// Keep a report whose provider id is not known yet.
    async fn hold_report(
        &mut self,
        provider: &str,
        provider_message_id: &str,
        report: &Report,
        now: Timestamp,
    ) -> Result<()>;
    /// Remove and return held reports for these provider ids, oldest first.
    async fn take_held_reports(
        &mut self,
        provider: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Report)>>;
}

/// How long a job created by a transaction stays leased to the caller that receives it.
pub(crate) const NEW_JOB_LEASE_MS: i64 = 5 * 60 * 1000;

/// A new flow: store it and start it.
pub(crate) async fn accept<T: FlowTx + ?Sized>(
    tx: &mut T,
    def: FlowDefinition,
    now: Timestamp,
) -> Result<Applied> {
    let def_json: Arc<str> = serde_json::to_string(&def)?.into();
    let mut flow = LoadedFlow {
        state: FlowState::new(def.created_at),
        def: Arc::new(def),
        def_json,
        event_seq: 0,
        is_new: true,
    };
    let mut out = Applied::default();
    apply_events(tx, &mut flow, vec![Event::Start], now, &mut out).await?;
    Ok(out)
}

/// One event for an existing flow.
pub(crate) async fn apply_one<T: FlowTx + ?Sized>(
    tx: &mut T,
    id: FlowId,
    event: Event,
    now: Timestamp,
) -> Result<Applied> {
    let mut flow = load(tx, id).await?;
    let mut out = Applied::default();
    apply_events(tx, &mut flow, vec![event], now, &mut out).await?;
    Ok(out)
}

/// The provider took a job's messages: record their ids, apply `Submitted` and any
/// reports that were held for those ids, and remove the job.
pub(crate) async fn job_submitted<T: FlowTx + ?Sized>(
    tx: &mut T,
    job: &Job,
    provider: &str,
    provider_ids: Vec<String>,
    now: Timestamp,
) -> Result<Applied> {
    tx.delete_job(job.id).await?;
    let mut flow = load(tx, job.flow_id).await?;
    tx.insert_provider_refs(provider, job.flow_id, job.order, &provider_ids, now)
        .await?;
    let held = tx.take_held_reports(provider, &provider_ids).await?;
    let mut events = Vec::with_capacity(1 + held.len());
    for (pmid, report) in held {
        let part = provider_ids
            .iter()
            .position(|p| *p == pmid)
            .map_or(1, |i| i + 1);
        events.push(Event::Report {
            order: job.order,
            part: u32::try_from(part).unwrap_or(1),
            report,
        });
    }
    events.insert(
        0,
        Event::Submitted {
            order: job.order,
            provider_ids,
        },
    );
    let mut out = Applied::default();
    apply_events(tx, &mut flow, events, now, &mut out).await?;
    Ok(out)
}

/// A job ended without provider ids (refused, given up): apply `event`, remove the job.
pub(crate) async fn job_finished<T: FlowTx + ?Sized>(
    tx: &mut T,
    job: &Job,
    event: Event,
    now: Timestamp,
) -> Result<Applied> {
    tx.delete_job(job.id).await?;
    apply_one(tx, job.flow_id, event, now).await
}

/// A provider report: apply it to its message, or hold it until its id is known.
pub(crate) async fn report<T: FlowTx + ?Sized>(
    tx: &mut T,
    provider: &str,
    provider_message_id: &str,
    report: Report,
    now: Timestamp,
) -> Result<ReportOutcome> {
    let Some(at) = tx.find_provider_ref(provider, provider_message_id).await? else {
        tx.hold_report(provider, provider_message_id, &report, now)
            .await?;
        return Ok(ReportOutcome::Held);
    };
    let event = Event::Report {
        order: at.order,
        part: at.part,
        report,
    };
    Ok(ReportOutcome::Applied(
        apply_one(tx, at.flow, event, now).await?,
    ))
}

/// A due timer (already removed from the timer table by the caller).
pub(crate) async fn fire_timer<T: FlowTx + ?Sized>(
    tx: &mut T,
    flow: FlowId,
    order: u32,
    kind: TimerKind,
    now: Timestamp,
    out: &mut Applied,
) -> Result<bool> {
    let Some(mut loaded) = tx.load_flow(flow).await? else {
        return Ok(false);
    };
    apply_events(
        tx,
        &mut loaded,
        vec![Event::TimerFired { order, kind }],
        now,
        out,
    )
    .await?;
    Ok(true)
}

async fn load<T: FlowTx + ?Sized>(tx: &mut T, id: FlowId) -> Result<LoadedFlow> {
    tx.load_flow(id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("flow {id}")))
}

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
        let submission_of = match &event {
            Event::Submitted { order, .. } | Event::SubmitFailed { order, .. } => Some(*order),
            _ => None,
        };
        let (state, commands) = match step(&flow.def, flow.state.clone(), event, now) {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(flow_id = %id, error = %e, "engine refused an event");
                let mut entry =
                    TimelineEntry::new(now, "rejected").detail(format!("{event_name}: {e}"));
                entry.ignored = true;
                timeline.push(entry);
                // A submission's answer that cannot apply (e.g. a provider returning the
                // wrong number of ids) would leave the step waiting forever, since its
                // job is gone: end the flow as an internal error instead.
                if let Some(order) = submission_of {
                    queue.push_front(Event::InternalError {
                        order,
                        detail: format!("{event_name}: {e}"),
                    });
                }
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
                        reclaimed: false,
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
