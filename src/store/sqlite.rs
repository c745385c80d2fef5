//! SQLite: one file in WAL mode. Reads share a pool; writes take turns on one
//! connection (`SqliteStore::writer`). Multi-statement writes still take the write
//! lock up front (`BEGIN IMMEDIATE`), so that a writer in another process (the
//! CLI) queues on the busy timeout instead of failing to upgrade a read lock.

use super::accounts::impl_accounts;
use super::batch::impl_contact_transactions;
use super::contact_rows::{listed_of, new_identities, planned_ids};
use super::contacts::impl_contacts;
use super::dialect::{Backend, Connections, Dialect, Timeouts};
use super::error::{StoreError, StoreResult};
use super::queue::impl_queue;
use super::seam::impl_seam;
use super::sql::{chunk_statement, placeholders, worth_keeping, ROWS_PER_STATEMENT};
use super::uploads::impl_uploads;
use super::journal::{created_by_run_sql, impl_history, record_search_text, JournalRun};
use crate::domain::history::{ContactRecord, NewEntry};
use crate::domain::plan::{BatchPlan, Change, PlannedContact};
use crate::domain::identity::Identity;
use crate::model::RowErrorView;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Arguments, Row, SqlitePool};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

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

/// Page cache of each reading connection, in KiB (SQLite's `-N` form; its
/// default, -2000, is about 2 MiB). A reader empties its cache whenever it finds
/// the database changed, so during an import the cache holds little that is read
/// twice, yet the readers' caches filling up was most of what grew from 100,000
/// to 2,000,000 rows (BENCHMARKS.md). The writer keeps the default, for the
/// index pages each batch walks.
const READER_CACHE_SIZE: &str = "-512";

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

impl Dialect for SqliteStore {
    const BACKEND: Backend = Backend::Sqlite;
    type Database = sqlx::Sqlite;
    /// Unix milliseconds, which compare as numbers.
    type Stamp = i64;

    fn stamp(moment: DateTime<Utc>) -> i64 {
        moment.timestamp_millis()
    }

    fn moment(stamp: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(stamp).unwrap_or_default()
    }

    fn time_column(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(Self::moment))
    }

    const NOW: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

    fn seconds_ago(param: &str) -> String {
        format!("({} - CAST({param} * 1000.0 AS INTEGER))", Self::NOW)
    }

    /// No row locks: SQLite runs one writer at a time.
    const SKIP_LOCKED: &'static str = "";
    /// The batch's transaction holds the write lock already.
    const FENCE_LOCK: &'static str = "";
    /// Nor a lock on the user's row: the transaction holds the write lock.
    const USER_ROW_LOCK: Option<&'static str> = None;
    const USER_IMPORTS_LOCK: Option<&'static str> = None;
    /// With the WAL and `synchronous = NORMAL`, no commit waits for the disk already.
    const BATCH_SETTING: Option<&'static str> = None;
    const GREATEST: &'static str = "MAX";
    const NAME_ORDER: &'static str = "display_name COLLATE NOCASE";

    /// Anonymous `?` placeholders, which SQLite binds by position: sqlx looks
    /// each named SQLite parameter up by a linear search, which makes a
    /// statement with thousands of them quadratic.
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

    /// JSON is text in SQLite.
    fn json_param(placeholder: &str) -> String {
        placeholder.to_owned()
    }

    fn json_column(column: &str) -> String {
        column.to_owned()
    }
}

#[async_trait]
impl Connections for SqliteStore {
    fn instance_id(&self) -> &str {
        &self.instance_id
    }

    fn reads(&self) -> &SqlitePool {
        &self.pool
    }

    fn writes(&self) -> &SqlitePool {
        &self.writer
    }

    /// Leases are written by the one writer: the wait for its turn is bounded
    /// by `DATABASE_BUSY_TIMEOUT`, well below a lease.
    fn leases(&self) -> &SqlitePool {
        &self.writer
    }

    /// SQLite keeps no planner statistics to refresh.
    fn maintenance(&self) -> Option<&SqlitePool> {
        None
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The WAL wants checkpointing.
    fn wrote(&self) {
        self.checkpoint_wanted.notify_one();
    }

    /// SQLite plans without statistics unless `ANALYZE` kept some, and none are kept.
    fn run_ended(&self, _import_id: &str) {}

    /// Nothing to end: SQLite has no sessions another process could end, and
    /// instances share a file only on one machine, where a frozen writer
    /// holds the only write lock (see the chaos tests).
    async fn end_sessions_of_lapsed_owners(&self, _lease: Duration) -> StoreResult<()> {
        Ok(())
    }
}

impl SqliteStore {
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
            .connect_with(options.clone().pragma("cache_size", READER_CACHE_SIZE))
            .await?;
        // Waiting for the writer stands in for waiting in SQLite's busy handler.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(timeouts.sqlite_busy)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let checkpoint_wanted = Arc::new(Notify::new());
        tokio::spawn(checkpoint_after_writes(pool.clone(), checkpoint_wanted.clone()));
        Ok(Self { pool, writer, checkpoint_wanted, instance_id: uuid::Uuid::new_v4().to_string() })
    }
}

