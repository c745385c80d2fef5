//! Postgres: many instances share one database. Workers take queued imports with
//! `FOR UPDATE SKIP LOCKED`, and a batch's new contacts go in with `COPY`.
//! The fenced read that opens each batch also locks the import row, so a
//! takeover waits for the batch and then judges the progress it stamped.

use super::accounts::impl_accounts;
use super::batch::impl_contact_transactions;
use super::contact_rows::{listed_of, new_identities, planned_ids};
use super::contacts::impl_contacts;
use super::dialect::{Backend, Connections, Dialect, Timeouts};
use super::error::StoreResult;
use super::queue::impl_queue;
use super::seam::impl_seam;
use super::uploads::impl_uploads;
use super::journal::{created_by_run_sql, impl_history, record_created_at, record_search_text, JournalRun};
use crate::domain::history::{ContactRecord, NewEntry};
use crate::domain::plan::{BatchPlan, Change};
use crate::domain::identity::{Identity, IdentityKind};
use crate::model::RowErrorView;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::ConnectOptions as _;
use sqlx::{PgPool, Row};
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct PostgresStore {
    pool: PgPool,
    /// Heartbeats and recovery, apart from `pool`: sixteen slow requests must
    /// not hold this instance's lease back until the others take its imports.
    leases: PgPool,
    instance_id: String,
    /// An `ANALYZE` of the contact tables is running (`run_ended`).
    analyzing: Arc<AtomicBool>,
    /// One connection for those analyses, without sqlx's statement log: an
    /// analysis of a large table takes seconds by nature, which sqlx would
    /// log at WARN as a slow statement.
    maintenance: PgPool,
}

impl Dialect for PostgresStore {
    const BACKEND: Backend = Backend::Postgres;
    type Database = sqlx::Postgres;
    /// A `timestamptz` column binds and reads a moment as it is.
    type Stamp = DateTime<Utc>;

    fn stamp(moment: DateTime<Utc>) -> DateTime<Utc> {
        moment
    }

    fn moment(stamp: DateTime<Utc>) -> DateTime<Utc> {
        stamp
    }

    fn time_column(row: &PgRow, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        row.try_get(column)
    }

    const NOW: &'static str = "now()";

    fn seconds_ago(param: &str) -> String {
        format!("now() - make_interval(secs => {param})")
    }

    /// An import whose row a live batch holds is neither an orphan nor free to claim.
    const SKIP_LOCKED: &'static str = "FOR UPDATE SKIP LOCKED";
    const FENCE_LOCK: &'static str = "FOR NO KEY UPDATE";
    /// A person's upload chunks take turns on their row, so each sees the bytes the others reserved.
    const USER_ROW_LOCK: Option<&'static str> = Some("SELECT id FROM users WHERE id = $1 FOR UPDATE");
    const USER_IMPORTS_LOCK: Option<&'static str> = Some("SELECT id FROM imports WHERE user_id = $1 FOR UPDATE");
    /// A batch's commit does not wait for its WAL to reach the disk: the
    /// batch commits its rows, journal and checkpoint together, so a commit
    /// that a crash of Postgres loses is redone from the checkpoint before
    /// it, with nothing doubled. What others must see durably (a claim, the
    /// end of an import, an edit) still waits.
    const BATCH_SETTING: Option<&'static str> = Some("SET LOCAL synchronous_commit = off");
    const GREATEST: &'static str = "GREATEST";
    const NAME_ORDER: &'static str = "lower(display_name)";

    /// `$N` placeholders are Postgres's own.
    fn query_text(sql: String) -> String {
        sql
    }

    fn json_param(placeholder: &str) -> String {
        format!("CAST({placeholder} AS jsonb)")
    }

    fn json_column(column: &str) -> String {
        format!("CAST({column} AS text)")
    }
}

#[async_trait]
impl Connections for PostgresStore {
    fn instance_id(&self) -> &str {
        &self.instance_id
    }

    fn reads(&self) -> &PgPool {
        &self.pool
    }

    /// Postgres queues writers row by row: they share the one pool.
    fn writes(&self) -> &PgPool {
        &self.pool
    }

    fn leases(&self) -> &PgPool {
        &self.leases
    }

