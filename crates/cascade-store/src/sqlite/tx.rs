//! [`FlowTx`] over the writer's open SQLite transaction.

use async_trait::async_trait;
use cascade_core::machines::{FlowState, Report, TimelineEntry, TimerKind};
use cascade_core::{FlowId, Micros, Timestamp};
use sqlx::{Row, SqliteConnection};

use crate::driver::{FlowTx, LoadedFlow};
use crate::model::JobPayload;
use crate::{Result, StoreError};

pub(super) struct SqliteTx<'c>(pub &'c mut SqliteConnection);

#[async_trait]
impl FlowTx for SqliteTx<'_> {
    async fn load_flow(&mut self, id: FlowId) -> Result<Option<LoadedFlow>> {
        let row = sqlx::query("SELECT definition, state, event_seq FROM flows WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *self.0)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(LoadedFlow {
            def: serde_json::from_str(row.try_get::<&str, _>(0)?)?,
            state: serde_json::from_str(row.try_get::<&str, _>(1)?)?,
            event_seq: row.try_get(2)?,
            persisted: true,
        }))
    }

    async fn save_flow(&mut self, flow: &mut LoadedFlow) -> Result<()> {
        if flow.persisted {
            return self.update_flow(flow).await;
        }
        sqlx::query(
            "INSERT INTO flows (id, account_id, application_id, status, termination_channel,
                created_at, updated_at, definition, state, event_seq)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(flow.id().to_string())
        .bind(&flow.def.account_id)
        .bind(&flow.def.application_id)
        .bind(flow.state.status.name())
        .bind(flow.state.termination_channel(&flow.def).map(|c| c.name()))
        .bind(flow.def.created_at.as_millis())
        .bind(flow.state.updated_at.as_millis())
        .bind(serde_json::to_string(&flow.def)?)
        .bind(serde_json::to_string(&flow.state)?)
        .bind(flow.event_seq)
        .execute(&mut *self.0)
        .await?;
        flow.persisted = true;
        Ok(())
    }

    async fn reserve_funds(
        &mut self,
        account_id: &str,
        amount: Micros,
        debit: bool,
    ) -> Result<bool> {
        let sql = if debit {
            "UPDATE accounts SET balance_micros = balance_micros - ?1 WHERE id = ?2 AND balance_micros >= ?1"
        } else {
            "SELECT 1 FROM accounts WHERE id = ?2 AND balance_micros >= ?1"
        };
        let q = sqlx::query(sql).bind(amount.get()).bind(account_id);
        let ok = if debit {
            q.execute(&mut *self.0).await?.rows_affected() == 1
        } else {
            q.fetch_optional(&mut *self.0).await?.is_some()
        };
        Ok(ok)
    }

    async fn adjust_balance(&mut self, account_id: &str, delta: Micros) -> Result<()> {
        sqlx::query("UPDATE accounts SET balance_micros = balance_micros + ? WHERE id = ?")
            .bind(delta.get())
            .bind(account_id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn insert_job(
        &mut self,
        flow: FlowId,
        order: u32,
        payload: &JobPayload,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (flow_id, step_order, payload, due_at, claimed_until, attempts)
             VALUES (?, ?, ?, ?, ?, 0) RETURNING id",
        )
        .bind(flow.to_string())
        .bind(i64::from(order))
        .bind(serde_json::to_string(payload)?)
        .bind(now.as_millis())
        .bind(lease_until.as_millis())
        .fetch_one(&mut *self.0)
        .await?;
        Ok(id)
    }

    async fn set_timer(
        &mut self,
        flow: FlowId,
        order: u32,
        kind: TimerKind,
        at: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO timers (flow_id, step_order, kind, due_at) VALUES (?, ?, ?, ?)",
        )
        .bind(flow.to_string())
        .bind(i64::from(order))
        .bind(kind.name())
        .bind(at.as_millis())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn cancel_timer(&mut self, flow: FlowId, order: u32, kind: TimerKind) -> Result<()> {
        sqlx::query("DELETE FROM timers WHERE flow_id = ? AND step_order = ? AND kind = ?")
            .bind(flow.to_string())
            .bind(i64::from(order))
            .bind(kind.name())
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn append_timeline(
        &mut self,
        flow: FlowId,
        first_seq: i64,
        entries: &[TimelineEntry],
    ) -> Result<()> {
        let flow = flow.to_string();
        for (i, entry) in entries.iter().enumerate() {
            sqlx::query("INSERT INTO flow_events (flow_id, seq, entry) VALUES (?, ?, ?)")
                .bind(&flow)
                .bind(first_seq + i64::try_from(i).unwrap_or(i64::MAX))
                .bind(serde_json::to_string(entry)?)
                .execute(&mut *self.0)
                .await?;
        }
        Ok(())
    }
}

impl SqliteTx<'_> {
    async fn update_flow(&mut self, flow: &LoadedFlow) -> Result<()> {
        sqlx::query(
            "UPDATE flows SET status = ?, termination_channel = ?, updated_at = ?, state = ?, event_seq = ?
             WHERE id = ?",
        )
        .bind(flow.state.status.name())
        .bind(flow.state.termination_channel(&flow.def).map(|c| c.name()))
        .bind(flow.state.updated_at.as_millis())
        .bind(serde_json::to_string(&flow.state)?)
        .bind(flow.event_seq)
        .bind(flow.id().to_string())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    pub async fn delete_job(&mut self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM jobs WHERE id = ?")
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    pub async fn insert_provider_refs(
        &mut self,
        provider: &str,
        flow: FlowId,
        order: u32,
        ids: &[String],
        now: Timestamp,
    ) -> Result<()> {
        let flow = flow.to_string();
        for (i, pmid) in ids.iter().enumerate() {
            let part = i64::try_from(i + 1).unwrap_or(i64::MAX);
            sqlx::query(
                "INSERT OR REPLACE INTO provider_refs (provider, provider_message_id, flow_id, step_order, part, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(provider)
            .bind(pmid)
            .bind(&flow)
            .bind(i64::from(order))
            .bind(part)
            .bind(now.as_millis())
            .execute(&mut *self.0)
            .await?;
        }
        Ok(())
    }

    /// Remove and return held reports for these provider ids, oldest first.
    pub async fn take_orphans(
        &mut self,
        provider: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Report)>> {
        let mut out = Vec::new();
        for pmid in ids {
            let rows = sqlx::query(
                "DELETE FROM orphan_reports WHERE provider = ? AND provider_message_id = ?
                 RETURNING id, report",
            )
            .bind(provider)
            .bind(pmid)
            .fetch_all(&mut *self.0)
            .await?;
            let mut held: Vec<(i64, Report)> = Vec::with_capacity(rows.len());
            for row in rows {
                held.push((
                    row.try_get(0)?,
                    serde_json::from_str(row.try_get::<&str, _>(1)?)?,
                ));
            }
            held.sort_by_key(|(id, _)| *id);
            out.extend(held.into_iter().map(|(_, r)| (pmid.clone(), r)));
        }
        Ok(out)
    }

    pub async fn find_provider_ref(
        &mut self,
        provider: &str,
        pmid: &str,
    ) -> Result<Option<(FlowId, u32, u32)>> {
        let row = sqlx::query(
            "SELECT flow_id, step_order, part FROM provider_refs WHERE provider = ? AND provider_message_id = ?",
        )
        .bind(provider)
        .bind(pmid)
        .fetch_optional(&mut *self.0)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let flow: &str = row.try_get(0)?;
        let flow = FlowId::parse(flow).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let order: i64 = row.try_get(1)?;
        let part: i64 = row.try_get(2)?;
        Ok(Some((flow, to_u32(order)?, to_u32(part)?)))
    }

    pub async fn insert_orphan(
        &mut self,
        provider: &str,
        pmid: &str,
        report: &Report,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query("INSERT INTO orphan_reports (provider, provider_message_id, report, received_at) VALUES (?, ?, ?, ?)")
            .bind(provider)
            .bind(pmid)
            .bind(serde_json::to_string(report)?)
            .bind(now.as_millis())
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }
}

pub(super) fn to_u32(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} is out of range")))
}

/// Parse a flow's state column.
pub(super) fn parse_state(text: &str) -> Result<FlowState> {
    Ok(serde_json::from_str(text)?)
}
