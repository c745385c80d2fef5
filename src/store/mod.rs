//! The storage seam: everything Intake keeps, behind one trait with a SQLite and
//! a Postgres implementation. The SQL lives beside the code that runs it, in the
//! backend's own module.
//!
//! Guard and fencing rules the implementations share:
//! - at most one active (`queued` or `processing`) import per user, enforced by a
//!   partial unique index, so `insert_import` itself is the check;
//! - every worker write is conditioned on `(import id, attempt, status = processing)`;
//!   a write that matches no row means the worker was replaced;
//! - a batch's contacts, row errors, counters and checkpoint commit in one transaction.

mod postgres;
mod sqlite;

use crate::domain::contact::{Contact, Counts};
use crate::domain::guard::ActiveImport;
use crate::domain::mapping::Mapping;
use crate::domain::sniff::Sniffed;
use crate::model::{ContactsPage, ImportStatus, ImportView, RowErrorView, RowErrorsPage, TokenView};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

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

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::Corrupt(error.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Opens the database that `url` names, creating a SQLite file if needed, and migrates it.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    }
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
}

/// A session is alive while used after `last_seen_after` and started after `created_after`.
#[derive(Debug, Clone, Copy)]
pub struct SessionCutoffs {
    pub last_seen_after: DateTime<Utc>,
    pub created_after: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleClaim {
    Allowed,
    Refused { window_started_at: DateTime<Utc> },
}

/// Rows the periodic sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub throttle_windows: u64,
    pub sessions: u64,
}

#[derive(Debug, Clone)]
pub struct UploadMeta {
    pub file_name: String,
    pub byte_size: u64,
    pub sniffed: Sniffed,
    /// Records after the header row.
    pub data_rows: u64,
}

#[derive(Debug, Clone)]
pub struct NewImport {
    pub id: String,
    pub user_id: i64,
    pub upload_id: String,
    pub file_name: String,
    pub sniffed: Sniffed,
    pub mapping: Mapping,
    pub rows_total: u64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    /// The user's import slot is held by another active import.
    SlotTaken,
}

/// The import that holds a user's slot, as the guard needs to judge it.
#[derive(Debug, Clone)]
pub struct SlotHolder {
    pub import_id: String,
    pub attempt: i32,
    pub times: ActiveImport,
}

/// An import a worker has claimed: its attempt is the fence for all its writes.
#[derive(Debug, Clone)]
pub struct ClaimedImport {
    pub import_id: String,
    pub user_id: i64,
    pub upload_id: String,
    pub attempt: i32,
    pub sniffed: Sniffed,
    pub mapping: Mapping,
    /// The checkpoint: data rows (after the header) already committed.
    pub rows_done: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub import_id: String,
    pub attempt: i32,
}

/// One batch of work, committed atomically with its checkpoint.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub user_id: i64,
    pub contacts: Vec<Contact>,
    pub row_errors: Vec<RowErrorView>,
    pub rejected: u64,
    pub skipped: u64,
    /// The checkpoint after this batch.
    pub rows_done: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    Committed { counts: Counts, cancel_requested: bool },
    /// The fence did not hold: another attempt owns the import now. Nothing was written.
    Replaced,
}

