//! [`CallbackStore`] for SQLite.

use async_trait::async_trait;
use cascade_core::callbacks::CallbackOutcome;
use cascade_core::{FlowId, Timestamp};
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use crate::Result;
use crate::callbacks::CallbackStore;
use crate::model::{Callback, CallbackFilter, CallbackRecord};

#[async_trait]
impl CallbackStore for SqliteStore {
    async fn outbox_stats(&self) -> Result<crate::OutboxStats> {
        let row = sqlx::query_as(crate::rows::OUTBOX_STATS_SQL)
            .fetch_one(self.readers())
            .await?;
        Ok(crate::rows::outbox_stats(row))
    }

    async fn claim_callbacks(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Callback>> {
        self.write_after_flush(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE callbacks SET claimed_until = ?1
                 WHERE id IN (
                    SELECT c.id FROM callbacks c
                    WHERE c.state = 'pending' AND c.next_at <= ?2 AND c.claimed_until <= ?2
                      AND NOT EXISTS (SELECT 1 FROM callbacks p
                                      WHERE p.flow_id = c.flow_id AND p.state = 'pending' AND p.seq < c.seq)
                    ORDER BY c.next_at, c.id LIMIT ?3)
                 RETURNING id, event_id, flow_id, seq, application_id, url, body, attempts, first_attempt_at",
            )?;
            let mut out = super::all_rows(
                &mut stmt,
                rusqlite::params![
                    now.plus_millis(lease_ms).as_millis(),
                    now.as_millis(),
                    i64::from(limit)
                ],
                |row| crate::rows::callback(row),
            )?;
            out.sort_by_key(|c| c.id);
            Ok(out)
        })
        .await
    }

    async fn callback_attempted(
        &self,
        callback: &Callback,
        outcome: CallbackOutcome,
        now: Timestamp,
    ) -> Result<()> {
        let callback = callback.clone();
        self.write_engine(false, move |tx| {
            Box::pin(
                async move { crate::callbacks::record_attempt(tx, &callback, &outcome, now).await },
            )
        })
        .await
    }

    async fn callbacks(&self, filter: &CallbackFilter) -> Result<Vec<CallbackRecord>> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT id, event_id, flow_id, seq, application_id, url, state, attempts, next_at, last_error, created_at
             FROM callbacks WHERE 1 = 1",
        );
        if let Some(state) = filter.state {
            q.push(" AND state = ").push_bind(state.name());
        }
        if let Some(flow) = filter.flow_id {
            q.push(" AND flow_id = ").push_bind(flow.to_string());
        }
        q.push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(filter.limit.max(1)));
        let rows = q.build().fetch_all(self.readers()).await?;
        rows.iter().map(crate::rows::callback_record).collect()
    }

    async fn redeliver_callback(&self, id: i64, now: Timestamp) -> Result<bool> {
        Ok(self.redeliver_dead(Dead::One(id), now).await? == 1)
    }

    async fn redeliver_flow_callbacks(&self, flow: FlowId, now: Timestamp) -> Result<u64> {
        self.redeliver_dead(Dead::OfFlow(flow), now).await
    }
}

/// Which dead callbacks to put back in the queue.
#[derive(Debug, Clone, Copy)]
enum Dead {
    One(i64),
    OfFlow(FlowId),
}

impl SqliteStore {
    /// Put dead callbacks back with a fresh retry schedule; returns how many.
    async fn redeliver_dead(&self, which: Dead, now: Timestamp) -> Result<u64> {
        self.write_after_flush(move |conn| {
            const SET: &str = "UPDATE callbacks SET state = 'pending', attempts = 0, \
                               first_attempt_at = NULL, next_at = ?1, claimed_until = 0, \
                               last_error = NULL WHERE state = 'dead' AND ";
            let changed = match which {
                Dead::One(id) => conn
                    .prepare_cached(&format!("{SET}id = ?2"))?
                    .execute(rusqlite::params![now.as_millis(), id])?,
                Dead::OfFlow(flow) => conn
                    .prepare_cached(&format!("{SET}flow_id = ?2"))?
                    .execute(rusqlite::params![now.as_millis(), flow.to_string()])?,
            };
            Ok(u64::try_from(changed).unwrap_or(u64::MAX))
        })
        .await
    }
}
