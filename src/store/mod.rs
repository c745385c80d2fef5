//! The storage seam: everything Intake keeps, behind one trait with a SQLite and
//! a Postgres implementation. The SQL lives beside the code that runs it, in the
//! backend's own module.
//!
//! Guard and fencing rules the implementations share:
//! - at most one active (`queued` or `processing`) import per user, enforced by a
//!   partial unique index, so `insert_import` itself is the check;
//! - every worker write is conditioned on `(import id, attempt, status = processing)`;
//!   a write that matches no row means the worker was replaced;
//! - a batch's contacts, their identities, row errors, counters and checkpoint
//!   commit in one transaction;
//! - leases are judged with the database's clock, never an instance's own.
//!
//! SQL that is the same on both backends lives here once, with `$N` placeholders
//! numbered in the order they appear. Each backend passes it through its
//! `query_text`: SQLite's turns them into anonymous `?`, because sqlx looks each
//! named SQLite parameter up by a linear search, which makes a statement with
//! thousands of them quadratic.

/// `ContactTx` for a backend's transaction: the methods whose SQL and binds are
/// the same on both backends, written once (a macro, because the backends' query
/// and row types differ). `$decode` reads a backend's contact row
/// (`STORED_CONTACT_COLUMNS`) as a `Contact`; `$identity_owners` and
/// `$write_plan` are the backend's own.
macro_rules! impl_contact_tx {
    ($database:ty, $decode:path, $identity_owners:path, $write_plan:path) => {
    #[async_trait]
    impl ContactTx for sqlx::Transaction<'_, $database> {
        async fn write_plan(&mut self, user_id: i64, plan: &BatchPlan<'_>, now: DateTime<Utc>) -> StoreResult<()> {
            $write_plan(self, user_id, plan, now).await
        }

        async fn identity_owners(&mut self, user_id: i64, identities: &[&Identity]) -> StoreResult<Vec<i64>> {
            $identity_owners(self, user_id, identities).await
        }

        async fn stored_contacts(&mut self, user_id: i64, ids: &[i64]) -> StoreResult<Vec<StoredContact>> {
            let sql = query_text(contacts_by_id_sql(ids.len()));
            let mut contacts = sqlx::query(&sql);
            for id in ids {
                contacts = contacts.bind(id);
            }
            contacts
                .fetch_all(&mut **self)
                .await?
                .iter()
                .map(|row| {
                    let (id, owner): (i64, i64) = (row.try_get("id")?, row.try_get("user_id")?);
                    if owner != user_id {
                        return Err(StoreError::Corrupt(format!("an identity of user {user_id} names contact {id} of user {owner}")));
                    }
                    let listed: Option<String> = row.try_get("identities")?;
                    Ok(StoredContact { id, contact: $decode(row)?, identities: listed_identities(listed.as_deref())? })
                })
                .collect()
        }

        async fn contacts_to_backfill(&mut self, limit: u32) -> StoreResult<Vec<(i64, StoredContact)>> {
            let rows = sqlx::query(&query_text(format!(
                "SELECT user_id, {STORED_CONTACT_COLUMNS} FROM contacts WHERE search_text IS NULL ORDER BY user_id, id LIMIT $1"
            )))
            .bind(i64::from(limit))
            .fetch_all(&mut **self)
            .await?;
            rows.iter()
                .map(|row| {
                    let stored = StoredContact { id: row.try_get("id")?, contact: $decode(row)?, identities: Vec::new() };
                    Ok((row.try_get("user_id")?, stored))
                })
                .collect()
        }
    }
    };
}

/// `write_plan`'s first step, the same on both backends: deletes the contacts
/// merged into a survivor, with their identities, before the survivors are
/// written and store those identities again; and relists the identities of
/// stored contacts that gained some without changing a field.
macro_rules! absorb_merged_contacts {
    ($conn:expr, $user_id:expr, $plan:expr) => {
        for planned in $plan.contacts.iter().filter(|c| !c.absorbed.is_empty()) {
            let sql = query_text(absorb_sql(planned.absorbed.len()));
            let mut deleting = sqlx::query(&sql).bind($user_id);
            for id in &planned.absorbed {
                deleting = deleting.bind(id);
            }
            deleting.execute(&mut *$conn).await?;
        }
        let relisted = $plan.contacts.iter().filter(|c| c.change == Change::Unchanged && !c.new_identities.is_empty());
        for planned in relisted {
            sqlx::query(RELIST_IDENTITIES_SQL)
                .bind(crate::domain::identity::listing(&planned.identities))
                .bind($user_id)
                .bind(planned.id)
                .execute(&mut *$conn)
                .await?;
        }
    };
}

/// `Store::contacts`: the same on both backends but for how names sort (`$order`).
macro_rules! contacts_page {
    ($pool:expr, $user_id:expr, $query:expr, $page:expr, $per_page:expr, order by $order:literal) => {{
        let pattern = like_pattern($query);
        let total: i64 = sqlx::query_scalar(&query_text(format!("SELECT COUNT(*) FROM contacts WHERE {CONTACT_MATCHES}")))
            .bind($user_id)
            .bind(&pattern)
            .fetch_one($pool)
            .await?;
        let rows = sqlx::query(&query_text(format!(
            "SELECT {STORED_CONTACT_COLUMNS} FROM contacts WHERE {CONTACT_MATCHES}
             ORDER BY {}, id LIMIT $3 OFFSET $4",
            $order
        )))
        .bind($user_id)
        .bind(&pattern)
        .bind(i64::from($per_page))
        .bind(i64::from($page.max(1) - 1) * i64::from($per_page))
        .fetch_all($pool)
        .await?;
        let contacts = rows.iter().map(|r| stored_contact(r).map(contact_view)).collect::<StoreResult<_>>()?;
        Ok(ContactsPage { total: total as u64, page: $page, per_page: $per_page, contacts })
    }};
}