    fn maintenance(&self) -> Option<&PgPool> {
        Some(&self.maintenance)
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Postgres checkpoints on its own.
    fn wrote(&self) {}

    /// Analyzes, in the background, the contact tables the run changed by
    /// more than a tenth, without autovacuum's wait of up to a minute: a table
    /// an import just filled has no statistics yet, under which Postgres
    /// planned an undo's walk back through the journal as a read and sort of
    /// all of it (Postgres's manual, "Populating a Database": run ANALYZE afterwards).
    fn run_ended(&self, import_id: &str) {
        if self.analyzing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (pool, analyzing, import_id) = (self.maintenance.clone(), self.analyzing.clone(), import_id.to_owned());
        tokio::spawn(async move {
            if let Err(error) = analyze_changed_tables(&pool, &import_id).await {
                tracing::warn!(%error, "could not analyze the contact tables");
            }
            analyzing.store(false, Ordering::Release);
        });
    }

    /// Ends the transactions older than the lease of the instances whose
    /// imports are about to be recovered. A frozen instance keeps its
    /// transaction open, and Postgres ends a session idle in one
    /// (`idle_in_transaction_session_timeout`), but not one frozen in the middle
    /// of sending `COPY` data: no timeout applies there, and its lock on the
    /// import's row would keep the import from every other instance until the
    /// frozen one woke. Younger transactions are left alone: after an outage
    /// every instance's heartbeat lapsed, and their new requests must not fail.
    async fn end_sessions_of_lapsed_owners(&self, lease: Duration) -> StoreResult<()> {
        // Ended in the select list, so only for the sessions the query found.
        let ended: Vec<(String, bool)> = sqlx::query_as(&format!(
            "WITH lapsed AS MATERIALIZED (
                 SELECT activity.pid, activity.application_name FROM pg_stat_activity activity
                 WHERE activity.datname = current_database() AND activity.pid <> pg_backend_pid()
                   AND activity.xact_start <= {cutoff}
                   AND activity.application_name IN (
                       SELECT {SESSION_NAME_SQL} FROM imports
                       WHERE status = 'processing' AND owner IS NOT NULL
                         AND owner NOT IN (SELECT id FROM instances WHERE heartbeat_at > {cutoff})))
             SELECT application_name, pg_terminate_backend(pid) FROM lapsed",
            cutoff = Self::seconds_ago("$1")
        ))
        .bind(lease.as_secs_f64())
        .fetch_all(&self.leases)
        .await?;
        for (session, _) in ended {
            tracing::warn!(session, "ended a database session of an instance presumed dead");
        }
        Ok(())
    }
}

impl PostgresStore {
    pub async fn connect(url: &str, timeouts: &Timeouts) -> StoreResult<Self> {
        let instance_id = uuid::Uuid::new_v4().to_string();
        let options = PgConnectOptions::from_str(url)?.application_name(&session_name(&instance_id)).options([
            ("lock_timeout", millis(timeouts.lock)),
            ("statement_timeout", millis(timeouts.statement)),
            ("idle_in_transaction_session_timeout", millis(timeouts.idle_in_transaction)),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        // The heartbeat and recovery take turns on at most two connections.
        let leases =
            PgPoolOptions::new().max_connections(2).acquire_timeout(Duration::from_secs(30)).connect_lazy_with(options.clone());
        let maintenance = PgPoolOptions::new()
            .max_connections(1)
            .idle_timeout(Duration::from_secs(60))
            .connect_lazy_with(options.disable_statement_logging());
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool, leases, instance_id, analyzing: Arc::default(), maintenance })
    }
}

/// Sessions are named after their instance (`Store::instance_id`).
fn session_name(instance_id: &str) -> String {
    format!("intake {instance_id}")
}
/// `session_name` of an import's `owner`, in SQL.
const SESSION_NAME_SQL: &str = "'intake ' || owner";

impl_seam!(PostgresStore);
impl_accounts!(PostgresStore);
impl_uploads!(PostgresStore);
impl_queue!(PostgresStore);
impl_contacts!(PostgresStore, {
    async fn begin_contact_reads(&self) -> StoreResult<Box<dyn ContactReads>> {
        Ok(Box::new(PostgresTransaction { tx: self.pool.begin().await?, on_commit: () }))
    }

    async fn begin_contact_writes(&self) -> StoreResult<Box<dyn ContactWrites>> {
        Ok(Box::new(PostgresTransaction { tx: self.pool.begin().await?, on_commit: () }))
    }

    /// Instances starting together take turns, instead of backfilling the same contacts.
    async fn begin_backfill(&self) -> StoreResult<Box<dyn ContactWrites>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('intake.backfill_identities'))").execute(&mut *tx).await?;
        Ok(Box::new(PostgresTransaction { tx, on_commit: () }))
    }
});

