//! The engine inside a store transaction: where the machine's commands become rows.
//!
//! A backend implements [`FlowTx`] over its open transaction; the procedures here run
//! events through the pure machine's loop ([`Apply`]) and write what it asks for — the
//! flow's new state, balance movements, submit jobs, timers, timeline entries and
//! callbacks — in that same transaction, so they commit together or not at all. The
//! runtime (`cascade-service`) only carries the committed effects on ([`Applied`]: jobs to
//! dispatch, a timer to wake for, callbacks to deliver). Backends differ only in how
//! `FlowTx` reads and writes (SQLite batches writes in memory and flushes them with
//! multi-row statements; PostgreSQL would lock the flow's row); none repeats a rule.

use std::sync::Arc;

use async_trait::async_trait;
use cascade_core::flow::FlowDefinition;
use cascade_core::inbound::{self, InboundMessage};
use cascade_core::machines::{
    Apply, Command, Event, FlowState, Output, Report, TimelineEntry, TimelineKind, TimerKind,
};
use cascade_core::tracking::render_tracking;
use cascade_core::{FlowId, Micros, Timestamp};

use cascade_core::ports::JobPayload;

use crate::model::{Applied, InboundMatch, InboundRecord, Job, ReportOutcome};
use crate::{Result, StoreError};

/// A flow loaded for update. The definition never changes, so it is shared.
#[derive(Debug, Clone)]
pub(crate) struct LoadedFlow {
    pub def: Arc<FlowDefinition>,
    /// The definition as stored (serialized once).
    pub def_json: Arc<str>,
    /// The definition as the SQLite store writes it (packed), made before the writer
    /// took the flow so that the writer does not spend its time on it. `None` for a
    /// flow loaded from the store (its definition is never written again) and on
    /// PostgreSQL.
    pub def_packed: Option<Arc<[u8]>>,
    pub state: FlowState,
    /// Number of timeline entries written so far.
    pub event_seq: i64,
    /// Not stored yet: its definition must be written too.
    pub is_new: bool,
    /// Number of callbacks enqueued so far (the last `X-Cascade-Sequence`).
    pub callback_seq: i64,
}

