//! Handing submit jobs to providers.

use std::sync::Arc;
use std::time::Duration;

use cascade_core::Timestamp;
use cascade_core::machines::Event;
use cascade_core::ports::{Accepted, SubmitError, SubmitRequest};
use cascade_core::reasons;
use cascade_pace::Backoff;
use cascade_store::Job;
use tokio::sync::{Semaphore, mpsc};

use super::Runtime;

const TARGET: &str = "cascade::dispatcher";

pub(super) async fn run_dispatcher_until_stopped(
    runtime: Arc<Runtime>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    let permits = Arc::new(Semaphore::new(runtime.config.dispatch_concurrency.max(1)));
    loop {
        let job = tokio::select! {
            () = runtime.stop.cancelled() => return,
            job = jobs.recv() => match job { Some(job) => job, None => return },
        };
        let permit = tokio::select! {
            () = runtime.stop.cancelled() => return,
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        if !runtime
            .in_flight
            .lock()
            .expect("no panics under this lock")
            .insert(job.id)
        {
            continue;
        }
        let rt = Arc::clone(&runtime);
        runtime.tasks.spawn(async move {
            submit_job(&rt, job).await;
            drop(permit);
        });
    }
}

/// Leaves the in-flight set when the provider call is over (or the job never got to it).
///
/// The set keeps this process from calling a provider twice for one job whose lease ran
/// out during a very slow call. It must be left before the job's outcome is written: once
/// a retry is recorded the poller may claim the job at once, and a claim of a job still in
/// the set is skipped — leaving the job leased, and its retry late by a whole lease.
struct InFlight<'a> {
    runtime: &'a Runtime,
    id: i64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.runtime
            .in_flight
            .lock()
            .expect("no panics under this lock")
            .remove(&self.id);
    }
}

/// Claim jobs whose lease ran out or whose retry fell due, and queue them.
pub(super) async fn run_job_poller_until_stopped(runtime: Arc<Runtime>) {
    let lease_ms = i64::try_from(runtime.config.job_lease.as_millis()).unwrap_or(i64::MAX);
    let poll_ms = i64::try_from(runtime.config.job_poll.as_millis()).unwrap_or(i64::MAX);
    loop {
        // The next look is one poll after this one, however long this one takes.
        let now = runtime.clock.now();
        let skip = runtime.providers.held_elsewhere();
        match runtime
            .store
            .claim_jobs_except(now, lease_ms, 512, &skip)
            .await
        {
            Ok(jobs) => {
                for job in jobs {
                    let busy = runtime
                        .in_flight
                        .lock()
                        .expect("no panics under this lock")
                        .contains(&job.id);
                    if !busy {
                        let _ = runtime.jobs_tx.send(job);
                    }
                }
            }
            Err(e) => tracing::warn!(target: TARGET, error = %e, "could not claim submit jobs"),
        }
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = runtime.clock.sleep_until(now.plus_millis(poll_ms)) => {}
        }
    }
}

/// What the dispatcher does with a job once it knows what it can know.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    /// Record the provider's ids: the step is sent.
    Record(Accepted),
    /// End the step with this event.
    Finish(Event),
    /// Try again at `at`.
    Retry { at: Timestamp, error: SubmitError },
}

/// Before any provider is called: a job with no provider for its channel fails the flow
/// (an internal error: nothing will ever send it), and one whose TTL ran out while it
/// waited in Cascade's own queue (retries, a restart) must not leave any more.
fn before_submit(job: &Job, has_provider: bool, now: Timestamp) -> Option<Event> {
    let channel = job.payload.channel();
    if !has_provider {
        return Some(Event::InternalError {
            order: job.order,
            detail: format!("no provider is configured for {channel}"),
        });
    }
    if job.payload.ttl_run_out(now) {
        return Some(Event::submit_failed(
            job.order,
            reasons::expired_before_submit(),
        ));
    }
    None
}

