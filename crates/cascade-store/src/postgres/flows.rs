//! [`FlowStore`] for PostgreSQL: each engine operation is one transaction running the
//! procedures of [`crate::engine_tx`] on a [`PgTx`]; jobs and timers are claimed with
//! `FOR UPDATE SKIP LOCKED`, so several nodes share the work without taking the same
//! item twice.

use std::sync::Arc;

use async_trait::async_trait;
use cascade_core::flow::FlowDefinition;
use cascade_core::idempotency::{self, Decision, KeyRecord, KeyState};
use cascade_core::machines::{Event, Report, TimelineEntry, TimerKind};
use cascade_core::{FlowId, Timestamp};
use futures_util::future::BoxFuture;
use sqlx::Row;

use super::tx::PgTx;
use super::{PgStore, parse_flow_id, to_u32};
use crate::engine_tx::{self, FlowTx, LoadedFlow};
use crate::model::{
    Applied, FiredTimers, IdempotentAccept, IdempotentRequest, InboundRecord, Job, KeyClaim,
    ReportOutcome,
};
use crate::{FlowStore, Result, StoreError, StoredFlow};

impl PgStore {
    /// Run `op` in a transaction and commit it.
    pub(crate) async fn in_tx<T: Send>(
        &self,
        op: impl for<'a> FnOnce(&'a mut PgTx) -> BoxFuture<'a, Result<T>> + Send,
    ) -> Result<T> {
        let mut tx = PgTx::new(self.pool.begin().await?, &self.node_id);
        let out = op(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Run `op` in the next group commit ([`super::group`]): with the operations that
    /// arrive meanwhile, in one transaction, or alone when one of them fails. `op` may
    /// run twice (the group's attempt was rolled back), each time on a fresh transaction.
    pub(crate) async fn grouped<T: Send + 'static>(
        &self,
        op: impl for<'a> Fn(&'a mut PgTx) -> BoxFuture<'a, Result<T>> + Send + Sync + 'static,
    ) -> Result<T> {
        let slot: Arc<std::sync::Mutex<Option<T>>> = Arc::new(std::sync::Mutex::new(None));
        let out = Arc::clone(&slot);
        self.group
            .run(Box::new(move |tx| {
                let out = Arc::clone(&out);
                let run = op(tx);
                Box::pin(async move {
                    let value = run.await?;
                    *out.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
                    Ok(())
                })
            }))
            .await?;
        let value = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        value.ok_or(StoreError::Closed)
    }
}

/// An idempotency key's record, locked for this transaction.
async fn key_record(tx: &mut PgTx, app: &str, key: &str) -> Result<Option<KeyRecord>> {
    let row = sqlx::query(
        "SELECT request_hash, created_at, state, response, claim_token, lease_until
         FROM idempotency_keys WHERE application_id = $1 AND key = $2 FOR UPDATE",
    )
    .bind(app)
    .bind(key)
    .fetch_optional(&mut *tx.tx)
    .await?;
    row.map(|r| crate::rows::key_record(&r)).transpose()
}

async fn put_key(
    tx: &mut PgTx,
    app: &str,
    key: &str,
    record: &KeyRecord,
    tracking_id: &str,
) -> Result<()> {
    let (state, response, token, until) = crate::rows::key_state_columns(&record.state);
    sqlx::query(
        "INSERT INTO idempotency_keys (application_id, key, request_hash, tracking_id, response,
                                       created_at, state, claim_token, lease_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (application_id, key) DO UPDATE SET request_hash = excluded.request_hash,
             tracking_id = excluded.tracking_id, response = excluded.response,
             created_at = excluded.created_at, state = excluded.state,
             claim_token = excluded.claim_token, lease_until = excluded.lease_until",
    )
    .bind(app)
    .bind(key)
    .bind(&record.request_hash)
    .bind(tracking_id)
    .bind(response)
    .bind(record.created_at.as_millis())
    .bind(state)
    .bind(token)
    .bind(until)
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}

