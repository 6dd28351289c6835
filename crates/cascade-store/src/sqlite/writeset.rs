//! Writes of one batch, kept in memory and flushed with multi-row statements.
//!
//! Engine operations (accepting a flow, applying an event) do not touch the database
//! directly: they record rows here, reading through it, so each operation can be undone
//! by dropping its own [`WriteSet`] and a batch of hundreds of operations costs a handful
//! of statements. [`WriteSet::flush`] runs before COMMIT (and before any operation that
//! reads these tables with SQL).

use std::collections::HashMap;

use cascade_core::idempotency::KeyRecord;
use cascade_core::machines::TimerKind;
use cascade_core::{FlowId, Micros, Timestamp};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::search::channel_set;
use crate::Result;
use crate::callbacks::CallbackUpdate;
use crate::engine_tx::{LoadedFlow, MessageRef, NewCallback};

/// Most rows per multi-row statement; well under SQLite's 32 766 bound parameters.
const CHUNK: usize = 256;

/// Rows up to which a table's rows go in one statement, whatever their number.
const EXACT: usize = 16;

/// Split `items` into chunks for multi-row statements: all of them at once up to
/// [`EXACT`] rows, else powers of two (at most [`CHUNK`]) until at most [`EXACT`] are
/// left. So a table's statements come in a few shapes (1 to 16 rows, then 32 to 256)
/// that stay in the connection's prepared-statement cache instead of being parsed
/// again for every batch size, and a batch writes each table in one statement while it
/// is small (every statement is a round trip to the connection's thread) and in one
/// more per power of two above that when it is large (255 rows: 128, 64, 32, 16, 15).
fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = if rest.len() <= EXACT {
            rest.len()
        } else if rest.len() >= CHUNK {
            CHUNK
        } else {
            1 << rest.len().ilog2()
        };
        let (head, tail) = rest.split_at(size);
        rest = tail;
        Some(head)
    })
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Balance {
    pub value: Micros,
    pub dirty: bool,
}

#[derive(Debug, Clone)]
pub(super) struct JobRow {
    pub id: i64,
    pub flow: FlowId,
    pub order: u32,
    pub payload: String,
    pub due_at: Timestamp,
    pub claimed_until: Timestamp,
}

pub(super) type TimerKey = (FlowId, u32, TimerKind);

#[derive(Debug, Default)]
pub(super) struct WriteSet {
    /// Flows saved by this batch (inserted or updated).
    pub flows: HashMap<FlowId, LoadedFlow>,
    /// Account balances read or changed by this batch.
    pub balances: HashMap<String, Balance>,
    pub job_inserts: Vec<JobRow>,
    pub job_deletes: Vec<i64>,
    /// `Some(at)`: create or move the timer; `None`: delete it.
    pub timers: HashMap<TimerKey, Option<Timestamp>>,
    /// (flow, seq, entry JSON)
    pub timeline: Vec<(FlowId, i64, String)>,
    /// (provider, provider message id) → message, created at.
    pub refs: HashMap<(String, String), Vec<(MessageRef, Timestamp)>>,
    /// Held reports (orphan_reports ids) taken by this batch.
    pub held_deletes: Vec<i64>,
    /// Messages the sandbox providers received, and by `client_ref` their provider ids.
    pub sandbox_messages: Vec<SandboxMessageRow>,
    pub sandbox_refs: HashMap<String, Vec<String>>,
    /// Reports the sandbox owes: (provider, provider message id, report JSON, due at).
    pub sandbox_reports: Vec<(String, String, String, Timestamp)>,
    /// Scenario id → sends that used up one of its `times`.
    pub scenario_uses: HashMap<i64, u32>,
    /// Callbacks added to the outbox.
    pub callbacks: Vec<NewCallback>,
    /// Delivery attempts recorded.
    pub callback_updates: Vec<CallbackUpdate>,
    /// (application, key) → the key's record (`None`: remove it).
    pub idempotency: HashMap<(String, String), Option<IdempotencyRow>>,
}

#[derive(Debug, Clone)]
pub(super) struct IdempotencyRow {
    pub record: KeyRecord,
    /// The flow stored under a done key (empty while in flight).
    pub tracking_id: String,
}

