//! [`StoreLeases`]: the [`Leases`] port over the store, for a deployment of several nodes
//! on one PostgreSQL database (on SQLite every lease is the one server's).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cascade_core::ports::Leases;
use cascade_store::Store;

/// Leases kept in the store's `leases` table; a node without a heartbeat within
/// `lease` loses them.
#[derive(Debug)]
pub struct StoreLeases {
    store: Arc<dyn Store>,
    lease: Duration,
}

impl StoreLeases {
    /// `lease`: `CASCADE_LEASE_MS`, the time after which a silent node's leases go.
    pub fn new(store: Arc<dyn Store>, lease: Duration) -> StoreLeases {
        StoreLeases { store, lease }
    }
}

#[async_trait]
impl Leases for StoreLeases {
    async fn hold(&self, name: &str) -> Result<bool, String> {
        self.store.hold_lease(name).await.map_err(|e| e.to_string())
    }

    async fn release(&self, name: &str) {
        if let Err(e) = self.store.release_lease(name).await {
            tracing::warn!(lease = name, error = %e, "could not give the lease up; it runs out");
        }
    }

    /// As often as the heartbeat: three times a lease.
    fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// Two thirds of a lease: the node lets go before another node may take over (one
    /// lease after its last heartbeat).
    fn trust_for(&self) -> Duration {
        self.lease * 2 / 3
    }
}
