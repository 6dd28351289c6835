//! Sequence numbers: 1..=0x7FFF_FFFF, wrapping back to 1 (SMPP 3.4 §5.1.4).

/// The largest sequence number SMPP allows.
pub(crate) const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;

/// Hands out sequence numbers in order, wrapping after `MAX_SEQUENCE`.
#[derive(Debug, Clone)]
pub(crate) struct SequenceNumbers {
    next: u32,
}

impl SequenceNumbers {
    pub(crate) fn new() -> Self {
        SequenceNumbers { next: 1 }
    }

    /// Starts at `first` (clamped into range); for tests of the wrap.
    #[cfg(test)]
    pub(crate) fn starting_at(first: u32) -> Self {
        SequenceNumbers {
            next: first.clamp(1, MAX_SEQUENCE),
        }
    }

    /// The next number, skipping any for which `in_use` is true (a request still waiting
    /// for its response after a full wrap). `in_use` must be false for at least one number,
    /// which holds because windows are far smaller than the sequence space.
    pub(crate) fn next(&mut self, in_use: impl Fn(u32) -> bool) -> u32 {
        loop {
            let n = self.next;
            self.next = if n >= MAX_SEQUENCE { 1 } else { n + 1 };
            if !in_use(n) {
                return n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_one_and_counts_up() {
        let mut s = SequenceNumbers::new();
        assert_eq!(s.next(|_| false), 1);
        assert_eq!(s.next(|_| false), 2);
    }

    #[test]
    fn wraps_to_one_after_max() {
        let mut s = SequenceNumbers::starting_at(MAX_SEQUENCE - 1);
        assert_eq!(s.next(|_| false), MAX_SEQUENCE - 1);
        assert_eq!(s.next(|_| false), MAX_SEQUENCE);
        assert_eq!(s.next(|_| false), 1);
    }

    #[test]
    fn skips_numbers_in_use() {
        let mut s = SequenceNumbers::starting_at(MAX_SEQUENCE);
        assert_eq!(s.next(|n| n == MAX_SEQUENCE || n == 1), 2);
    }
}
