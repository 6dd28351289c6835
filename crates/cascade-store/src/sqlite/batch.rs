//! The writer's state and [`BatchTx`], the [`FlowTx`] engine operations run against:
//! reads go through the operation's own writes, the batch's, the writer's flow cache and
//! finally the database; writes stay in memory until the batch is flushed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cascade_core::machines::{Report, TimelineEntry, TimerKind};
use cascade_core::{FlowId, Micros, Timestamp};
use rusqlite::OptionalExtension;

use super::WriteConn;
use super::writeset::{Balance, JobRow, WriteSet};
use crate::Result;
use crate::engine_tx::{FlowTx, LoadedFlow, MessageRef, NewCallback};
use crate::model::InboundMatch;
use cascade_core::inbound::InboundMessage;
use cascade_core::ports::JobPayload;
use cascade_core::sandbox::Scenario;

/// Flows the writer has seen recently. The writer is the only process changing flows, so
/// after a commit the cache equals the rows; after a failed commit it is cleared.
///
/// Flows still running are what comes back (their reports, timers and next steps), so
/// they are kept up to [`CACHE_CAPACITY`]; a finished flow rarely does (a late or
/// repeated report), so only the last [`FINISHED_CAPACITY`] finished are kept. At full
/// rate that holds the flows in flight rather than the last 20 000 accepted, most of
/// them long finished (BENCHMARKS.md, "Memory").
#[derive(Debug, Default)]
pub(super) struct FlowCache {
    running: HashMap<FlowId, LoadedFlow>,
    finished: HashMap<FlowId, LoadedFlow>,
}

const CACHE_CAPACITY: usize = 20_000;
const FINISHED_CAPACITY: usize = 2_048;

impl FlowCache {
    pub fn get(&self, id: &FlowId) -> Option<&LoadedFlow> {
        self.running.get(id).or_else(|| self.finished.get(id))
    }

    pub fn put(&mut self, flow: LoadedFlow) {
        let id = flow.id();
        if flow.state.is_final() {
            self.running.remove(&id);
            if self.finished.len() >= FINISHED_CAPACITY {
                self.finished.clear();
            }
            self.finished.insert(id, flow);
        } else {
            self.finished.remove(&id);
            if self.running.len() >= CACHE_CAPACITY {
                self.running.clear();
            }
            self.running.insert(id, flow);
        }
    }

    pub fn clear(&mut self) {
        self.running.clear();
        self.finished.clear();
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (self.running.len(), self.finished.len())
    }
}

/// What the writer task owns.
pub(super) struct Writer {
    pub conn: WriteConn,
    pub cache: FlowCache,
    /// Provider message ids recorded recently, so most reports match without a read.
    pub refs: ProviderRefs,
    /// The sandbox's scenario rules (`times_left` as committed); loaded on first use.
    pub scenarios: Option<Vec<Scenario>>,
    /// Writes of the batch so far (merged operations).
    pub batch: WriteSet,
    pub next_job_id: i64,
    /// Rows in `orphan_reports`; `None` when unknown (after a failed batch).
    pub held_reports: Option<i64>,
    /// Client references of the sandbox sends written lately.
    pub recent_refs: RecentRefs,
}

/// The client references of sandbox sends this writer wrote in the last
/// [`RecentRefs::WINDOW`], so that a send looked up on a reader (which sees what was
/// committed before the lookup began) needs no second lookup in the writer.
#[derive(Debug)]
pub(super) struct RecentRefs {
    /// Since when the set is complete: the writer's start, or its last failed batch.
    since: Instant,
    order: VecDeque<(Instant, String)>,
    refs: HashSet<String>,
}

impl RecentRefs {
    const WINDOW: Duration = Duration::from_secs(10);
    /// A lookup older than this is not trusted: its commits may have left the window
    /// (a batch takes milliseconds; the margin is generous).
    const LOOKUP_AGE: Duration = Duration::from_secs(5);

    fn new(now: Instant) -> RecentRefs {
        RecentRefs {
            since: now,
            order: VecDeque::new(),
            refs: HashSet::new(),
        }
    }

    /// Whether every send committed after a lookup begun at `checked_at` is in the set.
    pub fn covers(&self, checked_at: Instant) -> bool {
        checked_at >= self.since && checked_at.elapsed() < Self::LOOKUP_AGE
    }

