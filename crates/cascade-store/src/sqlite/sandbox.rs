//! [`SandboxStore`] for SQLite.

use async_trait::async_trait;
use cascade_core::Timestamp;
use sqlx::Row;

use rusqlite::OptionalExtension;

use super::SqliteStore;
use super::batch::BatchTx;
use super::writeset::{SandboxMessageRow, delete_ids};
use crate::model::{SandboxMessage, SandboxReport, SandboxSend, SandboxSendOutcome};
use crate::sandbox::SandboxTx;
use crate::{Result, SandboxStore, StoreError};
use cascade_core::sandbox::{NewScenario, PlannedReport, Scenario};

pub(super) use crate::rows::SCENARIO_COLUMNS;

#[async_trait]
impl SandboxStore for SqliteStore {
    async fn create_scenario(&self, scenario: &NewScenario, now: Timestamp) -> Result<Scenario> {
        let s = scenario.clone();
        // After a flush (pending `times` uses are written) and dropping the cached rules.
        self.write_engine(true, move |tx| {
            Box::pin(async move {
                tx.w.scenarios = None;
                let mut stmt = tx.w.conn.prepare_cached(&format!(
                    "INSERT INTO sandbox_scenarios (channel, recipient, rule, times_left, created_at)
                     VALUES (?, ?, ?, ?, ?) RETURNING {SCENARIO_COLUMNS}"
                ))?;
                let mut rows = stmt.query(rusqlite::params![
                    s.channel.name(),
                    s.to,
                    serde_json::to_string(&s.rule)?,
                    s.times.map(i64::from),
                    now.as_millis()
                ])?;
                let row = rows
                    .next()?
                    .ok_or_else(|| StoreError::Corrupt("no scenario returned".into()))?;
                let scenario = crate::rows::scenario(row)?;
                // Step to the end: the insert is done when the statement is.
                while rows.next()?.is_some() {}
                Ok(scenario)
            })
        })
        .await
    }

    async fn scenarios(&self) -> Result<Vec<Scenario>> {
        let rows = sqlx::query(&format!(
            "SELECT {SCENARIO_COLUMNS} FROM sandbox_scenarios ORDER BY id"
        ))
        .fetch_all(self.readers())
        .await?;
        rows.iter().map(crate::rows::scenario).collect()
    }

    async fn delete_scenarios(&self) -> Result<u64> {
        self.write_engine(true, |tx| {
            Box::pin(async move {
                tx.w.scenarios = None;
                let n =
                    tx.w.conn
                        .prepare_cached("DELETE FROM sandbox_scenarios")?
                        .execute([])?;
                Ok(u64::try_from(n).unwrap_or(u64::MAX))
            })
        })
        .await
    }

    /// A send that may repeat an earlier one (an SMSC cannot tell) is looked up on a
    /// reader first, off the writer's path; the writer then only has to know the sends it
    /// committed since that lookup began ([`super::batch::RecentRefs`]) instead of reading
    /// `sandbox_messages` for every message.
    async fn sandbox_send(&self, send: SandboxSend, now: Timestamp) -> Result<SandboxSendOutcome> {
        let mut send = send;
        let mut checked_at = None;
        if !send.first_attempt {
            let started = std::time::Instant::now();
            if let Some(provider_ids) = self.sandbox_provider_ids(&send.client_ref).await? {
                return Ok(SandboxSendOutcome::repeat_of(provider_ids));
            }
            checked_at = Some(started);
        }
        self.write_engine(false, move |tx| {
            Box::pin(async move {
                if let Some(at) = checked_at
                    && tx.w.recent_refs.covers(at)
                    && !tx.w.recent_refs.contains(&send.client_ref)
                {
                    // Not committed before the lookup began nor since: only this batch
                    // can hold it, and `send` looks there in any case.
                    send.first_attempt = true;
                }
                crate::sandbox::send(tx, send, now).await
            })
        })
        .await
    }

