//! Handing submit jobs to providers.

use std::sync::Arc;
use std::time::Duration;

use cascade_core::machines::Event;
use cascade_core::ports::{SubmitError, SubmitRequest};
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
            let id = job.id;
            submit_job(&rt, job).await;
            rt.in_flight
                .lock()
                .expect("no panics under this lock")
                .remove(&id);
            drop(permit);
        });
    }
}

/// Claim jobs whose lease ran out or whose retry fell due, and queue them.
pub(super) async fn run_job_poller_until_stopped(runtime: Arc<Runtime>) {
    let lease_ms = i64::try_from(runtime.config.job_lease.as_millis()).unwrap_or(i64::MAX);
    loop {
        match runtime
            .store
            .claim_jobs(runtime.clock.now(), lease_ms, 512)
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
            () = runtime.clock.sleep(runtime.config.job_poll) => {}
        }
    }
}

#[tracing::instrument(name = "submit", skip_all, fields(flow_id = %job.flow_id, order = job.order, attempt = job.attempts))]
async fn submit_job(runtime: &Runtime, job: Job) {
    let now = runtime.clock.now();
    let channel = job.payload.channel();
    let Some(provider) = runtime.providers.for_channel(channel) else {
        let event = Event::InternalError {
            order: job.order,
            detail: format!("no provider is configured for {channel}"),
        };
        finish(runtime, &job, event).await;
        return;
    };
    if job.payload.not_after().is_some_and(|t| now >= t) {
        // Waited in Cascade's own queue (retries, a restart) past the message's TTL: it
        // must not leave any more.
        let event = Event::submit_failed(job.order, reasons::expired_before_submit());
        finish(runtime, &job, event).await;
        return;
    }
    let request = SubmitRequest {
        flow_id: job.flow_id,
        order: job.order,
        first_attempt: !job.reclaimed && job.attempts == 0,
        payload: job.payload.clone(),
    };
    let answer = tokio::select! {
        answer = provider.submit(&request) => answer,
        () = runtime.clock.sleep(runtime.config.submit_timeout) => Err(SubmitError::Retryable {
            reason: "the provider did not answer in time".into(),
        }),
    };
    match answer {
        Ok(accepted) => match runtime
            .store
            .job_submitted(
                &job,
                &accepted.provider,
                accepted.message_ids,
                runtime.clock.now(),
            )
            .await
        {
            Ok(applied) => runtime.absorb(&applied),
            // The provider has the messages; the job stays leased and is retried after the
            // lease, and providers deduplicate on our message ids.
            Err(e) => {
                tracing::error!(target: TARGET, error = %e, "submitted, but could not record it")
            }
        },
        Err(SubmitError::Rejected {
            status,
            detailed_status,
            description,
        }) => {
            let event = Event::SubmitFailed {
                order: job.order,
                status,
                detailed_status,
                description,
            };
            finish(runtime, &job, event).await;
        }
        Err(e) => {
            if job.attempts + 1 >= runtime.config.max_submit_attempts {
                tracing::warn!(target: TARGET, error = %e, "giving up after repeated failures");
                let event = Event::submit_failed(
                    job.order,
                    reasons::provider_unavailable(job.attempts + 1, &e),
                );
                finish(runtime, &job, event).await;
                return;
            }
            let delay = match &e {
                SubmitError::RateLimited { retry_after_ms } => {
                    Duration::from_millis(*retry_after_ms)
                }
                _ => RETRY_BACKOFF.delay(job.attempts),
            };
            tracing::info!(target: TARGET, error = %e, ?delay, "submission will be retried");
            let due = now.plus_millis(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
            if let Err(e) = runtime.store.job_retry(&job, due).await {
                tracing::error!(target: TARGET, error = %e, "could not schedule the retry; the lease will bring it back");
            }
        }
    }
}

async fn finish(runtime: &Runtime, job: &Job, event: Event) {
    match runtime
        .store
        .job_finished(job, event, runtime.clock.now())
        .await
    {
        Ok(applied) => runtime.absorb(&applied),
        Err(e) => {
            tracing::error!(target: TARGET, error = %e, "could not record the job's end; the lease will bring it back")
        }
    }
}

/// Between submit attempts: 1 s, 2 s, 4 s … capped at one minute.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