/// Make sure a row exists to lock for `(app, key)` before deciding: two nodes seeing a
/// key for the first time at once then decide one after the other.
async fn lock_key(
    tx: &mut PgTx,
    app: &str,
    key: &str,
    now: Timestamp,
) -> Result<Option<KeyRecord>> {
    // A placeholder in-flight row whose lease has already run out: to any reader it
    // says "proceed", and the decision below overwrites it.
    sqlx::query(
        "INSERT INTO idempotency_keys (application_id, key, request_hash, tracking_id, response,
                                       created_at, state, claim_token, lease_until)
         VALUES ($1, $2, '', '', '', $3, 'placeholder', '', 0) ON CONFLICT DO NOTHING",
    )
    .bind(app)
    .bind(key)
    .bind(now.as_millis())
    .execute(&mut *tx.tx)
    .await?;
    let row = sqlx::query(
        "SELECT state FROM idempotency_keys WHERE application_id = $1 AND key = $2 FOR UPDATE",
    )
    .bind(app)
    .bind(key)
    .fetch_one(&mut *tx.tx)
    .await?;
    if row.try_get::<&str, _>(0)? == "placeholder" {
        return Ok(None);
    }
    key_record(tx, app, key).await
}

#[async_trait]
impl FlowStore for PgStore {
    async fn accept_flow(&self, def: FlowDefinition, now: Timestamp) -> Result<Applied> {
        let new = engine_tx::NewFlow::of(def)?;
        self.grouped(move |tx| Box::pin(engine_tx::accept(tx, new.clone(), now)))
            .await
    }

    async fn claim_idempotency_key(
        &self,
        application_id: &str,
        key: &str,
        request_hash: &str,
        now: Timestamp,
    ) -> Result<KeyClaim> {
        let (app, key, request_hash) = (
            application_id.to_owned(),
            key.to_owned(),
            request_hash.to_owned(),
        );
        self.in_tx(move |tx| {
            Box::pin(async move {
                let record = lock_key(tx, &app, &key, now).await?;
                let claim = match idempotency::on_arrival(record.as_ref(), &request_hash, now) {
                    Decision::Proceed => {
                        let token = uuid::Uuid::new_v4().simple().to_string();
                        let record = KeyRecord {
                            request_hash,
                            created_at: now,
                            state: KeyState::InFlight {
                                token: token.clone(),
                                until: now.plus_millis(idempotency::IN_FLIGHT_LEASE_MS),
                            },
                        };
                        put_key(tx, &app, &key, &record, "").await?;
                        KeyClaim::Claimed { token }
                    }
                    Decision::Replay(response) => KeyClaim::Replay { response },
                    Decision::Conflict => KeyClaim::Conflict,
                    Decision::InFlight => KeyClaim::InFlight,
                };
                if record.is_none() && !matches!(claim, KeyClaim::Claimed { .. }) {
                    drop_placeholder(tx, &app, &key).await?;
                }
                Ok(claim)
            })
        })
        .await
    }

    async fn accept_flow_idempotent(
        &self,
        def: FlowDefinition,
        request: IdempotentRequest,
        now: Timestamp,
    ) -> Result<IdempotentAccept> {
        let new = engine_tx::NewFlow::of(def)?;
        self.in_tx(move |tx| {
            Box::pin(async move {
                let (app, key) = (request.application_id.clone(), request.key.clone());
                let record = lock_key(tx, &app, &key, now).await?;
                let decision = idempotency::on_commit(
                    record.as_ref(),
                    &request.token,
                    &request.request_hash,
                    now,
                );
                if record.is_none() && !matches!(decision, Decision::Proceed) {
                    drop_placeholder(tx, &app, &key).await?;
                }
                match decision {
                    Decision::Proceed => {}
                    Decision::Replay(response) => {
                        return Ok(IdempotentAccept::Replayed { response });
                    }
                    Decision::Conflict => return Ok(IdempotentAccept::Conflict),
                    Decision::InFlight => return Ok(IdempotentAccept::InFlight),
                }
                let done = KeyRecord {
                    request_hash: request.request_hash,
                    created_at: record.map_or(now, |r| r.created_at),
                    state: KeyState::Done {
                        response: request.response,
                    },
                };
                put_key(tx, &app, &key, &done, &new.def.tracking_id.to_string()).await?;
                Ok(IdempotentAccept::Accepted(
                    engine_tx::accept(tx, new, now).await?,
                ))
            })
        })
        .await
    }