/// `Store` for a backend: the methods whose SQL, binds and types are the same on
/// both backends, written once, around the backend's own (`$own`). A macro that
/// wraps the whole impl, because `#[async_trait]` must see every method. Names
/// such as `time_column` resolve in the backend's module. A time column holds a
/// `$stamp` (SQLite: Unix milliseconds), which `$to` writes and `$from` reads.
macro_rules! impl_store {
    ($store:ty, $backend:expr, times: $stamp:ty, written by $to:path, read by $from:path, { $($own:tt)* }) => {
    #[async_trait]
    impl Store for $store {
        fn backend(&self) -> Backend {
            $backend
        }

        fn instance_id(&self) -> &str {
            &self.instance_id
        }

        async fn remove_instance(&self, instance_id: &str) -> StoreResult<()> {
            sqlx::query("DELETE FROM instances WHERE id = $1").bind(instance_id).execute(self.lease_keeper()).await?;
            Ok(())
        }

        async fn heartbeat(&self, instance_id: &str) -> StoreResult<()> {
            sqlx::query(&heartbeat_sql(NOW)).bind(instance_id).execute(self.lease_keeper()).await?;
            Ok(())
        }

        async fn recover_orphans(&self, lease: Duration, max_failures: i32, count_failures: bool) -> StoreResult<Vec<Orphan>> {
            self.end_sessions_of_lapsed_owners(lease).await?;
            let sql = recover_sql(NOW, &seconds_ago("$5"), ORPHAN_ROW_LOCK);
            let mut rows = bind_recover(&sql, lease, max_failures, count_failures).fetch_all(self.lease_keeper()).await?;
            rows.extend(
                sqlx::query_as(&end_lost_receipts_sql(NOW, &seconds_ago("$1")))
                    .bind(lease.as_secs_f64())
                    .fetch_all(self.lease_keeper())
                    .await?,
            );
            sqlx::query(&format!("DELETE FROM instances WHERE heartbeat_at <= {}", seconds_ago("$1")))
                .bind(lease.as_secs_f64())
                .execute(self.lease_keeper())
                .await?;
            orphans(rows)
        }

        async fn queued_imports(&self) -> StoreResult<u64> {
            let queued: i64 = sqlx::query_scalar(QUEUED_IMPORTS).fetch_one(self.lease_keeper()).await?;
            Ok(queued as u64)
        }

        async fn release_import(&self, fence: &Fence, failure: Option<&Failure>, max_failures: i32) -> StoreResult<Option<ImportStatus>> {
            let sql = release_sql(NOW);
            self.end_import(bind_release_one(&sql, fence, failure, max_failures)).await
        }

        async fn prefetch_owners(&self, user_id: i64, rows: &[RowContact], held: Option<&HeldIdentities>) -> StoreResult<Vec<StoredContact>> {
            let asked = identities_to_prefetch(rows, held);
            if asked.is_empty() {
                return Ok(Vec::new());
            }
            // A read transaction: one snapshot on SQLite, and no lock taken on either backend.
            let mut tx = self.pool.begin().await?;
            let owners = owners_of(&mut tx, user_id, &asked, &mut HashSet::new()).await?;
            tx.rollback().await?;
            Ok(owners)
        }

        async fn user_has_contacts(&self, user_id: i64) -> StoreResult<bool> {
            Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM contacts WHERE user_id = $1)")
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?)
        }

        async fn ping(&self) -> StoreResult<()> {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        }

        async fn close(&self) {
            self.lease_keeper().close().await;
            self.writer().close().await;
            self.pool.close().await;
        }

        async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
            let row: Option<(i64, String, String)> =
                sqlx::query_as("SELECT id, email, password_hash FROM users WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(row.map(|(id, email, password_hash)| UserRecord { id, email, password_hash }))
        }

        async fn user_email(&self, user_id: i64) -> StoreResult<Option<String>> {
            Ok(sqlx::query_scalar("SELECT email FROM users WHERE id = $1").bind(user_id).fetch_optional(&self.pool).await?)
        }

        async fn create_session(&self, token_hash: &str, user_id: i64, now: DateTime<Utc>) -> StoreResult<()> {
            sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)")
                .bind(token_hash)
                .bind(user_id)
                .bind($to(now))
                .execute(self.writer())
                .await?;
            Ok(())
        }

        async fn touch_session(&self, token_hash: &str, cutoffs: &SessionCutoffs, now: DateTime<Utc>) -> StoreResult<Option<SessionTouch>> {
            let found: Option<(i64, $stamp, $stamp)> = sqlx::query_as(LIVE_SESSION)
                .bind(token_hash)
                .bind($to(cutoffs.last_seen_after))
                .bind($to(cutoffs.created_after))
                .fetch_optional(&self.pool)
                .await?;
            let Some((user_id, created_at, last_seen)) = found else { return Ok(None) };
            let touched = touch_due(Some($from(last_seen)), now);
            if touched {
                sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
                    .bind($to(now))
                    .bind(token_hash)
                    .execute(self.writer())
                    .await?;
            }
            Ok(Some(SessionTouch { user_id, created_at: $from(created_at), touched }))
        }

        async fn revoke_token(&self, user_id: i64, token_id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
            let done =
                sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
                    .bind($to(now))
                    .bind(token_id)
                    .bind(user_id)
                    .execute(self.writer())
                    .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn token_user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
            let found: Option<(i64, Option<$stamp>)> =
                sqlx::query_as("SELECT user_id, last_used_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
            let Some((user_id, last_used)) = found else { return Ok(None) };
            if touch_due(last_used.map($from), now) {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
                    .bind($to(now))
                    .bind(token_hash)
                    .execute(self.writer())
                    .await?;
            }
            Ok(Some(user_id))
        }

        async fn claim_sign_in_attempt(&self, key: &str, limit: u32, window_cutoff: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<ThrottleClaim> {
            let counted: Option<i64> = sqlx::query_scalar(CLAIM_SIGN_IN_ATTEMPT)
                .bind(key)
                .bind($to(now))
                .bind($to(window_cutoff))
                .bind(i64::from(limit))
                .fetch_optional(self.writer())
                .await?;
            if counted.is_some() {
                return Ok(ThrottleClaim::Allowed);
            }
            let started: Option<$stamp> = sqlx::query_scalar(THROTTLE_WINDOW_START).bind(key).fetch_optional(&self.pool).await?;
            Ok(ThrottleClaim::Refused { window_started_at: started.map_or(now, $from) })
        }

        async fn prune_expired(&self, window_cutoff: DateTime<Utc>, sessions: &SessionCutoffs) -> StoreResult<Pruned> {
            let throttle_windows =
                sqlx::query(PRUNE_THROTTLE_WINDOWS).bind($to(window_cutoff)).execute(self.writer()).await?.rows_affected();
            let sessions = sqlx::query(PRUNE_SESSIONS)
                .bind($to(sessions.last_seen_after))
                .bind($to(sessions.created_after))
                .execute(self.writer())
                .await?
                .rows_affected();
            Ok(Pruned { throttle_windows, sessions })
        }

        async fn create_upload(&self, upload_id: &str, user_id: i64, file_name: &str, now: DateTime<Utc>) -> StoreResult<()> {
            sqlx::query("INSERT INTO uploads (id, user_id, file_name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(upload_id)
                .bind(user_id)
                .bind(file_name)
                .bind($to(now))
                .execute(self.writer())
                .await?;
            Ok(())
        }

        async fn list_tokens(&self, user_id: i64) -> StoreResult<Vec<TokenView>> {
            let rows: Vec<(i64, String, $stamp, Option<$stamp>)> = sqlx::query_as(
                "SELECT id, name, created_at, last_used_at FROM api_tokens
                 WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id",
            )
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, name, created_at, last_used_at)| TokenView {
                    id,
                    name,
                    created_at: $from(created_at),
                    last_used_at: last_used_at.map($from),
                })
                .collect())
        }

        async fn slot_holder(&self, user_id: i64) -> StoreResult<Option<SlotHolder>> {
            let row: Option<(String, i32, $stamp, Option<$stamp>, Option<$stamp>, $stamp)> =
                sqlx::query_as(&slot_holder_sql(NOW)).bind(user_id).fetch_optional(&self.pool).await?;
            Ok(row.map(|(import_id, attempt, created, started, progress, now)| SlotHolder {
                import_id,
                attempt,
                times: ActiveImport {
                    created_at: $from(created),
                    processing_started_at: started.map($from),
                    last_progress_at: progress.map($from),
                },
                now: $from(now),
            }))
        }

        async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(self.writer()).await?;
            Ok(())
        }

        async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<u64> {
            Ok(sqlx::query(DELETE_USER_SESSIONS).bind(user_id).execute(self.writer()).await?.rows_affected())
        }

        async fn forgive_sign_in_attempt(&self, key: &str) -> StoreResult<()> {
            sqlx::query(FORGIVE_SIGN_IN_ATTEMPT).bind(key).execute(self.writer()).await?;
            Ok(())
        }

        async fn clear_sign_in_attempts(&self, key: &str) -> StoreResult<()> {
            sqlx::query(CLEAR_SIGN_IN_ATTEMPTS).bind(key).execute(self.writer()).await?;
            Ok(())
        }

        async fn reserve_upload_bytes(&self, upload_id: &str, user_id: i64, total: u64, quota: u64) -> StoreResult<ChunkOutcome> {
            let mut tx = self.begin_write().await?;
            let outcome = reserve_in(&mut tx, upload_id, user_id, total, quota, (USER_ROW_LOCK, GREATEST)).await?;
            tx.commit().await?;
            Ok(outcome)
        }

        async fn append_upload_chunk(&self, chunk: &UploadChunk<'_>, quota: u64) -> StoreResult<ChunkOutcome> {
            let mut tx = self.begin_write().await?;
            let outcome = reserve_in(&mut tx, chunk.upload_id, chunk.user_id, chunk.stored_after, quota, (USER_ROW_LOCK, GREATEST)).await?;
            if outcome != ChunkOutcome::Stored {
                tx.rollback().await?;
                return Ok(outcome);
            }
            sqlx::query("INSERT INTO upload_chunks (upload_id, seq, data) VALUES ($1, $2, $3)")
                .bind(chunk.upload_id)
                .bind(chunk.seq)
                .bind(chunk.data)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&receiving_progress_sql(NOW)).bind(chunk.user_id).bind(chunk.upload_id).execute(&mut *tx).await?;
            tx.commit().await?;
            self.wrote();
            Ok(ChunkOutcome::Stored)
        }

        async fn drop_receiving_import(&self, import_id: &str) -> StoreResult<()> {
            sqlx::query(DROP_RECEIVING_IMPORT).bind(import_id).execute(self.writer()).await?;
            Ok(())
        }

        async fn delete_upload(&self, upload_id: &str) -> StoreResult<()> {
            sqlx::query("DELETE FROM uploads WHERE id = $1").bind(upload_id).execute(self.writer()).await?;
            Ok(())
        }

        async fn upload_chunk(&self, upload_id: &str, seq: i64) -> StoreResult<Option<Vec<u8>>> {
            Ok(sqlx::query_scalar("SELECT data FROM upload_chunks WHERE upload_id = $1 AND seq = $2")
                .bind(upload_id)
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn delete_ended_imports(&self, finished_before: DateTime<Utc>) -> StoreResult<u64> {
            Ok(sqlx::query(DELETE_ENDED_IMPORTS).bind($to(finished_before)).execute(self.writer()).await?.rows_affected())
        }

        async fn delete_uploads_of_ended_imports(&self) -> StoreResult<u64> {
            Ok(sqlx::query(DELETE_UPLOADS_OF_ENDED_IMPORTS).execute(self.writer()).await?.rows_affected())
        }

        async fn user_upload_bytes(&self, user_id: i64) -> StoreResult<u64> {
            let bytes: i64 = sqlx::query_scalar(USER_UPLOAD_BYTES).bind(user_id).fetch_one(&self.pool).await?;
            Ok(bytes as u64)
        }

        async fn get_import(&self, user_id: i64, import_id: &str) -> StoreResult<Option<ImportView>> {
            let row = sqlx::query(&format!("SELECT {IMPORT_COLUMNS} FROM imports WHERE id = $1 AND user_id = $2"))
                .bind(import_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(|r| import_view(r, time_column)).transpose()
        }

        async fn list_imports(&self, user_id: i64, limit: u32) -> StoreResult<Vec<ImportView>> {
            let rows = sqlx::query(&format!(
                "SELECT {IMPORT_COLUMNS} FROM imports WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2"
            ))
            .bind(user_id)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(|r| import_view(r, time_column)).collect()
        }

        async fn row_errors(&self, user_id: i64, import_id: &str, after: Option<u64>, limit: u32) -> StoreResult<Option<RowErrorsPage>> {
            read_row_errors(&self.pool, user_id, import_id, after, limit).await
        }

        $($own)*
    }
    };
}