    pub fn contains(&self, client_ref: &str) -> bool {
        self.refs.contains(client_ref)
    }

    /// Written (about to be committed) at `now`.
    fn add(&mut self, now: Instant, refs: impl IntoIterator<Item = String>) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < Self::WINDOW {
                break;
            }
            if let Some((_, r)) = self.order.pop_front() {
                self.refs.remove(&r);
            }
        }
        for r in refs {
            if self.refs.insert(r.clone()) {
                self.order.push_back((now, r));
            }
        }
    }

    /// A batch failed: what it wrote is gone, and the set starts again from now.
    fn reset(&mut self, now: Instant) {
        *self = RecentRefs::new(now);
    }
}

/// The provider message ids the writer recorded lately, in two generations: lookups see
/// both, new ids go to the young one, and when it is full the old one is dropped and the
/// young one takes its place. So the last [`ProviderRefs::GENERATION`] ids, at least,
/// are always there (a report usually follows its submission within seconds), memory is
/// bounded, and nothing is walked to evict.
#[derive(Debug, Default)]
pub(super) struct ProviderRefs {
    young: HashMap<(String, String), Vec<MessageRef>>,
    old: HashMap<(String, String), Vec<MessageRef>>,
}

impl ProviderRefs {
    /// 25 000: five seconds of submissions at 5 000 flows/s.
    const GENERATION: usize = 25_000;

    /// The messages recorded under `key`, oldest first; `None` when not known here.
    pub fn get(&self, key: &(String, String)) -> Option<Vec<MessageRef>> {
        let (old, young) = (self.old.get(key), self.young.get(key));
        if old.is_none() && young.is_none() {
            return None;
        }
        Some(old.into_iter().chain(young).flatten().copied().collect())
    }

    pub fn add(&mut self, key: (String, String), parts: Vec<MessageRef>) {
        if self.young.len() >= Self::GENERATION && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.entry(key).or_default().extend(parts);
    }

    pub fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }
}

impl Writer {
    pub fn new(conn: WriteConn) -> Result<Writer> {
        let max_job: Option<i64> = conn.query_row("SELECT MAX(id) FROM jobs", [], |r| r.get(0))?;
        let held: i64 = conn.query_row("SELECT COUNT(*) FROM orphan_reports", [], |r| r.get(0))?;
        Ok(Writer {
            conn,
            cache: FlowCache::default(),
            refs: ProviderRefs::default(),
            scenarios: None,
            batch: WriteSet::default(),
            next_job_id: max_job.unwrap_or(0) + 1,
            held_reports: Some(held),
            recent_refs: RecentRefs::new(Instant::now()),
        })
    }

    /// Forget everything cached: the batch failed, the rows are what they were.
    pub fn forget(&mut self) {
        self.cache.clear();
        self.refs.clear();
        self.scenarios = None;
        self.held_reports = None;
        self.batch = WriteSet::default();
        self.recent_refs.reset(Instant::now());
    }

    /// The scenario rules, loaded when not cached.
    pub fn scenarios(&mut self) -> Result<&[Scenario]> {
        if self.scenarios.is_none() {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {} FROM sandbox_scenarios ORDER BY id",
                super::sandbox::SCENARIO_COLUMNS
            ))?;
            let list = super::all_rows(&mut stmt, [], |row| crate::rows::scenario(row))?;
            self.scenarios = Some(list);
        }
        Ok(self.scenarios.as_deref().unwrap_or_default())
    }

    /// Write the batch so far to the open transaction.
    pub fn flush(&mut self) -> Result<()> {
        {
            if self.batch.is_empty() {
                self.batch.balances.clear();
                return Ok(());
            }
            let refs: Vec<((String, String), Vec<MessageRef>)> = self
                .batch
                .refs
                .iter()
                .map(|(k, parts)| (k.clone(), parts.iter().map(|(at, _)| *at).collect()))
                .collect();
            let uses: Vec<(i64, u32)> = self
                .batch
                .scenario_uses
                .iter()
                .map(|(k, v)| (*k, *v))
                .collect();
            let taken = i64::try_from(self.batch.held_deletes.len()).unwrap_or(i64::MAX);
            // The flush only forgets these (the rows come from `sandbox_messages`).
            let sandbox_refs = std::mem::take(&mut self.batch.sandbox_refs);
            let flows = self.batch.flush(&self.conn)?;
            self.recent_refs
                .add(Instant::now(), sandbox_refs.into_keys());
            for f in flows {
                self.cache.put(f);
            }
            for (key, parts) in refs {
                self.refs.add(key, parts);
            }
            if let Some(list) = self.scenarios.as_mut() {
                for (id, n) in uses {
                    if let Some(s) = list.iter_mut().find(|s| s.id == id) {
                        s.times_left = s.times_left.map(|t| t.saturating_sub(n));
                    }
                }
            }
            self.held_reports = self.held_reports.map(|h| (h - taken).max(0));
            Ok(())
        }
    }
}

