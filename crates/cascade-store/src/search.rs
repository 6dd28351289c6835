//! Searching trackings.

use async_trait::async_trait;

/// Search over an account's flows (`POST /failover/tracking`).
#[async_trait]
pub trait SearchStore: Send + Sync {}
