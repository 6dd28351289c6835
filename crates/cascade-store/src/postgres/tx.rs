//! [`PgTx`]: the engine's [`FlowTx`] and the sandbox's [`SandboxTx`] on one PostgreSQL
//! transaction. Writes go to the database at once (inside the transaction); a flow is
//! read with `FOR UPDATE`, so two nodes changing one flow take turns and each sees the
//! other's committed change.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use cascade_core::inbound::InboundMessage;
use cascade_core::machines::{Report, TimelineEntry, TimerKind};
use cascade_core::ports::JobPayload;
use cascade_core::sandbox::{PlannedReport, Scenario};
use cascade_core::{FlowId, Micros, Timestamp};
use sqlx::{Postgres, QueryBuilder, Row, Transaction};

use super::{parse_flow_id, to_u32};
use crate::engine_tx::{FlowTx, LoadedFlow, MessageRef, NewCallback};
use crate::model::{InboundMatch, SandboxSend, channel_set};
use crate::sandbox::SandboxTx;
use crate::{Result, StoreError};

/// One operation's transaction.
pub(crate) struct PgTx {
    pub tx: Transaction<'static, Postgres>,
    /// This node, which holds the leases this transaction hands out.
    node: String,
    /// New flows whose definition and search rows this transaction wrote already.
    created: HashSet<FlowId>,
    /// Scenario uses taken by this transaction (written at once; counted for the rule
    /// choice, which reads `times_left` as it was).
    uses: HashMap<i64, u32>,
    /// Balance changes, written just before the commit (see `reserve_funds`).
    deltas: HashMap<String, i64>,
    /// Accounts whose row this transaction has locked.
    locked: HashSet<String>,
}

/// A balance at least this many times the amount asked for is taken without locking
/// the account's row first: far fewer transactions than this can be taking from it at
/// once (one per pooled connection of every node), so it cannot go below zero.
const LOCK_FREE_MARGIN: i64 = 4096;

impl PgTx {
    pub fn new(tx: Transaction<'static, Postgres>, node: &str) -> Self {
        PgTx {
            tx,
            node: node.to_owned(),
            created: HashSet::new(),
            uses: HashMap::new(),
            deltas: HashMap::new(),
            locked: HashSet::new(),
        }
    }

