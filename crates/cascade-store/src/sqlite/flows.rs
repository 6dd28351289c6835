//! [`FlowStore`] for SQLite.

use async_trait::async_trait;
use cascade_core::flow::FlowDefinition;
use cascade_core::machines::{Event, FlowState, Report, TimelineEntry, TimerKind};
use cascade_core::{FlowId, Timestamp};
use sqlx::Row;

use super::SqliteStore;
use super::tx::{SqliteTx, parse_state, to_u32};
use crate::driver::{FlowTx, LoadedFlow, apply_events, report_event};
use crate::model::{Applied, FiredTimers, Job, ReportOutcome};
use crate::{FlowStore, Result, StoreError, StoredFlow};

#[async_trait]
impl FlowStore for SqliteStore {
    async fn accept_flow(&self, def: FlowDefinition, now: Timestamp) -> Result<Applied> {
        self.write(move |conn| {
            Box::pin(async move {
                let mut tx = SqliteTx(conn);
                let mut flow = LoadedFlow {
                    state: FlowState::new(def.created_at),
                    def,
                    event_seq: 0,
                    persisted: false,
                };
                let mut out = Applied::default();
                apply_events(&mut tx, &mut flow, vec![Event::Start], now, &mut out).await?;
                Ok(out)
            })
        })
        .await
    }

