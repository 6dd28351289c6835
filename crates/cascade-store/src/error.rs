use cascade_core::machines::EngineError;

/// Why a store call failed. The API maps [`StoreError::Unavailable`] to 503 and the
/// others to 4xx/500 as fits the call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or refused the work (I/O, locked, closed).
    /// Retrying later may succeed.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A unique key is already taken.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The row to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A stored row could not be read back (e.g. JSON that no longer parses).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The engine refused the event; the flow is unchanged.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The transaction holding this change could not be committed; nothing of it stands.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The writer task has stopped (shutdown).
    #[error("the store is shut down")]
    Closed,
    /// Another server owns the store (SQLite: one server per store).
    #[error("{0}")]
    InUse(String),
    /// A file beside the database (its lock) could not be used.
    #[error("{0}")]
    Io(String),
    /// The store's address asks for something the store cannot do (e.g. an SQLite URL
    /// option it does not honour); nothing was opened.
    #[error("{0}")]
    Settings(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict(db.message().to_owned());
        }
        StoreError::Unavailable(Box::new(e))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(failure, message) = &e
            && matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
        {
            return StoreError::Conflict(message.clone().unwrap_or_else(|| failure.to_string()));
        }
        StoreError::Unavailable(Box::new(e))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
