//! The request window: requests sent and not yet answered, keyed by sequence number, each
//! with its response deadline. The session's `Timer::Response` is kept at the minimum.

use std::collections::BTreeMap;
use std::time::Instant;

/// One request waiting for its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// When it was handed to the transmit queue.
    pub sent_at: Instant,
    /// When it times out.
    pub deadline: Instant,
}

/// Sequence number → in-flight request, at most `capacity` entries.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    capacity: usize,
    entries: BTreeMap<u32, InFlight>,
}

impl Window {
    pub(crate) fn new(capacity: usize) -> Self {
        Window {
            capacity,
            entries: BTreeMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity
    }

    pub(crate) fn contains(&self, seq: u32) -> bool {
        self.entries.contains_key(&seq)
    }

    pub(crate) fn insert(&mut self, seq: u32, entry: InFlight) {
        self.entries.insert(seq, entry);
    }

    pub(crate) fn remove(&mut self, seq: u32) -> Option<InFlight> {
        self.entries.remove(&seq)
    }

    /// The earliest deadline: what `Timer::Response` should be set to.
    pub(crate) fn earliest_deadline(&self) -> Option<Instant> {
        self.entries.values().map(|e| e.deadline).min()
    }

    /// Removes and returns the entries due at `now`, oldest deadline first (ties by
    /// sequence number).
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<u32> {
        let mut due: Vec<(Instant, u32)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.deadline <= now)
            .map(|(&seq, e)| (e.deadline, seq))
            .collect();
        due.sort_unstable();
        due.into_iter()
            .map(|(_, seq)| {
                self.entries.remove(&seq);
                seq
            })
            .collect()
    }

    /// Removes everything, returning the sequence numbers in sending order.
    pub(crate) fn drain(&mut self) -> Vec<u32> {
        let mut all: Vec<(Instant, u32)> = self
            .entries
            .iter()
            .map(|(&seq, e)| (e.sent_at, seq))
            .collect();
        all.sort_unstable();
        self.entries.clear();
        all.into_iter().map(|(_, seq)| seq).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn expiry_order_and_capacity() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = Window::new(2);
        w.insert(
            7,
            InFlight {
                sent_at: t0,
                deadline: t0 + s(5),
            },
        );
        assert!(!w.is_full());
        w.insert(
            3,
            InFlight {
                sent_at: t0 + s(1),
                deadline: t0 + s(6),
            },
        );
        assert!(w.is_full());
        assert_eq!(w.earliest_deadline(), Some(t0 + s(5)));
        assert_eq!(w.take_expired(t0 + s(5)), vec![7]);
        assert_eq!(w.len(), 1);
        assert_eq!(w.drain(), vec![3]);
        assert_eq!(w.earliest_deadline(), None);
    }
}
