//! [`FlowStore`] for SQLite: engine procedures from [`crate::engine_tx`] run as batched
//! engine operations; job claiming and timer selection run SQL after a flush.

use async_trait::async_trait;
use cascade_core::flow::FlowDefinition;
use cascade_core::idempotency::{self, Decision, KeyRecord, KeyState};
use cascade_core::machines::{Event, Report, TimelineEntry, TimerKind};
use cascade_core::{FlowId, Timestamp};

use super::SqliteStore;
use super::batch::to_u32;
use super::writeset::IdempotencyRow;

use crate::engine_tx::{self, FlowTx, LoadedFlow};
use crate::model::{
    Applied, FiredTimers, IdempotentAccept, IdempotentRequest, InboundRecord, Job, KeyClaim,
    ReportOutcome,
};

use crate::{FlowStore, Result, StoreError, StoredFlow};

#[async_trait]
impl FlowStore for SqliteStore {
    async fn accept_flow(&self, def: FlowDefinition, now: Timestamp) -> Result<Applied> {
        let new = packed_flow(def)?;
        self.write_engine(false, move |tx| Box::pin(engine_tx::accept(tx, new, now)))
            .await
    }

    async fn claim_idempotency_key(
        &self,
        application_id: &str,
        key: &str,
        request_hash: &str,
        now: Timestamp,
    ) -> Result<KeyClaim> {
        let id = (application_id.to_owned(), key.to_owned());
        let request_hash = request_hash.to_owned();
        self.write_engine(false, move |tx| {
            Box::pin(async move {
                let record = key_record(tx, &id).await?;
                Ok(
                    match idempotency::on_arrival(record.as_ref(), &request_hash, now) {
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
                            tx.own.idempotency.insert(
                                id,
                                Some(IdempotencyRow {
                                    record,
                                    tracking_id: String::new(),
                                }),
                            );
                            KeyClaim::Claimed { token }
                        }
                        Decision::Replay(response) => KeyClaim::Replay { response },
                        Decision::Conflict => KeyClaim::Conflict,
                        Decision::InFlight => KeyClaim::InFlight,
                    },
                )
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
        let new = packed_flow(def)?;
        self.write_engine(false, move |tx| {
            Box::pin(async move {
                let id = (request.application_id.clone(), request.key.clone());
                let record = key_record(tx, &id).await?;
                match idempotency::on_commit(
                    record.as_ref(),
                    &request.token,
                    &request.request_hash,
                    now,
                ) {
                    Decision::Proceed => {}
                    Decision::Replay(response) => {
                        return Ok(IdempotentAccept::Replayed { response });
                    }
                    Decision::Conflict => return Ok(IdempotentAccept::Conflict),
                    Decision::InFlight => return Ok(IdempotentAccept::InFlight),
                }
                let row = IdempotencyRow {
                    record: KeyRecord {
                        request_hash: request.request_hash,
                        created_at: record.map_or(now, |r| r.created_at),
                        state: KeyState::Done {
                            response: request.response,
                        },
                    },
                    tracking_id: new.def.tracking_id.to_string(),
                };
                tx.own.idempotency.insert(id, Some(row));
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
        let id = (application_id.to_owned(), key.to_owned());
        let token = token.to_owned();
        self.write_engine(false, move |tx| {
            Box::pin(async move {
                let held = matches!(
                    key_record(tx, &id).await?,
                    Some(KeyRecord { state: KeyState::InFlight { token: t, .. }, .. }) if t == token
                );
                if held {
                    tx.own.idempotency.insert(id, None);
                }
                Ok(())
            })
        })
        .await
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64> {
        self.write(move |conn| {
            let done = conn
                .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?")?
                .execute([before.as_millis()])?;
            Ok(u64::try_from(done).unwrap_or(u64::MAX))
        })
        .await
    }

    async fn flow(&self, account_id: &str, id: FlowId) -> Result<Option<StoredFlow>> {
        let row = sqlx::query(
            "SELECT d.definition, f.state FROM flows f JOIN flow_definitions d ON d.id = f.id
             WHERE f.id = ? AND f.account_id = ?",
        )
        .bind(id.to_string())
        .bind(account_id)
        .fetch_optional(self.readers())
        .await?;
        row.as_ref().map(super::search::decode).transpose()
    }

    async fn import_flows(&self, flows: Vec<StoredFlow>) -> Result<()> {
        let mut loaded = Vec::with_capacity(flows.len());
        for f in flows {
            let new = packed_flow(f.definition)?;
            loaded.push(LoadedFlow {
                def_json: new.def_json,
                def: new.def,
                def_packed: new.def_packed,
                state: f.state,
                event_seq: 0,
                is_new: true,
                callback_seq: 0,
            });
        }
        // After a flush: flows saved earlier in the batch are then in the table too.
        self.write_engine(true, move |tx| {
            Box::pin(async move {
                {
                    let mut taken =
                        tx.w.conn
                            .prepare_cached("SELECT 1 FROM flows WHERE id = ?")?;
                    for f in &loaded {
                        if taken.exists([f.id().to_string()])? {
                            return Err(StoreError::Conflict(format!("flow {}", f.id())));
                        }
                    }
                }
                for flow in loaded {
                    if tx.own.flows.contains_key(&flow.id()) {
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
            .fetch_one(self.readers())
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
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
        let rows = sqlx::query("SELECT entry FROM flow_events WHERE flow_id = ? ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(self.readers())
            .await?;
        let entries = rows
            .iter()
            .map(|row| Ok(serde_json::from_str(&super::packed::json_at(row, 0)?)?))
            .collect::<Result<Vec<TimelineEntry>>>()?;
        Ok(Some(entries))
    }

    async fn apply(&self, id: FlowId, event: Event, now: Timestamp) -> Result<Applied> {
        self.write_engine(false, move |tx| {
            Box::pin(engine_tx::apply_one(tx, id, event, now))
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
        let (job, provider) = (job.clone(), provider.to_owned());
        self.write_engine(false, move |tx| {
            Box::pin(async move {
                engine_tx::job_submitted(tx, &job, &provider, provider_ids, now).await
            })
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
        self.write_engine(false, move |tx| {
            Box::pin(async move {
                engine_tx::note_attempt(tx, flow, order, &provider, &outcome, now).await
            })
        })
        .await
    }

    async fn record_inbound(
        &self,
        message: cascade_core::inbound::InboundMessage,
        now: Timestamp,
    ) -> Result<(Option<InboundRecord>, Applied)> {
        self.write_engine(false, move |tx| {
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
        self.write_engine(false, move |tx| {
            Box::pin(async move { tx.claim_dial(flow, order, &provider, now).await })
        })
        .await
    }

    async fn dials_in_flight(&self, _own_too: bool) -> Result<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT r.provider, r.provider_message_id
             FROM call_dials d
             JOIN flows f ON f.id = d.flow_id
             JOIN provider_refs r
               ON r.flow_id = d.flow_id AND r.step_order = d.step_order AND r.provider = d.provider
             WHERE f.status IN ('Queued', 'InProgress')",
        )
        .fetch_all(self.readers())
        .await?;
        Ok(rows)
    }

    async fn inbound_messages(
        &self,
        from: Option<&str>,
        since: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<InboundRecord>> {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT id, received_at, channel, sender, recipient, body, provider, provider_message_id,
                    flow_id, step_order, message_id, forwarded
             FROM inbound_messages WHERE 1 = 1",
        );
        if let Some(from) = from {
            q.push(" AND sender = ").push_bind(from.to_owned());
        }
        if let Some(since) = since {
            q.push(" AND received_at >= ").push_bind(since.as_millis());
        }
        q.push(" ORDER BY received_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(limit.max(1)));
        let rows = q.build().fetch_all(self.readers()).await?;
        rows.iter().map(crate::rows::inbound).collect()
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
        self.write_engine(false, move |tx| {
            Box::pin(async move {
                engine_tx::note_provider_price(tx, &provider, &id, &price, now).await
            })
        })
        .await
    }

    async fn job_finished(&self, job: &Job, event: Event, now: Timestamp) -> Result<Applied> {
        let job = job.clone();
        self.write_engine(false, move |tx| {
            Box::pin(async move { engine_tx::job_finished(tx, &job, event, now).await })
        })
        .await
    }

    async fn job_retry(&self, job: &Job, due_at: Timestamp) -> Result<()> {
        let job_id = job.id;
        self.write_after_flush(move |conn| {
            conn.prepare_cached(
                "UPDATE jobs SET due_at = ?, claimed_until = 0, attempts = attempts + 1 WHERE id = ?",
            )?
            .execute([due_at.as_millis(), job_id])?;
            Ok(())
        })
        .await
    }

    async fn claim_jobs(&self, now: Timestamp, lease_ms: i64, limit: u32) -> Result<Vec<Job>> {
        self.write_after_flush(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE jobs SET claimed_until = ?1
                 WHERE id IN (SELECT id FROM jobs WHERE due_at <= ?2 AND claimed_until <= ?2
                              ORDER BY due_at, id LIMIT ?3)
                 RETURNING id, flow_id, step_order, attempts, payload",
            )?;
            let params = [
                now.plus_millis(lease_ms).as_millis(),
                now.as_millis(),
                i64::from(limit),
            ];
            let mut jobs = super::all_rows(&mut stmt, params, |row| {
                Ok(Job {
                    id: row.get(0)?,
                    flow_id: crate::rows::flow_id(&row.get::<_, String>(1)?)?,
                    order: to_u32(row.get(2)?)?,
                    attempts: to_u32(row.get(3)?)?,
                    reclaimed: true,
                    payload: serde_json::from_str(&row.get::<_, String>(4)?)?,
                })
            })?;
            jobs.sort_by_key(|j| j.id);
            Ok(jobs)
        })
        .await
    }

    async fn apply_report(
        &self,
        provider: &str,
        provider_message_ids: &[String],
        report: Report,
        now: Timestamp,
    ) -> Result<ReportOutcome> {
        let (provider, ids) = (provider.to_owned(), provider_message_ids.to_vec());
        self.write_engine(false, move |tx| {
            Box::pin(async move { engine_tx::report(tx, &provider, &ids, report, now).await })
        })
        .await
    }

    async fn fire_due_timers(&self, now: Timestamp, limit: u32) -> Result<FiredTimers> {
        // After a flush, so timers set or cancelled earlier in the batch are in the table.
        self.write_engine(true, move |tx| {
            Box::pin(async move {
                let mut timers = {
                    let mut due = tx.w.conn.prepare_cached(
                        "DELETE FROM timers WHERE (flow_id, step_order, kind) IN
                            (SELECT flow_id, step_order, kind FROM timers WHERE due_at <= ? ORDER BY due_at LIMIT ?)
                         RETURNING flow_id, step_order, kind, due_at",
                    )?;
                    super::all_rows(&mut due, [now.as_millis(), i64::from(limit)], |row| {
                        let flow = crate::rows::flow_id(&row.get::<_, String>(0)?)?;
                        let kind: String = row.get(2)?;
                        let kind = TimerKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("timer kind {kind}")))?;
                        let due_at: i64 = row.get(3)?;
                        Ok((due_at, flow, to_u32(row.get(1)?)?, kind))
                    })?
                };
                timers.sort_by_key(|t| (t.0, t.1));
                let mut fired = FiredTimers {
                    lags_ms: timers.iter().map(|t| now.as_millis() - t.0).collect(),
                    ..FiredTimers::default()
                };
                for (_, flow, order, kind) in timers {
                    if engine_tx::fire_timer(tx, flow, order, kind, now, &mut fired.applied).await? {
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
            .fetch_one(self.readers())
            .await?;
        Ok(due.map(Timestamp::from_millis))
    }
}

/// A key's record as this operation sees it: its own writes, the batch's, then the table.
async fn key_record(
    tx: &mut super::batch::BatchTx,
    id: &(String, String),
) -> Result<Option<KeyRecord>> {
    if let Some(pending) = tx
        .own
        .idempotency
        .get(id)
        .or_else(|| tx.w.batch.idempotency.get(id))
    {
        return Ok(pending.as_ref().map(|row| row.record.clone()));
    }
    let mut stmt = tx.w.conn.prepare_cached(
        "SELECT request_hash, created_at, state, response, claim_token, lease_until
         FROM idempotency_keys WHERE application_id = ? AND key = ?",
    )?;
    let mut rows = stmt.query([&id.0, &id.1])?;
    rows.next()?.map(crate::rows::key_record).transpose()
}

/// `def` with its stored forms, packed for SQLite, made on the caller's thread: the
/// writer, which every flow waits for, only writes them.
fn packed_flow(def: FlowDefinition) -> Result<engine_tx::NewFlow> {
    let mut new = engine_tx::NewFlow::of(def)?;
    new.def_packed = Some(super::packed::pack(&new.def_json)?.into());
    Ok(new)
}
