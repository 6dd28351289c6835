//! The engine runtime: everything that moves flows forward outside a request.
//!
//! - the **dispatcher** hands submit jobs to providers and records their answers;
//! - the **job poller** re-claims jobs whose lease ran out (a crash, a retry falling due);
//! - the **timer loop** fires durable timers when they fall due;
//! - the **callback worker** delivers the callback outbox, in order per flow;
//! - the runtime is the providers' [`ReportSink`]: reports are applied in the store.
//!
//! Every state change happens in the store's transactions (the engine's commands become
//! rows in `cascade-store/src/engine_tx.rs`); this module only carries
//! effects (new jobs, earlier timers) from one transaction to the next piece of work.
//! Nothing here is needed for correctness after a crash: jobs and timers are rows, and
//! the loops pick them up again on start.

mod alarm;
mod callbacks;
mod dispatcher;
pub mod metrics;
mod timers;

pub use callbacks::{CallbackSettings, default_schedule, parse_schedule, signature};

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cascade_core::flow::FlowDefinition;
use cascade_core::machines::Report;
use cascade_core::ports::{Providers, Recorded, ReportSink};
use cascade_core::{Channel, Clock, FlowId};
use cascade_store::{
    Applied, IdempotentAccept, IdempotentRequest, Job, ReportOutcome, Store, StoreError,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Tuning of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Submissions in flight at once, over all providers.
    pub dispatch_concurrency: usize,
    /// How often the job poller looks for due or abandoned jobs.
    pub job_poll: Duration,
    /// Lease a claimed job gets; an unfinished job is claimed again after it.
    pub job_lease: Duration,
    /// A provider call that takes longer counts as a temporary failure.
    pub submit_timeout: Duration,
    /// Temporary failures tolerated before the step is given up as `Unsent`.
    pub max_submit_attempts: u32,
    pub callbacks: CallbackSettings,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            dispatch_concurrency: 512,
            job_poll: Duration::from_secs(1),
            job_lease: Duration::from_secs(300),
            submit_timeout: Duration::from_secs(30),
            max_submit_attempts: 8,
            callbacks: CallbackSettings::default(),
        }
    }
}

/// What the dispatcher has done since the runtime started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchCounts {
    /// Provider calls made.
    pub submitted: u64,
    /// Answers recorded as sent.
    pub recorded: u64,
    /// Retries scheduled after a passing failure.
    pub retried: u64,
    /// Steps ended at their submission (refused, expired, no provider, given up).
    pub finished: u64,
}

#[derive(Debug, Default)]
struct DispatchCounters {
    submitted: std::sync::atomic::AtomicU64,
    recorded: std::sync::atomic::AtomicU64,
    retried: std::sync::atomic::AtomicU64,
    finished: std::sync::atomic::AtomicU64,
}

impl DispatchCounters {
    fn count(counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn snapshot(&self) -> DispatchCounts {
        let read = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        DispatchCounts {
            submitted: read(&self.submitted),
            recorded: read(&self.recorded),
            retried: read(&self.retried),
            finished: read(&self.finished),
        }
    }
}

/// Replies recorded since the runtime started, per channel, matched or not.
#[derive(Debug, Default)]
struct InboundCounts {
    /// [channel: SMS, Viber, Voice][matched: no, yes].
    counts: [[std::sync::atomic::AtomicU64; 2]; 3],
}

impl InboundCounts {
    fn index(channel: Channel) -> usize {
        match channel {
            Channel::Sms => 0,
            Channel::Viber => 1,
            Channel::Voice => 2,
        }
    }