/// A transaction over contacts; a commit needs nothing after it.
struct PostgresTransaction {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    on_commit: (),
}

fn committed(_: &()) {}

impl_contact_transactions!(PostgresTransaction, PostgresStore,
    identity_owners: identity_owners, write_plan: write_plan, write_row_errors: write_row_errors, journal: journal,
    insert_records: insert_records, remove_created: remove_created, committed: committed);
impl_history!(PostgresStore);

/// The tables an import or an undo changes in bulk.
const CONTACT_TABLES: [&str; 3] = ["contacts", "contact_identities", "contact_changes"];

/// `ANALYZE` of each contact table whose rows, as its statistics count them
/// (none before a first analysis), the run's rows or changes exceed a tenth
/// of, for a run of more than a thousand: autovacuum's threshold, read from
/// the run itself, since the activity counters it reads lag the last commits
/// by seconds.
async fn analyze_changed_tables(pool: &PgPool, import_id: &str) -> StoreResult<()> {
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c, imports i
         WHERE c.relname = ANY($1) AND c.relnamespace = CAST(current_schema() AS regnamespace) AND i.id = $2
           AND i.rows_done > 1000 AND c.reltuples < 10 * i.rows_done",
    )
    .bind(&CONTACT_TABLES[..])
    .bind(import_id)
    .fetch_all(pool)
    .await?;
    for table in CONTACT_TABLES.iter().filter(|t| stale.iter().any(|s| s == *t)) {
        let started = std::time::Instant::now();
        sqlx::query(&format!("ANALYZE {table}")).execute(pool).await?;
        tracing::info!(%import_id, table, elapsed_ms = started.elapsed().as_millis() as u64, "analyzed a table the run changed");
    }
    Ok(())
}

/// A Postgres setting's value in milliseconds.
fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// Appends one row in COPY's text format: tab-separated, with the characters
/// that format gives meaning to escaped, and `\N` for NULL.
fn push_copy_row(out: &mut Vec<u8>, values: &[Option<&str>]) {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        let Some(value) = value else {
            out.extend_from_slice(b"\\N");
            continue;
        };
        let bytes = value.as_bytes();
        // Most values hold none of the escaped characters: copy them whole.
        if memchr::memchr3(b'\\', b'\t', b'\n', bytes).is_none() && memchr::memchr(b'\r', bytes).is_none() {
            out.extend_from_slice(bytes);
            continue;
        }
        for &byte in bytes {
            match byte {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.push(byte),
            }
        }
    }
    out.push(b'\n');
}

