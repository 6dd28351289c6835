//! Searching trackings.

use async_trait::async_trait;
use cascade_core::search::SearchQuery;

use crate::{Result, StoredFlow};

/// Search over an account's flows (`POST /failover/tracking`).
#[async_trait]
pub trait SearchStore: Send + Sync {
    /// One page of `account_id`'s flows matching every filter of `query` (and its
    /// `createdAt` range: start inclusive, end exclusive), in `query.sort` order with
    /// ties broken by trackingId in the same direction, skipping `query.offset()` of
    /// them; plus how many match in all. Other accounts' flows are never read or
    /// counted. The page and the total come from one consistent snapshot.
    ///
    /// # Errors
    /// [`crate::StoreError::Unavailable`] when the store cannot be read.
    async fn search(&self, account_id: &str, query: &SearchQuery) -> Result<SearchPage>;
}

/// One page of search results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// At most `query.size` flows, in the query's order.
    pub flows: Vec<StoredFlow>,
    /// How many flows match in all (every page together).
    pub total: u64,
}