    fn count(&self, channel: Channel, matched: bool) {
        self.counts[Self::index(channel)][usize::from(matched)]
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn get(&self, channel: Channel, matched: bool) -> u64 {
        self.counts[Self::index(channel)][usize::from(matched)]
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The running engine. Create with [`Runtime::start`]; stop with [`Runtime::shutdown`].
pub struct Runtime {
    store: Arc<dyn Store>,
    providers: Providers,
    clock: Arc<dyn Clock>,
    config: RuntimeConfig,
    jobs_tx: mpsc::UnboundedSender<Job>,
    /// Job ids being submitted right now, so a job claimed again by the poller while its
    /// first submission is still running is not submitted twice by this process.
    in_flight: Mutex<HashSet<i64>>,
    timer_alarm: alarm::Alarm,
    dispatched: DispatchCounters,
    inbound_counts: InboundCounts,
    /// What providers said they charged, by (provider, currency): absolute amounts from
    /// final reports and prices fetched after a call (a final report the provider sends
    /// again counts again).
    provider_costs: Mutex<std::collections::BTreeMap<(String, String), f64>>,
    callback_alarm: alarm::Alarm,
    /// The product's metrics (flows, failovers, steps, timers, the outbox).
    flow_metrics: metrics::FlowMetrics,
    callback_client: reqwest::Client,
    callback_secrets: callbacks::SecretCache,
    stop: CancellationToken,
    tasks: TaskTracker,
    /// This runtime, for writes that must outlive their caller ([`Runtime::committed`]).
    me: std::sync::Weak<Runtime>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Start the dispatcher, the job poller, the timer loop, the callback worker and
    /// housekeeping.
    pub fn start(
        store: Arc<dyn Store>,
        providers: Providers,
        clock: Arc<dyn Clock>,
        config: RuntimeConfig,
    ) -> Arc<Runtime> {
        // Leases of work an earlier run left are the store's business: SQLite voids them
        // when its one server opens it; a shared database lets them run out.
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
        let callback_client = callbacks::http_client(&config.callbacks);
        let runtime = Arc::new_cyclic(|me| Runtime {
            me: me.clone(),
            store,
            providers,
            clock,
            jobs_tx,
            in_flight: Mutex::new(HashSet::new()),
            config,
            timer_alarm: alarm::Alarm::default(),
            dispatched: DispatchCounters::default(),
            inbound_counts: InboundCounts::default(),
            provider_costs: Mutex::new(std::collections::BTreeMap::new()),
            callback_alarm: alarm::Alarm::default(),
            flow_metrics: metrics::FlowMetrics::default(),
            callback_client,
            callback_secrets: callbacks::SecretCache::default(),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        runtime
            .tasks
            .spawn(dispatcher::run_dispatcher_until_stopped(
                Arc::clone(&runtime),
                jobs_rx,
            ));
        runtime
            .tasks
            .spawn(dispatcher::run_job_poller_until_stopped(Arc::clone(
                &runtime,
            )));
        runtime
            .tasks
            .spawn(timers::run_timer_loop_until_stopped(Arc::clone(&runtime)));
        runtime
            .tasks
            .spawn(callbacks::run_callback_worker_until_stopped(Arc::clone(
                &runtime,
            )));
        runtime
            .tasks
            .spawn(run_housekeeping_until_stopped(Arc::clone(&runtime)));
        runtime
            .tasks
            .spawn(run_outbox_gauge_until_stopped(Arc::clone(&runtime)));
        runtime
    }

    /// The product's metrics, to register with `GET /metrics`.
    pub fn flow_metrics(&self) -> &metrics::FlowMetrics {
        &self.flow_metrics
    }

    /// Every configured provider's state on this node, by channel.
    pub fn provider_states(&self) -> Vec<(Channel, cascade_core::ports::ProviderState)> {
        self.providers.states()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// What the dispatcher has done so far (each count is recorded after the store write
    /// it stands for).
    pub fn dispatch_counts(&self) -> DispatchCounts {
        self.dispatched.snapshot()
    }

    /// What providers said they charged since the runtime started: (provider, currency,
    /// amount), from reports and prices fetched after the fact.
    pub fn provider_costs(&self) -> Vec<(String, String, f64)> {
        self.provider_costs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|((p, c), a)| (p.clone(), c.clone(), *a))
            .collect()
    }

    /// Add a provider's price (`"0.0333 EUR"`, `"-0.01300 USD"`: the amount counts
    /// whatever its sign) to [`Runtime::provider_costs`]; text that is no price is
    /// ignored.
    fn count_cost(&self, provider: &str, price: &str) {
        let mut parts = price.split_whitespace();
        let (Some(amount), Some(currency)) = (parts.next(), parts.next()) else {
            return;
        };
        let Ok(amount) = amount.parse::<f64>() else {
            return;
        };
        if !amount.is_finite() {
            return;
        }
        *self
            .provider_costs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((provider.to_owned(), currency.to_owned()))
            .or_insert(0.0) += amount.abs();
    }

    /// Replies recorded since the runtime started on `channel`, `matched` to a flow or not.
    pub fn inbound_count(&self, channel: Channel, matched: bool) -> u64 {
        self.inbound_counts.get(channel, matched)
    }

    /// The clock the runtime runs on; everything that needs "now" in this process reads it.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A token cancelled when the runtime stops; for companion loops (sandbox reporter).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Spawn a companion task that is waited for at shutdown.
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Store and start a flow. Returns when the flow is durable.
    ///
    /// # Errors
    /// The store's error; nothing was stored then.
    pub async fn accept(&self, def: FlowDefinition) -> Result<Applied, StoreError> {
        let store = Arc::clone(&self.store);
        let now = self.clock.now();
        self.committed(async move { store.accept_flow(def, now).await }, |a| {
            Some(a)
        })
        .await
    }

    /// Runs a store write that commits engine work, and [`Runtime::absorb`]s what it
    /// committed, in a task of its own. The caller is often an HTTP request, whose future
    /// is dropped when its client hangs up; the write goes on in the store's writer
    /// regardless, and without this its jobs would wait for their lease (minutes) instead
    /// of being dispatched now.
    async fn committed<T, F>(
        &self,
        write: F,
        applied: fn(&T) -> Option<&Applied>,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let Some(me) = self.me.upgrade() else {
            return Err(StoreError::Closed);
        };
        let task = self.tasks.spawn(async move {
            let written = write.await;
            if let Ok(value) = &written
                && let Some(a) = applied(value)
            {
                me.absorb(a);
            }
            written
        });
        match task.await {
            Ok(written) => written,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Store and start a flow completing its claimed idempotency key (see
    /// [`cascade_store::FlowStore::accept_flow_idempotent`]).
    ///
    /// # Errors
    /// The store's error; nothing was stored then.
    pub async fn accept_idempotent(
        &self,
        def: FlowDefinition,
        request: IdempotentRequest,
    ) -> Result<IdempotentAccept, StoreError> {
        let store = Arc::clone(&self.store);
        let now = self.clock.now();
        self.committed(
            async move { store.accept_flow_idempotent(def, request, now).await },
            |outcome| match outcome {
                IdempotentAccept::Accepted(applied) => Some(applied),
                _ => None,
            },
        )
        .await
    }

    /// An application's webhook secret changed: sign its next callbacks with the new one.
    pub fn webhook_secret_rotated(&self, application_id: &str) {
        self.callback_secrets.forget(application_id);
    }

    /// Look for callbacks to deliver now (after an operator re-queued some).
    pub fn wake_callbacks(&self) {
        self.callback_alarm.schedule(self.clock.now());
    }

    /// Carry a transaction's effects on: queue its jobs, wake the timer loop for an earlier
    /// deadline, wake the callback worker.
    pub(crate) fn absorb(&self, applied: &Applied) {
        self.flow_metrics.record(&applied.changes);
        let elsewhere = if applied.jobs.is_empty() {
            Vec::new()
        } else {
            self.providers.held_elsewhere()
        };
        for job in &applied.jobs {
            if elsewhere.contains(&job.payload.channel()) {
                // Another node holds what sends this channel (the SMSC's binds): let the
                // job go at once so that one of them claims it.
                let store = Arc::clone(&self.store);
                let job = job.clone();
                self.tasks.spawn(async move {
                    if let Err(e) = store.release_job(&job).await {
                        tracing::warn!(error = %e, "could not hand the job to another node; its lease will");
                    }
                });
                continue;
            }
            // The receiver only goes away at shutdown; the job row stays and is claimed
            // again on the next start.
            let _ = self.jobs_tx.send(job.clone());
        }
        if let Some(at) = applied.earliest_timer {
            self.timer_alarm.schedule(at);
        }
        if applied.callbacks > 0 {
            self.callback_alarm.schedule(self.clock.now());
        }
    }

    /// Stop the loops and wait (up to `grace`) for submissions in flight to be recorded.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("runtime tasks still running after the grace period");
        }
    }
}

/// Read the callback outbox's depth and age every few seconds for the metrics (a
/// scrape cannot wait for the store).
async fn run_outbox_gauge_until_stopped(runtime: Arc<Runtime>) {
    const EVERY_MS: i64 = 5_000;
    loop {
        let now = runtime.clock.now();
        match runtime.store.outbox_stats().await {
            Ok(stats) => runtime.flow_metrics.outbox(stats, now),
            Err(e) => tracing::debug!(error = %e, "could not read the callback outbox"),
        }
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = runtime.clock.sleep_until(now.plus_millis(EVERY_MS)) => {}
        }
    }
}

/// Forget idempotency keys older than a day and expired tokens, once an hour.
async fn run_housekeeping_until_stopped(runtime: Arc<Runtime>) {
    const DAY_MS: i64 = 24 * 60 * 60 * 1000;
    loop {
        let now = runtime.clock.now();
        match runtime
            .store
            .purge_idempotency_keys(now.plus_millis(-DAY_MS))
            .await
        {
            Ok(n) if n > 0 => tracing::info!(purged = n, "forgot idempotency keys older than 24 h"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
        }
        if let Err(e) = runtime.store.purge_tokens(now).await {
            tracing::warn!(error = %e, "could not purge expired tokens");
        }
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = runtime.clock.sleep(Duration::from_secs(3600)) => {}
        }
    }
}

#[async_trait]
impl ReportSink for Runtime {
    async fn deliver(
        &self,
        provider: &str,
        provider_message_ids: &[String],
        report: Report,
    ) -> Result<Recorded, String> {
        // A provider may repeat the price on every report of a message (Vonage puts it on
        // `delivered` and `read`): only the report that makes the message final counts it.
        let price = report.provider_price.clone().filter(|_| {
            report.status.is_final() && report.status != cascade_core::StatusKind::Seen
        });
        let store = Arc::clone(&self.store);
        let provider_owned = provider.to_owned();
        let ids = provider_message_ids.to_vec();
        let now = self.clock.now();
        let recorded = self
            .committed(
                async move { store.apply_report(&provider_owned, &ids, report, now).await },
                |outcome| match outcome {
                    ReportOutcome::Applied(applied) => Some(applied),
                    ReportOutcome::Held => None,
                },
            )
            .await;
        if recorded.is_ok()
            && let Some(price) = &price
        {
            self.count_cost(provider, price);
        }
        match recorded {
            Ok(ReportOutcome::Applied(_)) => Ok(Recorded::Applied),
            Ok(ReportOutcome::Held) => {
                tracing::debug!(
                    provider,
                    provider_message_id = ?provider_message_ids,
                    "report held until its message id is known"
                );
                Ok(Recorded::Held)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    async fn inbound(&self, message: cascade_core::inbound::InboundMessage) -> Result<(), String> {
        let channel = message.channel;
        let store = Arc::clone(&self.store);
        let now = self.clock.now();
        let recorded = self
            .committed(
                async move { store.record_inbound(message, now).await },
                |(record, applied)| record.as_ref().map(|_| applied),
            )
            .await;
        match recorded {
            Ok((None, _)) => {
                tracing::debug!("inbound message already recorded; the repeat is ignored");
                Ok(())
            }
            Ok((Some(record), _)) => {
                self.inbound_counts.count(channel, record.matched.is_some());
                tracing::info!(
                    inbound_id = record.id,
                    matched = ?record.matched.as_ref().map(|m| m.flow),
                    forwarded = record.forwarded,
                    "inbound message recorded"
                );
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    async fn claim_dial(&self, flow: FlowId, order: u32, provider: &str) -> Result<bool, String> {
        self.store
            .claim_dial(flow, order, provider, self.clock.now())
            .await
            .map_err(|e| e.to_string())
    }

    async fn note_price(
        &self,
        provider: &str,
        provider_message_id: &str,
        price: &str,
    ) -> Result<bool, String> {
        let noted = self
            .store
            .note_provider_price(provider, provider_message_id, price, self.clock.now())
            .await
            .map_err(|e| e.to_string())?;
        if noted {
            self.count_cost(provider, price);
        }
        Ok(noted)
    }

    async fn note_attempt(&self, flow: FlowId, order: u32, provider: &str, outcome: &str) {
        if let Err(e) = self
            .store
            .note_attempt(flow, order, provider, outcome, self.clock.now())
            .await
        {
            tracing::warn!(flow_id = %flow, order, provider, error = %e, "could not note a provider attempt");
        }
    }
}