/// After the provider answered: accepted is recorded, a refusal ends the step, a passing
/// failure is retried after the back-off (or when the provider asked), until
/// `max_attempts` attempts have failed.
fn after_submit(
    job: &Job,
    answer: Result<Accepted, SubmitError>,
    max_attempts: u32,
    now: Timestamp,
) -> Next {
    let error = match answer {
        Ok(accepted) => return Next::Record(accepted),
        Err(SubmitError::Rejected {
            status,
            detailed_status,
            description,
        }) => {
            return Next::Finish(Event::SubmitFailed {
                order: job.order,
                status,
                detailed_status,
                description,
            });
        }
        Err(e) => e,
    };
    let attempts = job.attempts + 1;
    if attempts >= max_attempts {
        return Next::Finish(Event::submit_failed(
            job.order,
            reasons::provider_unavailable(attempts, &error),
        ));
    }
    let delay = match &error {
        SubmitError::RateLimited { retry_after_ms } => Duration::from_millis(*retry_after_ms),
        _ => RETRY_BACKOFF.delay(job.attempts),
    };
    Next::Retry {
        at: now.plus_millis(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        error,
    }
}

#[tracing::instrument(name = "submit", skip_all, fields(flow_id = %job.flow_id, order = job.order, attempt = job.attempts))]
async fn submit_job(runtime: &Runtime, job: Job) {
    let in_flight = InFlight {
        runtime,
        id: job.id,
    };
    let provider = runtime.providers.for_channel(job.payload.channel());
    if let Some(event) = before_submit(&job, provider.is_some(), runtime.clock.now()) {
        drop(in_flight);
        finish(runtime, &job, event).await;
        return;
    }
    let Some(provider) = provider else {
        return;
    };
    let request = SubmitRequest {
        flow_id: job.flow_id,
        order: job.order,
        first_attempt: !job.reclaimed && job.attempts == 0,
        payload: job.payload.clone(),
    };
    super::DispatchCounters::count(&runtime.dispatched.submitted);
    let answer = tokio::select! {
        answer = provider.submit(&request) => answer,
        // The request may have reached the provider: its answer, not the request, is
        // what was lost.
        () = runtime.clock.sleep(runtime.config.submit_timeout) => Err(SubmitError::Ambiguous {
            reason: "the provider did not answer in time".into(),
        }),
    };
    drop(in_flight);
    match after_submit(
        &job,
        answer,
        runtime.config.max_submit_attempts,
        runtime.clock.now(),
    ) {
        Next::Record(accepted) => match while_away(runtime, "recording a submission", |now| {
            runtime
                .store
                .job_submitted(&job, &accepted.provider, accepted.message_ids.clone(), now)
        })
        .await
        {
            Ok(applied) => {
                super::DispatchCounters::count(&runtime.dispatched.recorded);
                runtime.absorb(&applied);
            }
            // The provider has the messages; the job stays leased and is retried after the
            // lease, and providers deduplicate on our message ids.
            Err(e) => {
                tracing::error!(target: TARGET, error = %e, "submitted, but could not record it")
            }
        },
        Next::Finish(event) => {
            tracing::info!(target: TARGET, ?event, "the step ends at its submission");
            finish(runtime, &job, event).await;
        }
        Next::Retry { at, error } => {
            tracing::info!(target: TARGET, %error, %at, "submission will be retried");
            match while_away(runtime, "scheduling a retry", |_| {
                runtime.store.job_retry(&job, at)
            })
            .await
            {
                Ok(()) => super::DispatchCounters::count(&runtime.dispatched.retried),
                Err(e) => {
                    tracing::error!(target: TARGET, error = %e, "could not schedule the retry; the lease will bring it back");
                }
            }
        }
    }
}

/// Write a job's outcome, trying again while the store is away (a database restarting)
/// for up to half the job's lease. Given up, the job comes back only after its lease:
/// a submission recorded that late is sent twice, a retry or an end that late waits.
async fn while_away<T, F, Fut>(runtime: &Runtime, what: &str, write: F) -> cascade_store::Result<T>
where
    F: Fn(Timestamp) -> Fut,
    Fut: std::future::Future<Output = cascade_store::Result<T>>,
{
    let give_up = runtime
        .clock
        .now()
        .plus_millis(i64::try_from(runtime.config.job_lease.as_millis() / 2).unwrap_or(i64::MAX));
    let mut backoff = STORE_AWAY_BACKOFF.series();
    loop {
        let now = runtime.clock.now();
        match write(now).await {
            // A commit whose answer was lost may have landed: writing again is harmless
            // (a job already recorded or ended is not found, and nothing changes).
            Err(
                e @ (cascade_store::StoreError::Unavailable(_)
                | cascade_store::StoreError::CommitFailed(_)),
            ) if now < give_up => {
                let wait = backoff.next_delay();
                tracing::warn!(target: TARGET, error = %e, ?wait, "{what}: the store is away; writing again");
                tokio::select! {
                    () = runtime.stop.cancelled() => return Err(e),
                    () = runtime.clock.sleep(wait) => {}
                }
            }
            answer => return answer,
        }
    }
}

/// Between attempts to write a job's outcome while the store is away.
const STORE_AWAY_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

async fn finish(runtime: &Runtime, job: &Job, event: Event) {
    let written = while_away(runtime, "ending a job", |now| {
        runtime.store.job_finished(job, event.clone(), now)
    })
    .await;
    match written {
        Ok(applied) => {
            super::DispatchCounters::count(&runtime.dispatched.finished);
            runtime.absorb(&applied);
        }
        Err(e) => {
            tracing::error!(target: TARGET, error = %e, "could not record the job's end; the lease will bring it back")
        }
    }
}

/// Between submit attempts: 1 s, 2 s, 4 s … capped at one minute.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

#[cfg(test)]
mod tests {
    use cascade_core::flow::FlowDefinition;
    use cascade_core::ports::JobPayload;
    use cascade_core::{FlowId, StatusKind};

    use super::*;

    /// A job of a one-step flow of `channel` whose step started at 0 with a TTL of 60 s.
    fn job(channel: &str, attempts: u32) -> Job {
        let body = serde_json::json!({"flow": [match channel {
            "Sms" => serde_json::json!({"type": "Sms", "order": 1, "from": "Cascade",
                "to": "+306912345678", "ttl": 1, "message": {"body": "Hi"}}),
            _ => serde_json::json!({"type": "Voice", "order": 1, "from": "+306900000000",
                "to": "+306912345678", "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": "Hi"}}]}}),
        }]});
        let ctx = cascade_core::flow::AcceptContext {
            tracking_id: FlowId::new_v7(0),
            now: Timestamp::from_millis(0),
            account_id: "acc",
            application_id: "app",
            viber_senders: &std::collections::HashMap::new(),
            prices: &cascade_core::pricing::PriceList::default(),
            operators: &cascade_core::pricing::OperatorTable::default(),
            ttl_clock: cascade_core::ttl::TtlClock::default(),
        };
        let def: FlowDefinition =
            cascade_core::flow::parse_flow(&body, &ctx).expect("a valid flow");
        Job {
            id: 7,
            flow_id: def.tracking_id,
            order: 1,
            attempts,
            reclaimed: attempts > 0,
            payload: JobPayload {
                created_at: Timestamp::from_millis(0),
                account_id: "acc".into(),
                application_id: "app".into(),
                step: def.steps[0].clone(),
                message_id: "m".into(),
                message_ids: vec!["m1".into()],
            },
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn retryable() -> SubmitError {
        SubmitError::Retryable {
            reason: "HTTP 503".into(),
        }
    }

    #[test]
    fn no_provider_is_an_internal_error_and_a_stale_job_never_leaves() {
        let sms = job("Sms", 0);
        assert!(matches!(
            before_submit(&sms, false, at(1)),
            Some(Event::InternalError { order: 1, .. })
        ));
        assert_eq!(
            before_submit(&sms, true, at(59_999)),
            None,
            "within its TTL"
        );
        assert_eq!(
            before_submit(&sms, true, at(60_000)),
            Some(Event::submit_failed(1, reasons::expired_before_submit())),
            "its TTL ran out while it waited in Cascade's queue"
        );
        assert_eq!(
            before_submit(&job("Voice", 0), true, at(10_000_000_000)),
            None,
            "a call has no TTL to outlive"
        );
    }

    #[test]
    fn answers_and_what_follows() {
        let j = job("Sms", 0);
        let accepted = Accepted {
            provider: "p".into(),
            message_ids: vec!["x".into()],
        };
        assert_eq!(
            after_submit(&j, Ok(accepted.clone()), 8, at(5)),
            Next::Record(accepted)
        );
        let refused = SubmitError::from(reasons::rejected_by_smsc("ESME_RINVDSTADR"));
        assert_eq!(
            after_submit(&j, Err(refused), 8, at(5)),
            Next::Finish(Event::submit_failed(
                1,
                reasons::rejected_by_smsc("ESME_RINVDSTADR")
            ))
        );
        assert_eq!(
            after_submit(&j, Err(retryable()), 8, at(5)),
            Next::Retry {
                at: at(1_005),
                error: retryable()
            },
            "first retry after 1 s"
        );
        assert_eq!(
            after_submit(&job("Sms", 3), Err(retryable()), 8, at(5)),
            Next::Retry {
                at: at(8_005),
                error: retryable()
            },
            "doubling: 1, 2, 4, 8 s"
        );
        let limited = SubmitError::RateLimited {
            retry_after_ms: 250,
        };
        assert_eq!(
            after_submit(&j, Err(limited.clone()), 8, at(5)),
            Next::Retry {
                at: at(255),
                error: limited
            },
            "the provider says when"
        );
    }

    #[test]
    fn the_last_attempt_gives_the_step_up_as_unsent() {
        match after_submit(&job("Sms", 7), Err(retryable()), 8, at(5)) {
            Next::Finish(Event::SubmitFailed {
                status,
                detailed_status,
                description,
                ..
            }) => {
                assert_eq!(status, StatusKind::Unsent);
                assert_eq!(detailed_status, "Provider unavailable");
                assert!(
                    description.contains("Not sent after 8 attempts"),
                    "{description}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