#[derive(Debug, Clone)]
pub(super) struct SandboxMessageRow {
    pub provider: String,
    pub channel: &'static str,
    pub client_ref: String,
    pub to: String,
    pub provider_ids: String,
    pub payload: String,
    pub scenario_id: Option<i64>,
    pub received_at: Timestamp,
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
            && !self.balances.values().any(|b| b.dirty)
            && self.job_inserts.is_empty()
            && self.job_deletes.is_empty()
            && self.timers.is_empty()
            && self.timeline.is_empty()
            && self.refs.is_empty()
            && self.held_deletes.is_empty()
            && self.sandbox_messages.is_empty()
            && self.sandbox_reports.is_empty()
            && self.scenario_uses.is_empty()
            && self.callbacks.is_empty()
            && self.callback_updates.is_empty()
            && self.idempotency.is_empty()
    }

    /// Take an operation's writes into the batch (the operation succeeded).
    pub fn merge(&mut self, child: WriteSet) {
        self.flows.extend(child.flows);
        self.balances.extend(child.balances);
        self.job_inserts.extend(child.job_inserts);
        for id in child.job_deletes {
            if let Some(i) = self.job_inserts.iter().position(|j| j.id == id) {
                // Created and finished within one batch: it never needs to exist.
                self.job_inserts.swap_remove(i);
            } else {
                self.job_deletes.push(id);
            }
        }
        self.timers.extend(child.timers);
        self.timeline.extend(child.timeline);
        for (key, parts) in child.refs {
            self.refs.entry(key).or_default().extend(parts);
        }
        self.held_deletes.extend(child.held_deletes);
        self.sandbox_messages.extend(child.sandbox_messages);
        self.sandbox_refs.extend(child.sandbox_refs);
        self.sandbox_reports.extend(child.sandbox_reports);
        for (id, n) in child.scenario_uses {
            *self.scenario_uses.entry(id).or_default() += n;
        }
        self.callbacks.extend(child.callbacks);
        self.callback_updates.extend(child.callback_updates);
        self.idempotency.extend(child.idempotency);
    }

    /// Write everything to the open transaction and empty the set. Returns the flows
    /// written, for the writer's cache.
    pub async fn flush(&mut self, conn: &mut SqliteConnection) -> Result<Vec<LoadedFlow>> {
        let flows: Vec<LoadedFlow> = std::mem::take(&mut self.flows).into_values().collect();
        let states: Vec<String> = flows
            .iter()
            .map(|f| serde_json::to_string(&f.state))
            .collect::<Result<_, _>>()?;
        let new: Vec<&LoadedFlow> = flows.iter().filter(|f| f.is_new).collect();
        for chunk in chunks(&new) {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO flow_definitions (id, definition) ");
            q.push_values(chunk, |mut b, f| {
                b.push_bind(f.id().to_string()).push_bind(&*f.def_json);
            });
            q.build().execute(&mut *conn).await?;
        }
        let steps: Vec<SearchStepRow> = new.iter().flat_map(|f| SearchStepRow::of(f)).collect();
        for chunk in chunks(&steps) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO flow_steps (flow_id, account_id, channel, recipient, recipient_rev, created_at, \
                 weight) ",
            );
            q.push_values(chunk, |mut b, s| {
                b.push_bind(s.flow.as_str())
                    .push_bind(s.account)
                    .push_bind(s.channel)
                    .push_bind(s.recipient.as_str())
                    .push_bind(s.recipient_rev.as_str())
                    .push_bind(s.created_at)
                    .push_bind(s.weight);
            });
            q.build().execute(&mut *conn).await?;
        }
        for (chunk, states) in chunks(&flows).zip(chunks(&states)) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO flows (id, account_id, application_id, status, termination_channel, created_at, \
                 updated_at, state, event_seq, callback_seq, channels) ",
            );
            q.push_values(chunk.iter().zip(states), |mut b, (f, state)| {
                b.push_bind(f.id().to_string())
                    .push_bind(f.def.account_id.as_str())
                    .push_bind(f.def.application_id.as_str())
                    .push_bind(f.state.status.name())
                    .push_bind(f.state.termination_channel(&f.def).map(|c| c.name()))
                    .push_bind(f.def.created_at.as_millis())
                    .push_bind(f.state.updated_at.as_millis())
                    .push_bind(state.as_str())
                    .push_bind(f.event_seq)
                    .push_bind(f.callback_seq)
                    .push_bind(channel_set(f.def.steps.iter().map(|s| s.channel())));
            });
            // The definition's columns (account, creation time, channels) never change:
            // an update leaves them. (Triggers keep flow_counts in step; migration 0006.)
            q.push(
                " ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
                 termination_channel = excluded.termination_channel, updated_at = excluded.updated_at, \
                 state = excluded.state, event_seq = excluded.event_seq, \
                 callback_seq = excluded.callback_seq",
            );
            q.build().execute(&mut *conn).await?;
        }
        let flows = flows
            .into_iter()
            .map(|mut f| {
                f.is_new = false;
                f
            })
            .collect();

        for (account, balance) in self.balances.drain().filter(|(_, b)| b.dirty) {
            sqlx::query("UPDATE accounts SET balance_micros = ? WHERE id = ?")
                .bind(balance.value.get())
                .bind(account)
                .execute(&mut *conn)
                .await?;
        }

        let jobs = std::mem::take(&mut self.job_inserts);
        for chunk in chunks(&jobs) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO jobs (id, flow_id, step_order, payload, due_at, claimed_until, attempts) ",
            );
            q.push_values(chunk, |mut b, j| {
                b.push_bind(j.id)
                    .push_bind(j.flow.to_string())
                    .push_bind(i64::from(j.order))
                    .push_bind(j.payload.as_str())
                    .push_bind(j.due_at.as_millis())
                    .push_bind(j.claimed_until.as_millis())
                    .push_bind(0_i64);
            });
            q.build().execute(&mut *conn).await?;
        }
        delete_ids(conn, "jobs", &std::mem::take(&mut self.job_deletes)).await?;

        let (upserts, deletes): (Vec<_>, Vec<_>) =
            self.timers.drain().partition(|(_, at)| at.is_some());
        for chunk in chunks(&upserts) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR REPLACE INTO timers (flow_id, step_order, kind, due_at) ",
            );
            q.push_values(chunk, |mut b, ((flow, order, kind), at)| {
                b.push_bind(flow.to_string())
                    .push_bind(i64::from(*order))
                    .push_bind(kind.name())
                    .push_bind(at.map_or(0, Timestamp::as_millis));
            });
            q.build().execute(&mut *conn).await?;
        }
        for chunk in chunks(&deletes) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "DELETE FROM timers WHERE (flow_id, step_order, kind) IN (",
            );
            let mut sep = q.separated(", ");
            for ((flow, order, kind), _) in chunk {
                sep.push("(")
                    .push_bind_unseparated(flow.to_string())
                    .push_unseparated(", ")
                    .push_bind_unseparated(i64::from(*order))
                    .push_unseparated(", ")
                    .push_bind_unseparated(kind.name())
                    .push_unseparated(")");
            }
            q.push(")");
            q.build().execute(&mut *conn).await?;
        }

        let timeline = std::mem::take(&mut self.timeline);
        for chunk in chunks(&timeline) {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO flow_events (flow_id, seq, entry) ");
            q.push_values(chunk, |mut b, (flow, seq, entry)| {
                b.push_bind(flow.to_string())
                    .push_bind(*seq)
                    .push_bind(entry.as_str());
            });
            q.build().execute(&mut *conn).await?;
        }

        let refs: Vec<((String, String), (MessageRef, Timestamp))> = self
            .refs
            .drain()
            .flat_map(|(key, parts)| parts.into_iter().map(move |p| (key.clone(), p)))
            .collect();
        for chunk in chunks(&refs) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR REPLACE INTO provider_refs (provider, provider_message_id, flow_id, step_order, part, created_at) ",
            );
            q.push_values(chunk, |mut b, ((provider, pmid), (at, created))| {
                b.push_bind(provider.as_str())
                    .push_bind(pmid.as_str())
                    .push_bind(at.flow.to_string())
                    .push_bind(i64::from(at.order))
                    .push_bind(i64::from(at.part))
                    .push_bind(created.as_millis());
            });
            q.build().execute(&mut *conn).await?;
        }
        delete_ids(
            conn,
            "orphan_reports",
            &std::mem::take(&mut self.held_deletes),
        )
        .await?;

        let messages = std::mem::take(&mut self.sandbox_messages);
        self.sandbox_refs.clear();
        for chunk in chunks(&messages) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO sandbox_messages (provider, channel, client_ref, recipient, provider_ids, payload, \
                 scenario_id, received_at) ",
            );
            q.push_values(chunk, |mut b, m| {
                b.push_bind(m.provider.as_str())
                    .push_bind(m.channel)
                    .push_bind(m.client_ref.as_str())
                    .push_bind(m.to.as_str())
                    .push_bind(m.provider_ids.as_str())
                    .push_bind(m.payload.as_str())
                    .push_bind(m.scenario_id)
                    .push_bind(m.received_at.as_millis());
            });
            q.build().execute(&mut *conn).await?;
        }
        let reports = std::mem::take(&mut self.sandbox_reports);
        for chunk in chunks(&reports) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO sandbox_reports (provider, provider_message_id, report, due_at) ",
            );
            q.push_values(chunk, |mut b, (provider, pmid, report, due)| {
                b.push_bind(provider.as_str())
                    .push_bind(pmid.as_str())
                    .push_bind(report.as_str())
                    .push_bind(due.as_millis());
            });
            q.build().execute(&mut *conn).await?;
        }
        for (id, n) in self.scenario_uses.drain() {
            sqlx::query(
                "UPDATE sandbox_scenarios SET times_left = MAX(times_left - ?, 0) WHERE id = ?",
            )
            .bind(i64::from(n))
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        let callbacks = std::mem::take(&mut self.callbacks);
        for chunk in chunks(&callbacks) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO callbacks (event_id, flow_id, seq, application_id, url, body, state, \
                 attempts, next_at, created_at) ",
            );
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.event_id.as_str())
                    .push_bind(c.flow.to_string())
                    .push_bind(c.seq)
                    .push_bind(c.application_id.as_str())
                    .push_bind(c.url.as_str())
                    .push_bind(c.body.as_str())
                    .push_bind("pending")
                    .push_bind(0_i64)
                    .push_bind(c.created_at.as_millis())
                    .push_bind(c.created_at.as_millis());
            });
            q.build().execute(&mut *conn).await?;
        }
        for u in std::mem::take(&mut self.callback_updates) {
            sqlx::query(
                "UPDATE callbacks SET state = ?, attempts = ?, first_attempt_at = ?, next_at = ?, \
                 last_error = ?, claimed_until = 0 WHERE id = ?",
            )
            .bind(u.state.name())
            .bind(i64::from(u.attempts))
            .bind(u.first_attempt_at.as_millis())
            .bind(u.next_at.as_millis())
            .bind(u.last_error)
            .bind(u.id)
            .execute(&mut *conn)
            .await?;
        }
        let (keys, released): (Vec<_>, Vec<_>) =
            self.idempotency.drain().partition(|(_, row)| row.is_some());
        for chunk in chunks(&keys) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR REPLACE INTO idempotency_keys (application_id, key, request_hash, \
                 tracking_id, response, created_at, state, claim_token, lease_until) ",
            );
            q.push_values(chunk, |mut b, ((app, key), row)| {
                let row = row.as_ref().expect("partitioned on is_some");
                let (state, response, token, until) =
                    crate::rows::key_state_columns(&row.record.state);
                b.push_bind(app.as_str())
                    .push_bind(key.as_str())
                    .push_bind(row.record.request_hash.as_str())
                    .push_bind(row.tracking_id.as_str())
                    .push_bind(response)
                    .push_bind(row.record.created_at.as_millis())
                    .push_bind(state)
                    .push_bind(token)
                    .push_bind(until);
            });
            q.build().execute(&mut *conn).await?;
        }
        for ((app, key), _) in released {
            sqlx::query("DELETE FROM idempotency_keys WHERE application_id = ? AND key = ?")
                .bind(app)
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
        Ok(flows)
    }
}

