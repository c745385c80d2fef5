//! SQLite: one file in WAL mode. Reads share a pool; writes take turns on one
//! connection (`SqliteStore::writer`). Multi-statement writes still take the write
//! lock up front (`BEGIN IMMEDIATE`), so that a writer in another process (the
//! CLI) queues on the busy timeout instead of failing to upgrade a read lock.

use super::*;
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Arguments, Row, SqlitePool};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;
use std::time::Duration;

pub struct SqliteStore {
    /// Reads, beside the writer (WAL).
    pool: SqlitePool,
    /// The one connection that writes. SQLite runs one writer at a time, and
    /// writers that wait in its busy handler sleep and retry: one that
    /// commits batch after batch takes the lock again before they wake, for
    /// seconds. Waiting for this connection instead is first come, first served.
    writer: SqlitePool,
    /// Asks `checkpoint_after_writes` for a checkpoint.
    checkpoint_wanted: Arc<Notify>,
    instance_id: String,
}

/// Frames the WAL may hold before a committing writer checkpoints it itself:
/// a bound for when `checkpoint_after_writes` falls behind (SQLite's default is 1,000).
const WAL_AUTOCHECKPOINT_PAGES: &str = "10000";

/// Copies committed pages from the WAL into the database file on a connection
/// of its own, beside the writer. Left to SQLite, the checkpoint runs inside
/// the COMMIT that crosses its threshold, on the path every batch waits for.
async fn checkpoint_after_writes(pool: SqlitePool, wanted: Arc<Notify>) {
    loop {
        wanted.notified().await;
        if pool.is_closed() {
            return;
        }
        // PASSIVE: copies what no reader still needs, and neither waits for nor blocks the writer.
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(%error, "background WAL checkpoint failed; the committing writer checkpoints instead");
        }
    }
}

/// The database's clock, in the Unix milliseconds the tables keep.
const NOW: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
/// No row locks: SQLite runs one writer at a time.
const ORPHAN_ROW_LOCK: &str = "";
/// Nor a lock on the user's row: the transaction holds the write lock.
/// The larger of two values.
const GREATEST: &str = "MAX";
const USER_ROW_LOCK: Option<&str> = None;

/// The database's clock less the seconds bound as `param`: a lease's or a staleness cutoff.
fn seconds_ago(param: &str) -> String {
    format!("({NOW} - CAST({param} * 1000.0 AS INTEGER))")
}

fn decode_settings(row: &SqliteRow) -> StoreResult<(Sniffed, Mapping)> {
    let sniffed: String = row.try_get("sniffed")?;
    let mapping: String = row.try_get("mapping")?;
    Ok((serde_json::from_str(&sniffed)?, serde_json::from_str(&mapping)?))
}

/// Shared SQL (`$N` in order of appearance) with anonymous `?` placeholders, which
/// SQLite binds by position without looking a name up per parameter.
fn query_text(sql: String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.next_if(char::is_ascii_digit).is_some() {}
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// New and changed contacts in one statement per `ROWS_PER_STATEMENT`: a new
/// contact's id was taken past the largest, so only a changed one conflicts.
/// The user and the time are bound once per statement, each row's own values
/// after them. `OR FAIL` (no constraint can fail here) spares SQLite the
/// statement journal that a multi-row statement which may abort halfway keeps.
fn contact_upsert_sql(rows: usize) -> String {
    query_text(format!(
        "INSERT OR FAIL INTO contacts (id, user_id, display_name, given_name, family_name, emails, phones,
             organization, title, notes, search_text, identities, created_at, updated_at)
         SELECT column1, $1, column2, column3, column4, column5, column6, column7, column8, column9,
                column10, column11, $2, $3
         FROM (VALUES {}) WHERE true
         ON CONFLICT (id) DO UPDATE SET
             display_name = excluded.display_name, given_name = excluded.given_name,
             family_name = excluded.family_name, emails = excluded.emails, phones = excluded.phones,
             organization = excluded.organization, title = excluded.title, notes = excluded.notes,
             search_text = excluded.search_text, identities = excluded.identities, updated_at = excluded.updated_at",
        placeholders(4, rows, CONTACT_ROW_VALUES)
    ))
}

/// What `contact_upsert_sql` binds for each row.
const CONTACT_ROW_VALUES: usize = 11;

