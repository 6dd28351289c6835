//! [`SandboxStore`] for PostgreSQL: scenario rules and pending reports live in the
//! database, so a rule created through any node applies to sends through every node,
//! and each due report is claimed (leased) by one node.

use async_trait::async_trait;
use cascade_core::sandbox::{NewScenario, Scenario};
use cascade_core::{Channel, Timestamp};
use sqlx::Row;

use super::PgStore;
use super::tx::SCENARIO_COLUMNS;
use crate::model::{SandboxMessage, SandboxReport, SandboxSend, SandboxSendOutcome};
use crate::{Result, SandboxStore, StoreError};

/// How long a node holds the due reports it took before another node may take them.
/// The node itself reads them again at once while they are not acknowledged: its
/// reporter sends one report per message at a time and knows what is in flight, so a
/// report it skipped (a later one of a message whose earlier one went first) must not
/// wait for the lease (a scripted reply read with its message's receipt waited 15 s).
const REPORT_LEASE_MS: i64 = 15_000;

#[async_trait]
impl SandboxStore for PgStore {
    async fn create_scenario(&self, s: &NewScenario, now: Timestamp) -> Result<Scenario> {
        let row = sqlx::query(&format!(
            "INSERT INTO sandbox_scenarios (channel, recipient, rule, times_left, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING {SCENARIO_COLUMNS}"
        ))
        .bind(s.channel.name())
        .bind(&s.to)
        .bind(serde_json::to_string(&s.rule)?)
        .bind(s.times.map(i64::from))
        .bind(now.as_millis())
        .fetch_one(&self.pool)
        .await?;
        crate::rows::scenario(&row)
    }

    async fn scenarios(&self) -> Result<Vec<Scenario>> {
        let rows = sqlx::query(&format!(
            "SELECT {SCENARIO_COLUMNS} FROM sandbox_scenarios ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::rows::scenario).collect()
    }

    async fn delete_scenarios(&self) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sandbox_scenarios")
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn sandbox_send(&self, send: SandboxSend, now: Timestamp) -> Result<SandboxSendOutcome> {
        self.grouped(move |tx| Box::pin(crate::sandbox::send(tx, send.clone(), now)))
            .await
    }

    async fn due_sandbox_reports(
        &self,
        provider_prefix: &str,
        now: Timestamp,
        limit: u32,
        skip: &[i64],
    ) -> Result<Vec<SandboxReport>> {
        // The rows left out are the caller's, out now: their claim is renewed (it was
        // renewed by reading them again before), so no other node takes them while the
        // caller waits for their acknowledgement. The left-out set is hashed, not
        // scanned per row.
        let rows = sqlx::query(&format!(
            "WITH renewed AS (
                UPDATE sandbox_reports SET claimed_until = $4
                WHERE id = ANY($7) AND claimed_by = $5)
             UPDATE sandbox_reports SET claimed_until = $4, claimed_by = $5
             WHERE id IN (SELECT id FROM sandbox_reports
                          WHERE due_at <= $1
                            AND (claimed_until <= $1 OR claimed_by = $5 OR {})
                            AND starts_with(provider, $2)
                            AND id NOT IN (SELECT unnest($7::bigint[]))
                          ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, provider, provider_message_id, report, due_at",
            Self::holder_gone("sandbox_reports", 6)
        ))
        .bind(now.as_millis())
        .bind(provider_prefix)
        .bind(i64::from(limit))
        .bind(now.plus_millis(REPORT_LEASE_MS).as_millis())
        .bind(&self.node_id)
        .bind(self.live_since())
        .bind(skip)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(i64, i64, SandboxReport)> = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(4)?,
                    r.try_get(0)?,
                    SandboxReport {
                        id: r.try_get(0)?,
                        provider: r.try_get(1)?,
                        provider_message_id: r.try_get(2)?,
                        delivery: serde_json::from_str(r.try_get::<&str, _>(3)?)?,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        out.sort_by_key(|(due, id, _)| (*due, *id));
        Ok(out.into_iter().map(|(_, _, r)| r).collect())
    }

    async fn ack_sandbox_reports(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query("DELETE FROM sandbox_reports WHERE id = ANY($1)")
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn next_sandbox_report_due(&self, provider_prefix: &str) -> Result<Option<Timestamp>> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(CASE WHEN claimed_by = $2 THEN due_at
                             ELSE GREATEST(due_at, claimed_until) END)
             FROM sandbox_reports WHERE starts_with(provider, $1)",
        )
        .bind(provider_prefix)
        .bind(&self.node_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(due.map(Timestamp::from_millis))
    }

    async fn sandbox_provider_ids(&self, client_ref: &str) -> Result<Option<Vec<String>>> {
        let ids: Option<String> =
            sqlx::query_scalar("SELECT provider_ids FROM sandbox_messages WHERE client_ref = $1")
                .bind(client_ref)
                .fetch_optional(&self.pool)
                .await?;
        ids.map(|ids| serde_json::from_str(&ids).map_err(Into::into))
            .transpose()
    }

    async fn sandbox_messages(&self, limit: u32) -> Result<Vec<SandboxMessage>> {
        let rows = sqlx::query(
            "SELECT provider_ids, provider, channel, client_ref, recipient, payload, scenario_id, received_at
             FROM sandbox_messages ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<SandboxMessage> = rows
            .iter()
            .map(|r| {
                let channel: &str = r.try_get(2)?;
                Ok(SandboxMessage {
                    provider_message_ids: serde_json::from_str(r.try_get::<&str, _>(0)?)?,
                    provider: r.try_get(1)?,
                    channel: Channel::parse(channel)
                        .ok_or_else(|| StoreError::Corrupt(format!("channel {channel}")))?,
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