impl_seam!(SqliteStore);
impl_accounts!(SqliteStore);
impl_uploads!(SqliteStore);
impl_queue!(SqliteStore);
impl_contacts!(SqliteStore, {
    async fn begin_contact_reads(&self) -> StoreResult<Box<dyn ContactReads>> {
        Ok(Box::new(SqliteTransaction { tx: self.pool.begin().await?, on_commit: None }))
    }

    async fn begin_contact_writes(&self) -> StoreResult<Box<dyn ContactWrites>> {
        Ok(Box::new(SqliteTransaction { tx: self.begin_write().await?, on_commit: Some(self.checkpoint_wanted.clone()) }))
    }

    /// The one writer serialises instances on one file.
    async fn begin_backfill(&self) -> StoreResult<Box<dyn ContactWrites>> {
        self.begin_contact_writes().await
    }
});

/// A transaction over contacts; `on_commit` asks for a WAL checkpoint after a write's commit.
struct SqliteTransaction {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    on_commit: Option<Arc<Notify>>,
}

fn committed(on_commit: &Option<Arc<Notify>>) {
    if let Some(checkpoint_wanted) = on_commit {
        checkpoint_wanted.notify_one();
    }
}

impl_contact_transactions!(SqliteTransaction, SqliteStore,
    identity_owners: identity_owners, write_plan: write_plan, write_row_errors: write_row_errors, journal: journal,
    insert_records: insert_records, remove_created: remove_created, committed: committed);
impl_history!(SqliteStore);

/// New and changed contacts in one statement per `ROWS_PER_STATEMENT`: a new
/// contact's id was taken past the largest, so only a changed one conflicts.
/// The user and the time are bound once per statement, each row's own values
/// after them. `OR FAIL` (no constraint can fail here) spares SQLite the
/// statement journal that a multi-row statement which may abort halfway keeps.
fn contact_upsert_sql(rows: usize) -> String {
    SqliteStore::query_text(format!(
        "INSERT OR FAIL INTO contacts (id, user_id, display_name, card, photo, search_text, identities, created_at, updated_at)
         SELECT column1, $1, column2, column3, column4, column5, column6, $2, $3
         FROM (VALUES {}) WHERE true
         ON CONFLICT (id) DO UPDATE SET
             display_name = excluded.display_name, card = excluded.card, photo = excluded.photo,
             search_text = excluded.search_text, identities = excluded.identities, updated_at = excluded.updated_at",
        placeholders(4, rows, CONTACT_ROW_VALUES)
    ))
}

/// What `contact_upsert_sql` binds for each row.
const CONTACT_ROW_VALUES: usize = 6;

