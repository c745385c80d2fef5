//! What storage can fail with.

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored value is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// An error that says the database is unreachable or busy for now, not that
    /// the work is wrong: the same work succeeds once it is back.
    pub fn is_transient(&self) -> bool {
        let StoreError::Database(error) = self else { return false };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(error) => error.code().is_some_and(|code| transient_code(&code)),
            _ => false,
        }
    }
}

/// Postgres SQLSTATEs: connection lost (08), server shutting down (57P),
/// lock_timeout (55P03), serialization failure and deadlock (40001, 40P01).
/// SQLite result codes: SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
fn transient_code(code: &str) -> bool {
    if code.len() == 5 {
        return code.starts_with("08") || code.starts_with("57P") || matches!(code, "55P03" | "40001" | "40P01");
    }
    code.parse::<u32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::Corrupt(error.to_string())
    }
}
