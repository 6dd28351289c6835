//! [`CallbackStore`] for PostgreSQL: callbacks are claimed with a lease under
//! `FOR UPDATE SKIP LOCKED`, never one of a flow while an earlier one of that flow is
//! still pending, so they reach their receiver in order whichever node sends them.

use async_trait::async_trait;
use cascade_core::callbacks::CallbackOutcome;
use cascade_core::{FlowId, Timestamp};
use sqlx::{Postgres, QueryBuilder};

use super::PgStore;
use crate::Result;
use crate::callbacks::CallbackStore;
use crate::model::{Callback, CallbackFilter, CallbackRecord};

#[async_trait]
impl CallbackStore for PgStore {
    async fn outbox_stats(&self) -> Result<crate::OutboxStats> {
        let row = sqlx::query_as(crate::rows::OUTBOX_STATS_SQL)
            .fetch_one(&self.pool)
            .await?;
        Ok(crate::rows::outbox_stats(row))
    }

    async fn claim_callbacks(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Callback>> {
        let rows = sqlx::query(&format!(
            "UPDATE callbacks SET claimed_until = $1, claimed_by = $4
             WHERE id IN (
                SELECT c.id FROM callbacks c
                WHERE c.state = 'pending' AND c.next_at <= $2
                  AND (c.claimed_until <= $2 OR {})
                  AND NOT EXISTS (SELECT 1 FROM callbacks p
                                  WHERE p.flow_id = c.flow_id AND p.state = 'pending' AND p.seq < c.seq)
                ORDER BY c.next_at, c.id LIMIT $3
                FOR UPDATE OF c SKIP LOCKED)
             RETURNING id, event_id, flow_id, seq, application_id, url, body, attempts, first_attempt_at",
            Self::holder_gone("c", 5)
        ))
        .bind(now.plus_millis(lease_ms).as_millis())
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .bind(&self.node_id)
        .bind(self.live_since())
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(crate::rows::callback)
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    async fn callback_attempted(
        &self,
        callback: &Callback,
        outcome: CallbackOutcome,
        now: Timestamp,
    ) -> Result<()> {
        let callback = callback.clone();
        self.grouped(move |tx| {
            let (callback, outcome) = (callback.clone(), outcome.clone());
            Box::pin(
                async move { crate::callbacks::record_attempt(tx, &callback, &outcome, now).await },
            )
        })
        .await
    }

    async fn callbacks(&self, filter: &CallbackFilter) -> Result<Vec<CallbackRecord>> {
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT id, event_id, flow_id, seq, application_id, url, state, attempts, next_at, last_error, created_at
             FROM callbacks WHERE TRUE",
        );
        if let Some(state) = filter.state {
            q.push(" AND state = ").push_bind(state.name());
        }
        if let Some(flow) = filter.flow_id {
            q.push(" AND flow_id = ").push_bind(flow.to_string());
        }
        q.push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(filter.limit.max(1)));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(crate::rows::callback_record).collect()
    }

    async fn redeliver_callback(&self, id: i64, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE callbacks SET state = 'pending', attempts = 0, first_attempt_at = NULL, next_at = $1,
                 claimed_until = 0, last_error = NULL WHERE state = 'dead' AND id = $2",
        )
        .bind(now.as_millis())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn redeliver_flow_callbacks(&self, flow: FlowId, now: Timestamp) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE callbacks SET state = 'pending', attempts = 0, first_attempt_at = NULL, next_at = $1,
                 claimed_until = 0, last_error = NULL WHERE state = 'dead' AND flow_id = $2",
        )
        .bind(now.as_millis())
        .bind(flow.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