/// One engine operation's view: its own writes over the writer's.
pub(super) struct BatchTx {
    pub w: Writer,
    pub own: WriteSet,
}

impl BatchTx {
    async fn balance(&mut self, account_id: &str) -> Result<Option<Micros>> {
        if let Some(b) = self
            .own
            .balances
            .get(account_id)
            .or_else(|| self.w.batch.balances.get(account_id))
        {
            return Ok(Some(b.value));
        }
        let value: Option<i64> = self
            .w
            .conn
            .prepare_cached("SELECT balance_micros FROM accounts WHERE id = ?")?
            .query_row([account_id], |r| r.get(0))
            .optional()?;
        let value = value.map(Micros::new);
        if let Some(v) = value {
            self.own.balances.insert(
                account_id.to_owned(),
                Balance {
                    value: v,
                    dirty: false,
                },
            );
        }
        Ok(value)
    }

    fn set_balance(&mut self, account_id: &str, value: Micros) {
        self.own
            .balances
            .insert(account_id.to_owned(), Balance { value, dirty: true });
    }
}

#[async_trait]
impl FlowTx for BatchTx {
    async fn load_flow(&mut self, id: FlowId) -> Result<Option<LoadedFlow>> {
        if let Some(f) = self
            .own
            .flows
            .get(&id)
            .or_else(|| self.w.batch.flows.get(&id))
            .or_else(|| self.w.cache.get(&id))
        {
            return Ok(Some(f.clone()));
        }
        let flow = {
            let mut stmt = self.w.conn.prepare_cached(
                "SELECT d.definition, f.state, f.event_seq, f.callback_seq
                 FROM flows f JOIN flow_definitions d ON d.id = f.id WHERE f.id = ?",
            )?;
            let mut rows = stmt.query([id.to_string()])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            crate::rows::loaded_flow(row)?
        };
        self.w.cache.put(flow.clone());
        Ok(Some(flow))
    }

    async fn save_flow(&mut self, flow: &LoadedFlow) -> Result<()> {
        self.own.flows.insert(flow.id(), flow.clone());
        Ok(())
    }

    async fn reserve_funds(
        &mut self,
        account_id: &str,
        amount: Micros,
        debit: bool,
    ) -> Result<bool> {
        let Some(balance) = self.balance(account_id).await? else {
            return Ok(false);
        };
        if balance < amount {
            return Ok(false);
        }
        if debit {
            self.set_balance(account_id, balance - amount);
        }
        Ok(true)
    }

    async fn adjust_balance(&mut self, account_id: &str, delta: Micros) -> Result<()> {
        if let Some(balance) = self.balance(account_id).await? {
            self.set_balance(account_id, balance + delta);
        }
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
        let id = self.w.next_job_id;
        self.w.next_job_id += 1;
        self.own.job_inserts.push(JobRow {
            id,
            flow,
            order,
            payload: serde_json::to_string(payload)?,
            due_at: now,
            claimed_until: lease_until,
        });
        Ok(id)
    }

    async fn delete_job(&mut self, id: i64) -> Result<()> {
        if let Some(i) = self.own.job_inserts.iter().position(|j| j.id == id) {
            self.own.job_inserts.swap_remove(i);
        } else {
            self.own.job_deletes.push(id);
        }
        Ok(())
    }

    async fn set_timer(
        &mut self,
        flow: FlowId,
        order: u32,
        kind: TimerKind,
        at: Timestamp,
    ) -> Result<()> {
        self.own.timers.insert((flow, order, kind), Some(at));
        Ok(())
    }