/// New identities of one kind: the planner looked each one up first, so none is held.
fn identity_insert_sql(rows: usize) -> String {
    query_text(format!(
        "INSERT OR FAIL INTO contact_identities (user_id, kind, value, contact_id)
         SELECT $1, $2, column1, column2 FROM (VALUES {})",
        placeholders(3, rows, 2)
    ))
}

/// A join on the whole unique key, not `(kind, value) IN (VALUES …)`, for which
/// SQLite searches the unique index by user_id alone.
fn identity_owners_sql(identities: usize) -> String {
    let wanted = vec!["(?, ?)"; identities].join(", ");
    format!(
        "SELECT DISTINCT held.contact_id FROM (VALUES {wanted}) AS wanted
         JOIN contact_identities held ON held.user_id = ? AND held.kind = wanted.column1 AND held.value = wanted.column2"
    )
}

fn row_errors_insert_sql(rows: usize) -> String {
    let values = vec!["(?, ?, ?)"; rows].join(", ");
    format!("INSERT INTO import_errors (import_id, line, reason) VALUES {values} ON CONFLICT DO NOTHING")
}

static FULL_CONTACT_UPSERT: OnceLock<String> = OnceLock::new();
static FULL_IDENTITY_INSERT: OnceLock<String> = OnceLock::new();
static FULL_IDENTITY_OWNERS: OnceLock<String> = OnceLock::new();
static FULL_ROW_ERRORS_INSERT: OnceLock<String> = OnceLock::new();

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn opt_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(time)
}

fn time_column(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    Ok(opt_time(row.try_get(column)?))
}

/// Drops the upload of an import that just ended; false when none ended.
async fn drop_upload(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, ended_upload: Option<String>) -> StoreResult<bool> {
    let Some(upload_id) = ended_upload else { return Ok(false) };
    sqlx::query("DELETE FROM uploads WHERE id = ?").bind(upload_id).execute(&mut **tx).await?;
    Ok(true)
}

impl SqliteStore {
    /// Runs a statement that ends an import or hands it back (`RETURNING upload_id,
    /// status`) and drops the upload of an import that ended, in one transaction.
    /// The state reached, or `None` when the fence did not hold.
    async fn end_import<'q>(
        &self,
        statement: sqlx::query::QueryAs<'q, sqlx::Sqlite, (String, String), sqlx::sqlite::SqliteArguments<'q>>,
    ) -> StoreResult<Option<ImportStatus>> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let Some((upload_id, status)) = statement.fetch_optional(&mut *tx).await? else { return Ok(None) };
        let status = parse_status(&status)?;
        if !status.is_active() {
            drop_upload(&mut tx, Some(upload_id)).await?;
        }
        tx.commit().await?;
        Ok(Some(status))
    }

    pub async fn connect(url: &str, timeouts: &Timeouts) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(timeouts.sqlite_busy)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES);
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
        }
        // A connection is a thread in this process: a ping before each use cannot
        // find it gone, and would cost every transaction a round trip.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone())
            .await?;
        // Waiting for the writer stands in for waiting in SQLite's busy handler.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(timeouts.sqlite_busy)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        loop {
            let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
            let taken = backfill_identities_chunk(&mut tx, Utc::now()).await?;
            tx.commit().await?;
            if taken == 0 {
                break;
            }
        }
        let checkpoint_wanted = Arc::new(Notify::new());
        tokio::spawn(checkpoint_after_writes(pool.clone(), checkpoint_wanted.clone()));
        Ok(Self { pool, writer, checkpoint_wanted, instance_id: uuid::Uuid::new_v4().to_string() })
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// A transaction of the one writer, holding the write lock from its start.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Leases are written by the one writer: the wait for its turn is bounded
    /// by `DATABASE_BUSY_TIMEOUT`, well below a lease.
    fn lease_keeper(&self) -> &SqlitePool {
        &self.writer
    }

    /// Nothing to end: SQLite has no sessions another process could end, and
    /// instances share a file only on one machine, where a frozen writer
    /// holds the only write lock (see the chaos tests).
    async fn end_sessions_of_lapsed_owners(&self, _lease: Duration) -> StoreResult<()> {
        Ok(())
    }

    /// Data was committed: the WAL wants checkpointing.
    fn wrote(&self) {
        self.checkpoint_wanted.notify_one();
    }
}