/// What happened to imports whose instance stopped heart-beating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub import_id: String,
    pub user_id: i64,
    pub attempt: i32,
    pub requeued: bool,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the pool, waiting for connections in use; later calls fail.
    async fn close(&self);

    // Accounts
    /// `None` when the email already has an account.
    async fn create_user(&self, email: &str, password_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_email(&self, user_id: i64) -> StoreResult<Option<String>>;
    async fn create_session(&self, token_hash: &str, user_id: i64, now: DateTime<Utc>) -> StoreResult<()>;
    /// The session's user, if it is within both cutoffs; touching it keeps it alive
    /// until its absolute end.
    async fn touch_session(&self, token_hash: &str, cutoffs: &SessionCutoffs, now: DateTime<Utc>) -> StoreResult<Option<i64>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Ends every session of the user; returns how many there were.
    async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<u64>;
    async fn create_token(&self, user_id: i64, name: &str, token_hash: &str, now: DateTime<Utc>) -> StoreResult<TokenView>;
    async fn list_tokens(&self, user_id: i64) -> StoreResult<Vec<TokenView>>;
    async fn revoke_token(&self, user_id: i64, token_id: i64, now: DateTime<Utc>) -> StoreResult<bool>;
    async fn token_user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>>;
    /// Counts one sign-in attempt against `key` (an email or a client address) if
    /// fewer than `limit` were counted in the window that started after
    /// `window_cutoff`, else refuses it; one atomic statement either way.
    async fn claim_sign_in_attempt(&self, key: &str, limit: u32, window_cutoff: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<ThrottleClaim>;
    /// Takes back one counted attempt (it was not checked, or it succeeded).
    async fn forgive_sign_in_attempt(&self, key: &str) -> StoreResult<()>;
    async fn clear_sign_in_attempts(&self, key: &str) -> StoreResult<()>;
    /// Deletes throttle windows that started before `window_cutoff` and sessions past either cutoff.
    async fn prune_expired(&self, window_cutoff: DateTime<Utc>, sessions: &SessionCutoffs) -> StoreResult<Pruned>;

    // Uploads, kept as chunks so every instance can read them.
    async fn create_upload(&self, upload_id: &str, user_id: i64, file_name: &str, now: DateTime<Utc>) -> StoreResult<()>;
    async fn append_upload_chunk(&self, upload_id: &str, seq: i64, data: &[u8]) -> StoreResult<()>;
    async fn finish_upload(&self, upload_id: &str, meta: &UploadMeta) -> StoreResult<()>;
    async fn delete_upload(&self, upload_id: &str) -> StoreResult<()>;
    /// A finished upload of this user.
    async fn upload_meta(&self, user_id: i64, upload_id: &str) -> StoreResult<Option<UploadMeta>>;
    async fn upload_chunk(&self, upload_id: &str, seq: i64) -> StoreResult<Option<Vec<u8>>>;
    /// Removes uploads that never finished (a crash mid-upload) or were never imported.
    async fn delete_stale_uploads(&self, older_than: DateTime<Utc>) -> StoreResult<u64>;
    /// Removes the uploads of imports that ended, in whatever state.
    async fn delete_uploads_of_ended_imports(&self) -> StoreResult<u64>;
    /// Bytes of upload data the user has stored, finished or still arriving.
    async fn user_upload_bytes(&self, user_id: i64) -> StoreResult<u64>;

    // The start guard
    async fn insert_import(&self, new: &NewImport) -> StoreResult<InsertOutcome>;
    async fn slot_holder(&self, user_id: i64) -> StoreResult<Option<SlotHolder>>;
    /// Marks the holder abandoned if it is still that attempt and still has made no
    /// progress since `stale_cutoff`. True when this call replaced it.
    async fn abandon_if_stale(&self, holder: &SlotHolder, stale_cutoff: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<bool>;

    // Workers
    async fn heartbeat(&self, instance_id: &str, now: DateTime<Utc>) -> StoreResult<()>;
    async fn remove_instance(&self, instance_id: &str) -> StoreResult<()>;
    /// Requeues processing imports whose instance's heartbeat is older than
    /// `lease_cutoff`, or fails them once they used `max_attempts`.
    async fn recover_orphans(&self, lease_cutoff: DateTime<Utc>, max_attempts: i32, now: DateTime<Utc>) -> StoreResult<Vec<Orphan>>;
    async fn claim_next(&self, instance_id: &str, now: DateTime<Utc>) -> StoreResult<Option<ClaimedImport>>;
    async fn commit_batch(&self, fence: &Fence, batch: Batch, now: DateTime<Utc>) -> StoreResult<BatchOutcome>;
    /// Moves the import to a final state and drops its upload. False when fenced out.
    async fn finish_import(&self, fence: &Fence, status: ImportStatus, reason: Option<&str>, now: DateTime<Utc>) -> StoreResult<bool>;

    // Reads and user actions, always scoped by user
    async fn get_import(&self, user_id: i64, import_id: &str) -> StoreResult<Option<ImportView>>;
    async fn list_imports(&self, user_id: i64, limit: u32) -> StoreResult<Vec<ImportView>>;
    /// Up to `limit` row errors after line `after` (from the start when `None`),
    /// read by key; `None` when the import is not this user's.
    async fn row_errors(&self, user_id: i64, import_id: &str, after: Option<u64>, limit: u32) -> StoreResult<Option<RowErrorsPage>>;
    async fn request_cancel(&self, user_id: i64, import_id: &str, now: DateTime<Utc>) -> StoreResult<Option<ImportView>>;
    async fn contacts(&self, user_id: i64, query: &str, page: u32, per_page: u32) -> StoreResult<ContactsPage>;
}

pub(crate) const IMPORT_COLUMNS: &str = "id, file_name, status, attempt, rows_total, rows_done, created, updated, \
     unchanged, rejected, skipped, cancel_requested, failure_reason, created_at, \
     processing_started_at, last_progress_at, finished_at";

/// How a backend reads one of its time columns (SQLite keeps milliseconds, Postgres `timestamptz`).
pub(crate) type TimeColumn<R> = fn(&R, &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;

/// An import row (`IMPORT_COLUMNS`) as the view both backends return.
pub(crate) fn import_view<R>(row: &R, time: TimeColumn<R>) -> StoreResult<ImportView>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    let count = |column: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<i64, _>(column)? as u64) };
    Ok(ImportView {
        import_id: row.try_get("id")?,
        file_name: row.try_get("file_name")?,
        status: ImportStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?,
        rows_done: count("rows_done")?,
        rows_total: row.try_get::<Option<i64>, _>("rows_total")?.map(|n| n as u64),
        counts: Counts {
            created: count("created")?,
            updated: count("updated")?,
            unchanged: count("unchanged")?,
            rejected: count("rejected")?,
            skipped: count("skipped")?,
        },
        attempt: row.try_get("attempt")?,
        cancel_requested: row.try_get("cancel_requested")?,
        failure_reason: row.try_get("failure_reason")?,
        created_at: time(row, "created_at")?.ok_or_else(|| StoreError::Corrupt("import without created_at".into()))?,
        processing_started_at: time(row, "processing_started_at")?,
        last_progress_at: time(row, "last_progress_at")?,
        finished_at: time(row, "finished_at")?,
    })
}

