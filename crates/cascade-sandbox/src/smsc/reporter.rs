//! Sending receipts as they fall due, to a receiving bind of the ESME that sent the
//! message; a receipt is deleted only once the ESME acknowledged it.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cascade_core::Timestamp;
use cascade_smpp::driver::{ConnId, DeliverOutcome};
use cascade_store::SandboxReport;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::receipt::deliver_pdu;
use super::{PROVIDER_PREFIX, SimState, lock};

const REPORT_BATCH: u32 = 512;
const IDLE_POLL_MS: i64 = 1_000;
/// After a round that sent something, look again this soon.
const BUSY_POLL_MS: i64 = 5;
/// How long a refused or unanswered receipt waits before it goes again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// A receipt row, by row id and message id (SQLite reuses the row ids of deleted rows).
type Key = (i64, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    /// The `deliver_sm` is out, or acknowledged and waiting to be deleted.
    Now,
    /// Acknowledged and deleted at that moment (a read begun before the delete may
    /// still list it).
    Done(Instant),
    /// Refused or unanswered: not again before then.
    RetryAt(Instant),
}

impl Sending {
    /// When a retry entry may be forgotten; `None` while the receipt is out, and for an
    /// acknowledged one, which is forgotten by rounds ([`InFlight::forget_done_before`]).
    fn forget_at(self) -> Option<Instant> {
        match self {
            Sending::Now | Sending::Done(_) => None,
            Sending::RetryAt(at) => Some(at),
        }
    }
}

/// What the reporter knows of receipt rows, with their deadlines in time order so that
/// forgetting the old ones costs only what is forgotten (thousands of receipts a second
/// go through it).
#[derive(Debug, Default)]
struct InFlight {
    rows: HashMap<Key, Sending>,
    deadlines: BinaryHeap<Reverse<(Instant, Key)>>,
    /// Acknowledged receipts in the order their deletes committed.
    done: VecDeque<(Instant, Key)>,
}

impl InFlight {
    fn get(&self, key: &Key) -> Option<Sending> {
        self.rows.get(key).copied()
    }

    fn set(&mut self, key: Key, sending: Sending) {
        if let Some(at) = sending.forget_at() {
            self.deadlines.push(Reverse((at, key.clone())));
        }
        if let Sending::Done(at) = sending {
            self.done.push_back((at, key.clone()));
        }
        self.rows.insert(key, sending);
    }

    /// Forget the receipts whose deletes committed before `began`, once every read of due
    /// receipts begun since then has been dealt with: the reads are one at a time, in
    /// the reporter's loop, so a later read cannot list a row deleted before `began`
    /// either. An acknowledged receipt is thus remembered for one round (milliseconds
    /// under load), not for a fixed time.
    fn forget_done_before(&mut self, began: Instant) {
        while let Some((at, _)) = self.done.front() {
            if *at >= began {
                break;
            }
            let Some((at, key)) = self.done.pop_front() else {
                break;
            };
            if self.rows.get(&key) == Some(&Sending::Done(at)) {
                self.rows.remove(&key);
            }
        }
    }

    /// The rows out now or waiting to go again, by row id (the next read leaves them
    /// out) and by message (whose later receipts wait for them: a message's receipts go
    /// in order). An acknowledged row is not among them: it is deleted, and SQLite may
    /// give its id to a new row, which must not wait.
    fn delivering(&self) -> (Vec<i64>, HashSet<String>) {
        let mut ids = Vec::new();
        let mut messages = HashSet::new();
        for ((id, message), s) in &self.rows {
            if !matches!(s, Sending::Done(_)) {
                ids.push(*id);
                messages.insert(message.clone());
            }
        }
        (ids, messages)
    }

    /// Forget entries whose deadline passed; an entry changed since its deadline was
    /// pushed stays (its newer deadline is in the heap too).
    fn expire(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, key))) = self.deadlines.pop() else {
                break;
            };
            if self.rows.get(&key).and_then(|s| s.forget_at()) == Some(at) {
                self.rows.remove(&key);
            }
        }
    }
}

/// A receipt the ESME acknowledged, waiting for its row to be deleted.
#[derive(Debug)]
struct Acked {
    key: Key,
    final_report: bool,
}

/// Receipts acknowledged since the last delete: one store write takes all of them, so
/// the writer sees one operation per round instead of one per receipt.
#[derive(Debug, Default)]
struct Acks {
    pending: Mutex<Vec<Acked>>,
    wake: Notify,
}