mod postgres;
mod sqlite;

use crate::domain::contact::{plan_batch, BatchPlan, Change, Contact, Counts, Phone, PlannedContact, RowContact, StoredContact};
use crate::domain::identity::Identity;
use crate::domain::guard::ActiveImport;
use crate::domain::mapping::Mapping;
use crate::domain::format::Sniffed;
use crate::model::{ContactsPage, ImportStatus, ImportView, RowErrorView, RowErrorsPage, TokenView};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use foldhash::{HashSet, HashSetExt};
use std::sync::Arc;
use std::time::Duration;

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

/// A live session, as a request that used it found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTouch {
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    /// Its use was recorded now (at most once a minute): the idle clock restarted.
    pub touched: bool,
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
    /// `None` while the file is still arriving (see `Store::insert_import`).
    pub sniffed: Option<Sniffed>,
    pub mapping: Option<Mapping>,
    pub rows_total: u64,
}

impl NewImport {
    pub fn is_receiving(&self) -> bool {
        self.mapping.is_none()
    }
}

/// One stored piece of an upload.
#[derive(Debug, Clone, Copy)]
pub struct UploadChunk<'a> {
    pub upload_id: &'a str,
    pub user_id: i64,
    pub seq: i64,
    pub data: &'a [u8],
    /// The upload's bytes once this chunk is stored.
    pub stored_after: u64,
}

/// What became of an upload chunk, or a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    Stored,
    /// Its bytes would take the user past their quota; nothing was stored.
    QuotaReached,
    /// The upload was deleted meanwhile (its import was cancelled).
    UploadGone,
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
    /// The database's clock, read with the holder: staleness and elapsed minutes
    /// are judged against it, never against an instance's own clock.
    pub now: DateTime<Utc>,
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
    /// Data rows counted when the file was received; the file must still have them.
    pub rows_total: u64,
}

/// What `claim_next` took off the queue.
#[derive(Debug, Clone)]
pub enum Claim {
    Ready(ClaimedImport),
    /// The row was claimed but its stored settings do not decode; the worker fails it.
    Unreadable { fence: Fence, user_id: i64, error: String },
}

/// A failure counted against an import's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Names the batch that failed, e.g. "the batch starting at line 2003".
    pub batch: String,
    pub error: String,
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
    pub contacts: Vec<RowContact>,
    pub row_errors: Vec<RowErrorView>,
    pub rejected: u64,
    pub skipped: u64,
    /// The checkpoint after this batch.
    pub rows_done: u64,
    /// The file line where the batch's last row starts.
    pub last_line: u64,
    /// Its rows' stored owners, read before its transaction (`Store::prefetch_owners`).
    pub prefetched: Option<Prefetched>,
}

/// A batch's stored owners, read outside its transaction while the batch before
/// it was still committing, so that the read runs beside that commit instead of
/// after it, on its own connection. It holds because a user's contacts and
/// identities change only through their one running import's batches, in order:
/// what the read may have missed is what the batch before touched, and
/// `plan_against_store` asks for that again inside the transaction.
#[derive(Debug, Clone, Default)]
pub struct Prefetched {
    pub contacts: Vec<StoredContact>,
    /// Every identity of every person the batch before planned (`BatchOutcome::Committed::touched`).
    pub stale: HashSet<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// `touched`: every identity of every person the batch planned
    /// (`identity_hash`), which the next batch's prefetched owners may not reflect.
    Committed { counts: Counts, cancel_requested: bool, touched: HashSet<u64> },
    /// The fence did not hold: another attempt owns the import now. Nothing was written.
    Replaced,
}