// SQL that reads the same on both backends (sqlx numbers `$N` parameters on SQLite too).

/// Counts an attempt: a new window when none is open (or the open one started at
/// or before `$3`), one more in the open window while under the limit `$4`, else
/// no row comes back. One statement: SQLite runs it under the write lock,
/// Postgres under the conflicting row's lock, so parallel attempts queue.
pub(crate) const CLAIM_SIGN_IN_ATTEMPT: &str = "INSERT INTO sign_in_throttle (throttle_key, window_started_at, attempts)
     VALUES ($1, $2, 1)
     ON CONFLICT (throttle_key) DO UPDATE SET
         attempts = CASE WHEN sign_in_throttle.window_started_at <= $3 THEN 1 ELSE sign_in_throttle.attempts + 1 END,
         window_started_at = CASE WHEN sign_in_throttle.window_started_at <= $3 THEN $2 ELSE sign_in_throttle.window_started_at END
     WHERE sign_in_throttle.window_started_at <= $3 OR sign_in_throttle.attempts < $4
     RETURNING attempts";
pub(crate) const THROTTLE_WINDOW_START: &str = "SELECT window_started_at FROM sign_in_throttle WHERE throttle_key = $1";
pub(crate) const FORGIVE_SIGN_IN_ATTEMPT: &str =
    "UPDATE sign_in_throttle SET attempts = attempts - 1 WHERE throttle_key = $1 AND attempts > 0";