impl_store!(SqliteStore, Backend::Sqlite, times: i64, written by ms, read by time, {
    async fn create_user(&self, email: &str, password_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
        let id = sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, created_at) VALUES (?, ?, ?)
             ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(email)
        .bind(password_hash)
        .bind(ms(now))
        .fetch_optional(&self.writer)
        .await?;
        Ok(id)
    }

    async fn create_token(&self, user_id: i64, name: &str, token_hash: &str, now: DateTime<Utc>) -> StoreResult<TokenView> {
        let id = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash)
        .bind(ms(now))
        .fetch_one(&self.writer)
        .await?;
        Ok(TokenView { id, name: name.to_owned(), created_at: time(ms(now)), last_used_at: None })
    }

    async fn finish_upload(&self, upload_id: &str, meta: &UploadMeta) -> StoreResult<()> {
        // What was reserved ahead of the bytes (a declared length) and not used is given back.
        sqlx::query("UPDATE uploads SET byte_size = ?, received_bytes = ?, data_rows = ?, sniffed = ? WHERE id = ?")
            .bind(meta.byte_size as i64)
            .bind(meta.byte_size as i64)
            .bind(meta.data_rows as i64)
            .bind(serde_json::to_string(&meta.sniffed)?)
            .bind(upload_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn upload_meta(&self, user_id: i64, upload_id: &str) -> StoreResult<Option<UploadMeta>> {
        let row: Option<(String, i64, i64, String)> = sqlx::query_as(
            "SELECT file_name, byte_size, data_rows, sniffed FROM uploads
             WHERE id = ? AND user_id = ? AND byte_size IS NOT NULL",
        )
        .bind(upload_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(file_name, size, data_rows, sniffed)| {
            Ok(UploadMeta {
                file_name,
                byte_size: size as u64,
                sniffed: serde_json::from_str(&sniffed)?,
                data_rows: data_rows as u64,
            })
        })
        .transpose()
    }

    async fn delete_stale_uploads(&self, older_than: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM uploads WHERE created_at < ?
             AND id NOT IN (SELECT upload_id FROM imports WHERE status IN ('queued', 'processing'))",
        )
        .bind(ms(older_than))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn insert_import(&self, new: &NewImport) -> StoreResult<InsertOutcome> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO imports (id, user_id, upload_id, file_name, status, sniffed, mapping, rows_total, created_at, receiving, owner)
             VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, {NOW}, ?, ?)"
        ))
        .bind(&new.id)
        .bind(new.user_id)
        .bind(&new.upload_id)
        .bind(&new.file_name)
        .bind(serde_json::to_string(&new.sniffed)?)
        .bind(serde_json::to_string(&new.mapping)?)
        .bind(new.rows_total as i64)
        .bind(new.is_receiving())
        .bind(new.is_receiving().then_some(&self.instance_id))
        .execute(&self.writer)
        .await;
        match inserted {
            Ok(_) => Ok(InsertOutcome::Inserted),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(InsertOutcome::SlotTaken),
            Err(e) => Err(e.into()),
        }
    }

    async fn finish_receiving(&self, new: &NewImport) -> StoreResult<bool> {
        let done = sqlx::query(FINISH_RECEIVING_SQL)
            .bind(&new.file_name)
            .bind(serde_json::to_string(&new.sniffed)?)
            .bind(serde_json::to_string(&new.mapping)?)
            .bind(new.rows_total as i64)
            .bind(&new.id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn abandon_if_stale(&self, holder: &SlotHolder, stale_after: Duration) -> StoreResult<bool> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let upload_id: Option<String> = sqlx::query_scalar(&abandon_sql(NOW, &seconds_ago("$3")))
            .bind(&holder.import_id)
            .bind(holder.attempt)
            .bind(stale_after.as_secs_f64())
            .fetch_optional(&mut *tx)
        .await?;
        let ended = drop_upload(&mut tx, upload_id).await?;
        tx.commit().await?;
        Ok(ended)
    }

    async fn claim_next(&self, instance_id: &str) -> StoreResult<Option<Claim>> {
        // An idle poll stays a read: an UPDATE would queue for the write lock behind uploads.
        let queued: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM imports WHERE status = 'queued' AND NOT receiving)")
            .fetch_one(&self.pool)
            .await?;
        if !queued {
            return Ok(None);
        }
        // One statement, so the pick and the claim are atomic under SQLite's single writer.
        let row = sqlx::query(&claim_sql("SELECT id FROM imports WHERE status = 'queued' AND NOT receiving ORDER BY created_at LIMIT 1", NOW))
            .bind(instance_id)
            .fetch_optional(&self.writer)
            .await?;
        row.map(|r| claim_from_row(&r, decode_settings)).transpose()
    }

    async fn commit_batch(&self, fence: &Fence, batch: Batch, now: DateTime<Utc>) -> StoreResult<BatchOutcome> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let cancel_requested: Option<bool> = sqlx::query_scalar(&progress_sql(NOW))
        .bind(&fence.import_id)
        .bind(fence.attempt)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(cancel_requested) = cancel_requested else {
            tx.rollback().await?;
            return Ok(BatchOutcome::Replaced);
        };

        let plan = plan_against_store(&mut tx, batch.user_id, &batch.contacts, Vec::new(), batch.prefetched).await?;
        tx.write_plan(batch.user_id, &plan, now).await?;
        for chunk in batch.row_errors.chunks(ROWS_PER_STATEMENT) {
            let sql = chunk_statement(&FULL_ROW_ERRORS_INSERT, chunk.len(), row_errors_insert_sql);
            let mut insert = sqlx::query(&sql);
            for error in chunk {
                insert = insert.bind(&fence.import_id).bind(error.line as i64).bind(&error.reason);
            }
            insert.execute(&mut *tx).await?;
        }
        let counts = Counts { rejected: batch.rejected, skipped: batch.skipped, ..plan.counts };
        let touched = touched_identities(&plan);
        sqlx::query(CHECKPOINT_SQL)
        .bind(batch.rows_done as i64)
        .bind(batch.last_line as i64)
        .bind(counts.created as i64)
        .bind(counts.updated as i64)
        .bind(counts.unchanged as i64)
        .bind(counts.rejected as i64)
        .bind(counts.skipped as i64)
        .bind(counts.merged as i64)
        .bind(&fence.import_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wrote();
        drop(plan);
        free_beside(batch.contacts);
        Ok(BatchOutcome::Committed { counts, cancel_requested, touched })
    }

    async fn finish_import(&self, fence: &Fence, status: ImportStatus, reason: Option<&str>, now: DateTime<Utc>) -> StoreResult<Option<ImportStatus>> {
        let query = sqlx::query_as(FINISH_SQL)
            .bind(status.as_str())
            .bind(reason)
            .bind(ms(now))
            .bind(&fence.import_id)
            .bind(fence.attempt);
        self.end_import(query).await
    }

    async fn request_cancel(&self, user_id: i64, import_id: &str, now: DateTime<Utc>) -> StoreResult<Option<ImportView>> {
        // A queued import has no worker to notice the flag, so it is cancelled at once.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let upload_id: Option<String> = sqlx::query_scalar(
            "UPDATE imports SET status = 'cancelled', finished_at = ? WHERE id = ? AND user_id = ? AND status = 'queued'
             RETURNING upload_id",
        )
        .bind(ms(now))
        .bind(import_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        if !drop_upload(&mut tx, upload_id).await? {
            sqlx::query("UPDATE imports SET cancel_requested = 1 WHERE id = ? AND user_id = ? AND status = 'processing'")
                .bind(import_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.get_import(user_id, import_id).await
    }

    async fn contacts(&self, user_id: i64, query: &str, page: u32, per_page: u32) -> StoreResult<ContactsPage> {
        contacts_page!(&self.pool, user_id, query, page, per_page, order by "display_name COLLATE NOCASE")
    }
});

