//! Sending receipts as they fall due, to a receiving bind of the ESME that sent the
//! message; a receipt is deleted only once the ESME acknowledged it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cascade_core::Timestamp;
use cascade_smpp::driver::{ConnId, DeliverOutcome};
use cascade_store::SandboxReport;
use tokio_util::sync::CancellationToken;

use super::receipt::deliver_pdu;
use super::{PROVIDER_PREFIX, SimState, lock};

const REPORT_BATCH: u32 = 512;
const IDLE_POLL_MS: i64 = 1_000;
/// After a round that sent something, look again this soon.
const BUSY_POLL_MS: i64 = 5;
/// How long a delivered receipt's row id is remembered, so that a stale read of due
/// receipts cannot send it twice.
const ACKED_MEMORY: Duration = Duration::from_secs(30);
/// How long a refused or unanswered receipt waits before it goes again.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// What the reporter knows of a receipt row, by row id and message id (SQLite reuses the
/// row ids of deleted rows).
type InFlight = HashMap<(i64, String), Sending>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    /// The `deliver_sm` is out.
    Now,
    /// Acknowledged and deleted at that moment (a read begun before the delete may
    /// still list it).
    Done(Instant),
    /// Refused or unanswered: not again before then.
    RetryAt(Instant),
}

pub(super) async fn run_reporter_until_stopped(state: Arc<SimState>, stop: CancellationToken) {
    let in_flight: Arc<Mutex<InFlight>> = Arc::default();
    let mut next_conn = 0usize;
    loop {
        // Only the receipts of ESMEs bound now, each ESME on its own: receipts owed to
        // one that is away must not hold up everybody else's.
        let systems: BTreeSet<String> = lock(&state.receivers).values().cloned().collect();
        let mut sent = 0;
        let mut next_due: Option<Timestamp> = None;
        for system in &systems {
            let provider = format!("{PROVIDER_PREFIX}{system}");
            match state
                .store
                .due_sandbox_reports(&provider, state.clock.now(), REPORT_BATCH)
                .await
            {
                Ok(mut due) => {
                    // The prefix also matches longer system_ids; keep this one's.
                    due.retain(|r| r.provider == provider);
                    sent += dispatch_due(&state, &in_flight, due, &mut next_conn);
                }
                Err(e) => tracing::warn!(error = %e, "sandbox SMSC could not read due receipts"),
            }
            if let Ok(Some(due)) = state.store.next_sandbox_report_due(&provider).await {
                next_due = Some(next_due.map_or(due, |n| n.min(due)));
            }
        }
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

/// Starts the delivery of due reports (the earliest not yet in flight of each message);
/// returns how many were started.
fn dispatch_due(
    state: &Arc<SimState>,
    in_flight: &Arc<Mutex<InFlight>>,
    due: Vec<SandboxReport>,
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
    lock(in_flight).retain(|_, sending| match *sending {
        Sending::Now => true,
        Sending::Done(at) => at.elapsed() < ACKED_MEMORY,
        Sending::RetryAt(at) => Instant::now() < at,
    });
    let mut busy_messages: HashSet<String> = HashSet::new();
    let mut started = 0;
    for report in due {
        let key = (report.id, report.provider_message_id.clone());
        let mut flying = lock(in_flight);
        if flying.contains_key(&key) {
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
        flying.insert(key.clone(), Sending::Now);
        drop(flying);
        let original = lock(&state.originals)
            .get(&report.provider_message_id)
            .cloned();
        let deliver = deliver_pdu(&report, original.as_ref(), state.clock.now());
        let delivery = state.server.send_deliver_sm(conn, deliver);
        let state = Arc::clone(state);
        let in_flight = Arc::clone(in_flight);
        started += 1;
        tokio::spawn(async move {
            let outcome = delivery.await;
            if outcome == DeliverOutcome::Acked {
                match state.store.ack_sandbox_reports(&[report.id]).await {
                    Ok(()) => {
                        // Kept a while: a read of due receipts that began before the
                        // delete may still list it.
                        lock(&in_flight).insert(key.clone(), Sending::Done(Instant::now()));
                        state.receipts_sent.fetch_add(1, Ordering::Relaxed);
                        if report.delivery.is_final_report() {
                            lock(&state.originals).remove(&report.provider_message_id);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sandbox SMSC could not mark a receipt sent; it will go again")
                    }
                }
            } else {
                tracing::debug!(
                    ?outcome,
                    "sandbox SMSC: receipt not acknowledged; it will go again"
                );
            }
            {
                let mut flying = lock(&in_flight);
                if flying.get(&key) == Some(&Sending::Now) {
                    flying.insert(key, Sending::RetryAt(Instant::now() + RETRY_DELAY));
                }
            }
            state.wake_reporter.notify_one();
        });
    }
    started
}
