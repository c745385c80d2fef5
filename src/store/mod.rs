//! The storage seam: everything Intake keeps, behind one trait (`Store`) that
//! is the sum of one per concern, with a SQLite and a Postgres implementation.
//!
//! - `accounts`: users, sessions, tokens, throttles;
//! - `uploads`: uploads in chunks, and each person's quota;
//! - `queue`: imports, the guard, claims, leases, fencing, recovery, row errors;
//! - `contacts`: the search page, and the transactions a batch runs in (`batch`,
//!   over a contact's row as `contact_rows` reads and writes it);
//! - `journal`: the change journal, what an undo would cover, and its sweep.
//!
//! A concern's SQL lives beside its trait, written once with `$N` placeholders
//! numbered in order of appearance, in an `impl_…!` macro each backend expands
//! for itself; what differs between the backends is a trait (`Dialect`,
//! `Connections`) that each implements, so the compiler checks it. What only one
//! backend does (Postgres `COPY`, SQLite's multi-row statements and single
//! writer) is in its own module.

mod accounts;
mod batch;
mod contact_rows;
mod contacts;
mod dialect;
mod error;
mod journal;
mod postgres;
mod queue;
mod seam;
mod sql;
mod sqlite;
mod uploads;

pub use accounts::{AccountStore, Pruned, SessionCutoffs, SessionTouch, ThrottleClaim, UserRecord};
pub use batch::{ContactReads, ContactWrites, Op};
pub use contacts::ContactStore;
pub use dialect::{Backend, Timeouts};
pub use error::{StoreError, StoreResult};
pub use journal::{HistoryStore, JournalRun, OpRecord};
pub use postgres::PostgresStore;
pub use queue::{Checkpoint, Claim, ClaimedImport, ClaimedJob, Failure, Fence, InsertOutcome, NewImport, Orphan, QueueStore, SlotHolder};
pub use seam::Store;
pub use sql::ROWS_PER_STATEMENT;
pub use sqlite::SqliteStore;
pub use uploads::{ChunkOutcome, UploadChunk, UploadMeta, UploadStore};

use std::sync::Arc;

/// Opens the database that `url` names, creating a SQLite file if needed, and migrates it.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    connect_with(url, &Timeouts::default()).await
}

/// `connect`, with the given session timeouts.
pub async fn connect_with(url: &str, timeouts: &Timeouts) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url, timeouts).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(url, timeouts).await?))
    }
}