impl_contact_tx!(sqlx::Sqlite, stored_contact, identity_owners, write_plan);

/// Merges absorbed contacts, writes created and updated contacts with their
/// search text, and stores the new identities.
async fn write_plan(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, user_id: i64, plan: &BatchPlan<'_>, now: DateTime<Utc>) -> StoreResult<()> {
    absorb_merged_contacts!(*tx, user_id, plan);
    // The batch holds SQLite's write lock: ids past the largest are free.
    let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM contacts").fetch_one(&mut **tx).await?;
    let ids = planned_ids(plan, next..)?;
    let writes: Vec<(&PlannedContact, i64)> =
        plan.contacts.iter().zip(&ids).filter(|(c, _)| c.change != Change::Unchanged).map(|(c, id)| (c, *id)).collect();
    let contacts = writes.chunks(ROWS_PER_STATEMENT).map(|chunk| {
        let mut values = Values::with_capacity(3 + chunk.len() * CONTACT_ROW_VALUES);
        values.add(user_id)?.add(ms(now))?.add(ms(now))?;
        for (planned, id) in chunk {
            let contact = &planned.contact;
            let text = planned.text().into_owned();
            values
                .add(*id)?
                .add(contact.display_name.clone())?
                .add(contact.given_name.clone())?
                .add(contact.family_name.clone())?
                .add(text.emails)?
                .add(text.phones)?
                .add(contact.organization.clone())?
                .add(contact.title.clone())?
                .add(contact.notes.clone())?
                .add(text.search)?
                .add(text.identities)?;
        }
        Ok((chunk_statement(&FULL_CONTACT_UPSERT, chunk.len(), contact_upsert_sql), values.0))
    });
    // In the unique index's order, one statement per kind and chunk.
    let identities = new_identities(plan, &ids);
    let identities = identities.chunk_by(|(a, _), (b, _)| a.kind == b.kind).flat_map(|run| run.chunks(ROWS_PER_STATEMENT)).map(|chunk| {
        let mut values = Values::with_capacity(2 + chunk.len() * 2);
        values.add(user_id)?.add(chunk[0].0.kind.as_str())?;
        for (identity, contact_id) in chunk {
            values.add(identity.value.clone())?.add(*contact_id)?;
        }
        Ok((chunk_statement(&FULL_IDENTITY_INSERT, chunk.len(), identity_insert_sql), values.0))
    });
    execute_in_turn(tx, contacts.chain(identities)).await
}