/// What happened to imports whose instance stopped heart-beating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub import_id: String,
    pub user_id: i64,
    pub attempt: i32,
    /// `Queued` when it resumes, else how it ended (`Failed`, `Cancelled`).
    pub status: ImportStatus,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// This process's id among the instances that share the database. Its
    /// Postgres sessions are named after it (`application_name` `intake ID`),
    /// so that once its heartbeat lapses the others can end them (`recover_orphans`).
    fn instance_id(&self) -> &str;
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the pool, waiting for connections in use; later calls fail.
    async fn close(&self);

    // Accounts
    /// `None` when the email already has an account.
    async fn create_user(&self, email: &str, password_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_email(&self, user_id: i64) -> StoreResult<Option<String>>;
    async fn create_session(&self, token_hash: &str, user_id: i64, now: DateTime<Utc>) -> StoreResult<()>;
    /// The session, if it is within both cutoffs; touching it keeps it alive
    /// until its absolute end.
    async fn touch_session(&self, token_hash: &str, cutoffs: &SessionCutoffs, now: DateTime<Utc>) -> StoreResult<Option<SessionTouch>>;
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
    /// Reserves room for `total` bytes of the upload (its declared size, before
    /// the first chunk) if that fits in the user's `quota` with every other
    /// upload's reservation; a reservation only grows. A person's reservations
    /// take turns (SQLite's one writer; the user's row lock on Postgres), so
    /// parallel uploads share the quota, first come, first served.
    async fn reserve_upload_bytes(&self, upload_id: &str, user_id: i64, total: u64, quota: u64) -> StoreResult<ChunkOutcome>;
    /// Stores a chunk, in the transaction that reserves the bytes stored so far
    /// (`UploadChunk::stored_after`); a chunk of an import's file also stamps
    /// the import's progress.
    async fn append_upload_chunk(&self, chunk: &UploadChunk<'_>, quota: u64) -> StoreResult<ChunkOutcome>;
    async fn finish_upload(&self, upload_id: &str, meta: &UploadMeta) -> StoreResult<()>;
    async fn delete_upload(&self, upload_id: &str) -> StoreResult<()>;
    /// A finished upload of this user.
    async fn upload_meta(&self, user_id: i64, upload_id: &str) -> StoreResult<Option<UploadMeta>>;
    async fn upload_chunk(&self, upload_id: &str, seq: i64) -> StoreResult<Option<Vec<u8>>>;
    /// Removes uploads that never finished (a crash mid-upload) or were never imported.
    async fn delete_stale_uploads(&self, older_than: DateTime<Utc>) -> StoreResult<u64>;
    /// Removes the uploads of imports that ended, in whatever state.
    async fn delete_uploads_of_ended_imports(&self) -> StoreResult<u64>;
    /// Removes imports that ended before `finished_before`, with their row errors.
    async fn delete_ended_imports(&self, finished_before: DateTime<Utc>) -> StoreResult<u64>;
    /// Bytes of upload data the user has stored, finished or still arriving.
    async fn user_upload_bytes(&self, user_id: i64) -> StoreResult<u64>;

    // The start guard
    /// Queues the import, created now by the database's clock. One without
    /// settings holds the slot while its file arrives: not claimable, owned by
    /// this instance until `finish_receiving` or `drop_receiving_import`.
    async fn insert_import(&self, new: &NewImport) -> StoreResult<InsertOutcome>;
    /// Gives a receiving import its settings and makes it claimable; false when
    /// it is no longer receiving (cancelled, or replaced as stale).
    async fn finish_receiving(&self, new: &NewImport) -> StoreResult<bool>;
    /// Deletes a receiving import whose file was refused: it never started.
    async fn drop_receiving_import(&self, import_id: &str) -> StoreResult<()>;
    async fn slot_holder(&self, user_id: i64) -> StoreResult<Option<SlotHolder>>;
    /// Marks the holder abandoned if it is still that attempt and, by the database's
    /// clock, still has made no progress for `stale_after`. True when this call replaced it.
    async fn abandon_if_stale(&self, holder: &SlotHolder, stale_after: Duration) -> StoreResult<bool>;

    // Workers
    /// Renews this instance's lease, stamped with the database's clock, on
    /// connections of its own: a pool saturated by requests must not delay it
    /// past the lease.
    async fn heartbeat(&self, instance_id: &str) -> StoreResult<()>;
    async fn remove_instance(&self, instance_id: &str) -> StoreResult<()>;
    /// Hands back processing imports whose instance's heartbeat is older than `lease`
    /// by the database's clock. With `count_failures`, each counts as a failure at
    /// its checkpoint (see `release_import`): a crash in a poison batch must not
    /// loop forever. Without, none does: the caller itself was away (an outage),
    /// so the others' leases lapsed for the same reason.
    async fn recover_orphans(&self, lease: std::time::Duration, max_failures: i32, count_failures: bool) -> StoreResult<Vec<Orphan>>;
    /// Claims the oldest queued import; its start and progress are stamped with the database's clock.
    async fn claim_next(&self, instance_id: &str) -> StoreResult<Option<Claim>>;
    /// Imports waiting for a worker, on every instance.
    async fn queued_imports(&self) -> StoreResult<u64>;
    /// Commits the batch with its checkpoint; its progress is stamped with the
    /// database's clock, `now` dates the contacts it writes.
    async fn commit_batch(&self, fence: &Fence, batch: Batch, now: DateTime<Utc>) -> StoreResult<BatchOutcome>;
    /// The user's stored contacts that hold any identity of `rows`, read on a
    /// connection of its own, outside any batch's transaction (`Prefetched`).
    /// With `held`, only the identities it may hold are asked for.
    async fn prefetch_owners(&self, user_id: i64, rows: &[RowContact], held: Option<&HeldIdentities>) -> StoreResult<Vec<StoredContact>>;
    /// Whether the user has any contact, with identities listed or not: a run
    /// keeps `HeldIdentities` only when they have none.
    async fn user_has_contacts(&self, user_id: i64) -> StoreResult<bool>;
    /// Hands a processing import back to the queue. With a `failure`, it counts one
    /// failure at its checkpoint, and the import ends `failed` once `max_failures`
    /// were counted at one checkpoint it did not move from since its claim. A
    /// cancelled import ends `cancelled` instead of going back. `None` when fenced out.
    async fn release_import(&self, fence: &Fence, failure: Option<&Failure>, max_failures: i32) -> StoreResult<Option<ImportStatus>>;
    /// Moves the import to a final state and drops its upload; a cancel acknowledged
    /// before it turns `succeeded` into `cancelled`. The state reached, or `None` when fenced out.
    async fn finish_import(&self, fence: &Fence, status: ImportStatus, reason: Option<&str>, now: DateTime<Utc>) -> StoreResult<Option<ImportStatus>>;

    // Reads and user actions, always scoped by user
    async fn get_import(&self, user_id: i64, import_id: &str) -> StoreResult<Option<ImportView>>;
    async fn list_imports(&self, user_id: i64, limit: u32) -> StoreResult<Vec<ImportView>>;
    /// Up to `limit` row errors after line `after` (from the start when `None`),
    /// read by key; `None` when the import is not this user's.
    async fn row_errors(&self, user_id: i64, import_id: &str, after: Option<u64>, limit: u32) -> StoreResult<Option<RowErrorsPage>>;
    async fn request_cancel(&self, user_id: i64, import_id: &str, now: DateTime<Utc>) -> StoreResult<Option<ImportView>>;
    /// `page` counts from 1.
    async fn contacts(&self, user_id: i64, query: &str, page: u32, per_page: u32) -> StoreResult<ContactsPage>;
}

/// The SET list that hands an import back (see `release_import`), for a backend
/// whose clock reads `now`. Parameters: `$1` max failures, `$2` whether this counts
/// as a failure, `$3` the failed batch (NULL: the one after the checkpoint), `$4` the error.
pub(crate) fn release_set(now: &str) -> String {
    let failures = "(CASE WHEN failed_checkpoint = rows_done THEN failures + 1 ELSE 1 END)";
    let gives_up = format!("(CAST($2 AS BOOLEAN) AND rows_done = claim_checkpoint AND {failures} >= $1)");
    format!(
        "status = CASE WHEN cancel_requested THEN 'cancelled' WHEN {gives_up} THEN 'failed' ELSE 'queued' END,
         failure_reason = CASE WHEN cancel_requested THEN NULL WHEN {gives_up} THEN
             'Failed ' || {failures} || ' times at '
             || COALESCE(CAST($3 AS TEXT), CASE WHEN rows_done = 0 THEN 'the first batch'
                 ELSE 'the batch after line ' || checkpoint_line END) || ': ' || CAST($4 AS TEXT) END,
         finished_at = CASE WHEN cancel_requested OR {gives_up} THEN {now} END,
         failures = CASE WHEN CAST($2 AS BOOLEAN) THEN {failures} ELSE failures END,
         failed_checkpoint = CASE WHEN CAST($2 AS BOOLEAN) THEN rows_done ELSE failed_checkpoint END,
         owner = NULL"
    )
}

/// What recovery records for an import whose instance's lease lapsed.
const ORPHAN_ERROR: &str = "its instance stopped responding";

/// Hands back one import of the attempt `$5`/`$6` (see `release_set`).
pub(crate) fn release_sql(now: &str) -> String {
    format!(
        "UPDATE imports SET {} WHERE id = $5 AND attempt = $6 AND status = 'processing' RETURNING upload_id, status",
        release_set(now)
    )
}

/// Hands back the processing imports of instances whose lease (`$5` seconds)
/// lapsed at `cutoff`; `lock` skips rows a live batch holds, where the backend can.
pub(crate) fn recover_sql(now: &str, cutoff: &str, lock: &str) -> String {
    format!(
        "UPDATE imports SET {}
         WHERE id IN (
             SELECT id FROM imports
             WHERE status = 'processing'
               AND (owner IS NULL OR owner NOT IN (SELECT id FROM instances WHERE heartbeat_at > {cutoff}))
             {lock})
         RETURNING id, user_id, attempt, status",
        release_set(now)
    )
}

/// Binds `release_set`'s parameters: `failure` `None` hands back without counting.
pub(crate) fn bind_release<'q, DB, O>(
    query: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments<'q>>,
    max_failures: i32,
    failure: Option<(Option<&'q str>, &'q str)>,
) -> sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(max_failures)
        .bind(failure.is_some())
        .bind(failure.and_then(|(batch, _)| batch))
        .bind(failure.map(|(_, error)| error))
}

