//! What a backend gives the code both backends share: its SQL flavour
//! (`Dialect`) and its connections (`Connections`). The shared code (the
//! `impl_…!` macros of each concern) reaches a backend only through these two
//! traits, so the compiler checks that each backend provides all of it.

use super::error::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A backend's SQL where the two differ.
pub(crate) trait Dialect {
    const BACKEND: Backend;
    type Database: sqlx::Database;
    /// How a time column holds a moment: SQLite Unix milliseconds, Postgres `timestamptz`.
    type Stamp;
    fn stamp(moment: DateTime<Utc>) -> Self::Stamp;
    fn moment(stamp: Self::Stamp) -> DateTime<Utc>;
    /// A time column of a row, read as a moment.
    fn time_column(row: &<Self::Database as sqlx::Database>::Row, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
    /// The database's clock, in SQL.
    const NOW: &'static str;
    /// The database's clock less the seconds bound as `param`: a lease's or a staleness cutoff.
    fn seconds_ago(param: &str) -> String;
    /// Appended to a pick of imports (a claim, a recovery): locks what it
    /// picks and skips what another transaction holds, where the backend can
    /// (SQLite's one writer runs the pick and its update as one statement).
    const SKIP_LOCKED: &'static str;
    /// Appended to a batch's read of its fence: holds the import's row for the
    /// batch as an update would, where other writers run beside it. Not an
    /// update: a second update of the row in the batch (its checkpoint) would
    /// have the user's key checked, locking the user's row, which an account
    /// deletion takes after the imports'.
    const FENCE_LOCK: &'static str;
    /// Makes one user's upload reservations take turns, where the single writer does not already.
    const USER_ROW_LOCK: Option<&'static str>;
    /// Run before a user is deleted, where other writers run beside it: locks
    /// the user's imports, so that the deletion waits for a batch in flight
    /// (which holds its import's row, never the user's: `FENCE_LOCK`) and then
    /// takes what the batch wrote.
    const USER_IMPORTS_LOCK: Option<&'static str>;
    /// Run first in a worker's batch transaction, where the backend needs it.
    const BATCH_SETTING: Option<&'static str>;
    /// The larger of two values.
    const GREATEST: &'static str;
    /// How names sort on the contacts page.
    const NAME_ORDER: &'static str;
    /// Shared SQL (`$N` placeholders in order of appearance) as this backend binds it best.
    fn query_text(sql: String) -> String;
    /// A placeholder whose JSON text goes into a JSON column (Postgres casts it to `jsonb`).
    fn json_param(placeholder: &str) -> String;
    /// A JSON column read as text.
    fn json_column(column: &str) -> String;
}

/// A backend's connections.
#[async_trait]
pub(crate) trait Connections: Dialect {
    /// This process's id among the instances that share the database.
    fn instance_id(&self) -> &str;
    /// Reads, beside the writer.
    fn reads(&self) -> &sqlx::Pool<Self::Database>;
    /// Writes: SQLite's one writer, Postgres's pool.
    fn writes(&self) -> &sqlx::Pool<Self::Database>;
    /// Heartbeats and recovery, which a busy request pool must not hold back.
    fn leases(&self) -> &sqlx::Pool<Self::Database>;
    /// Background upkeep, where the backend has some (Postgres's analyses after a run).
    fn maintenance(&self) -> Option<&sqlx::Pool<Self::Database>>;
    /// A transaction of the writer that holds what it needs to write from its start.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Self::Database>>;
    /// Data was committed (SQLite checkpoints its WAL beside the writer).
    fn wrote(&self);
    /// Import or job `import_id` ended: the tables it filled or emptied may
    /// want fresh planner statistics before the next one (an undo) runs.
    fn run_ended(&self, import_id: &str);
    /// Ends the database sessions of instances presumed dead, where the backend has sessions.
    async fn end_sessions_of_lapsed_owners(&self, lease: Duration) -> StoreResult<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How long one session may wait or work before the database gives up on it, so a
/// frozen instance cannot hold a lock, or anyone wait on one, for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Postgres `lock_timeout`: waiting for a row lock.
    pub lock: Duration,
    /// Postgres `statement_timeout`.
    pub statement: Duration,
    /// Postgres `idle_in_transaction_session_timeout`: ends the session of an
    /// instance frozen inside a transaction, which releases its locks.
    pub idle_in_transaction: Duration,
    /// SQLite's busy timeout: waiting for the write lock.
    pub sqlite_busy: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            lock: Duration::from_secs(5),
            statement: Duration::from_secs(60),
            idle_in_transaction: Duration::from_secs(15),
            sqlite_busy: Duration::from_secs(10),
        }
    }
}