/// Arguments owned by the statement, so that sqlx has nothing to copy when it
/// hands them to SQLite's thread: the copies are made while binding, beside.
struct Values(SqliteArguments<'static>);

impl Values {
    fn with_capacity(values: usize) -> Self {
        let mut arguments = SqliteArguments::default();
        arguments.reserve(values, 0);
        Self(arguments)
    }

    fn add<T: sqlx::Encode<'static, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + 'static>(&mut self, value: T) -> StoreResult<&mut Self> {
        self.0.add(value).map_err(sqlx::Error::Encode)?;
        Ok(self)
    }
}

/// Runs statements in order, binding each next one while SQLite runs the one
/// before: binding thousands of values is the async side's work, which SQLite's
/// thread would otherwise wait for.
async fn execute_in_turn(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    mut statements: impl Iterator<Item = StoreResult<(std::borrow::Cow<'static, str>, SqliteArguments<'static>)>>,
) -> StoreResult<()> {
    let mut next = statements.next().transpose()?;
    while let Some((sql, arguments)) = next {
        let mut running = std::pin::pin!(sqlx::query_with(&sql, arguments).execute(&mut **tx));
        // The first poll hands the statement to SQLite's thread.
        let started = futures::poll!(running.as_mut());
        let built = statements.next().transpose();
        match started {
            std::task::Poll::Ready(done) => done?,
            std::task::Poll::Pending => running.await?,
        };
        next = built?;
    }
    Ok(())
}

async fn identity_owners(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>, user_id: i64, identities: &[&Identity]) -> StoreResult<Vec<i64>> {
    let sql = chunk_statement(&FULL_IDENTITY_OWNERS, identities.len(), identity_owners_sql);
    let mut query = sqlx::query_scalar(&sql);
    for identity in identities {
        query = query.bind(identity.kind.as_str()).bind(identity.value.as_str());
    }
    Ok(query.bind(user_id).fetch_all(&mut **tx).await?)
}

#[cfg(test)]
mod tests {
    use super::query_text;

    #[test]
    fn shared_placeholders_become_positional() {
        assert_eq!(query_text("a = $1 AND b IN ($2, $13) AND c = '$'".into()), "a = ? AND b IN (?, ?) AND c = '$'");
    }
}