pub(crate) const CLEAR_SIGN_IN_ATTEMPTS: &str = "DELETE FROM sign_in_throttle WHERE throttle_key = $1";
pub(crate) const PRUNE_THROTTLE_WINDOWS: &str = "DELETE FROM sign_in_throttle WHERE window_started_at <= $1";
pub(crate) const PRUNE_SESSIONS: &str = "DELETE FROM sessions WHERE last_seen_at <= $1 OR created_at <= $2";
pub(crate) const LIVE_SESSION: &str =
    "SELECT user_id, last_seen_at FROM sessions WHERE token_hash = $1 AND last_seen_at > $2 AND created_at > $3";
pub(crate) const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1";
/// The exact count of rejected rows and the count of row errors kept.
pub(crate) const ROW_ERROR_COUNTS: &str = "SELECT i.rejected, (SELECT COUNT(*) FROM import_errors e WHERE e.import_id = i.id)
     FROM imports i WHERE i.id = $1 AND i.user_id = $2";
/// A page of row errors by key: the primary key (import_id, line) serves it.
pub(crate) const ROW_ERRORS_AFTER: &str =
    "SELECT line, reason FROM import_errors WHERE import_id = $1 AND line > $2 ORDER BY line LIMIT $3";

/// `Store::row_errors`, written once: its SQL and types are the same on both backends.
pub(crate) async fn read_row_errors<DB>(
    pool: &sqlx::Pool<DB>,
    user_id: i64,
    import_id: &str,
    after: Option<u64>,
    limit: u32,
) -> StoreResult<Option<RowErrorsPage>>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64, i64): sqlx::FromRow<'r, DB::Row>,
    for<'r> (i64, String): sqlx::FromRow<'r, DB::Row>,
{
    let counts: Option<(i64, i64)> = sqlx::query_as(ROW_ERROR_COUNTS).bind(import_id).bind(user_id).fetch_optional(pool).await?;
    let Some(counts) = counts else { return Ok(None) };
    let rows: Vec<(i64, String)> = sqlx::query_as(ROW_ERRORS_AFTER)
        .bind(import_id)
        .bind(after.map_or(-1, |line| line as i64))
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?;
    Ok(Some(row_errors_page(counts, rows, limit)))
}

/// The page that `ROW_ERROR_COUNTS` and `ROW_ERRORS_AFTER` (asked for `limit + 1` rows) read.
fn row_errors_page(counts: (i64, i64), mut rows: Vec<(i64, String)>, limit: u32) -> RowErrorsPage {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_after = if more { rows.last().map(|(line, _)| *line as u64) } else { None };
    RowErrorsPage {
        total: counts.0 as u64,
        stored: counts.1 as u64,
        errors: rows.into_iter().map(|(line, reason)| RowErrorView { line: line as u64, reason }).collect(),
        next_after,
    }
}

pub(crate) const DELETE_UPLOADS_OF_ENDED_IMPORTS: &str = "DELETE FROM uploads WHERE id IN
     (SELECT upload_id FROM imports WHERE status NOT IN ('queued', 'processing'))";
pub(crate) const USER_UPLOAD_BYTES: &str = "SELECT CAST(COALESCE(SUM(LENGTH(c.data)), 0) AS BIGINT)
     FROM upload_chunks c JOIN uploads u ON u.id = c.upload_id WHERE u.user_id = $1";

/// Sessions and tokens record their use at most this often, so that checking a
/// credential is a read, not a write that queues behind an import's batch.
pub(crate) fn touch_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|last| now - last >= chrono::Duration::seconds(60))
}

/// Escapes `%`, `_` and `\` so user text is matched literally by `LIKE … ESCAPE '\'`.
pub(crate) fn like_pattern(query: &str) -> String {
    let mut pattern = String::from("%");
    for c in query.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub(crate) fn contact_view(contact: Contact) -> crate::model::ContactView {
    crate::model::ContactView {
        name: contact.display_name,
        emails: contact.emails,
        phones: contact.phones.into_iter().map(|p| p.raw).collect(),
        organization: contact.organization,
        title: contact.title,
    }
}