    async fn due_sandbox_reports(
        &self,
        provider_prefix: &str,
        now: Timestamp,
        limit: u32,
        skip: &[i64],
    ) -> Result<Vec<SandboxReport>> {
        let rows = sqlx::query(
            "SELECT id, provider, provider_message_id, report FROM sandbox_reports
             WHERE due_at <= ? AND substr(provider, 1, ?) = ?
               AND id NOT IN (SELECT value FROM json_each(?))
             ORDER BY due_at, id LIMIT ?",
        )
        .bind(now.as_millis())
        .bind(i64::try_from(provider_prefix.len()).unwrap_or(i64::MAX))
        .bind(provider_prefix)
        .bind(serde_json::to_string(skip)?)
        .bind(i64::from(limit))
        .fetch_all(self.readers())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SandboxReport {
                    id: r.try_get(0)?,
                    provider: r.try_get(1)?,
                    provider_message_id: r.try_get(2)?,
                    delivery: serde_json::from_str(r.try_get::<&str, _>(3)?)?,
                })
            })
            .collect()
    }

    async fn ack_sandbox_reports(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = ids.to_vec();
        self.write(move |conn| delete_ids(conn, "sandbox_reports", &ids))
            .await
    }

    async fn next_sandbox_report_due(&self, provider_prefix: &str) -> Result<Option<Timestamp>> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(due_at) FROM sandbox_reports WHERE substr(provider, 1, ?) = ?",
        )
        .bind(i64::try_from(provider_prefix.len()).unwrap_or(i64::MAX))
        .bind(provider_prefix)
        .fetch_one(self.readers())
        .await?;
        Ok(due.map(Timestamp::from_millis))
    }

    async fn sandbox_provider_ids(&self, client_ref: &str) -> Result<Option<Vec<String>>> {
        let ids: Option<String> =
            sqlx::query_scalar("SELECT provider_ids FROM sandbox_messages WHERE client_ref = ?")
                .bind(client_ref)
                .fetch_optional(self.readers())
                .await?;
        ids.map(|ids| serde_json::from_str(&ids).map_err(Into::into))
            .transpose()
    }

    async fn sandbox_messages(&self, limit: u32) -> Result<Vec<SandboxMessage>> {
        let rows = sqlx::query(
            "SELECT provider_ids, provider, channel, client_ref, recipient, payload, scenario_id, received_at
             FROM sandbox_messages ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(self.readers())
        .await?;
        let mut out: Vec<SandboxMessage> = rows
            .iter()
            .map(|r| {
                Ok(SandboxMessage {
                    provider_message_ids: serde_json::from_str(r.try_get::<&str, _>(0)?)?,
                    provider: r.try_get(1)?,
                    channel: crate::rows::channel(r.try_get(2)?)?,
                    client_ref: r.try_get(3)?,
                    to: r.try_get(4)?,
                    payload: serde_json::from_str(r.try_get::<&str, _>(5)?)?,
                    scenario_id: r.try_get(6)?,
                    received_at: Timestamp::from_millis(r.try_get(7)?),
                })
            })
            .collect::<Result<_>>()?;
        out.reverse();
        Ok(out)
    }
}

#[async_trait]
impl SandboxTx for BatchTx {
    async fn sent_before(
        &mut self,
        client_ref: &str,
        first_attempt: bool,
    ) -> Result<Option<Vec<String>>> {
        let pending = self
            .own
            .sandbox_refs
            .get(client_ref)
            .or_else(|| self.w.batch.sandbox_refs.get(client_ref));
        if let Some(ids) = pending {
            return Ok(Some(ids.clone()));
        }
        if first_attempt {
            return Ok(None);
        }
        let seen: Option<String> = self
            .w
            .conn
            .prepare_cached("SELECT provider_ids FROM sandbox_messages WHERE client_ref = ?")?
            .query_row([client_ref], |r| r.get(0))
            .optional()?;
        seen.map(|ids| serde_json::from_str(&ids).map_err(StoreError::from))
            .transpose()
    }

    async fn scenario_rules(&mut self) -> Result<Vec<Scenario>> {
        Ok(self.w.scenarios()?.to_vec())
    }

    fn uses_pending(&self, scenario_id: i64) -> u32 {
        self.own
            .scenario_uses
            .get(&scenario_id)
            .copied()
            .unwrap_or(0)
            + self
                .w
                .batch
                .scenario_uses
                .get(&scenario_id)
                .copied()
                .unwrap_or(0)
    }

    fn use_scenario(&mut self, scenario_id: i64) {
        *self.own.scenario_uses.entry(scenario_id).or_default() += 1;
    }

    async fn record_send(
        &mut self,
        send: &SandboxSend,
        scenario_id: Option<i64>,
        reports: &[PlannedReport],
        now: Timestamp,
    ) -> Result<()> {
        for r in reports {
            self.own.sandbox_reports.push((
                send.provider.clone(),
                r.provider_message_id.clone(),
                serde_json::to_string(&r.delivery)?,
                r.due_at,
            ));
        }
        self.own
            .sandbox_refs
            .insert(send.client_ref.clone(), send.provider_ids.clone());
        self.own.sandbox_messages.push(SandboxMessageRow {
            provider: send.provider.clone(),
            channel: send.channel.name(),
            client_ref: send.client_ref.clone(),
            to: send.to.clone(),
            provider_ids: serde_json::to_string(&send.provider_ids)?,
            payload: serde_json::to_string(&send.payload)?,
            scenario_id,
            received_at: now,
        });
        Ok(())
    }
}