/// `bind_release` for one import's attempt.
pub(crate) fn bind_release_one<'q, DB>(
    sql: &'q str,
    fence: &'q Fence,
    failure: Option<&'q Failure>,
    max_failures: i32,
) -> sqlx::query::QueryAs<'q, DB, (String, String), <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    (String, String): for<'r> sqlx::FromRow<'r, DB::Row>,
    i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let failure = failure.map(|f| (Some(f.batch.as_str()), f.error.as_str()));
    bind_release(sqlx::query_as(sql), max_failures, failure).bind(fence.import_id.as_str()).bind(fence.attempt)
}

/// `bind_release` for the imports of lapsed leases: a failure each, at the batch
/// after its checkpoint, when `count_failures`.
pub(crate) fn bind_recover<'q, DB>(
    sql: &'q str,
    lease: Duration,
    max_failures: i32,
    count_failures: bool,
) -> sqlx::query::QueryAs<'q, DB, (String, i64, i32, String), <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    (String, i64, i32, String): for<'r> sqlx::FromRow<'r, DB::Row>,
    i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let failure = count_failures.then_some((None, ORPHAN_ERROR));
    bind_release(sqlx::query_as(sql), max_failures, failure).bind(lease.as_secs_f64())
}

pub(crate) fn orphans(rows: Vec<(String, i64, i32, String)>) -> StoreResult<Vec<Orphan>> {
    rows.into_iter()
        .map(|(import_id, user_id, attempt, status)| Ok(Orphan { import_id, user_id, attempt, status: parse_status(&status)? }))
        .collect()
}

/// Renews a lease; `now` is the backend's clock.
pub(crate) fn heartbeat_sql(now: &str) -> String {
    format!(
        "INSERT INTO instances (id, heartbeat_at) VALUES ($1, {now})
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at"
    )
}

/// Claims the oldest queued import as a new attempt; `{pick}` selects its id, `now` is the backend's clock.
pub(crate) fn claim_sql(pick: &str, now: &str) -> String {
    format!(
        "UPDATE imports SET status = 'processing', attempt = attempt + 1, owner = $1, claim_checkpoint = rows_done,
             processing_started_at = COALESCE(processing_started_at, {now}), last_progress_at = {now}
         WHERE id = ({pick}) AND status = 'queued'
         RETURNING id, user_id, upload_id, attempt, sniffed, mapping, rows_done, rows_total"
    )
}

/// The import that holds user `$1`'s slot, with the backend's clock `now` as `db_now`.
pub(crate) fn slot_holder_sql(now: &str) -> String {
    format!(
        "SELECT id, attempt, created_at, processing_started_at, last_progress_at, {now} AS db_now FROM imports
         WHERE user_id = $1 AND status IN ('queued', 'processing')"
    )
}

/// Abandons import `$1` if it is still attempt `$2` and active, and made no
/// progress since `stale_cutoff` (the backend's clock less `$3` seconds).
pub(crate) fn abandon_sql(now: &str, stale_cutoff: &str) -> String {
    format!(
        "UPDATE imports SET status = 'abandoned', finished_at = {now},
             failure_reason = 'Replaced by a new import after making no progress.'
         WHERE id = $1 AND attempt = $2 AND status IN ('queued', 'processing')
           AND COALESCE(last_progress_at, processing_started_at, created_at) <= {stale_cutoff}
         RETURNING upload_id"
    )
}

/// Opens a batch: stamps progress with the backend's clock `now` if the fence
/// (`$1` import, `$2` attempt) holds, and tells whether a cancel was asked for.
pub(crate) fn progress_sql(now: &str) -> String {
    format!(
        "UPDATE imports SET last_progress_at = {now} WHERE id = $1 AND attempt = $2 AND status = 'processing'
         RETURNING cancel_requested"
    )
}

/// A batch's checkpoint and counters, in the batch's transaction.
pub(crate) const CHECKPOINT_SQL: &str =
    "UPDATE imports SET rows_done = $1, checkpoint_line = $2, created = created + $3, updated = updated + $4,
         unchanged = unchanged + $5, rejected = rejected + $6, skipped = skipped + $7, merged = merged + $8
     WHERE id = $9";

/// Ends an import; an acknowledged cancel wins over success. `$1` status, `$2` reason, `$3` now.
pub(crate) const FINISH_SQL: &str =
    "UPDATE imports SET status = CASE WHEN $1 = 'succeeded' AND cancel_requested THEN 'cancelled' ELSE $1 END,
         failure_reason = $2, finished_at = $3, owner = NULL
     WHERE id = $4 AND attempt = $5 AND status = 'processing' RETURNING upload_id, status";

