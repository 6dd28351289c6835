//! [`NodeShare`]: how many nodes of a deployment split a budget now.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The number of live nodes a budget (a provider's throughput cap) is split between:
/// each node paces itself at its share, so the provider sees the budget in all. Clones
/// share the count; whoever counts the nodes sets it, the pacers read it.
#[derive(Debug, Clone)]
pub struct NodeShare(Arc<AtomicU32>);

impl Default for NodeShare {
    /// One node: the whole budget.
    fn default() -> Self {
        NodeShare(Arc::new(AtomicU32::new(1)))
    }
}

impl NodeShare {
    /// Set the number of live nodes (0 counts as 1).
    pub fn set(&self, nodes: u32) {
        self.0.store(nodes.max(1), Ordering::Relaxed);
    }

    /// The number of live nodes, at least 1.
    pub fn nodes(&self) -> u32 {
        self.0.load(Ordering::Relaxed).max(1)
    }

    /// This node's share of `budget`, rounded up (never zero).
    pub fn of(&self, budget: NonZeroU32) -> NonZeroU32 {
        NonZeroU32::new(budget.get().div_ceil(self.nodes())).unwrap_or(NonZeroU32::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }

    #[test]
    fn each_node_paces_at_its_share_rounded_up() {
        let share = NodeShare::default();
        assert_eq!(share.of(n(100)), n(100), "alone: the whole budget");
        let seen_by_pacer = share.clone();
        share.set(3);
        assert_eq!(seen_by_pacer.nodes(), 3, "clones see the count");
        assert_eq!(seen_by_pacer.of(n(100)), n(34));
        assert_eq!(seen_by_pacer.of(n(2)), n(1), "never below one per second");
        share.set(0);
        assert_eq!(share.nodes(), 1, "no count is one node");
    }
}
