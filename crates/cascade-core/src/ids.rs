//! Identifiers. Flow and message ids are UUIDv7: unique without coordination between
//! nodes and ordered by creation time, which keeps index inserts append-only and lets
//! keyset paging use the id as a tie-breaker.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A flow's `trackingId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FlowId(Uuid);

impl FlowId {
    /// A fresh id whose leading bits are `now` in milliseconds.
    pub fn new_v7(now_ms: i64) -> Self {
        Self(new_v7(now_ms))
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// Parse the canonical hyphenated form (any case).
    ///
    /// # Errors
    /// Returns [`uuid::Error`] when the text is not a UUID.
    pub fn parse(text: &str) -> Result<Self, uuid::Error> {
        Uuid::parse_str(text).map(Self)
    }
}

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for FlowId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A message id (`messageId`, `smsId`, a Viber message's `trackingId`), as text.
pub fn new_message_id(now_ms: i64) -> String {
    new_v7(now_ms).hyphenated().to_string()
}

fn new_v7(now_ms: i64) -> Uuid {
    let ms = u64::try_from(now_ms).unwrap_or(0);
    let ts =
        uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, ((ms % 1000) * 1_000_000) as u32);
    Uuid::new_v7(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_ids_sort_by_creation_time() {
        let a = FlowId::new_v7(1_000);
        let b = FlowId::new_v7(2_000);
        assert!(a < b);
        assert!(
            a.to_string() < b.to_string(),
            "text order follows time order too"
        );
    }

    #[test]
    fn parses_its_own_text() {
        let id = FlowId::new_v7(1_772_356_502_113);
        assert_eq!(FlowId::parse(&id.to_string()).unwrap(), id);
        assert_eq!(FlowId::parse(&id.to_string().to_uppercase()).unwrap(), id);
        assert!(FlowId::parse("not-a-uuid").is_err());
    }
}