    /// Serialise with any other transaction about the same provider message id until
    /// this one ends: a report that finds no message and holds itself, and the
    /// submission that records the id and takes held reports, must not pass each other
    /// unseen (each would miss the other's uncommitted row, and the report would be
    /// held for ever). Taken before reading or writing a provider id's rows.
    async fn lock_provider_id(&mut self, provider: &str, pmid: &str) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 11))")
            .bind(provider)
            .bind(pmid)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Write the balance changes (an account's row is then locked only until the commit,
    /// not for the whole transaction), then commit.
    pub async fn commit(mut self) -> Result<()> {
        let mut deltas: Vec<(String, i64)> = std::mem::take(&mut self.deltas)
            .into_iter()
            .filter(|(_, d)| *d != 0)
            .collect();
        deltas.sort();
        for (account, delta) in deltas {
            sqlx::query("UPDATE accounts SET balance_micros = balance_micros + $1 WHERE id = $2")
                .bind(delta)
                .bind(&account)
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx
            .commit()
            .await
            .map_err(|e| StoreError::CommitFailed(e.to_string()))
    }
}

pub(crate) use crate::rows::SCENARIO_COLUMNS;

#[async_trait]
impl FlowTx for PgTx {
    async fn load_flow(&mut self, id: FlowId) -> Result<Option<LoadedFlow>> {
        let row = sqlx::query(
            "SELECT d.definition, f.state, f.event_seq, f.callback_seq
             FROM flows f JOIN flow_definitions d ON d.id = f.id WHERE f.id = $1
             FOR UPDATE OF f",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|r| crate::rows::loaded_flow(&r)).transpose()
    }

    async fn save_flow(&mut self, f: &LoadedFlow) -> Result<()> {
        let id = f.id().to_string();
        if f.is_new && self.created.insert(f.id()) {
            sqlx::query("INSERT INTO flow_definitions (id, definition) VALUES ($1, $2)")
                .bind(&id)
                .bind(&*f.def_json)
                .execute(&mut *self.tx)
                .await?;
            let mut q = QueryBuilder::<Postgres>::new(
                "INSERT INTO flow_steps (flow_id, account_id, channel, recipient, recipient_rev, created_at) ",
            );
            q.push_values(&f.def.steps, |mut b, step| {
                let recipient = step.recipient().to_lowercase();
                let reversed: String = recipient.chars().rev().collect();
                b.push_bind(id.clone())
                    .push_bind(f.def.account_id.clone())
                    .push_bind(step.channel().name())
                    .push_bind(recipient)
                    .push_bind(reversed)
                    .push_bind(f.def.created_at.as_millis());
            });
            if !f.def.steps.is_empty() {
                q.build().execute(&mut *self.tx).await?;
            }
        }
        // The definition's columns (account, creation time, channels) never change.
        sqlx::query(
            "INSERT INTO flows (id, account_id, application_id, status, termination_channel, created_at,
                                updated_at, state, event_seq, callback_seq, channels)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                 termination_channel = excluded.termination_channel, updated_at = excluded.updated_at,
                 state = excluded.state, event_seq = excluded.event_seq,
                 callback_seq = excluded.callback_seq",
        )
        .bind(&id)
        .bind(f.def.account_id.as_str())
        .bind(f.def.application_id.as_str())
        .bind(f.state.status.name())
        .bind(f.state.termination_channel(&f.def).map(|c| c.name()))
        .bind(f.def.created_at.as_millis())
        .bind(f.state.updated_at.as_millis())
        .bind(serde_json::to_string(&f.state)?)
        .bind(f.event_seq)
        .bind(f.callback_seq)
        .bind(channel_set(f.def.steps.iter().map(|s| s.channel())))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Most flows are paid from a balance far above their price: the balance is read
    /// without a lock and the change written just before the commit, so concurrent flows
    /// of one account do not queue on its row for their whole transaction. Near the
    /// bottom of the balance the row is locked first, so it is never overdrawn.
    async fn reserve_funds(
        &mut self,
        account_id: &str,
        amount: Micros,
        debit: bool,
    ) -> Result<bool> {
        let lock = if self.locked.contains(account_id) {
            " FOR UPDATE"
        } else {
            ""
        };
        let read = format!("SELECT balance_micros FROM accounts WHERE id = $1{lock}");
        let balance: Option<i64> = sqlx::query_scalar(&read)
            .bind(account_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(mut balance) = balance else {
            return Ok(false);
        };
        let pending = self.deltas.get(account_id).copied().unwrap_or(0);
        let asked = amount.get();
        if !self.locked.contains(account_id)
            && balance + pending < asked.saturating_mul(LOCK_FREE_MARGIN)
        {
            balance =
                sqlx::query_scalar("SELECT balance_micros FROM accounts WHERE id = $1 FOR UPDATE")
                    .bind(account_id)
                    .fetch_one(&mut *self.tx)
                    .await?;
            self.locked.insert(account_id.to_owned());
        }
        if balance + pending < asked {
            return Ok(false);
        }
        if debit {
            *self.deltas.entry(account_id.to_owned()).or_default() -= asked;
        }
        Ok(true)
    }

    async fn adjust_balance(&mut self, account_id: &str, delta: Micros) -> Result<()> {
        *self.deltas.entry(account_id.to_owned()).or_default() += delta.get();
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
        // Leased to this node; another node takes it over early if this one dies.
        let until = lease_until.as_millis();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (flow_id, step_order, payload, due_at, claimed_until, claimed_by, attempts, channel)
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7) RETURNING id",
        )
        .bind(flow.to_string())
        .bind(i64::from(order))
        .bind(serde_json::to_string(payload)?)
        .bind(now.as_millis())
        .bind(until)
        .bind(&self.node)
        .bind(payload.channel().name())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    async fn delete_job(&mut self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn set_timer(
        &mut self,
        flow: FlowId,
        order: u32,
        kind: TimerKind,
        at: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO timers (flow_id, step_order, kind, due_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (flow_id, step_order, kind) DO UPDATE SET due_at = excluded.due_at",
        )
        .bind(flow.to_string())
        .bind(i64::from(order))
        .bind(kind.name())
        .bind(at.as_millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn cancel_timer(&mut self, flow: FlowId, order: u32, kind: TimerKind) -> Result<()> {
        sqlx::query("DELETE FROM timers WHERE flow_id = $1 AND step_order = $2 AND kind = $3")
            .bind(flow.to_string())
            .bind(i64::from(order))
            .bind(kind.name())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn append_timeline(
        &mut self,
        flow: FlowId,
        first_seq: i64,
        entries: &[TimelineEntry],
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // Each entry names the node that wrote it (scale-out §2).
        let rows: Vec<(i64, String)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut e = e.clone();
                e.node = Some(self.node.clone());
                Ok((
                    first_seq + i64::try_from(i).unwrap_or(i64::MAX),
                    serde_json::to_string(&e)?,
                ))
            })
            .collect::<Result<_>>()?;
        let id = flow.to_string();
        let mut q = QueryBuilder::<Postgres>::new("INSERT INTO flow_events (flow_id, seq, entry) ");
        q.push_values(rows, |mut b, (seq, entry)| {
            b.push_bind(id.clone()).push_bind(seq).push_bind(entry);
        });
        q.build().execute(&mut *self.tx).await?;
        Ok(())
    }

    async fn insert_provider_refs(
        &mut self,
        provider: &str,
        flow: FlowId,
        order: u32,
        ids: &[String],
        now: Timestamp,
    ) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&String> = ids.iter().collect();
        sorted.sort();
        sorted.dedup();
        for pmid in sorted {
            self.lock_provider_id(provider, pmid).await?;
        }
        let id = flow.to_string();
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO provider_refs (provider, provider_message_id, flow_id, step_order, part, created_at) ",
        );
        q.push_values(ids.iter().enumerate(), |mut b, (i, pmid)| {
            b.push_bind(provider.to_owned())
                .push_bind(pmid.clone())
                .push_bind(id.clone())
                .push_bind(i64::from(order))
                .push_bind(i64::try_from(i + 1).unwrap_or(i64::MAX))
                .push_bind(now.as_millis());
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build().execute(&mut *self.tx).await?;
        Ok(())
    }

    async fn find_provider_refs(&mut self, provider: &str, pmid: &str) -> Result<Vec<MessageRef>> {
        self.lock_provider_id(provider, pmid).await?;
        let rows = sqlx::query(
            "SELECT flow_id, step_order, part FROM provider_refs
             WHERE provider = $1 AND provider_message_id = $2 ORDER BY flow_id, step_order, part",
        )
        .bind(provider)
        .bind(pmid)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MessageRef {
                    flow: parse_flow_id(row.try_get(0)?)?,
                    order: to_u32(row.try_get(1)?)?,
                    part: to_u32(row.try_get(2)?)?,
                })
            })
            .collect()
    }

    async fn hold_report(
        &mut self,
        provider: &str,
        candidates: &[String],
        report: &Report,
        now: Timestamp,
    ) -> Result<()> {
        let group = uuid::Uuid::now_v7().to_string();
        let report = serde_json::to_string(report)?;
        for pmid in candidates {
            sqlx::query(
                "INSERT INTO orphan_reports (provider, provider_message_id, report, received_at, hold_group)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(provider)
            .bind(pmid)
            .bind(&report)
            .bind(now.as_millis())
            .bind(&group)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    async fn enqueue_callback(&mut self, c: &NewCallback) -> Result<()> {
        sqlx::query(
            "INSERT INTO callbacks (event_id, flow_id, seq, application_id, url, body, state,
                                    attempts, next_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7)",
        )
        .bind(&c.event_id)
        .bind(c.flow.to_string())
        .bind(c.seq)
        .bind(&c.application_id)
        .bind(&c.url)
        .bind(&c.body)
        .bind(c.created_at.as_millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn update_callback(&mut self, u: crate::callbacks::CallbackUpdate) -> Result<()> {
        sqlx::query(
            "UPDATE callbacks SET state = $1, attempts = $2, first_attempt_at = $3, next_at = $4,
                 last_error = $5, claimed_until = 0 WHERE id = $6",
        )
        .bind(u.state.name())
        .bind(i64::from(u.attempts))
        .bind(u.first_attempt_at.as_millis())
        .bind(u.next_at.as_millis())
        .bind(u.last_error)
        .bind(u.id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn recent_flows_to(
        &mut self,
        channel: &str,
        recipient: &str,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<FlowId>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT flow_id, MAX(created_at) AS at FROM flow_steps
             WHERE recipient = $1 AND created_at >= $2 AND channel = $3
             GROUP BY flow_id ORDER BY at DESC LIMIT $4",
        )
        .bind(recipient)
        .bind(since.as_millis())
        .bind(channel)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|(id, _)| parse_flow_id(id)).collect()
    }

    async fn claim_dial(
        &mut self,
        flow: FlowId,
        order: u32,
        provider: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO call_dials (flow_id, step_order, provider, dialled_at, node)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(flow.to_string())
        .bind(i64::from(order))
        .bind(provider)
        .bind(now.as_millis())
        .bind(&self.node)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn inbound_known(&mut self, provider: &str, provider_message_id: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM inbound_messages WHERE provider = $1 AND provider_message_id = $2",
        )
        .bind(provider)
        .bind(provider_message_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }

    async fn insert_inbound(
        &mut self,
        message: &InboundMessage,
        matched: Option<&InboundMatch>,
        forwarded: bool,
    ) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO inbound_messages
               (received_at, channel, sender, recipient, body, provider, provider_message_id,
                flow_id, step_order, message_id, forwarded)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(message.received_at.as_millis())
        .bind(message.channel.name())
        .bind(&message.from)
        .bind(&message.to)
        .bind(&message.text)
        .bind(&message.provider)
        .bind(&message.provider_message_id)
        .bind(matched.map(|m| m.flow.to_string()))
        .bind(matched.map(|m| i64::from(m.order)))
        .bind(matched.map(|m| m.message_id.clone()))
        .bind(forwarded)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    async fn take_held_reports(
        &mut self,
        provider: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Report)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Every row of a matched report's hold group goes, whichever candidate matched;
        // rows another node is taking are skipped (it applies them).
        let rows = sqlx::query(
            "DELETE FROM orphan_reports o
             WHERE o.id IN (
                 SELECT o2.id FROM orphan_reports m JOIN orphan_reports o2
                   ON o2.provider = m.provider AND (o2.hold_group = m.hold_group OR o2.id = m.id)
                 WHERE m.provider = $1 AND m.provider_message_id = ANY($2)
                 FOR UPDATE OF o2 SKIP LOCKED)
             RETURNING o.id, o.provider_message_id, o.report, o.hold_group",
        )
        .bind(provider)
        .bind(ids)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut rows: Vec<(i64, String, String, Option<String>)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect::<Result<_>>()?;
        rows.sort_by_key(|r| r.0);
        // One report per hold group, named by the candidate id that matched.
        let mut out = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (id, pmid, report, group) in rows {
            let group = group.unwrap_or_else(|| format!("row-{id}"));
            if seen.contains(&group) || !ids.contains(&pmid) {
                continue;
            }
            seen.push(group);
            out.push((pmid, serde_json::from_str(&report)?));
        }
        Ok(out)
    }
}

#[async_trait]
impl SandboxTx for PgTx {
    async fn sent_before(
        &mut self,
        client_ref: &str,
        _first_attempt: bool,
    ) -> Result<Option<Vec<String>>> {
        let seen: Option<String> =
            sqlx::query_scalar("SELECT provider_ids FROM sandbox_messages WHERE client_ref = $1")
                .bind(client_ref)
                .fetch_optional(&mut *self.tx)
                .await?;
        seen.map(|ids| serde_json::from_str(&ids).map_err(StoreError::from))
            .transpose()
    }

    async fn scenario_rules(&mut self) -> Result<Vec<Scenario>> {
        // Locked: a rule with `times` is used up exactly, whichever nodes send at once.
        let rows = sqlx::query(&format!(
            "SELECT {SCENARIO_COLUMNS} FROM sandbox_scenarios ORDER BY id FOR UPDATE"
        ))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(crate::rows::scenario).collect()
    }

    fn uses_pending(&self, scenario_id: i64) -> u32 {
        self.uses.get(&scenario_id).copied().unwrap_or(0)
    }

    fn use_scenario(&mut self, scenario_id: i64) {
        *self.uses.entry(scenario_id).or_default() += 1;
    }

    async fn record_send(
        &mut self,
        send: &SandboxSend,
        scenario_id: Option<i64>,
        reports: &[PlannedReport],
        now: Timestamp,
    ) -> Result<()> {
        for (id, n) in std::mem::take(&mut self.uses) {
            sqlx::query(
                "UPDATE sandbox_scenarios SET times_left = GREATEST(times_left - $1, 0) WHERE id = $2",
            )
            .bind(i64::from(n))
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        }
        for r in reports {
            sqlx::query(
                "INSERT INTO sandbox_reports (provider, provider_message_id, report, due_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&send.provider)
            .bind(&r.provider_message_id)
            .bind(serde_json::to_string(&r.delivery)?)
            .bind(r.due_at.as_millis())
            .execute(&mut *self.tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO sandbox_messages (provider, channel, client_ref, recipient, provider_ids,
                                           payload, scenario_id, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (client_ref) DO NOTHING",
        )
        .bind(&send.provider)
        .bind(send.channel.name())
        .bind(&send.client_ref)
        .bind(&send.to)
        .bind(serde_json::to_string(&send.provider_ids)?)
        .bind(serde_json::to_string(&send.payload)?)
        .bind(scenario_id)
        .bind(now.as_millis())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