/// New identities of one kind: the planner looked each one up first, so none is held.
fn identity_insert_sql(rows: usize) -> String {
    SqliteStore::query_text(format!(
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
    let values = vec!["(?, ?, ?, ?)"; rows].join(", ");
    format!("INSERT INTO import_errors (import_id, line, reason, warning) VALUES {values} ON CONFLICT DO NOTHING")
}

static FULL_CONTACT_UPSERT: OnceLock<String> = OnceLock::new();
static FULL_IDENTITY_INSERT: OnceLock<String> = OnceLock::new();
static FULL_IDENTITY_OWNERS: OnceLock<String> = OnceLock::new();
static FULL_ROW_ERRORS_INSERT: OnceLock<String> = OnceLock::new();

/// `count` ids never handed out before, from the counter `name` (`id_counters`):
/// the first of them.
async fn take_ids(tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, name: &str, count: usize) -> StoreResult<i64> {
    let count = count as i64;
    Ok(sqlx::query_scalar("UPDATE id_counters SET next = next + ?1 WHERE name = ?2 RETURNING next - ?1")
        .bind(count)
        .bind(name)
        .fetch_one(&mut **tx)
        .await?)
}

/// Writes created and updated contacts with their search text, and stores the
/// new identities (the merged contacts are gone already). The id of each planned contact.
async fn write_plan(tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, user_id: i64, plan: &BatchPlan<'_>, now: DateTime<Utc>) -> StoreResult<Vec<i64>> {
    let new = plan.contacts.iter().filter(|c| c.id.is_none()).count();
    let next = if new == 0 { 0 } else { take_ids(tx, "contacts", new).await? };
    let ids = planned_ids(plan, next..)?;
    let writes: Vec<(&PlannedContact, i64)> =
        plan.contacts.iter().zip(&ids).filter(|(c, _)| c.change != Change::Unchanged).map(|(c, id)| (c, *id)).collect();
    let contacts = writes.chunks(ROWS_PER_STATEMENT).map(|chunk| {
        let mut values = Values::with_capacity(3 + chunk.len() * CONTACT_ROW_VALUES);
        values.add(user_id)?.add(SqliteStore::stamp(now))?.add(SqliteStore::stamp(now))?;
        for (planned, id) in chunk {
            let text = planned.text().into_owned();
            values
                .add(*id)?
                .add(planned.contact.display_name.clone())?
                .add(text.card)?
                .add(text.photo)?
                .add(text.search)?
                .add(text.identities)?;
        }
        Ok((chunk_statement(&FULL_CONTACT_UPSERT, chunk.len(), contact_upsert_sql), values.0))
    });
    // In the unique index's order, one statement per kind and chunk.
    let identities = new_identities(plan, &ids);
    execute_in_turn(tx, contacts.chain(identity_statements(user_id, &identities))).await?;
    Ok(ids)
}

/// Identities of `(identity, contact)` in the unique index's order, one statement per kind and chunk.
fn identity_statements<'a>(
    user_id: i64,
    identities: &'a [(&'a Identity, i64)],
) -> impl Iterator<Item = StoreResult<(std::borrow::Cow<'static, str>, SqliteArguments<'static>)>> + 'a {
    identities.chunk_by(|(a, _), (b, _)| a.kind == b.kind).flat_map(|run| run.chunks(ROWS_PER_STATEMENT)).map(move |chunk| {
        let mut values = Values::with_capacity(2 + chunk.len() * 2);
        values.add(user_id)?.add(chunk[0].0.kind.as_str())?;
        for (identity, contact_id) in chunk {
            values.add(identity.value.clone())?.add(*contact_id)?;
        }
        Ok((chunk_statement(&FULL_IDENTITY_INSERT, chunk.len(), identity_insert_sql), values.0))
    })
}

/// Journal entries, their ids from the journal's counter, in order.
fn journal_insert_sql(rows: usize) -> String {
    SqliteStore::query_text(format!(
        "INSERT INTO contact_changes (user_id, at, id, contact_id, action, name, card, photo, identities, created_at)
         SELECT $1, $2, column1, column2, column3, column4, column5, column6, column7, column8 FROM (VALUES {})",
        placeholders(3, rows, 8)
    ))
}

static FULL_JOURNAL_INSERT: OnceLock<String> = OnceLock::new();

async fn journal(tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, user_id: i64, entries: &[NewEntry], now: DateTime<Utc>) -> StoreResult<()> {
    let first = take_ids(tx, "contact_changes", entries.len()).await?;
    let numbered: Vec<(i64, &NewEntry)> = (first..).zip(entries).collect();
    let statements = numbered.chunks(ROWS_PER_STATEMENT).map(|chunk| {
        let mut values = Values::with_capacity(2 + chunk.len() * 8);
        values.add(user_id)?.add(SqliteStore::stamp(now))?;
        for (id, entry) in chunk {
            let before = entry.before.as_ref();
            values
                .add(*id)?
                .add(entry.contact_id)?
                .add(entry.action.code())?
                .add(before.map(|b| b.name.clone()))?
                .add(before.map(|b| b.card.clone()))?
                .add(before.and_then(|b| b.photo.clone()))?
                .add(before.map(|b| b.identities.clone()))?
                .add(before.map(|b| b.created_at / 1000))?;
        }
        Ok((chunk_statement(&FULL_JOURNAL_INSERT, chunk.len(), journal_insert_sql), values.0))
    });
    execute_in_turn(tx, statements).await
}

/// `ContactWrites::remove_created`: the rows move to the journal under ids
/// taken past the newest, and the contacts those entries name go.
async fn remove_created(tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, user_id: i64, run: &JournalRun, now: DateTime<Utc>) -> StoreResult<u64> {
    let first = take_ids(tx, "contact_changes", 0).await?;
    let removed = sqlx::query(&format!(
        "INSERT INTO contact_changes (user_id, id, contact_id, action, at, name, card, photo, identities, created_at)
         SELECT $1, $4 + ROW_NUMBER() OVER (ORDER BY id DESC) - 1, id, 'd', $5, display_name, card, photo, identities, created_at
         FROM contacts WHERE user_id = $1 AND id IN ({})",
        created_by_run_sql(run)
    ))
    .bind(user_id)
    .bind(run.oldest)
    .bind(run.newest)
    .bind(first)
    .bind(SqliteStore::stamp(now))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if removed == 0 {
        return Ok(0);
    }
    take_ids(tx, "contact_changes", removed as usize).await?;
    sqlx::query("DELETE FROM contacts WHERE user_id = $1 AND id IN (SELECT contact_id FROM contact_changes WHERE user_id = $1 AND id >= $2)")
        .bind(user_id)
        .bind(first)
        .execute(&mut **tx)
        .await?;
    Ok(removed)
}