/// A step's row in `flow_steps` (what search filters on).
struct SearchStepRow<'a> {
    flow: String,
    account: &'a str,
    channel: &'static str,
    recipient: String,
    recipient_rev: String,
    created_at: i64,
    /// How the step counts its flow in a search's total (migration 0010): 1 for the
    /// first step of a flow whose steps all go to one recipient, 0 for its later steps,
    /// `None` for every step of a flow with several recipients.
    weight: Option<i64>,
}

impl<'a> SearchStepRow<'a> {
    fn of(flow: &'a LoadedFlow) -> impl Iterator<Item = SearchStepRow<'a>> {
        let id = flow.id().to_string();
        let recipients: Vec<String> = flow
            .def
            .steps
            .iter()
            .map(|step| step.recipient().to_lowercase())
            .collect();
        let weights = step_weights(&recipients);
        recipients
            .into_iter()
            .zip(weights)
            .zip(&flow.def.steps)
            .map(move |((recipient, weight), step)| SearchStepRow {
                flow: id.clone(),
                account: flow.def.account_id.as_str(),
                channel: step.channel().name(),
                recipient_rev: recipient.chars().rev().collect(),
                recipient,
                created_at: flow.def.created_at.as_millis(),
                weight,
            })
    }
}

/// The `weight` of each step of a flow whose steps go to `recipients`, in step order
/// (see [`SearchStepRow::weight`]): counting the weights of a flow's matching steps
/// gives 1 when it has one recipient, whatever condition on the recipient matched.
fn step_weights(recipients: &[String]) -> Vec<Option<i64>> {
    let one = recipients.windows(2).all(|w| w[0] == w[1]);
    (0..recipients.len())
        .map(|i| one.then_some(i64::from(i == 0)))
        .collect()
}

/// `DELETE FROM table WHERE id IN (...)`, in chunks.
pub(super) async fn delete_ids(
    conn: &mut SqliteConnection,
    table: &'static str,
    ids: &[i64],
) -> Result<()> {
    for chunk in chunks(ids) {
        let mut q = QueryBuilder::<Sqlite>::new(format!("DELETE FROM {table} WHERE id IN ("));
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        q.push(")");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_in_few_shapes_and_cover_everything() {
        let shape = |n: usize| n <= EXACT || (n.is_power_of_two() && n <= CHUNK);
        for len in 0usize..=1100 {
            let items: Vec<usize> = (0..len).collect();
            let parts: Vec<&[usize]> = chunks(&items).collect();
            assert!(
                parts.iter().all(|c| !c.is_empty() && shape(c.len())),
                "{len}"
            );
            assert_eq!(parts.concat(), items, "{len}");
            if len <= EXACT {
                assert!(parts.len() <= 1, "{len}: one statement");
            } else if len < CHUNK {
                // One power of two per bit of the length above EXACT's, then the rest.
                assert!(
                    parts.len() <= 1 + (len.ilog2() as usize - 3),
                    "{len}: {}",
                    parts.len()
                );
            }
        }
        let sizes = |n: usize| chunks(&vec![0u8; n]).map(<[u8]>::len).collect::<Vec<_>>();
        assert_eq!(sizes(13), [13]);
        assert_eq!(sizes(29), [16, 13]);
        assert_eq!(sizes(37), [32, 5]);
        assert_eq!(sizes(100), [64, 32, 4]);
        assert_eq!(sizes(600), [256, 256, 64, 16, 8]);
    }

    #[test]
    fn a_flow_with_one_recipient_counts_once_and_one_with_several_by_id() {
        let r = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(step_weights(&r(&["+1"])), [Some(1)]);
        assert_eq!(
            step_weights(&r(&["+1", "+1", "+1"])),
            [Some(1), Some(0), Some(0)]
        );
        assert_eq!(step_weights(&r(&["+1", "+2"])), [None, None]);
        assert_eq!(step_weights(&r(&["+1", "+1", "+2"])), [None, None, None]);
        assert_eq!(step_weights(&[]), Vec::<Option<i64>>::new());
    }

    proptest::proptest! {
        /// Whatever subset of a flow's steps a recipient condition selects (all steps to
        /// one recipient are selected together), the weights of the selected steps add
        /// up to 1 for a one-recipient flow, and a flow with several recipients is left
        /// to be counted by id (every weight `None`).
        #[test]
        fn selected_weights_count_a_one_recipient_flow_once(
            recipients in proptest::collection::vec(0u8..3, 1..6),
            chosen in 0u8..8,
        ) {
            let names: Vec<String> = recipients.iter().map(|r| format!("+{r}")).collect();
            let weights = step_weights(&names);
            let selected = |r: u8| chosen & (1 << r) != 0;
            let one = recipients.iter().all(|r| *r == recipients[0]);
            if one {
                let sum: i64 = recipients
                    .iter()
                    .zip(&weights)
                    .filter(|(r, _)| selected(**r))
                    .map(|(_, w)| w.expect("one recipient: weighted"))
                    .sum();
                proptest::prop_assert_eq!(sum, i64::from(selected(recipients[0])));
            } else {
                proptest::prop_assert!(weights.iter().all(Option::is_none));
            }
        }
    }
}