/// A claimed row as a worker's import; `decode` reads the backend's JSON columns.
/// Settings that do not decode make an `Unreadable` claim instead of an error, so
/// the worker can fail that import rather than claim it again and again.
pub(crate) fn claim_from_row<R>(row: &R, decode: impl Fn(&R) -> StoreResult<(Sniffed, Mapping)>) -> StoreResult<Claim>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let fence = Fence { import_id: row.try_get("id")?, attempt: row.try_get("attempt")? };
    let user_id = row.try_get("user_id")?;
    let settings = decode(row).and_then(|settings| Ok((settings, row.try_get::<String, _>("upload_id")?)));
    let ((sniffed, mapping), upload_id) = match settings {
        Ok(settings) => settings,
        Err(error) => return Ok(Claim::Unreadable { fence, user_id, error: error.to_string() }),
    };
    Ok(Claim::Ready(ClaimedImport {
        import_id: fence.import_id,
        user_id,
        upload_id,
        attempt: fence.attempt,
        sniffed,
        mapping,
        rows_done: row.try_get::<i64, _>("rows_done")? as u64,
        rows_total: row.try_get::<Option<i64>, _>("rows_total")?.unwrap_or(0) as u64,
    }))
}

pub(crate) fn parse_status(status: &str) -> StoreResult<ImportStatus> {
    ImportStatus::parse(status).ok_or_else(|| StoreError::Corrupt(format!("status {status}")))
}

pub(crate) const IMPORT_COLUMNS: &str = "id, file_name, status, attempt, rows_total, rows_done, created, updated, \
     unchanged, rejected, skipped, merged, cancel_requested, failure_reason, created_at, \
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
        status: parse_status(&status)?,
        rows_done: count("rows_done")?,
        rows_total: row.try_get::<Option<i64>, _>("rows_total")?.map(|n| n as u64),
        counts: Counts {
            created: count("created")?,
            updated: count("updated")?,
            unchanged: count("unchanged")?,
            rejected: count("rejected")?,
            skipped: count("skipped")?,
            merged: count("merged")?,
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
    "SELECT user_id, created_at, last_seen_at FROM sessions WHERE token_hash = $1 AND last_seen_at > $2 AND created_at > $3";
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
pub(crate) const DELETE_ENDED_IMPORTS: &str =
    "DELETE FROM imports WHERE status NOT IN ('queued', 'processing') AND finished_at < $1";
pub(crate) const QUEUED_IMPORTS: &str = "SELECT COUNT(*) FROM imports WHERE status = 'queued' AND NOT receiving";
pub(crate) const USER_UPLOAD_BYTES: &str =
    "SELECT CAST(COALESCE(SUM(received_bytes), 0) AS BIGINT) FROM uploads WHERE user_id = $1";
/// `Store::reserve_upload_bytes` in the caller's transaction, with the backend's
/// lock on the user's row (if it needs one) and its two-argument maximum.
pub(crate) async fn reserve_in<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    upload_id: &str,
    user_id: i64,
    total: u64,
    quota: u64,
    (user_row_lock, greatest): (Option<&str>, &str),
) -> StoreResult<ChunkOutcome>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> (bool,): sqlx::FromRow<'r, DB::Row>,
{
    if let Some(lock) = user_row_lock {
        sqlx::query(lock).bind(user_id).execute(&mut **tx).await?;
    }
    let clamp = |bytes: u64| i64::try_from(bytes).unwrap_or(i64::MAX);
    let reserved: Option<(bool,)> = sqlx::query_as(&reserve_upload_bytes_sql(greatest))
        .bind(clamp(total))
        .bind(upload_id)
        .bind(user_id)
        .bind(clamp(quota))
        .fetch_optional(&mut **tx)
        .await?;
    if reserved.is_some() {
        return Ok(ChunkOutcome::Stored);
    }
    let (exists,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM uploads WHERE id = $1)").bind(upload_id).fetch_one(&mut **tx).await?;
    Ok(if exists { ChunkOutcome::QuotaReached } else { ChunkOutcome::UploadGone })
}

/// Grows upload `$2`'s reservation (of user `$3`) to `$1` bytes if all of the
/// user's reservations then stay within `$4`; `greatest` is the backend's two-argument maximum.
pub(crate) fn reserve_upload_bytes_sql(greatest: &str) -> String {
    format!(
        "UPDATE uploads SET received_bytes = {greatest}(received_bytes, $1)
         WHERE id = $2 AND user_id = $3
           AND (SELECT COALESCE(SUM(mine.received_bytes), 0) FROM uploads mine WHERE mine.user_id = $3)
               - received_bytes + {greatest}(received_bytes, $1) <= $4
         RETURNING TRUE"
    )
}
/// A receiving import's settings (`$1` file name, `$2` sniffed, `$3` mapping, `$4` rows, `$5` id): now it may be claimed.
pub(crate) const FINISH_RECEIVING_SQL: &str =
    "UPDATE imports SET file_name = $1, sniffed = $2, mapping = $3, rows_total = $4, receiving = FALSE, owner = NULL
     WHERE id = $5 AND status = 'queued' AND receiving";
pub(crate) const DROP_RECEIVING_IMPORT: &str = "DELETE FROM imports WHERE id = $1 AND receiving AND status = 'queued'";

/// A chunk of a receiving import's file (user `$1`, upload `$2`) is its progress.
pub(crate) fn receiving_progress_sql(now: &str) -> String {
    format!("UPDATE imports SET last_progress_at = {now} WHERE user_id = $1 AND upload_id = $2 AND receiving AND status = 'queued'")
}

/// Ends the receiving imports of instances whose lease (`$1` seconds) lapsed at
/// `cutoff`: their files will not arrive.
pub(crate) fn end_lost_receipts_sql(now: &str, cutoff: &str) -> String {
    format!(
        "UPDATE imports SET status = 'failed', receiving = FALSE, owner = NULL, finished_at = {now},
             failure_reason = 'The file did not arrive whole: the instance receiving it stopped.'
         WHERE status = 'queued' AND receiving
           AND (owner IS NULL OR owner NOT IN (SELECT id FROM instances WHERE heartbeat_at > {cutoff}))
         RETURNING id, user_id, attempt, status"
    )
}

/// Sessions and tokens record their use at most this often, so that checking a
/// credential is a read, not a write that queues behind an import's batch.
pub(crate) fn touch_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|last| now - last >= chrono::Duration::seconds(60))
}

/// The query case-folded as `search_text` is, with `%`, `_` and `\` escaped so
/// user text is matched literally by `LIKE … ESCAPE '\'`.
pub(crate) fn like_pattern(query: &str) -> String {
    let mut pattern = String::from("%");
    for c in crate::domain::identity::fold(query.trim()).chars() {
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

/// A contact's folded searchable text contains the `like_pattern` bound as $2.
pub(crate) const CONTACT_MATCHES: &str = "user_id = $1 AND search_text LIKE $2 ESCAPE '\\'";

/// Statements take at most this many rows of values, far below either backend's
/// parameter limit.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// `($first, …), (…)`: `rows` tuples of `width` numbered placeholders.
pub(crate) fn placeholders(first: usize, rows: usize, width: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows * width * 7);
    for row in 0..rows {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            if column > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "${}", first + row * width + column);
        }
        out.push(')');
    }
    out
}