    async fn cancel_timer(&mut self, flow: FlowId, order: u32, kind: TimerKind) -> Result<()> {
        self.own.timers.insert((flow, order, kind), None);
        Ok(())
    }

    async fn append_timeline(
        &mut self,
        flow: FlowId,
        first_seq: i64,
        entries: &[TimelineEntry],
    ) -> Result<()> {
        for (i, entry) in entries.iter().enumerate() {
            let seq = first_seq + i64::try_from(i).unwrap_or(i64::MAX);
            self.own
                .timeline
                .push((flow, seq, serde_json::to_string(entry)?));
        }
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
        for (i, pmid) in ids.iter().enumerate() {
            let part = u32::try_from(i + 1).unwrap_or(u32::MAX);
            self.own
                .refs
                .entry((provider.to_owned(), pmid.clone()))
                .or_default()
                .push((MessageRef { flow, order, part }, now));
        }
        Ok(())
    }

    async fn find_provider_refs(&mut self, provider: &str, pmid: &str) -> Result<Vec<MessageRef>> {
        let key = (provider.to_owned(), pmid.to_owned());
        let pending: Vec<MessageRef> = [self.own.refs.get(&key), self.w.batch.refs.get(&key)]
            .into_iter()
            .flatten()
            .flat_map(|parts| parts.iter().map(|(at, _)| *at))
            .collect();
        if !pending.is_empty() {
            return Ok(pending);
        }
        if let Some(parts) = self.w.refs.get(&key) {
            return Ok(parts);
        }
        let mut stmt = self.w.conn.prepare_cached(
            "SELECT flow_id, step_order, part FROM provider_refs
             WHERE provider = ? AND provider_message_id = ? ORDER BY flow_id, step_order, part",
        )?;
        super::all_rows(&mut stmt, [provider, pmid], |row| {
            Ok(MessageRef {
                flow: crate::rows::flow_id(&row.get::<_, String>(0)?)?,
                order: to_u32(row.get(1)?)?,
                part: to_u32(row.get(2)?)?,
            })
        })
    }

    async fn enqueue_callback(&mut self, callback: &NewCallback) -> Result<()> {
        self.own.callbacks.push(callback.clone());
        Ok(())
    }

    async fn update_callback(&mut self, update: crate::callbacks::CallbackUpdate) -> Result<()> {
        self.own.callback_updates.push(update);
        Ok(())
    }

    /// Written at once (not batched): it is the last thing its operation does, so an
    /// operation never fails after it. One row per candidate id, sharing a hold group.
    async fn hold_report(
        &mut self,
        provider: &str,
        candidates: &[String],
        report: &Report,
        now: Timestamp,
    ) -> Result<()> {
        let group = uuid::Uuid::now_v7().to_string();
        let report = serde_json::to_string(report)?;
        let mut stmt = self.w.conn.prepare_cached(
            "INSERT INTO orphan_reports (provider, provider_message_id, report, received_at, hold_group)
             VALUES (?, ?, ?, ?, ?)",
        )?;
        for pmid in candidates {
            stmt.execute(rusqlite::params![
                provider,
                pmid,
                report,
                now.as_millis(),
                group
            ])?;
        }
        let n = i64::try_from(candidates.len()).unwrap_or(i64::MAX);
        self.w.held_reports = self.w.held_reports.map(|h| h + n);
        Ok(())
    }

    async fn recent_flows_to(
        &mut self,
        channel: &str,
        recipient: &str,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<FlowId>> {
        // One index seek per account (`flow_steps_recipient` leads with the account).
        let mut stmt = self.w.conn.prepare_cached(
            "SELECT DISTINCT flow_id, created_at FROM flow_steps
             WHERE account_id IN (SELECT id FROM accounts) AND recipient = ?
               AND created_at >= ? AND channel = ?
             ORDER BY created_at DESC LIMIT ?",
        )?;
        super::all_rows(
            &mut stmt,
            rusqlite::params![recipient, since.as_millis(), channel, i64::from(limit)],
            |row| crate::rows::flow_id(&row.get::<_, String>(0)?),
        )
    }

    /// Written at once (not batched): the only write of its operation.
    async fn claim_dial(
        &mut self,
        flow: FlowId,
        order: u32,
        provider: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let done = self
            .w
            .conn
            .prepare_cached(
                "INSERT INTO call_dials (flow_id, step_order, provider, dialled_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(rusqlite::params![
                flow.to_string(),
                i64::from(order),
                provider,
                now.as_millis()
            ])?;
        Ok(done == 1)
    }