/// A callback to deliver, created with the change it reports.
#[derive(Debug, Clone)]
pub(crate) struct NewCallback {
    /// `X-Cascade-Event-Id`, the same on every attempt.
    pub event_id: String,
    pub flow: FlowId,
    /// `X-Cascade-Sequence`: per flow, from 1.
    pub seq: i64,
    pub application_id: String,
    pub url: String,
    /// The tracking object as it was after the change.
    pub body: String,
    pub created_at: Timestamp,
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
    /// The messages a provider id stands for (several parts when a provider answered one
    /// id for a whole long message); empty when unknown.
    async fn find_provider_refs(
        &mut self,
        provider: &str,
        provider_message_id: &str,
    ) -> Result<Vec<MessageRef>>;
    /// Keep a report whose provider id is not known yet, under each candidate form of
    /// its id; taking it by any of them takes it whole.
    async fn hold_report(
        &mut self,
        provider: &str,
        candidates: &[String],
        report: &Report,
        now: Timestamp,
    ) -> Result<()>;
    /// Add a callback to the outbox.
    async fn enqueue_callback(&mut self, callback: &NewCallback) -> Result<()>;
    /// Change a callback's row after an attempt (and end its lease).
    async fn update_callback(&mut self, update: crate::callbacks::CallbackUpdate) -> Result<()>;
    /// Remove and return held reports for these provider ids, oldest first.
    /// Flows (newest first, at most `limit`) with a step on `channel` to `recipient`
    /// (lower case) accepted at or after `since`.
    async fn recent_flows_to(
        &mut self,
        channel: &str,
        recipient: &str,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<FlowId>>;
    /// Record that `provider` is about to place step `order`'s call; false when it was
    /// recorded before (the call was placed by an earlier run).
    async fn claim_dial(
        &mut self,
        flow: FlowId,
        order: u32,
        provider: &str,
        now: Timestamp,
    ) -> Result<bool>;
    /// Whether a reply with this provider id was recorded before.
    async fn inbound_known(&mut self, provider: &str, provider_message_id: &str) -> Result<bool>;
    /// Keep a reply; returns its id. The last write of its operation.
    async fn insert_inbound(
        &mut self,
        message: &InboundMessage,
        matched: Option<&InboundMatch>,
        forwarded: bool,
    ) -> Result<i64>;
    async fn take_held_reports(
        &mut self,
        provider: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Report)>>;
}

/// How long a job created by a transaction stays leased to the caller that receives it.
pub(crate) const NEW_JOB_LEASE_MS: i64 = 5 * 60 * 1000;

/// A flow's definition with its stored forms, made by the caller before the store's
/// transaction (serializing is work the transaction need not wait for).
#[derive(Debug, Clone)]
pub(crate) struct NewFlow {
    pub def: Arc<FlowDefinition>,
    pub def_json: Arc<str>,
    /// See [`LoadedFlow::def_packed`].
    pub def_packed: Option<Arc<[u8]>>,
}

impl NewFlow {
    /// `def` serialized as JSON, not packed.
    pub(crate) fn of(def: FlowDefinition) -> Result<NewFlow> {
        Ok(NewFlow {
            def_json: serde_json::to_string(&def)?.into(),
            def: Arc::new(def),
            def_packed: None,
        })
    }
}

/// A new flow: store it and start it.
pub(crate) async fn accept<T: FlowTx + ?Sized>(
    tx: &mut T,
    new: NewFlow,
    now: Timestamp,
) -> Result<Applied> {
    let mut flow = LoadedFlow {
        state: FlowState::new(new.def.created_at),
        def: new.def,
        def_json: new.def_json,
        def_packed: new.def_packed,
        event_seq: 0,
        is_new: true,
        callback_seq: 0,
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
    // The ids before the flow: a backend that locks both (PostgreSQL) takes them in the
    // order a report does (its id, then its flow), so the two never wait on each other.
    tx.insert_provider_refs(provider, job.flow_id, job.order, &provider_ids, now)
        .await?;
    let mut flow = load(tx, job.flow_id).await?;
    let held = tx.take_held_reports(provider, &provider_ids).await?;
    let mut events = Vec::with_capacity(1 + held.len());
    for (pmid, report) in held {
        // Every part the provider gave this id to (usually one).
        for (i, _) in provider_ids.iter().enumerate().filter(|(_, p)| **p == pmid) {
            let part = u32::try_from(i + 1).unwrap_or(u32::MAX);
            events.push(Event::Report {
                order: job.order,
                part,
                report: report.clone(),
            });
        }
    }
    events.insert(
        0,
        Event::Submitted {
            order: job.order,
            provider_ids,
        },
    );
    let mut out = Applied::default();
    apply_events_via(tx, &mut flow, events, now, &mut out, Some(provider)).await?;
    Ok(out)
}

/// A submission attempt that did not take (a provider down, its circuit open): a line
/// in the flow's timeline naming the provider, nothing else changes. A flow that is
/// gone is not an error (it cannot be, while its job exists; but notes are best effort).
pub(crate) async fn note_attempt<T: FlowTx + ?Sized>(
    tx: &mut T,
    flow_id: FlowId,
    order: u32,
    provider: &str,
    outcome: &str,
    now: Timestamp,
) -> Result<()> {
    let Some(mut flow) = tx.load_flow(flow_id).await? else {
        return Ok(());
    };
    let mut entry = TimelineEntry::new(now, TimelineKind::ProviderAttempt)
        .order(order)
        .detail(outcome.to_owned());
    entry.provider = Some(provider.to_owned());
    tx.append_timeline(flow_id, flow.event_seq, &[entry])
        .await?;
    flow.event_seq += 1;
    tx.save_flow(&flow).await
}

/// What a provider says it charged for a message, learnt after its last report (Twilio
/// answers it only when asked, after the call): a `provider_price` line in the flow's
/// timeline, nothing else. Returns false when no message carries the id.
pub(crate) async fn note_provider_price<T: FlowTx + ?Sized>(
    tx: &mut T,
    provider: &str,
    provider_message_id: &str,
    price: &str,
    now: Timestamp,
) -> Result<bool> {
    let found = tx.find_provider_refs(provider, provider_message_id).await?;
    let Some(first) = found.first() else {
        return Ok(false);
    };
    let Some(mut flow) = tx.load_flow(first.flow).await? else {
        return Ok(false);
    };
    let mut entry = TimelineEntry::new(now, TimelineKind::ProviderPrice)
        .order(first.order)
        .part(first.part);
    entry.provider = Some(provider.to_owned());
    entry.provider_price = Some(price.to_owned());
    entry.provider_ids = vec![provider_message_id.to_owned()];
    tx.append_timeline(first.flow, flow.event_seq, &[entry])
        .await?;
    flow.event_seq += 1;
    tx.save_flow(&flow).await?;
    Ok(true)
}

/// A reply from a recipient: matched to the newest flow that sent its sender a message
/// on its channel within the window (`cascade_core::inbound`), noted in that flow's
/// timeline and, when the step has an `inboundUrl`, queued for it in the callback outbox
/// (the flow's callback sequence, so replies and status callbacks keep one order).
pub(crate) async fn record_inbound<T: FlowTx + ?Sized>(
    tx: &mut T,
    message: &InboundMessage,
    now: Timestamp,
) -> Result<(Option<InboundRecord>, Applied)> {
    let mut out = Applied::default();
    if let Some(id) = &message.provider_message_id
        && tx.inbound_known(&message.provider, id).await?
    {
        return Ok((None, out));
    }
    let candidates = tx
        .recent_flows_to(
            message.channel.name(),
            &message.from.to_lowercase(),
            message.window_start(),
            20,
        )
        .await?;
    // The newest step sent to the sender that the message answers, in the newest flow;
    // failing that, the newest one still being submitted (see `inbound::Reached`).
    let mut found: Option<(LoadedFlow, u32, String)> = None;
    let mut submitting: Option<(LoadedFlow, u32, String)> = None;
    for flow_id in candidates {
        let Some(flow) = tx.load_flow(flow_id).await? else {
            continue;
        };
        let answered = |wanted: inbound::Reached| {
            flow.def
                .steps
                .iter()
                .rev()
                .filter(|step| inbound::step_answered(step, message))
                .find_map(|step| {
                    let state = flow.state.step(step.order)?;
                    (inbound::reached(state) == Some(wanted))
                        .then(|| (step.order, state.message_id.clone()))
                })
        };
        if let Some((order, message_id)) = answered(inbound::Reached::Sent) {
            found = Some((flow, order, message_id));
            break;
        }
        if submitting.is_none()
            && let Some((order, message_id)) = answered(inbound::Reached::Submitting)
        {
            submitting = Some((flow, order, message_id));
        }
    }
    let found = found.or(submitting);
    let Some((mut flow, order, message_id)) = found else {
        let id = tx.insert_inbound(message, None, false).await?;
        return Ok((
            Some(InboundRecord {
                id,
                message: message.clone(),
                matched: None,
                forwarded: false,
            }),
            out,
        ));
    };
    let step = flow
        .def
        .steps
        .iter()
        .find(|s| s.order == order)
        .cloned()
        .ok_or_else(|| StoreError::NotFound(format!("step {order}")))?;
    let url = inbound::inbound_url(&step).map(str::to_owned);
    let mut entry = TimelineEntry::new(now, TimelineKind::Inbound)
        .order(order)
        .detail(message.text.clone());
    entry.provider = Some(message.provider.clone());
    tx.append_timeline(flow.id(), flow.event_seq, &[entry])
        .await?;
    flow.event_seq += 1;
    if let Some(url) = &url {
        flow.callback_seq += 1;
        let body = inbound::body(&flow.id().to_string(), &message_id, message);
        tx.enqueue_callback(&NewCallback {
            event_id: uuid::Uuid::now_v7().to_string(),
            flow: flow.id(),
            seq: flow.callback_seq,
            application_id: flow.def.application_id.clone(),
            url: url.clone(),
            body: serde_json::to_string(&body)?,
            created_at: now,
        })
        .await?;
        out.callbacks += 1;
    }
    tx.save_flow(&flow).await?;
    let matched = InboundMatch {
        flow: flow.id(),
        order,
        message_id,
    };
    let id = tx
        .insert_inbound(message, Some(&matched), url.is_some())
        .await?;
    Ok((
        Some(InboundRecord {
            id,
            message: message.clone(),
            matched: Some(matched),
            forwarded: url.is_some(),
        }),
        out,
    ))
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

/// A provider report: apply it to the message of the first candidate id that is known,
/// or hold it under all of them until one is. `candidates` are the forms the provider's
/// id may take (most likely first); usually just one.
pub(crate) async fn report<T: FlowTx + ?Sized>(
    tx: &mut T,
    provider: &str,
    candidates: &[String],
    report: Report,
    now: Timestamp,
) -> Result<ReportOutcome> {
    let mut found = Vec::new();
    for candidate in candidates {
        found = tx.find_provider_refs(provider, candidate).await?;
        if !found.is_empty() {
            break;
        }
    }
    if found.is_empty() {
        tx.hold_report(provider, candidates, &report, now).await?;
        return Ok(ReportOutcome::Held);
    }
    let mut out = Applied::default();
    let mut flows: Vec<FlowId> = found.iter().map(|r| r.flow).collect();
    flows.sort();
    flows.dedup();
    for flow_id in flows {
        let events = found
            .iter()
            .filter(|r| r.flow == flow_id)
            .map(|r| Event::Report {
                order: r.order,
                part: r.part,
                report: report.clone(),
            })
            .collect();
        let mut flow = load(tx, flow_id).await?;
        apply_events(tx, &mut flow, events, now, &mut out).await?;
    }
    Ok(ReportOutcome::Applied(out))
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
    apply_events_via(tx, flow, events, now, out, None).await
}

/// [`apply_events`], naming `provider` in the timeline's `submitted` entries.
async fn apply_events_via<T: FlowTx + ?Sized>(
    tx: &mut T,
    flow: &mut LoadedFlow,
    events: Vec<Event>,
    now: Timestamp,
    out: &mut Applied,
    provider: Option<&str>,
) -> Result<()> {
    let id = flow.id();
    let def = Arc::clone(&flow.def);
    let was_final = flow.state.is_final();
    let decided: Vec<bool> = flow
        .state
        .steps
        .iter()
        .map(|s| s.outcome.is_some())
        .collect();
    let mut run = Apply::new(&def, events, now);
    let mut timeline: Vec<TimelineEntry> = Vec::new();
    while let Some(output) = run.poll(&mut flow.state) {
        match output {
            Output::ReserveFunds { amount, debit, .. } => {
                let covered = tx.reserve_funds(&def.account_id, amount, debit).await?;
                run.funds(covered);
            }
            Output::Command(command) => {
                carry_out(tx, flow, command, now, &mut timeline, out).await?;
            }
            Output::Callback => {
                enqueue_callback(tx, flow, now).await?;
                out.callbacks += 1;
            }
            Output::Refused(e) => {
                tracing::warn!(flow_id = %id, error = %e, "engine refused an event");
                out.rejected.push(e);
            }
        }
    }
    if let Some(provider) = provider {
        for entry in timeline
            .iter_mut()
            .filter(|e| e.kind == TimelineKind::Submitted)
        {
            entry.provider = Some(provider.to_owned());
        }
    }
    if !timeline.is_empty() {
        tx.append_timeline(id, flow.event_seq, &timeline).await?;
        flow.event_seq += i64::try_from(timeline.len()).unwrap_or(i64::MAX);
    }
    tx.save_flow(flow).await?;
    out.status = Some(flow.state.status);
    note_changes(
        &def,
        &flow.state,
        was_final,
        &decided,
        now,
        &mut out.changes,
    );
    Ok(())
}

/// What the events just applied changed, for the metrics: a flow started (its first
/// step, no step before), steps decided, failovers (a step started after another), the
/// flow's end.
fn note_changes(
    def: &FlowDefinition,
    state: &FlowState,
    was_final: bool,
    decided_before: &[bool],
    now: Timestamp,
    changes: &mut crate::FlowChanges,
) {
    let channel_of = |order: u32| {
        def.steps
            .iter()
            .find(|s| s.order == order)
            .map(cascade_core::flow::Step::channel)
    };
    for (i, step) in state.steps.iter().enumerate() {
        let Some(channel) = channel_of(step.order) else {
            continue;
        };
        if i >= decided_before.len() {
            match i.checked_sub(1).and_then(|p| state.steps.get(p)) {
                None => changes.accepted.push(channel),
                Some(previous) => {
                    if let Some(from) = channel_of(previous.order) {
                        changes.failovers.push((from, channel));
                    }
                }
            }
        }
        if let Some(outcome) = step.outcome
            && !decided_before.get(i).copied().unwrap_or(false)
        {
            let took = now.as_millis() - step.started_at.as_millis();
            changes.steps_ended.push((channel, outcome, took));
        }
    }
    if !was_final && state.is_final() {
        changes
            .finished
            .push((state.status, state.termination_channel(def)));
    }
}

/// One command of the machine, as rows.
async fn carry_out<T: FlowTx + ?Sized>(
    tx: &mut T,
    flow: &LoadedFlow,
    command: Command,
    now: Timestamp,
    timeline: &mut Vec<TimelineEntry>,
    out: &mut Applied,
) -> Result<()> {
    let id = flow.id();
    match command {
        Command::Credit { amount } => tx.adjust_balance(&flow.def.account_id, amount).await?,
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
        // What changed decides callbacks, which `Apply` already did.
        Command::Notify(_) => {}
        Command::ReserveFunds { .. } => {
            unreachable!("Apply hands funds requests out as Output::ReserveFunds")
        }
    }
    Ok(())
}

/// One callback carrying the snapshot after the event that caused it; written in this
/// transaction, so it exists iff the change does.
async fn enqueue_callback<T: FlowTx + ?Sized>(
    tx: &mut T,
    flow: &mut LoadedFlow,
    now: Timestamp,
) -> Result<()> {
    let Some(callback) = &flow.def.callback else {
        return Ok(());
    };
    flow.callback_seq += 1;
    let row = NewCallback {
        event_id: uuid::Uuid::now_v7().to_string(),
        flow: flow.id(),
        seq: flow.callback_seq,
        application_id: flow.def.application_id.clone(),
        url: callback.url.clone(),
        body: serde_json::to_string(&render_tracking(&flow.def, &flow.state))?,
        created_at: now,
    };
    tx.enqueue_callback(&row).await
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
        created_at: state.started_at,
        account_id: flow.def.account_id.clone(),
        application_id: flow.def.application_id.clone(),
        step,
        message_id: state.message_id.clone(),
        message_ids: state.messages.iter().map(|m| m.id.clone()).collect(),
    }
}