/// The text of a statement over `rows` rows of values. Every chunk of a batch but
/// its last is `ROWS_PER_STATEMENT` rows long, so that text is built once per
/// process (in `full`) instead of once per chunk.
pub(crate) fn chunk_statement(
    full: &'static std::sync::OnceLock<String>,
    rows: usize,
    build: fn(usize) -> String,
) -> std::borrow::Cow<'static, str> {
    if rows == ROWS_PER_STATEMENT {
        full.get_or_init(|| build(rows)).as_str().into()
    } else {
        build(rows).into()
    }
}

pub(crate) const STORED_CONTACT_COLUMNS: &str =
    "id, display_name, given_name, family_name, emails, phones, organization, title, notes";

/// Binds contact ids. By the primary key alone: with `user_id = …` beside it,
/// Postgres planned some reads through the user's index, which holds every
/// contact of the user, and an import's batches slowed as it grew. The caller
/// checks the owner.
pub(crate) fn contacts_by_id_sql(ids: usize) -> String {
    format!("SELECT user_id, {STORED_CONTACT_COLUMNS}, identities FROM contacts WHERE id IN {}", placeholders(1, 1, ids))
}

/// A stored contact's fields; its emails and phones are JSON text on both backends.
pub(crate) fn stored_contact<R: sqlx::Row>(row: &R) -> StoreResult<Contact>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'v> String: sqlx::Decode<'v, R::Database> + sqlx::Type<R::Database>,
{
    let emails: String = row.try_get("emails")?;
    let phones: String = row.try_get("phones")?;
    Ok(Contact {
        display_name: row.try_get("display_name")?,
        given_name: row.try_get("given_name")?,
        family_name: row.try_get("family_name")?,
        emails: serde_json::from_str(&emails)?,
        phones: serde_json::from_str::<Vec<Phone>>(&phones)?,
        organization: row.try_get("organization")?,
        title: row.try_get("title")?,
        notes: row.try_get("notes")?,
    })
}

/// The `identities` column read back; `NULL` (a contact from before identities) lists none.
fn listed_identities(listing: Option<&str>) -> StoreResult<Vec<Identity>> {
    listing.map_or(Ok(Vec::new()), |listing| crate::domain::identity::from_listing(listing).map_err(StoreError::Corrupt))
}

/// Deletes absorbed contacts (binds the user id, then their ids); the trigger
/// deletes the identities they list, which the survivor then stores as its own.
pub(crate) fn absorb_sql(absorbed: usize) -> String {
    format!("DELETE FROM contacts WHERE user_id = $1 AND id IN {}", placeholders(2, 1, absorbed))
}

/// A stored contact that changed no field but gained identities lists them (binds the listing, the user id, its id).
pub(crate) const RELIST_IDENTITIES_SQL: &str = "UPDATE contacts SET identities = $1 WHERE user_id = $2 AND id = $3";

/// The identity and contact reads and writes of a batch, inside its transaction.
#[async_trait]
pub(crate) trait ContactTx: Send {
    /// The ids of the user's contacts holding any of `identities`.
    async fn identity_owners(&mut self, user_id: i64, identities: &[&Identity]) -> StoreResult<Vec<i64>>;
    /// These contacts of the user, with their stored identities.
    async fn stored_contacts(&mut self, user_id: i64, ids: &[i64]) -> StoreResult<Vec<StoredContact>>;
    /// Merges absorbed contacts, writes created and updated contacts (with
    /// their search text) and stores every new identity.
    async fn write_plan(&mut self, user_id: i64, plan: &BatchPlan<'_>, now: DateTime<Utc>) -> StoreResult<()>;
    /// Up to `limit` contacts from before the identity migration, oldest first,
    /// with their user; they hold no identities yet.
    async fn contacts_to_backfill(&mut self, limit: u32) -> StoreResult<Vec<(i64, StoredContact)>>;
}

/// The contacts holding any of `identities`, leaving out those in `known` (and adding the others to it).
async fn owners_of(tx: &mut dyn ContactTx, user_id: i64, identities: &[&Identity], known: &mut HashSet<i64>) -> StoreResult<Vec<StoredContact>> {
    let mut found = Vec::new();
    for chunk in identities.chunks(ROWS_PER_STATEMENT) {
        let owners = tx.identity_owners(user_id, chunk).await?;
        let new: Vec<i64> = owners.into_iter().filter(|id| known.insert(*id)).collect();
        for ids in new.chunks(ROWS_PER_STATEMENT) {
            found.extend(tx.stored_contacts(user_id, ids).await?);
        }
    }
    Ok(found)
}

/// What `Store::prefetch_owners` asks for: each identity of the rows once, less
/// those `held` shows no contact can hold.
fn identities_to_prefetch<'r>(rows: &'r [RowContact], held: Option<&HeldIdentities>) -> Vec<&'r Identity> {
    let mut seen: HashSet<&Identity> = HashSet::new();
    rows.iter()
        .flat_map(|row| &row.identities)
        .filter(|i| held.is_none_or(|held| held.may_hold(i)) && seen.insert(*i))
        .collect()
}

/// The identities a user's contacts may hold, kept by a run that began when the
/// user had no contacts. Their identities can then come only from the run's own
/// batches (a user's contacts change only through their one running import), and
/// each batch's touched set is added once it commits. While a batch is in
/// flight, the filter covers every batch before it; what the batch in flight
/// stores comes back to the next one as `Prefetched::stale`, which it asks for
/// again in its transaction. So an identity the filter rules out was stored by
/// no batch the early read could have missed, and the read need not ask for it:
/// on a first import, the usual case, that is nearly every identity.
///
/// A Bloom filter of bounded size: a false positive costs one lookup, and a file
/// with more identities than it was sized for only makes them more frequent.
pub struct HeldIdentities(fastbloom::BloomFilter);

/// The filter's bits per identity expected: about 2 % false positives.
const HELD_BITS_PER_IDENTITY: u64 = 8;
/// Identities a row is expected to hold: an email, and the name with a phone.
const HELD_IDENTITIES_PER_ROW: u64 = 2;
/// 2 MiB per running import, enough for 2,000,000 identities at the rate above.
const HELD_MAX_BITS: u64 = 1 << 24;
const HELD_MIN_BITS: u64 = 1 << 12;

impl HeldIdentities {
    /// An empty filter sized for a file of `rows` data rows.
    pub fn for_rows(rows: u64) -> Self {
        let expected = rows.saturating_mul(HELD_IDENTITIES_PER_ROW).max(1);
        let bits = expected.saturating_mul(HELD_BITS_PER_IDENTITY).clamp(HELD_MIN_BITS, HELD_MAX_BITS);
        // Hashes for the bits as clamped: for the expected count, a tiny file
        // would get thousands per identity, a huge one a single hash.
        Self(fastbloom::BloomFilter::with_num_bits(bits as usize).expected_items((bits / HELD_BITS_PER_IDENTITY) as usize))
    }

    /// Adds a committed batch's `touched` set (`identity_hash`es).
    pub fn add(&mut self, touched: &HashSet<u64>) {
        for hash in touched {
            self.0.insert_hash(*hash);
        }
    }

    pub fn may_hold(&self, identity: &Identity) -> bool {
        self.0.contains_hash(identity_hash(identity))
    }
}