pub(super) async fn run_reporter_until_stopped(state: Arc<SimState>, stop: CancellationToken) {
    let in_flight: Arc<Mutex<InFlight>> = Arc::default();
    let acks: Arc<Acks> = Arc::default();
    tokio::spawn(run_acker_until_stopped(
        Arc::clone(&state),
        Arc::clone(&in_flight),
        Arc::clone(&acks),
        stop.clone(),
    ));
    let mut next_conn = 0usize;
    loop {
        let round_began = Instant::now();
        // Only the receipts of ESMEs bound now, each ESME on its own: receipts owed to
        // one that is away must not hold up everybody else's.
        let systems: BTreeSet<String> = lock(&state.receivers).values().cloned().collect();
        let mut sent = 0;
        let mut next_due: Option<Timestamp> = None;
        let (skip, busy) = {
            let mut flying = lock(&in_flight);
            flying.expire(Instant::now());
            flying.delivering()
        };
        for system in &systems {
            let provider = format!("{PROVIDER_PREFIX}{system}");
            match state
                .store
                .due_sandbox_reports(&provider, state.clock.now(), REPORT_BATCH, &skip)
                .await
            {
                Ok(mut due) => {
                    // The prefix also matches longer system_ids; keep this one's.
                    due.retain(|r| r.provider == provider);
                    sent +=
                        dispatch_due(&state, &in_flight, &acks, due, busy.clone(), &mut next_conn);
                }
                Err(e) => tracing::warn!(error = %e, "sandbox SMSC could not read due receipts"),
            }
            if let Ok(Some(due)) = state.store.next_sandbox_report_due(&provider).await {
                next_due = Some(next_due.map_or(due, |n| n.min(due)));
            }
        }
        // Every read of this round began after the deletes committed before it began.
        lock(&in_flight).forget_done_before(round_began);
        let now = state.clock.now();
        let wake_at = if sent > 0 {
            now.plus_millis(BUSY_POLL_MS)
        } else {
            next_due.map_or(now.plus_millis(IDLE_POLL_MS), |due| {
                due.clamp(now.plus_millis(BUSY_POLL_MS), now.plus_millis(IDLE_POLL_MS))
            })
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = state.wake_reporter.notified() => {}
            () = state.clock.sleep_until(wake_at) => {}
        }
    }
}

/// Starts the delivery of due reports (the earliest not yet in flight of each message:
/// `busy_messages` holds the messages with a receipt out or waiting to go again, which
/// the read left out); returns how many were started.
fn dispatch_due(
    state: &Arc<SimState>,
    in_flight: &Arc<Mutex<InFlight>>,
    acks: &Arc<Acks>,
    due: Vec<SandboxReport>,
    mut busy_messages: HashSet<String>,
    next_conn: &mut usize,
) -> usize {
    let receivers: Vec<(ConnId, String)> = {
        let mut r: Vec<_> = lock(&state.receivers)
            .iter()
            .map(|(c, s)| (*c, s.clone()))
            .collect();
        r.sort();
        r
    };
    lock(in_flight).expire(Instant::now());
    let mut started = 0;
    for report in due {
        let key = (report.id, report.provider_message_id.clone());
        let mut flying = lock(in_flight);
        if flying.get(&key).is_some() {
            busy_messages.insert(report.provider_message_id.clone());
            continue;
        }
        if !busy_messages.insert(report.provider_message_id.clone()) {
            continue;
        }
        let system = report
            .provider
            .strip_prefix(PROVIDER_PREFIX)
            .unwrap_or_default();
        let candidates: Vec<ConnId> = receivers
            .iter()
            .filter(|(_, s)| s == system)
            .map(|(c, _)| *c)
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let conn = candidates[*next_conn % candidates.len()];
        *next_conn = next_conn.wrapping_add(1);
        flying.set(key.clone(), Sending::Now);
        drop(flying);
        let original = lock(&state.originals)
            .get(&report.provider_message_id)
            .cloned();
        let deliver = deliver_pdu(&report, original.as_ref(), state.clock.now());
        let delivery = state.server.send_deliver_sm(conn, deliver);
        let state = Arc::clone(state);
        let in_flight = Arc::clone(in_flight);
        let acks = Arc::clone(acks);
        started += 1;
        tokio::spawn(async move {
            let outcome = delivery.await;
            if outcome == DeliverOutcome::Acked {
                lock(&acks.pending).push(Acked {
                    key,
                    final_report: report.delivery.is_final_report(),
                });
                acks.wake.notify_one();
                return;
            }
            tracing::debug!(
                ?outcome,
                "sandbox SMSC: receipt not acknowledged; it will go again"
            );
            retry_later(&in_flight, key);
            state.wake_reporter.notify_one();
        });
    }
    started
}

/// A receipt still out after its attempt goes again after [`RETRY_DELAY`].
fn retry_later(in_flight: &Mutex<InFlight>, key: Key) {
    let mut flying = lock(in_flight);
    if flying.get(&key) == Some(Sending::Now) {
        flying.set(key, Sending::RetryAt(Instant::now() + RETRY_DELAY));
    }
}

