//! The client's submit queue: submits the session cannot take yet (window full, throttling
//! pause, throughput cap, not bound yet), in FIFO order, each with an optional deadline.
//!
//! Pure data: no I/O, no clock. A throttled submit goes back in at its original place
//! (before everything that was queued after it), so a pause never reorders messages.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use tokio::sync::oneshot;

use super::{SubmitError, SubmitOptions, SubmitOutcome};
use crate::pdu::SubmitSm;

/// Where a submit's final fate goes.
pub(super) type Reply = oneshot::Sender<Result<SubmitOutcome, SubmitError>>;

/// One submit the caller is waiting for, queued or in flight.
#[derive(Debug)]
pub(super) struct Queued {
    /// Arrival order; also the key of the deadline index.
    order: u64,
    pub(super) submit: SubmitSm,
    pub(super) options: SubmitOptions,
    pub(super) reply: Reply,
}

impl Queued {
    /// The caller dropped its `Submission`: nobody wants this sent any more.
    pub(super) fn is_cancelled(&self) -> bool {
        self.reply.is_closed()
    }

    /// Its deadline has passed at `now`.
    pub(super) fn is_expired(&self, now: Instant) -> bool {
        self.options.deadline.is_some_and(|d| d <= now)
    }

    /// Hands the fate to the caller; gives it back when the caller is gone.
    pub(super) fn finish(
        self,
        result: Result<SubmitOutcome, SubmitError>,
    ) -> Result<(), Result<SubmitOutcome, SubmitError>> {
        self.reply.send(result)
    }
}

/// FIFO of [`Queued`] plus an index of their deadlines.
#[derive(Debug, Default)]
pub(super) struct SubmitQueue {
    items: VecDeque<Queued>,
    deadlines: BTreeSet<(Instant, u64)>,
    next_order: u64,
}

impl SubmitQueue {
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// Appends a new submit.
    pub(super) fn push(&mut self, submit: SubmitSm, options: SubmitOptions, reply: Reply) {
        let order = self.next_order;
        self.next_order += 1;
        self.insert_indexed(
            self.items.len(),
            Queued {
                order,
                submit,
                options,
                reply,
            },
        );
    }

    /// Puts a submit that had left (and was throttled) back at its original place.
    pub(super) fn requeue(&mut self, queued: Queued) {
        let at = self.items.partition_point(|q| q.order < queued.order);
        self.insert_indexed(at, queued);
    }

    fn insert_indexed(&mut self, at: usize, queued: Queued) {
        if let Some(deadline) = queued.options.deadline {
            self.deadlines.insert((deadline, queued.order));
        }
        self.items.insert(at, queued);
    }

    pub(super) fn front(&self) -> Option<&Queued> {
        self.items.front()
    }

    pub(super) fn pop_front(&mut self) -> Option<Queued> {
        let queued = self.items.pop_front()?;
        if let Some(deadline) = queued.options.deadline {
            self.deadlines.remove(&(deadline, queued.order));
        }
        Some(queued)
    }

    /// The earliest deadline in the queue: when [`SubmitQueue::take_expired`] has work.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// Removes and returns the submits whose deadline is at or before `now`, in queue order.
    pub(super) fn take_expired(&mut self, now: Instant) -> Vec<Queued> {
        if self.next_deadline().is_none_or(|at| at > now) {
            return Vec::new();
        }
        self.take_where(|q| q.is_expired(now))
    }

    /// Removes and returns every submit matching `pred`, in queue order.
    pub(super) fn take_where(&mut self, mut pred: impl FnMut(&Queued) -> bool) -> Vec<Queued> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.items.len());
        for queued in self.items.drain(..) {
            if pred(&queued) {
                if let Some(deadline) = queued.options.deadline {
                    self.deadlines.remove(&(deadline, queued.order));
                }
                taken.push(queued);
            } else {
                kept.push_back(queued);
            }
        }
        self.items = kept;
        taken
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    type Rx = oneshot::Receiver<Result<SubmitOutcome, SubmitError>>;

    fn sm(text: &'static str) -> SubmitSm {
        SubmitSm {
            short_message: bytes::Bytes::from_static(text.as_bytes()),
            ..SubmitSm::default()
        }
    }

    fn push(queue: &mut SubmitQueue, text: &'static str, deadline: Option<Instant>) -> Rx {
        let (tx, rx) = oneshot::channel();
        let options = SubmitOptions {
            deadline,
            ..SubmitOptions::default()
        };
        queue.push(sm(text), options, tx);
        rx
    }

    fn texts(queue: &SubmitQueue) -> Vec<&[u8]> {
        queue
            .items
            .iter()
            .map(|q| q.submit.short_message.as_ref())
            .collect()
    }

    #[test]
    fn fifo_and_requeue_keeps_the_original_place() {
        let mut queue = SubmitQueue::default();
        let _rx: Vec<Rx> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|t| push(&mut queue, t, None))
            .collect();
        let a = queue.pop_front().expect("a");
        let b = queue.pop_front().expect("b");
        // Both were sent and both were throttled; their responses come in any order.
        queue.requeue(b);
        queue.requeue(a);
        assert_eq!(texts(&queue), vec![&b"a"[..], b"b", b"c", b"d"]);
    }

    #[test]
    fn expiry_takes_only_due_entries_and_keeps_the_index_in_step() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut queue = SubmitQueue::default();
        let _a = push(&mut queue, "a", Some(t0 + s(5)));
        let _b = push(&mut queue, "b", None);
        let _c = push(&mut queue, "c", Some(t0 + s(2)));
        assert_eq!(queue.next_deadline(), Some(t0 + s(2)));
        assert!(queue.take_expired(t0 + s(1)).is_empty());
        let expired = queue.take_expired(t0 + s(2));
        assert_eq!(expired.len(), 1);
        assert_eq!(texts(&queue), vec![&b"a"[..], b"b"]);
        assert_eq!(queue.next_deadline(), Some(t0 + s(5)));
        let a = queue.pop_front().expect("a");
        assert_eq!(queue.next_deadline(), None);
        queue.requeue(a);
        assert_eq!(queue.next_deadline(), Some(t0 + s(5)));
    }

    #[test]
    fn finish_reports_a_cancelled_caller() {
        let mut queue = SubmitQueue::default();
        let rx = push(&mut queue, "a", None);
        drop(rx);
        let a = queue.pop_front().expect("a");
        assert!(a.is_cancelled());
        assert_eq!(
            a.finish(Err(SubmitError::Expired)),
            Err(Err(SubmitError::Expired))
        );
    }
}
