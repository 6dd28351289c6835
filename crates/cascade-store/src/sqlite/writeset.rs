//! Writes of one batch, kept in memory and flushed together.
//!
//! Engine operations (accepting a flow, applying an event) do not touch the database
//! directly: they record rows here, reading through it, so each operation can be undone
//! by dropping its own [`WriteSet`]. The flush writes each table's rows in multi-row
//! statements of a few shapes ([`chunks`]), prepared once and cached, bound and run on
//! the writer's thread: no hand-over to another thread, and SQLite opens each table's
//! cursors once per statement rather than once per row. [`WriteSet::flush`]
//! runs before COMMIT (and before any operation that reads these tables with SQL).

use std::collections::HashMap;

use cascade_core::idempotency::KeyRecord;
use cascade_core::machines::TimerKind;
use cascade_core::{FlowId, Micros, Timestamp};
use rusqlite::params;

use super::search::channel_set;
use super::{WriteConn, packed};
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
/// is small and in one more per power of two above that when it is large (255 rows:
/// 128, 64, 32, 16, 15). One statement of many rows costs SQLite less than as many
/// statements of one: a table's cursors, and those of its indexes, open once.
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
    pub fn flush(&mut self, conn: &WriteConn) -> Result<Vec<LoadedFlow>> {
        let flows: Vec<LoadedFlow> = std::mem::take(&mut self.flows).into_values().collect();
        // The JSON columns are packed (`packed`): a third of the bytes to write.
        let states: Vec<Vec<u8>> = flows
            .iter()
            .map(|f| packed::pack(&serde_json::to_string(&f.state)?))
            .collect::<Result<_>>()?;
        let new: Vec<(&LoadedFlow, std::sync::Arc<[u8]>)> = flows
            .iter()
            .filter(|f| f.is_new)
            .map(|f| {
                let definition = match &f.def_packed {
                    Some(packed) => std::sync::Arc::clone(packed),
                    None => packed::pack(&f.def_json)?.into(),
                };
                Ok((f, definition))
            })
            .collect::<Result<_>>()?;
        insert_rows(
            conn,
            "INSERT INTO flow_definitions (id, definition)",
            "",
            &new,
            |b, (f, definition)| {
                b.push(f.id().to_string())?.push(&**definition)?;
                Ok(())
            },
        )?;
        let steps: Vec<SearchStepRow> =
            new.iter().flat_map(|(f, _)| SearchStepRow::of(f)).collect();
        insert_rows(
            conn,
            "INSERT INTO flow_steps (flow_id, account_id, channel, recipient, recipient_rev, \
             created_at, weight)",
            "",
            &steps,
            |b, s| {
                b.push(&s.flow)?
                    .push(s.account)?
                    .push(s.channel)?
                    .push(&s.recipient)?
                    .push(&s.recipient_rev)?
                    .push(s.created_at)?
                    .push(s.weight)?;
                Ok(())
            },
        )?;
        let rows: Vec<(&LoadedFlow, &Vec<u8>)> = flows.iter().zip(&states).collect();
        // The definition's columns (account, creation time, channels) never change: an
        // update leaves them. (Triggers keep flow_counts in step; migration 0006.)
        insert_rows(
            conn,
            "INSERT INTO flows (id, account_id, application_id, status, termination_channel, \
             created_at, updated_at, state, event_seq, callback_seq, channels)",
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
             termination_channel = excluded.termination_channel, updated_at = excluded.updated_at, \
             state = excluded.state, event_seq = excluded.event_seq, \
             callback_seq = excluded.callback_seq",
            &rows,
            |b, (f, state)| {
                b.push(f.id().to_string())?
                    .push(f.def.account_id.as_str())?
                    .push(f.def.application_id.as_str())?
                    .push(f.state.status.name())?
                    .push(f.state.termination_channel(&f.def).map(|c| c.name()))?
                    .push(f.def.created_at.as_millis())?
                    .push(f.state.updated_at.as_millis())?
                    .push(state.as_slice())?
                    .push(f.event_seq)?
                    .push(f.callback_seq)?
                    .push(channel_set(f.def.steps.iter().map(|s| s.channel())))?;
                Ok(())
            },
        )?;
        let flows = flows
            .into_iter()
            .map(|mut f| {
                f.is_new = false;
                // Written: the writer's cache has no use for the packed copy.
                f.def_packed = None;
                f
            })
            .collect();

        for (account, balance) in self.balances.drain().filter(|(_, b)| b.dirty) {
            conn.prepare_cached("UPDATE accounts SET balance_micros = ? WHERE id = ?")?
                .execute(params![balance.value.get(), account])?;
        }

        insert_rows(
            conn,
            "INSERT INTO jobs (id, flow_id, step_order, payload, due_at, claimed_until, attempts)",
            "",
            &std::mem::take(&mut self.job_inserts),
            |b, j| {
                b.push(j.id)?
                    .push(j.flow.to_string())?
                    .push(i64::from(j.order))?
                    .push(j.payload.as_str())?
                    .push(j.due_at.as_millis())?
                    .push(j.claimed_until.as_millis())?
                    .push(0_i64)?;
                Ok(())
            },
        )?;
        delete_ids(conn, "jobs", &std::mem::take(&mut self.job_deletes))?;

        let (upserts, deletes): (Vec<_>, Vec<_>) =
            self.timers.drain().partition(|(_, at)| at.is_some());
        insert_rows(
            conn,
            "INSERT OR REPLACE INTO timers (flow_id, step_order, kind, due_at)",
            "",
            &upserts,
            |b, ((flow, order, kind), at)| {
                b.push(flow.to_string())?
                    .push(i64::from(*order))?
                    .push(kind.name())?
                    .push(at.map_or(0, Timestamp::as_millis))?;
                Ok(())
            },
        )?;
        delete_rows(
            conn,
            "DELETE FROM timers WHERE (flow_id, step_order, kind) IN",
            3,
            &deletes,
            |b, ((flow, order, kind), _)| {
                b.push(flow.to_string())?
                    .push(i64::from(*order))?
                    .push(kind.name())?;
                Ok(())
            },
        )?;

        let timeline: Vec<(FlowId, i64, Vec<u8>)> = std::mem::take(&mut self.timeline)
            .into_iter()
            .map(|(flow, seq, entry)| Ok((flow, seq, packed::pack(&entry)?)))
            .collect::<Result<_>>()?;
        insert_rows(
            conn,
            "INSERT INTO flow_events (flow_id, seq, entry)",
            "",
            &timeline,
            |b, (flow, seq, entry)| {
                b.push(flow.to_string())?
                    .push(*seq)?
                    .push(entry.as_slice())?;
                Ok(())
            },
        )?;

        let refs: Vec<((String, String), (MessageRef, Timestamp))> = self
            .refs
            .drain()
            .flat_map(|(key, parts)| parts.into_iter().map(move |p| (key.clone(), p)))
            .collect();
        insert_rows(
            conn,
            "INSERT OR REPLACE INTO provider_refs (provider, provider_message_id, flow_id, \
             step_order, part, created_at)",
            "",
            &refs,
            |b, ((provider, pmid), (at, created))| {
                b.push(provider.as_str())?
                    .push(pmid.as_str())?
                    .push(at.flow.to_string())?
                    .push(i64::from(at.order))?
                    .push(i64::from(at.part))?
                    .push(created.as_millis())?;
                Ok(())
            },
        )?;
        delete_ids(
            conn,
            "orphan_reports",
            &std::mem::take(&mut self.held_deletes),
        )?;

        self.sandbox_refs.clear();
        insert_rows(
            conn,
            "INSERT OR IGNORE INTO sandbox_messages (provider, channel, client_ref, recipient, \
             provider_ids, payload, scenario_id, received_at)",
            "",
            &std::mem::take(&mut self.sandbox_messages),
            |b, m| {
                b.push(m.provider.as_str())?
                    .push(m.channel)?
                    .push(m.client_ref.as_str())?
                    .push(m.to.as_str())?
                    .push(m.provider_ids.as_str())?
                    .push(m.payload.as_str())?
                    .push(m.scenario_id)?
                    .push(m.received_at.as_millis())?;
                Ok(())
            },
        )?;
        insert_rows(
            conn,
            "INSERT INTO sandbox_reports (provider, provider_message_id, report, due_at)",
            "",
            &std::mem::take(&mut self.sandbox_reports),
            |b, (provider, pmid, report, due)| {
                b.push(provider.as_str())?
                    .push(pmid.as_str())?
                    .push(report.as_str())?
                    .push(due.as_millis())?;
                Ok(())
            },
        )?;
        for (id, n) in self.scenario_uses.drain() {
            conn.prepare_cached(
                "UPDATE sandbox_scenarios SET times_left = MAX(times_left - ?, 0) WHERE id = ?",
            )?
            .execute(params![i64::from(n), id])?;
        }
        insert_rows(
            conn,
            "INSERT INTO callbacks (event_id, flow_id, seq, application_id, url, body, state, \
             attempts, next_at, created_at)",
            "",
            &std::mem::take(&mut self.callbacks),
            |b, c| {
                b.push(c.event_id.as_str())?
                    .push(c.flow.to_string())?
                    .push(c.seq)?
                    .push(c.application_id.as_str())?
                    .push(c.url.as_str())?
                    .push(c.body.as_str())?
                    .push("pending")?
                    .push(0_i64)?
                    .push(c.created_at.as_millis())?
                    .push(c.created_at.as_millis())?;
                Ok(())
            },
        )?;
        for u in std::mem::take(&mut self.callback_updates) {
            conn.prepare_cached(
                "UPDATE callbacks SET state = ?, attempts = ?, first_attempt_at = ?, next_at = ?, \
                 last_error = ?, claimed_until = 0 WHERE id = ?",
            )?
            .execute(params![
                u.state.name(),
                i64::from(u.attempts),
                u.first_attempt_at.as_millis(),
                u.next_at.as_millis(),
                u.last_error,
                u.id
            ])?;
        }
        let (keys, released): (Vec<_>, Vec<_>) =
            self.idempotency.drain().partition(|(_, row)| row.is_some());
        insert_rows(
            conn,
            "INSERT OR REPLACE INTO idempotency_keys (application_id, key, request_hash, \
             tracking_id, response, created_at, state, claim_token, lease_until)",
            "",
            &keys,
            |b, ((app, key), row)| {
                let row = row.as_ref().expect("partitioned on is_some");
                let (state, response, token, until) =
                    crate::rows::key_state_columns(&row.record.state);
                b.push(app.as_str())?
                    .push(key.as_str())?
                    .push(row.record.request_hash.as_str())?
                    .push(row.tracking_id.as_str())?
                    .push(response)?
                    .push(row.record.created_at.as_millis())?
                    .push(state)?
                    .push(token)?
                    .push(until)?;
                Ok(())
            },
        )?;
        for ((app, key), _) in released {
            conn.prepare_cached(
                "DELETE FROM idempotency_keys WHERE application_id = ? AND key = ?",
            )?
            .execute(params![app, key])?;
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
pub(super) fn delete_ids(conn: &WriteConn, table: &'static str, ids: &[i64]) -> Result<()> {
    delete_rows(
        conn,
        &format!("DELETE FROM {table} WHERE id IN"),
        1,
        ids,
        |b, id| {
            b.push(*id)?;
            Ok(())
        },
    )
}

/// Binds one statement's parameters in order.
struct Binder<'s, 'c> {
    stmt: &'s mut rusqlite::CachedStatement<'c>,
    next: usize,
}

impl Binder<'_, '_> {
    fn push(&mut self, value: impl rusqlite::ToSql) -> rusqlite::Result<&mut Self> {
        self.next += 1;
        self.stmt.raw_bind_parameter(self.next, value)?;
        Ok(self)
    }
}

/// `rows` in multi-row statements of [`chunks`]' sizes: `{head} VALUES (…), (…) {tail}`,
/// each row's values bound by `bind`, as many as `head` names columns (it counts its
/// commas).
fn insert_rows<T>(
    conn: &WriteConn,
    head: &str,
    tail: &str,
    rows: &[T],
    bind: impl FnMut(&mut Binder<'_, '_>, &T) -> rusqlite::Result<()>,
) -> Result<()> {
    let width = head.matches(',').count() + 1;
    run_rows(conn, rows, bind, |n| {
        format!("{head} VALUES {} {tail}", tuples(n, width))
    })
}

/// `{head} (…)` for `rows` in chunks: a delete of the rows whose key columns match one
/// of the tuples (of `width` values) `bind` binds.
fn delete_rows<T>(
    conn: &WriteConn,
    head: &str,
    width: usize,
    rows: &[T],
    bind: impl FnMut(&mut Binder<'_, '_>, &T) -> rusqlite::Result<()>,
) -> Result<()> {
    run_rows(conn, rows, bind, |n| {
        format!("{head} ({})", tuples(n, width))
    })
}

/// Each chunk of `rows` ([`chunks`]) in one statement: `sql(rows in the chunk)`.
fn run_rows<T>(
    conn: &WriteConn,
    rows: &[T],
    mut bind: impl FnMut(&mut Binder<'_, '_>, &T) -> rusqlite::Result<()>,
    sql: impl Fn(usize) -> String,
) -> Result<()> {
    for chunk in chunks(rows) {
        let mut stmt = conn.prepare_cached(&sql(chunk.len()))?;
        let mut b = Binder {
            stmt: &mut stmt,
            next: 0,
        };
        for row in chunk {
            bind(&mut b, row)?;
        }
        // A value too few would stay NULL (the cache clears bindings), one too many is
        // refused by SQLite: either way a bug here, not a row to write.
        let expected = b.stmt.parameter_count();
        if b.next != expected {
            return Err(crate::StoreError::Corrupt(format!(
                "{} values bound for {expected} parameters",
                b.next
            )));
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

/// `(?, ?), (?, ?)` for `n` tuples of `width`.
fn tuples(n: usize, width: usize) -> String {
    let one = format!("({})", vec!["?"; width].join(", "));
    vec![one; n].join(", ")
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

    /// Rows written and deleted in chunks come back exactly, each value in its column,
    /// whatever the number of rows (one statement, several, a power of two and a rest).
    #[test]
    fn rows_go_in_and_out_in_chunks_with_every_value_in_its_place() {
        for n in [0usize, 1, 16, 17, 37, 300] {
            let conn = WriteConn::open_in_memory().unwrap();
            conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER, c TEXT)")
                .unwrap();
            let rows: Vec<(String, i64, Option<String>)> = (0..n)
                .map(|i| {
                    (
                        format!("a{i}"),
                        i as i64,
                        (i % 3 == 0).then(|| format!("c{i}")),
                    )
                })
                .collect();
            insert_rows(
                &conn,
                "INSERT INTO t (a, b, c)",
                "",
                &rows,
                |b, (a, i, c)| {
                    b.push(a.as_str())?.push(*i)?.push(c.as_deref())?;
                    Ok(())
                },
            )
            .unwrap();
            let read = |conn: &WriteConn| -> Vec<(String, i64, Option<String>)> {
                let mut stmt = conn.prepare("SELECT a, b, c FROM t ORDER BY b").unwrap();
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap()
            };
            assert_eq!(read(&conn), rows, "{n} rows written");
            let odd: Vec<&(String, i64, Option<String>)> =
                rows.iter().filter(|r| r.1 % 2 == 1).collect();
            delete_rows(
                &conn,
                "DELETE FROM t WHERE (a, b) IN",
                2,
                &odd,
                |b, (a, i, _)| {
                    b.push(a.as_str())?.push(*i)?;
                    Ok(())
                },
            )
            .unwrap();
            let even: Vec<_> = rows.iter().filter(|r| r.1 % 2 == 0).cloned().collect();
            assert_eq!(read(&conn), even, "{n} rows: the odd ones deleted");
        }
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