    async fn release_idempotency_key(
        &self,
        application_id: &str,
        key: &str,
        token: &str,
    ) -> Result<()> {
        let (app, key, token) = (application_id.to_owned(), key.to_owned(), token.to_owned());
        self.in_tx(move |tx| {
            Box::pin(async move {
                let held = matches!(
                    key_record(tx, &app, &key).await?,
                    Some(KeyRecord { state: KeyState::InFlight { token: t, .. }, .. }) if t == token
                );
                if held {
                    sqlx::query(
                        "DELETE FROM idempotency_keys WHERE application_id = $1 AND key = $2",
                    )
                    .bind(&app)
                    .bind(&key)
                    .execute(&mut *tx.tx)
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn flow(&self, account_id: &str, id: FlowId) -> Result<Option<StoredFlow>> {
        let row = sqlx::query(
            "SELECT d.definition, f.state FROM flows f JOIN flow_definitions d ON d.id = f.id
             WHERE f.id = $1 AND f.account_id = $2",
        )
        .bind(id.to_string())
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredFlow {
            definition: serde_json::from_str(row.try_get::<&str, _>(0)?)?,
            state: serde_json::from_str(row.try_get::<&str, _>(1)?)?,
        }))
    }

    async fn import_flows(&self, flows: Vec<StoredFlow>) -> Result<()> {
        let mut loaded = Vec::with_capacity(flows.len());
        for f in flows {
            loaded.push(LoadedFlow {
                def_json: serde_json::to_string(&f.definition)?.into(),
                def: Arc::new(f.definition),
                def_packed: None,
                state: f.state,
                event_seq: 0,
                is_new: true,
                callback_seq: 0,
            });
        }
        self.in_tx(move |tx| {
            Box::pin(async move {
                let ids: Vec<String> = loaded.iter().map(|f| f.id().to_string()).collect();
                let taken: Option<String> =
                    sqlx::query_scalar("SELECT id FROM flows WHERE id = ANY($1) LIMIT 1")
                        .bind(&ids)
                        .fetch_optional(&mut *tx.tx)
                        .await?;
                if let Some(id) = taken {
                    return Err(StoreError::Conflict(format!("flow {id}")));
                }
                let mut seen = std::collections::HashSet::new();
                for flow in loaded {
                    if !seen.insert(flow.id()) {
                        return Err(StoreError::Conflict(format!("flow {}", flow.id())));
                    }
                    tx.save_flow(&flow).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn count_flows(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM flows")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn timeline(&self, account_id: &str, id: FlowId) -> Result<Option<Vec<TimelineEntry>>> {
        let owned: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM flows WHERE id = $1 AND account_id = $2")
                .bind(id.to_string())
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        if owned.is_none() {
            return Ok(None);
        }
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT entry FROM flow_events WHERE flow_id = $1 ORDER BY seq")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        let entries = rows
            .iter()
            .map(|text| serde_json::from_str(text).map_err(StoreError::from))
            .collect::<Result<Vec<TimelineEntry>>>()?;
        Ok(Some(entries))
    }

    async fn apply(&self, id: FlowId, event: Event, now: Timestamp) -> Result<Applied> {
        self.grouped(move |tx| Box::pin(engine_tx::apply_one(tx, id, event.clone(), now)))
            .await
    }

    async fn job_submitted(
        &self,
        job: &Job,
        provider: &str,
        provider_ids: Vec<String>,
        now: Timestamp,
    ) -> Result<Applied> {
        let (job, provider) = (job.clone(), provider.to_owned());
        self.grouped(move |tx| {
            let (job, provider, ids) = (job.clone(), provider.clone(), provider_ids.clone());
            Box::pin(async move { engine_tx::job_submitted(tx, &job, &provider, ids, now).await })
        })
        .await
    }

    async fn job_finished(&self, job: &Job, event: Event, now: Timestamp) -> Result<Applied> {
        let job = job.clone();
        self.grouped(move |tx| {
            let (job, event) = (job.clone(), event.clone());
            Box::pin(async move { engine_tx::job_finished(tx, &job, event, now).await })
        })
        .await
    }

    async fn job_retry(&self, job: &Job, due_at: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET due_at = $1, claimed_until = 0, claimed_by = NULL, attempts = attempts + 1
             WHERE id = $2",
        )
        .bind(due_at.as_millis())
        .bind(job.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_jobs(&self, now: Timestamp, lease_ms: i64, limit: u32) -> Result<Vec<Job>> {
        self.claim_jobs_except(now, lease_ms, limit, &[]).await
    }

    async fn release_job(&self, job: &Job) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET claimed_until = 0, claimed_by = NULL WHERE id = $1 AND claimed_by = $2",
        )
        .bind(job.id)
        .bind(&self.node_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_jobs_except(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
        skip: &[cascade_core::Channel],
    ) -> Result<Vec<Job>> {
        let skip: Vec<&str> = skip.iter().map(|c| c.name()).collect();
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET claimed_until = $1, claimed_by = $4
             WHERE id IN (SELECT id FROM jobs
                          WHERE due_at <= $2 AND (claimed_until <= $2 OR {})
                            AND (channel IS NULL OR channel <> ALL($6))
                          ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, flow_id, step_order, attempts, payload",
            Self::holder_gone("jobs", 5)
        ))
        .bind(now.plus_millis(lease_ms).as_millis())
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .bind(&self.node_id)
        .bind(self.live_since())
        .bind(&skip)
        .fetch_all(&self.pool)
        .await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for row in rows {
            jobs.push(Job {
                id: row.try_get(0)?,
                flow_id: parse_flow_id(row.try_get(1)?)?,
                order: to_u32(row.try_get(2)?)?,
                attempts: to_u32(row.try_get(3)?)?,
                reclaimed: true,
                payload: serde_json::from_str(row.try_get::<&str, _>(4)?)?,
            });
        }
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    async fn apply_report(
        &self,
        provider: &str,
        provider_message_ids: &[String],
        report: Report,
        now: Timestamp,
    ) -> Result<ReportOutcome> {
        let (provider, ids) = (provider.to_owned(), provider_message_ids.to_vec());
        self.grouped(move |tx| {
            let (provider, ids, report) = (provider.clone(), ids.clone(), report.clone());
            Box::pin(async move { engine_tx::report(tx, &provider, &ids, report, now).await })
        })
        .await
    }

    async fn note_attempt(
        &self,
        flow: FlowId,
        order: u32,
        provider: &str,
        outcome: &str,
        now: Timestamp,
    ) -> Result<()> {
        let (provider, outcome) = (provider.to_owned(), outcome.to_owned());
        self.grouped(move |tx| {
            let (provider, outcome) = (provider.clone(), outcome.clone());
            Box::pin(async move {
                engine_tx::note_attempt(tx, flow, order, &provider, &outcome, now).await
            })
        })
        .await
    }

    async fn note_provider_price(
        &self,
        provider: &str,
        provider_message_id: &str,
        price: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let (provider, id, price) = (
            provider.to_owned(),
            provider_message_id.to_owned(),
            price.to_owned(),
        );
        self.in_tx(move |tx| {
            Box::pin(async move {
                engine_tx::note_provider_price(tx, &provider, &id, &price, now).await
            })
        })
        .await
    }

    async fn record_inbound(
        &self,
        message: cascade_core::inbound::InboundMessage,
        now: Timestamp,
    ) -> Result<(Option<InboundRecord>, Applied)> {
        self.in_tx(move |tx| {
            Box::pin(async move { engine_tx::record_inbound(tx, &message, now).await })
        })
        .await
    }

    async fn claim_dial(
        &self,
        flow: FlowId,
        order: u32,
        provider: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let provider = provider.to_owned();
        self.in_tx(move |tx| {
            Box::pin(async move { tx.claim_dial(flow, order, &provider, now).await })
        })
        .await
    }

    /// Several nodes share the store: only calls whose node is gone (no heartbeat for a
    /// lease) were cut; the others are still being carried.
    async fn dials_in_flight(&self, own_too: bool) -> Result<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT r.provider, r.provider_message_id
             FROM call_dials d
             JOIN flows f ON f.id = d.flow_id
             JOIN provider_refs r
               ON r.flow_id = d.flow_id AND r.step_order = d.step_order AND r.provider = d.provider
             WHERE f.status IN ('Queued', 'InProgress')
               AND ((d.node = $1 AND $3)
                    OR (d.node <> $1
                        AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = d.node AND n.heartbeat > $2)))",
        )
        .bind(&self.node_id)
        .bind(self.live_since())
        .bind(own_too)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn inbound_messages(
        &self,
        from: Option<&str>,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<InboundRecord>> {
        let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
            "SELECT id, received_at, channel, sender, recipient, body, provider, provider_message_id,
                    flow_id, step_order, message_id, forwarded
             FROM inbound_messages WHERE TRUE",
        );
        if let Some(from) = from {
            q.push(" AND sender = ").push_bind(from.to_owned());
        }
        if let Some(since) = since {
            q.push(" AND received_at >= ").push_bind(since.as_millis());
        }
        q.push(" ORDER BY received_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(crate::rows::inbound).collect()
    }

    async fn fire_due_timers(&self, now: Timestamp, limit: u32) -> Result<FiredTimers> {
        self.in_tx(move |tx| {
            Box::pin(async move {
                let due = sqlx::query(
                    "DELETE FROM timers WHERE (flow_id, step_order, kind) IN
                        (SELECT flow_id, step_order, kind FROM timers WHERE due_at <= $1
                         ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                     RETURNING flow_id, step_order, kind, due_at",
                )
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .fetch_all(&mut *tx.tx)
                .await?;
                let mut timers = Vec::with_capacity(due.len());
                for row in due {
                    let flow = parse_flow_id(row.try_get(0)?)?;
                    let kind: &str = row.try_get(2)?;
                    let kind = TimerKind::parse(kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("timer kind {kind}")))?;
                    let due_at: i64 = row.try_get(3)?;
                    timers.push((due_at, flow, to_u32(row.try_get(1)?)?, kind));
                }
                timers.sort_by_key(|t| (t.0, t.1));
                let mut fired = FiredTimers {
                    lags_ms: timers.iter().map(|t| now.as_millis() - t.0).collect(),
                    ..FiredTimers::default()
                };
                for (_, flow, order, kind) in timers {
                    if engine_tx::fire_timer(tx, flow, order, kind, now, &mut fired.applied).await?
                    {
                        fired.fired += 1;
                    }
                }
                Ok(fired)
            })
        })
        .await
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<i64> = sqlx::query_scalar("SELECT MIN(due_at) FROM timers")
            .fetch_one(&self.pool)
            .await?;
        Ok(due.map(Timestamp::from_millis))
    }
}

async fn drop_placeholder(tx: &mut PgTx, app: &str, key: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE application_id = $1 AND key = $2 AND state = 'placeholder'",
    )
    .bind(app)
    .bind(key)
    .execute(&mut *tx.tx)
    .await?;
    Ok(())
}