fn record_insert_sql(rows: usize) -> String {
    SqliteStore::query_text(format!(
        "INSERT INTO contacts (user_id, updated_at, id, display_name, card, photo, search_text, identities, created_at)
         SELECT $1, $2, column1, column2, column3, column4, column5, column6, column7 FROM (VALUES {})",
        placeholders(3, rows, 7)
    ))
}

static FULL_RECORD_INSERT: OnceLock<String> = OnceLock::new();

/// Rows put back under their own ids (free: the caller removed them), with the identities they list.
async fn insert_records(tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, user_id: i64, records: &[ContactRecord], now: DateTime<Utc>) -> StoreResult<()> {
    let rows = records.chunks(ROWS_PER_STATEMENT).map(|chunk| {
        let mut values = Values::with_capacity(2 + chunk.len() * 7);
        values.add(user_id)?.add(SqliteStore::stamp(now))?;
        for record in chunk {
            values
                .add(record.id)?
                .add(record.name.clone())?
                .add(record.card.clone())?
                .add(record.photo.clone())?
                .add(record_search_text(record)?)?
                .add(record.identities.clone())?
                .add(record.created_at / 1000)?;
        }
        Ok((chunk_statement(&FULL_RECORD_INSERT, chunk.len(), record_insert_sql), values.0))
    });
    let listed = listed_of(records)?;
    let mut identities: Vec<(&Identity, i64)> = listed.iter().flat_map(|(ids, contact)| ids.iter().map(move |i| (i, *contact))).collect();
    identities.sort_unstable_by(|(a, _), (b, _)| (a.kind.as_str(), &a.value).cmp(&(b.kind.as_str(), &b.value)));
    execute_in_turn(tx, rows.chain(identity_statements(user_id, &identities))).await
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
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    mut statements: impl Iterator<Item = StoreResult<(std::borrow::Cow<'static, str>, SqliteArguments<'static>)>>,
) -> StoreResult<()> {
    let mut next = statements.next().transpose()?;
    while let Some((sql, arguments)) = next {
        let mut running = std::pin::pin!(sqlx::query_with(&sql, arguments).persistent(worth_keeping(&sql)).execute(&mut **tx));
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

async fn identity_owners(tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, user_id: i64, identities: &[&Identity]) -> StoreResult<Vec<i64>> {
    let sql = chunk_statement(&FULL_IDENTITY_OWNERS, identities.len(), identity_owners_sql);
    let mut query = sqlx::query_scalar(&sql).persistent(worth_keeping(&sql));
    for identity in identities {
        query = query.bind(identity.kind.as_str()).bind(identity.value.as_str());
    }
    Ok(query.bind(user_id).fetch_all(&mut **tx).await?)
}

/// Row errors and warnings in multi-row statements, each line once.
async fn write_row_errors(tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>, import_id: &str, errors: &[RowErrorView]) -> StoreResult<()> {
    for chunk in errors.chunks(ROWS_PER_STATEMENT) {
        let sql = chunk_statement(&FULL_ROW_ERRORS_INSERT, chunk.len(), row_errors_insert_sql);
        let mut insert = sqlx::query(&sql).persistent(worth_keeping(&sql));
        for error in chunk {
            insert = insert.bind(import_id).bind(error.line as i64).bind(&error.reason).bind(error.warning);
        }
        insert.execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{SqliteStore, READER_CACHE_SIZE};
    use crate::store::dialect::{Dialect, Timeouts};

    /// The readers' caches bound the store's memory; the writer's serves the batches.
    #[tokio::test]
    async fn readers_keep_a_small_page_cache_and_the_writer_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("cache.db").display());
        let store = SqliteStore::connect(&url, &Timeouts::default()).await.unwrap();
        // Three at once: three distinct connections.
        let readers = futures::future::join_all((0..3).map(|_| store.pool.acquire())).await;
        for reader in readers {
            let size: i64 = sqlx::query_scalar("PRAGMA cache_size").fetch_one(&mut *reader.unwrap()).await.unwrap();
            assert_eq!(size.to_string(), READER_CACHE_SIZE);
        }
        let size: i64 = sqlx::query_scalar("PRAGMA cache_size").fetch_one(&store.writer).await.unwrap();
        assert_eq!(size, -2000, "SQLite's default");
    }

    #[test]
    fn shared_placeholders_become_positional() {
        assert_eq!(SqliteStore::query_text("a = $1 AND b IN ($2, $13) AND c = '$'".into()), "a = ? AND b IN (?, ?) AND c = '$'");
    }
}