/// Plans `rows` against the user's stored contacts: fetches every contact that
/// holds an identity the plan's people hold, and plans again until the plan
/// holds no identity it has not looked up. `stored` starts the plan off, and so
/// do the `prefetched` owners, less whatever the batch before touched.
pub(crate) async fn plan_against_store<'r>(
    tx: &mut dyn ContactTx,
    user_id: i64,
    rows: &'r [RowContact],
    mut stored: Vec<StoredContact>,
    prefetched: Option<Prefetched>,
) -> StoreResult<BatchPlan<'r>> {
    // A contact holding a touched identity may have changed or gone since the
    // read: it is read again, and so is the owner of each of its identities.
    let mut unsure: HashSet<Identity> = HashSet::new();
    let stale = match prefetched {
        Some(Prefetched { contacts, stale }) => {
            for contact in contacts {
                if contact.identities.iter().any(|i| stale.contains(&identity_hash(i))) {
                    unsure.extend(contact.identities);
                } else {
                    stored.push(contact);
                }
            }
            Some(stale)
        }
        None => None,
    };
    let answered = |identity: &Identity| {
        stale.as_ref().is_some_and(|stale| !stale.contains(&identity_hash(identity)) && !unsure.contains(identity))
    };
    // Every identity the rows hold is asked for once, here or by the prefetch.
    let mut asked_rows: HashSet<&Identity> = HashSet::new();
    let first: Vec<&Identity> =
        rows.iter().flat_map(|row| &row.identities).filter(|i| asked_rows.insert(*i) && !answered(i)).collect();
    let mut known: HashSet<i64> = stored.iter().map(|s| s.id).collect();
    stored.extend(owners_of(tx, user_id, &first, &mut known).await?);
    // Then those the plan's people hold beyond the rows' (a merged contact's).
    let mut asked: HashSet<Identity> = HashSet::new();
    loop {
        let plan = plan_batch(rows, &stored);
        let pending: Vec<&Identity> = plan
            .contacts
            .iter()
            .flat_map(|c| c.identities.iter())
            .filter(|i| !asked_rows.contains(i) && asked.insert((*i).clone()))
            .collect();
        let found = owners_of(tx, user_id, &pending, &mut known).await?;
        if found.is_empty() {
            return Ok(plan);
        }
        stored.extend(found);
    }
}

/// Frees a committed batch's rows on a blocking thread: thousands of small
/// allocations that the next batch's commit need not wait for.
pub(crate) fn free_beside<T: Send + 'static>(spent: T) {
    tokio::task::spawn_blocking(move || drop(spent));
}

/// Every identity of every person in the plan, by `identity_hash`: what a
/// prefetch of the next batch's owners, read while this plan was written, may
/// not reflect.
pub(crate) fn touched_identities(plan: &BatchPlan<'_>) -> HashSet<u64> {
    plan.contacts.iter().flat_map(|c| c.identities.iter()).map(identity_hash).collect()
}

/// An identity as a touched set holds it: a collision only makes a batch ask
/// for an owner once more.
pub(crate) fn identity_hash(identity: &Identity) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one(identity)
}

/// Contacts backfilled per transaction at start-up.
const BACKFILL_CHUNK: u32 = 1000;

/// Gives contacts from before the identity migration their identities and
/// search text, merging those that turn out to be one person into the oldest.
/// One chunk per call, in the caller's transaction; the number of contacts
/// it took, 0 when none is left.
pub(crate) async fn backfill_identities_chunk(tx: &mut dyn ContactTx, now: DateTime<Utc>) -> StoreResult<usize> {
    let chunk = tx.contacts_to_backfill(BACKFILL_CHUNK).await?;
    let taken = chunk.len();
    let mut users: Vec<(i64, Vec<StoredContact>)> = Vec::new();
    for (user_id, contact) in chunk {
        match users.last_mut() {
            Some((user, contacts)) if *user == user_id => contacts.push(contact),
            _ => users.push((user_id, vec![contact])),
        }
    }
    for (user_id, contacts) in users {
        let mut plan = plan_against_store(tx, user_id, &[], contacts, None).await?;
        // Every contact taken is written (its search text) or absorbed.
        for planned in &mut plan.contacts {
            planned.change = Change::Updated;
        }
        tx.write_plan(user_id, &plan, now).await?;
        if plan.counts.merged > 0 {
            tracing::info!(user_id, merged = plan.counts.merged, "merged contacts that are one person by their identities");
        }
    }
    Ok(taken)
}

/// Every identity the plan stores, with the id of the contact that holds it, in
/// the unique index's order: each insert lands beside the one before, on pages
/// already in the cache, instead of hopping between kinds and names.
pub(crate) fn new_identities<'p>(plan: &'p BatchPlan<'_>, ids: &'p [i64]) -> Vec<(&'p Identity, i64)> {
    let mut identities: Vec<(&Identity, i64)> = plan
        .contacts
        .iter()
        .zip(ids)
        .flat_map(|(planned, id)| planned.new_identities.iter().map(move |identity| (identity, *id)))
        .collect();
    identities.sort_unstable_by(|(a, _), (b, _)| (a.kind.as_str(), &a.value).cmp(&(b.kind.as_str(), &b.value)));
    identities
}

/// Each planned contact's id: its survivor's, or the next of `new_ids` for a new one.
pub(crate) fn planned_ids(plan: &BatchPlan, mut new_ids: impl Iterator<Item = i64>) -> StoreResult<Vec<i64>> {
    plan.contacts
        .iter()
        .map(|planned| {
            planned.id.or_else(|| new_ids.next()).ok_or_else(|| StoreError::Corrupt("too few new contact ids".into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(emails: &[&str]) -> RowContact {
        Contact { display_name: "Ana".into(), emails: emails.iter().map(|e| e.to_string()).collect(), ..Contact::default() }.into()
    }

    #[test]
    fn held_identities_hold_every_touched_identity_and_few_others() {
        let mut held = HeldIdentities::for_rows(1000);
        let stored: Vec<Identity> = (0..2000).map(|i| Identity::email(&format!("p{i}@x.io"))).collect();
        held.add(&stored.iter().map(identity_hash).collect());
        assert!(stored.iter().all(|i| held.may_hold(i)), "a Bloom filter has no false negatives");
        let others = (0..10_000).filter(|i| held.may_hold(&Identity::email(&format!("q{i}@x.io")))).count();
        assert!(others < 500, "{others} of 10,000 identities never added were held");
    }

    #[test]
    fn held_identities_stay_within_their_bound_however_long_the_file() {
        for (rows, bits) in [(u64::MAX, HELD_MAX_BITS), (0, HELD_MIN_BITS), (1, HELD_MIN_BITS), (1000, 16_000)] {
            let held = HeldIdentities::for_rows(rows);
            assert_eq!(held.0.num_bits() as u64, bits.next_multiple_of(64), "{rows} rows");
            // About ln 2 × bits per identity, whatever the clamp did to the bits.
            assert!((4..=8).contains(&held.0.num_hashes()), "{rows} rows: {} hashes", held.0.num_hashes());
        }
    }

    #[test]
    fn the_early_read_asks_once_for_each_identity_that_may_be_held() {
        let rows = [row(&["a@x.io", "b@x.io"]), row(&["b@x.io", "c@x.io"])];
        let asked = |held: Option<&HeldIdentities>| -> Vec<String> {
            identities_to_prefetch(&rows, held).iter().map(|i| i.value.clone()).collect()
        };
        assert_eq!(asked(None), ["a@x.io", "b@x.io", "c@x.io"], "without a filter, each identity once");
        let mut held = HeldIdentities::for_rows(2);
        assert!(asked(Some(&held)).is_empty(), "an empty filter holds nothing");
        held.add(&[identity_hash(&Identity::email("b@x.io"))].into_iter().collect());
        assert_eq!(asked(Some(&held)), ["b@x.io"]);
    }
}