    async fn inbound_known(&mut self, provider: &str, provider_message_id: &str) -> Result<bool> {
        Ok(self
            .w
            .conn
            .prepare_cached(
                "SELECT 1 FROM inbound_messages WHERE provider = ? AND provider_message_id = ?",
            )?
            .exists([provider, provider_message_id])?)
    }

    /// Written at once (not batched), as the last write of its operation.
    async fn insert_inbound(
        &mut self,
        message: &InboundMessage,
        matched: Option<&InboundMatch>,
        forwarded: bool,
    ) -> Result<i64> {
        self.w
            .conn
            .prepare_cached(
                "INSERT INTO inbound_messages
                   (received_at, channel, sender, recipient, body, provider, provider_message_id,
                    flow_id, step_order, message_id, forwarded)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(rusqlite::params![
                message.received_at.as_millis(),
                message.channel.name(),
                message.from,
                message.to,
                message.text,
                message.provider,
                message.provider_message_id,
                matched.map(|m| m.flow.to_string()),
                matched.map(|m| i64::from(m.order)),
                matched.map(|m| m.message_id.as_str()),
                forwarded
            ])?;
        Ok(self.w.conn.last_insert_rowid())
    }

    async fn take_held_reports(
        &mut self,
        provider: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Report)>> {
        if ids.is_empty() || self.w.held_reports == Some(0) {
            return Ok(Vec::new());
        }
        // Every row of a matched report's hold group goes, whichever candidate matched.
        // The ids as one JSON array: one statement shape whatever their number.
        let mut stmt = self.w.conn.prepare_cached(
            "SELECT o.id, m.provider_message_id, o.report, o.hold_group
             FROM orphan_reports m JOIN orphan_reports o
               ON o.provider = m.provider AND (o.hold_group = m.hold_group OR o.id = m.id)
             WHERE m.provider = ? AND m.provider_message_id IN (SELECT value FROM json_each(?))
             ORDER BY o.id",
        )?;
        let mut rows = stmt.query([provider, &serde_json::to_string(ids)?])?;
        let mut out = Vec::new();
        let mut groups_seen: Vec<String> = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            if self.own.held_deletes.contains(&id) || self.w.batch.held_deletes.contains(&id) {
                continue;
            }
            self.own.held_deletes.push(id);
            let group: Option<String> = row.get(3)?;
            let group = group.unwrap_or_else(|| format!("row-{id}"));
            if !groups_seen.contains(&group) {
                groups_seen.push(group);
                out.push((
                    row.get(1)?,
                    serde_json::from_str(&row.get::<_, String>(2)?)?,
                ));
            }
        }
        Ok(out)
    }
}