    async fn flow(&self, account_id: &str, id: FlowId) -> Result<Option<StoredFlow>> {
        let row =
            sqlx::query("SELECT definition, state FROM flows WHERE id = ? AND account_id = ?")
                .bind(id.to_string())
                .bind(account_id)
                .fetch_optional(self.readers())
                .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredFlow {
            definition: serde_json::from_str(row.try_get::<&str, _>(0)?)?,
            state: parse_state(row.try_get::<&str, _>(1)?)?,
        }))
    }

    async fn timeline(&self, account_id: &str, id: FlowId) -> Result<Option<Vec<TimelineEntry>>> {
        let owned: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM flows WHERE id = ? AND account_id = ?")
                .bind(id.to_string())
                .bind(account_id)
                .fetch_optional(self.readers())
                .await?;
        if owned.is_none() {
            return Ok(None);
        }
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT entry FROM flow_events WHERE flow_id = ? ORDER BY seq")
                .bind(id.to_string())
                .fetch_all(self.readers())
                .await?;
        let entries = rows
            .iter()
            .map(|text| serde_json::from_str(text).map_err(StoreError::from))
            .collect::<Result<Vec<TimelineEntry>>>()?;
        Ok(Some(entries))
    }

    async fn apply(&self, id: FlowId, event: Event, now: Timestamp) -> Result<Applied> {
        self.write(move |conn| {
            Box::pin(async move {
                let mut tx = SqliteTx(conn);
                let mut out = Applied::default();
                let mut flow = load(&mut tx, id).await?;
                apply_events(&mut tx, &mut flow, vec![event], now, &mut out).await?;
                Ok(out)
            })
        })
        .await
    }

    async fn job_submitted(
        &self,
        job: &Job,
        provider: &str,
        provider_ids: Vec<String>,
        now: Timestamp,
    ) -> Result<Applied> {
        let (job_id, flow_id, order) = (job.id, job.flow_id, job.order);
        let provider = provider.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let mut tx = SqliteTx(conn);
                let mut out = Applied::default();
                tx.delete_job(job_id).await?;
                let mut flow = load(&mut tx, flow_id).await?;
                tx.insert_provider_refs(&provider, flow_id, order, &provider_ids, now)
                    .await?;
                let held = tx.take_orphans(&provider, &provider_ids).await?;
                let mut events = vec![Event::Submitted {
                    order,
                    provider_ids: provider_ids.clone(),
                }];
                for (pmid, report) in held {
                    let part = provider_ids
                        .iter()
                        .position(|p| *p == pmid)
                        .map_or(1, |i| i + 1);
                    events.push(report_event(
                        order,
                        u32::try_from(part).unwrap_or(1),
                        report,
                    ));
                }
                apply_events(&mut tx, &mut flow, events, now, &mut out).await?;
                Ok(out)
            })
        })
        .await
    }

    async fn job_finished(&self, job: &Job, event: Event, now: Timestamp) -> Result<Applied> {
        let (job_id, flow_id) = (job.id, job.flow_id);
        self.write(move |conn| {
            Box::pin(async move {
                let mut tx = SqliteTx(conn);
                let mut out = Applied::default();
                tx.delete_job(job_id).await?;
                let mut flow = load(&mut tx, flow_id).await?;
                apply_events(&mut tx, &mut flow, vec![event], now, &mut out).await?;
                Ok(out)
            })
        })
        .await
    }

    async fn job_retry(&self, job: &Job, due_at: Timestamp) -> Result<()> {
        let job_id = job.id;
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("UPDATE jobs SET due_at = ?, claimed_until = 0, attempts = attempts + 1 WHERE id = ?")
                    .bind(due_at.as_millis())
                    .bind(job_id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn claim_jobs(&self, now: Timestamp, lease_ms: i64, limit: u32) -> Result<Vec<Job>> {
        self.write(move |conn| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "UPDATE jobs SET claimed_until = ?1
                     WHERE id IN (SELECT id FROM jobs WHERE due_at <= ?2 AND claimed_until <= ?2
                                  ORDER BY due_at, id LIMIT ?3)
                     RETURNING id, flow_id, step_order, attempts, payload",
                )
                .bind(now.plus_millis(lease_ms).as_millis())
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
                let mut jobs = Vec::with_capacity(rows.len());
                for row in rows {
                    let flow: &str = row.try_get(1)?;
                    jobs.push(Job {
                        id: row.try_get(0)?,
                        flow_id: FlowId::parse(flow)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        order: to_u32(row.try_get(2)?)?,
                        attempts: to_u32(row.try_get(3)?)?,
                        payload: serde_json::from_str(row.try_get::<&str, _>(4)?)?,
                    });
                }
                jobs.sort_by_key(|j| j.id);
                Ok(jobs)
            })
        })
        .await
    }

    async fn release_all_jobs(&self) -> Result<u64> {
        self.write(|conn| {
            Box::pin(async move {
                let done = sqlx::query("UPDATE jobs SET claimed_until = 0 WHERE claimed_until > 0")
                    .execute(&mut *conn)
                    .await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    async fn apply_report(
        &self,
        provider: &str,
        provider_message_id: &str,
        report: Report,
        now: Timestamp,
    ) -> Result<ReportOutcome> {
        let provider = provider.to_owned();
        let pmid = provider_message_id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let mut tx = SqliteTx(conn);
                let Some((flow_id, order, part)) = tx.find_provider_ref(&provider, &pmid).await?
                else {
                    tx.insert_orphan(&provider, &pmid, &report, now).await?;
                    return Ok(ReportOutcome::Held);
                };
                let mut out = Applied::default();
                let mut flow = load(&mut tx, flow_id).await?;
                apply_events(
                    &mut tx,
                    &mut flow,
                    vec![report_event(order, part, report)],
                    now,
                    &mut out,
                )
                .await?;
                Ok(ReportOutcome::Applied(out))
            })
        })
        .await
    }

    async fn fire_due_timers(&self, now: Timestamp, limit: u32) -> Result<FiredTimers> {
        self.write(move |conn| {
            Box::pin(async move {
                let due = sqlx::query(
                    "DELETE FROM timers WHERE (flow_id, step_order, kind) IN
                        (SELECT flow_id, step_order, kind FROM timers WHERE due_at <= ? ORDER BY due_at LIMIT ?)
                     RETURNING flow_id, step_order, kind, due_at",
                )
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
                let mut timers = Vec::with_capacity(due.len());
                for row in due {
                    let flow: &str = row.try_get(0)?;
                    let flow = FlowId::parse(flow).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let kind: &str = row.try_get(2)?;
                    let kind = TimerKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("timer kind {kind}")))?;
                    let due_at: i64 = row.try_get(3)?;
                    timers.push((due_at, flow, to_u32(row.try_get(1)?)?, kind));
                }
                timers.sort_by_key(|t| (t.0, t.1));
                let mut tx = SqliteTx(conn);
                let mut fired = FiredTimers::default();
                for (_, flow_id, order, kind) in timers {
                    let Some(mut flow) = tx.load_flow(flow_id).await? else { continue };
                    let event = Event::TimerFired { order, kind };
                    apply_events(&mut tx, &mut flow, vec![event], now, &mut fired.applied).await?;
                    fired.fired += 1;
                }
                Ok(fired)
            })
        })
        .await
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<i64> = sqlx::query_scalar("SELECT MIN(due_at) FROM timers")
            .fetch_one(self.readers())
            .await?;
        Ok(due.map(Timestamp::from_millis))
    }
}

async fn load(tx: &mut SqliteTx<'_>, id: FlowId) -> Result<LoadedFlow> {
    tx.load_flow(id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("flow {id}")))
}
