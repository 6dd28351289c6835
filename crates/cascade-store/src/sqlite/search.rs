//! [`SearchStore`] for SQLite.

use crate::SearchStore;

use super::SqliteStore;

impl SearchStore for SqliteStore {}