pub(super) use crate::rows::to_u32;

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(n: i64, status: cascade_core::machines::FlowStatus) -> LoadedFlow {
        use cascade_core::{Channel, Timestamp};

        let now = Timestamp::from_millis(1_780_000_000_000 + n);
        let def =
            super::super::test_flows::definition("acc", now, &[(Channel::Sms, "+306912345678")]);
        let mut state = cascade_core::machines::FlowState::new(now);
        state.status = status;
        LoadedFlow {
            def_json: "{}".into(),
            def_packed: None,
            def: std::sync::Arc::new(def),
            state,
            event_seq: 0,
            is_new: false,
            callback_seq: 0,
        }
    }

    #[test]
    fn provider_refs_keep_at_least_a_generation_and_merge_both() {
        let key = |n: usize| ("smsc".to_owned(), format!("m{n}"));
        let part = |n: u32| MessageRef {
            flow: cascade_core::FlowId::new_v7(1_780_000_000_000),
            order: 1,
            part: n,
        };
        let mut refs = ProviderRefs::default();
        refs.add(key(0), vec![part(1)]);
        for n in 1..ProviderRefs::GENERATION {
            refs.add(key(n), vec![part(1)]);
        }
        // The young generation is full: the next new id retires it whole.
        refs.add(key(usize::MAX), vec![part(1)]);
        assert!(refs.get(&key(0)).is_some(), "retired, still found");
        // An id seen in both generations answers with every part, oldest first.
        refs.add(key(0), vec![part(2)]);
        let parts: Vec<u32> = refs
            .get(&key(0))
            .expect("known")
            .iter()
            .map(|r| r.part)
            .collect();
        assert_eq!(parts, [1, 2]);
        for n in 0..ProviderRefs::GENERATION {
            refs.add(key(1_000_000 + n), vec![part(1)]);
        }
        assert!(refs.get(&key(5)).is_none(), "two generations ago: gone");
        assert!(refs.young.len() + refs.old.len() <= 2 * ProviderRefs::GENERATION);
        refs.clear();
        assert!(refs.get(&key(usize::MAX)).is_none());
    }

    #[test]
    fn the_flow_cache_keeps_running_flows_and_only_the_last_finished_ones() {
        use cascade_core::machines::FlowStatus::{InProgress, Succeeded};
        let mut cache = FlowCache::default();
        let running: Vec<LoadedFlow> = (0..100).map(|n| flow(n, InProgress)).collect();
        for f in &running {
            cache.put(f.clone());
        }
        // Finished flows past their bound push out older finished ones, never a
        // running one.
        let finished: Vec<LoadedFlow> = (0..FINISHED_CAPACITY as i64 + 10)
            .map(|n| flow(1_000 + n, Succeeded))
            .collect();
        for f in &finished {
            cache.put(f.clone());
        }
        assert!(running.iter().all(|f| cache.get(&f.id()).is_some()));
        let (r, f) = cache.len();
        assert_eq!(r, 100);
        assert!(f > 0 && f <= FINISHED_CAPACITY, "{f}");
        let newest = finished.last().expect("some").id();
        assert!(cache.get(&newest).is_some(), "the newest finished flow");
        assert!(cache.get(&finished[0].id()).is_none(), "the oldest is gone");
        // A running flow that finishes moves: one copy, the new one.
        let mut done = running[0].clone();
        done.state.status = Succeeded;
        cache.put(done);
        assert_eq!(cache.len().0, 99);
        assert_eq!(
            cache.get(&running[0].id()).map(|f| f.state.status),
            Some(Succeeded)
        );
        cache.clear();
        assert_eq!(cache.len(), (0, 0));
    }

    #[test]
    fn recent_refs_cover_lookups_begun_since_they_are_complete_and_lately() {
        let start = Instant::now();
        let mut recent = RecentRefs::new(start);
        assert!(recent.covers(start), "a lookup begun at the start");
        assert!(
            !recent.covers(start - Duration::from_millis(1)),
            "a lookup begun before the set was complete"
        );
        recent.add(start, ["a".to_owned(), "b".to_owned()]);
        assert!(recent.contains("a") && recent.contains("b") && !recent.contains("c"));
        // A failed batch: what it wrote is gone, and lookups begun before it are not
        // covered any more.
        let failed = Instant::now();
        recent.reset(failed);
        assert!(!recent.contains("a"));
        assert!(!recent.covers(start));
        assert!(recent.covers(failed));
    }

    #[test]
    fn recent_refs_forget_what_left_the_window_and_never_an_old_lookup() {
        let t0 = Instant::now();
        let mut recent = RecentRefs::new(t0);
        recent.add(t0, ["old".to_owned()]);
        recent.add(t0 + Duration::from_secs(3), ["newer".to_owned()]);
        recent.add(t0 + RecentRefs::WINDOW, ["latest".to_owned()]);
        assert!(!recent.contains("old"), "left the window");
        assert!(recent.contains("newer") && recent.contains("latest"));
        assert_eq!(recent.order.len(), recent.refs.len());
        // The same reference twice is kept once.
        recent.add(t0 + RecentRefs::WINDOW, ["latest".to_owned()]);
        assert_eq!(recent.order.len(), 2);
        // A lookup older than LOOKUP_AGE is never trusted, whatever the set holds.
        if let Some(long_ago) = Instant::now().checked_sub(RecentRefs::LOOKUP_AGE) {
            assert!(!RecentRefs::new(long_ago).covers(long_ago));
        }
    }
}