/// Row errors and warnings in one statement, each line once.
async fn write_row_errors(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, import_id: &str, errors: &[RowErrorView]) -> StoreResult<()> {
    let lines: Vec<i64> = errors.iter().map(|e| e.line as i64).collect();
    let reasons: Vec<&str> = errors.iter().map(|e| e.reason.as_str()).collect();
    let warnings: Vec<bool> = errors.iter().map(|e| e.warning).collect();
    sqlx::query(
        "INSERT INTO import_errors (import_id, line, reason, warning)
         SELECT $1, l, r, w FROM UNNEST($2::bigint[], $3::text[], $4::boolean[]) AS e(l, r, w) ON CONFLICT DO NOTHING",
    )
    .bind(import_id)
    .bind(&lines)
    .bind(&reasons)
    .bind(&warnings)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes created and updated contacts with their search text, and stores the
/// new identities (the merged contacts are gone already). The id of each planned contact.
async fn write_plan(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, user_id: i64, plan: &BatchPlan<'_>, now: DateTime<Utc>) -> StoreResult<Vec<i64>> {
    let new_count = plan.contacts.iter().filter(|c| c.id.is_none()).count() as i64;
    // The sequence by name: `pg_get_serial_sequence` per row cost 4 ms a batch.
    let new_ids: Vec<i64> = sqlx::query_scalar("SELECT nextval('contacts_id_seq'::regclass) FROM generate_series(1, $1)")
    .bind(new_count)
    .fetch_all(&mut **tx)
    .await?;
    let ids = planned_ids(plan, new_ids.into_iter())?;
    let (created, updated): (Vec<_>, Vec<_>) = plan
        .contacts
        .iter()
        .zip(&ids)
        .filter(|(c, _)| c.change != Change::Unchanged)
        .partition(|(c, _)| c.change == Change::Created);
    // COPY, the bulk path: the ids are fresh from the sequence, and the fence's
    // row lock on the import keeps every other writer of this user's contacts out.
    // Rows go out as they are made, and the identities are made while Postgres
    // writes the contacts, so the two sides work at once.
    let mut identities = None;
    if !created.is_empty() {
        let mut copy = tx
            .copy_in_raw(
                "COPY contacts (id, user_id, display_name, card, photo, search_text, identities, created_at, updated_at) FROM STDIN",
            )
            .await?;
        let (user_text, stamp) = (user_id.to_string(), now.to_rfc3339());
        let mut rows = Vec::with_capacity(COPY_ROWS_PER_SEND * 512);
        let mut id_text = String::new();
        for chunk in created.chunks(COPY_ROWS_PER_SEND) {
            rows.clear();
            for (planned, id) in chunk {
                let text = planned.text();
                id_text.clear();
                write!(id_text, "{id}").expect("a String takes any text");
                let values = [Some(id_text.as_str()), Some(&user_text), Some(&planned.contact.display_name), Some(&text.card),
                    text.photo.as_deref(), Some(&text.search), Some(&text.identities), Some(&stamp), Some(&stamp)];
                push_copy_row(&mut rows, &values);
            }
            copy.send(rows.as_slice()).await?;
        }
        identities = Some(identity_copy_rows(user_id, plan, &ids));
        copy.finish().await?;
    }
    if !updated.is_empty() {
        // Borrowed columns: only the ids are made here.
        let ids: Vec<String> = updated.iter().map(|(_, id)| id.to_string()).collect();
        let texts: Vec<_> = updated.iter().map(|(planned, _)| planned.text()).collect();
        let mut columns: [Vec<Option<&str>>; 6] = Default::default();
        for (((planned, _), id), text) in updated.iter().zip(&ids).zip(&texts) {
            let values = [
                Some(id.as_str()),
                Some(planned.contact.display_name.as_str()),
                Some(text.card.as_str()),
                text.photo.as_deref(),
                Some(text.search.as_str()),
                Some(text.identities.as_str()),
            ];
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
        let mut update = sqlx::query(
            "UPDATE contacts SET display_name = dn, card = c, photo = ph, search_text = st, identities = i, updated_at = $8
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                  AS batch(k, dn, c, ph, st, i)
             WHERE contacts.user_id = $1 AND contacts.id = batch.k::bigint",
        )
        .bind(user_id);
        for column in &columns {
            update = update.bind(column);
        }
        update.bind(now).execute(&mut **tx).await?;
    }
    let rows = identities.unwrap_or_else(|| identity_copy_rows(user_id, plan, &ids));
    copy_identities(tx, rows).await?;
    Ok(ids)
}

async fn copy_identities(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, rows: Vec<u8>) -> StoreResult<()> {
    if !rows.is_empty() {
        let mut copy = tx.copy_in_raw("COPY contact_identities (user_id, key, contact_id) FROM STDIN").await?;
        copy.send(rows).await?;
        copy.finish().await?;
    }
    Ok(())
}

/// Journal entries by `COPY`: their ids come from the sequence, in the rows' order.
async fn journal(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, user_id: i64, entries: &[NewEntry], now: DateTime<Utc>) -> StoreResult<()> {
    let mut copy = tx
        .copy_in_raw("COPY contact_changes (user_id, at, contact_id, action, name, card, photo, identities, created_at) FROM STDIN")
        .await?;
    let (user_text, stamp) = (user_id.to_string(), now.to_rfc3339());
    let mut rows = Vec::with_capacity(COPY_ROWS_PER_SEND * 64);
    for chunk in entries.chunks(COPY_ROWS_PER_SEND) {
        rows.clear();
        for entry in chunk {
            let before = entry.before.as_ref();
            let (contact, created) = (entry.contact_id.to_string(), before.map(|b| record_created_at(b).to_rfc3339()));
            push_copy_row(&mut rows, &[
                Some(&user_text),
                Some(&stamp),
                Some(&contact),
                Some(entry.action.code()),
                before.map(|b| b.name.as_str()),
                before.map(|b| b.card.as_str()),
                before.and_then(|b| b.photo.as_deref()),
                before.map(|b| b.identities.as_str()),
                created.as_deref(),
            ]);
        }
        copy.send(rows.as_slice()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// `ContactWrites::remove_created`, in one statement: the rows go from the table to the journal.
async fn remove_created(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, user_id: i64, run: &JournalRun, now: DateTime<Utc>) -> StoreResult<u64> {
    let moved = sqlx::query(&format!(
        "WITH gone AS (DELETE FROM contacts WHERE user_id = $1 AND id IN ({})
                       RETURNING id, display_name, card, photo, identities, created_at)
         INSERT INTO contact_changes (user_id, at, contact_id, action, name, card, photo, identities, created_at)
         SELECT $1, $4, id, 'd', display_name, card, photo, identities, created_at FROM gone ORDER BY id DESC",
        created_by_run_sql(run)
    ))
    .bind(user_id)
    .bind(run.oldest)
    .bind(run.newest)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(moved.rows_affected())
}

/// Rows put back under their own ids (free: the caller removed them), with the identities they list.
async fn insert_records(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, user_id: i64, records: &[ContactRecord], now: DateTime<Utc>) -> StoreResult<()> {
    let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
    let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
    let cards: Vec<&str> = records.iter().map(|r| r.card.as_str()).collect();
    let photos: Vec<Option<&str>> = records.iter().map(|r| r.photo.as_deref()).collect();
    let searches: Vec<String> = records.iter().map(record_search_text).collect::<StoreResult<_>>()?;
    let listings: Vec<&str> = records.iter().map(|r| r.identities.as_str()).collect();
    let created: Vec<DateTime<Utc>> = records.iter().map(record_created_at).collect();
    sqlx::query(
        "INSERT INTO contacts (id, user_id, display_name, card, photo, search_text, identities, created_at, updated_at)
         SELECT k, $1, dn, c, ph, st, i, ca, $9
         FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
              AS batch(k, dn, c, ph, st, i, ca)",
    )
    .bind(user_id)
    .bind(&ids)
    .bind(&names)
    .bind(&cards)
    .bind(&photos)
    .bind(&searches)
    .bind(&listings)
    .bind(&created)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let mut rows = Vec::new();
    let user = user_id.to_string();
    for (identities, contact) in listed_of(records)? {
        let contact = contact.to_string();
        for identity in &identities {
            push_copy_row(&mut rows, &[Some(&user), Some(&identity_key(identity)), Some(&contact)]);
        }
    }
    copy_identities(tx, rows).await
}

/// Contact rows per message of a `COPY`: Postgres starts on them while the next are made.
const COPY_ROWS_PER_SEND: usize = 250;

/// The plan's new identities as `COPY contact_identities` rows.
fn identity_copy_rows(user_id: i64, plan: &BatchPlan<'_>, ids: &[i64]) -> Vec<u8> {
    let identities = new_identities(plan, ids);
    let user_id = user_id.to_string();
    // Sized for its rows, the buffer is not copied as it grows; one key and one id
    // text serve every row.
    let mut rows = Vec::with_capacity(identities.iter().map(|(identity, _)| user_id.len() + identity.value.len() + 24).sum());
    let (mut key, mut contact) = (String::new(), String::new());
    for (identity, contact_id) in identities {
        key.clear();
        push_identity_key(&mut key, identity);
        contact.clear();
        write!(contact, "{contact_id}").expect("a String takes any text");
        push_copy_row(&mut rows, &[Some(&user_id), Some(&key), Some(&contact)]);
    }
    rows
}

/// One probe of the unique index per wanted identity: `LIMIT 1` keeps each
/// lookup a parameterised subquery, where a plain join let the planner hash
/// all of the user's identities (a scan per batch, so imports slowed as they grew).
async fn identity_owners(tx: &mut sqlx::Transaction<'static, sqlx::Postgres>, user_id: i64, identities: &[&Identity]) -> StoreResult<Vec<i64>> {
    let keys: Vec<String> = identities.iter().map(|identity| identity_key(identity)).collect();
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT held.contact_id FROM UNNEST($2::text[]) AS wanted(key)
         CROSS JOIN LATERAL (SELECT contact_id FROM contact_identities
                             WHERE user_id = $1 AND key = wanted.key LIMIT 1) AS held",
    )
    .bind(user_id)
    .bind(&keys)
    .fetch_all(&mut **tx)
    .await?)
}

/// An identity as the unique key holds it: a letter for the kind, then the
/// value. The database's `identity_key(kind, value)` makes the same from a
/// contact's listing (migration 20261210000002).
fn identity_key(identity: &Identity) -> String {
    let mut key = String::with_capacity(1 + identity.value.len());
    push_identity_key(&mut key, identity);
    key
}

fn push_identity_key(key: &mut String, identity: &Identity) {
    key.push(match identity.kind {
        IdentityKind::Email => 'e',
        IdentityKind::NamePhone => 'p',
        IdentityKind::Name => 'n',
    });
    key.push_str(&identity.value);
}