/// Deletes the rows of acknowledged receipts, all those waiting in one write.
async fn run_acker_until_stopped(
    state: Arc<SimState>,
    in_flight: Arc<Mutex<InFlight>>,
    acks: Arc<Acks>,
    stop: CancellationToken,
) {
    loop {
        let acked = std::mem::take(&mut *lock(&acks.pending));
        if acked.is_empty() {
            tokio::select! {
                () = stop.cancelled() => return,
                () = acks.wake.notified() => {}
            }
            continue;
        }
        let ids: Vec<i64> = acked.iter().map(|a| a.key.0).collect();
        match state.store.ack_sandbox_reports(&ids).await {
            Ok(()) => {
                let now = Instant::now();
                let mut flying = lock(&in_flight);
                for a in &acked {
                    // Kept until a round of reads begun after the delete is over: a
                    // read begun before it may still list the row.
                    flying.set(a.key.clone(), Sending::Done(now));
                }
                drop(flying);
                state
                    .receipts_sent
                    .fetch_add(acked.len() as u64, Ordering::Relaxed);
                let mut originals = lock(&state.originals);
                for a in acked.iter().filter(|a| a.final_report) {
                    originals.remove(&a.key.1);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, receipts = acked.len(), "sandbox SMSC could not mark receipts sent; they will go again");
                for a in acked {
                    retry_later(&in_flight, a.key);
                }
            }
        }
        state.wake_reporter.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64) -> Key {
        (id, format!("m{id}"))
    }

    /// Row 1 out, row 2 acknowledged at `t0`, row 3 to go again after the retry delay.
    fn one_of_each() -> (Instant, InFlight) {
        let t0 = Instant::now();
        let mut f = InFlight::default();
        f.set(key(1), Sending::Now);
        f.set(key(2), Sending::Done(t0));
        f.set(key(3), Sending::RetryAt(t0 + RETRY_DELAY));
        (t0, f)
    }

    #[test]
    fn the_next_read_leaves_out_what_is_out_or_waiting_but_not_what_was_acknowledged() {
        let (t0, mut f) = one_of_each();
        let (mut skip, busy) = f.delivering();
        skip.sort_unstable();
        assert_eq!(skip, [1, 3], "row 2 is deleted: its id may come back");
        let mut busy: Vec<_> = busy.into_iter().collect();
        busy.sort_unstable();
        assert_eq!(busy, ["m1", "m3"], "their messages' later receipts wait");
        f.expire(t0 + RETRY_DELAY);
        assert_eq!(f.delivering().0, [1], "row 3's retry is due: read it again");
    }

    #[test]
    fn in_flight_entries_are_forgotten_at_their_deadline_and_never_while_out() {
        let (t0, mut f) = one_of_each();
        f.expire(t0 + RETRY_DELAY);
        assert_eq!(f.get(&key(1)), Some(Sending::Now), "out: kept");
        assert_eq!(
            f.get(&key(2)),
            Some(Sending::Done(t0)),
            "acked lately: kept"
        );
        assert_eq!(f.get(&key(3)), None, "its retry time came");
        f.expire(t0 + Duration::from_secs(3600));
        assert_eq!(
            f.get(&key(2)),
            Some(Sending::Done(t0)),
            "acked: kept until a round of reads begun after it"
        );
        f.forget_done_before(t0);
        assert!(
            f.get(&key(2)).is_some(),
            "a read begun with the delete may list it"
        );
        f.forget_done_before(t0 + Duration::from_millis(1));
        assert_eq!(
            f.get(&key(2)),
            None,
            "a round begun after the delete: forgotten"
        );
        assert_eq!(f.get(&key(1)), Some(Sending::Now), "still out: kept");
        assert!(f.deadlines.is_empty() && f.done.is_empty());
    }

    #[test]
    fn an_entry_changed_after_its_deadline_was_set_keeps_its_new_state() {
        let t0 = Instant::now();
        let mut f = InFlight::default();
        f.set(key(1), Sending::RetryAt(t0));
        // Sent again before the old deadline was reached, then acknowledged.
        f.set(key(1), Sending::Now);
        f.expire(t0 + Duration::from_millis(1));
        assert_eq!(f.get(&key(1)), Some(Sending::Now));
        f.set(key(1), Sending::Done(t0 + Duration::from_secs(1)));
        f.expire(t0 + Duration::from_secs(3600));
        assert!(f.get(&key(1)).is_some(), "acked: no deadline");
        // Refused and acknowledged again: only the newer acknowledgement counts.
        f.set(key(2), Sending::Done(t0 + Duration::from_millis(1200)));
        f.set(key(2), Sending::Now);
        f.set(key(2), Sending::Done(t0 + Duration::from_secs(2)));
        f.forget_done_before(t0 + Duration::from_millis(1500));
        assert_eq!(f.get(&key(1)), None);
        assert_eq!(
            f.get(&key(2)),
            Some(Sending::Done(t0 + Duration::from_secs(2)))
        );
        f.forget_done_before(t0 + Duration::from_secs(3));
        assert_eq!(f.get(&key(2)), None);
    }
}
