//! The import queue and its guard: one active import per person, claims by
//! workers, leases, fencing by attempt, recovery of lapsed instances' work,
//! and how imports end; with each import's row errors.
//!
//! - At most one active (`queued` or `processing`) import per person, enforced
//!   by a partial unique index, so `insert_import` itself is the check.
//! - Every worker write is conditioned on `(import id, attempt, status =
//!   processing)`; a write that matches no row means the worker was replaced.
//! - Leases and staleness are judged with the database's clock.

use super::error::{StoreError, StoreResult};
use crate::domain::plan::Counts;
use crate::domain::format::Sniffed;
use crate::domain::guard::ActiveImport;
use crate::domain::mapping::Mapping;
use crate::domain::history::{JobParams, ReversalCounts};
use crate::model::{ImportStatus, ImportView, JobKind, RowErrorView, RowErrorsPage};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A job to queue: an import, or an undo or deletion (`kind`, with its `params`).
#[derive(Debug, Clone, Default)]
pub struct NewImport {
    pub id: String,
    pub user_id: i64,
    pub upload_id: String,
    /// The file's name, or what the job does.
    pub file_name: String,
    /// `None` while the file is still arriving (see `QueueStore::insert_import`).
    pub sniffed: Option<Sniffed>,
    pub mapping: Option<Mapping>,
    pub rows_total: u64,
    pub kind: JobKind,
    pub params: Option<JobParams>,
}

impl NewImport {
    /// Held back from workers until `finish_receiving`: an import while its
    /// file arrives, a job until what it covers is confirmed.
    pub fn is_receiving(&self) -> bool {
        self.mapping.is_none()
    }
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
    pub kind: JobKind,
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
    /// What the values a merge keeps beside others are said to come from.
    pub file_name: String,
    pub attempt: i32,
    pub sniffed: Sniffed,
    pub mapping: Mapping,
    /// The checkpoint: data rows (after the header) already committed.
    pub rows_done: u64,
    /// Data rows counted when the file was received; the file must still have them.
    pub rows_total: u64,
}

/// A job other than an import a worker has claimed; fenced like one.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub import_id: String,
    pub user_id: i64,
    pub attempt: i32,
    pub kind: JobKind,
    pub label: String,
    pub params: JobParams,
    /// Entries (an undo) or contacts (a deletion) done.
    pub rows_done: u64,
    pub rows_total: u64,
    /// Where the next batch starts: the newest change not yet undone, or the
    /// last contact deleted. `None` before the first batch.
    pub cursor: Option<i64>,
}

/// What `claim_next` took off the queue.
#[derive(Debug, Clone)]
pub enum Claim {
    Ready(ClaimedImport),
    Job(ClaimedJob),
    /// The row was claimed but its stored settings do not decode; the worker fails it.
    Unreadable { fence: Fence, user_id: i64, kind: JobKind, error: String },
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

/// A batch's checkpoint: where the next attempt resumes, and what the batch counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Data rows committed, this batch's included.
    pub rows_done: u64,
    /// The file line where the batch's last row starts.
    pub last_line: u64,
    pub counts: Counts,
}

/// What happened to imports whose instance stopped heart-beating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub import_id: String,
    pub user_id: i64,
    pub attempt: i32,
    pub kind: JobKind,
    /// `Queued` when it resumes, else how it ended (`Failed`, `Cancelled`).
    pub status: ImportStatus,
}

#[async_trait]
pub trait QueueStore: Send + Sync {
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
    /// so the others' leases lapsed for the same reason. Receiving imports of
    /// lapsed instances end `failed`: their files will not arrive.
    async fn recover_orphans(&self, lease: Duration, max_failures: i32, count_failures: bool) -> StoreResult<Vec<Orphan>>;
    /// Claims the oldest queued import; its start and progress are stamped with the database's clock.
    async fn claim_next(&self, instance_id: &str) -> StoreResult<Option<Claim>>;
    /// Imports waiting for a worker, on every instance.
    async fn queued_imports(&self) -> StoreResult<u64>;
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
    /// Removes imports that ended before `finished_before`, with their row errors.
    async fn delete_ended_imports(&self, finished_before: DateTime<Utc>) -> StoreResult<u64>;
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
pub(crate) const ORPHAN_ERROR: &str = "its instance stopped responding";

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
         RETURNING id, user_id, attempt, status, kind",
        release_set(now)
    )
}

/// Ends the receiving imports of instances whose lease (`$1` seconds) lapsed at
/// `cutoff`: their files will not arrive.
pub(crate) fn end_lost_receipts_sql(now: &str, cutoff: &str) -> String {
    format!(
        "UPDATE imports SET status = 'failed', receiving = FALSE, owner = NULL, finished_at = {now},
             failure_reason = 'The file did not arrive whole: the instance receiving it stopped.'
         WHERE status = 'queued' AND receiving
           AND (owner IS NULL OR owner NOT IN (SELECT id FROM instances WHERE heartbeat_at > {cutoff}))
         RETURNING id, user_id, attempt, status, kind"
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

pub(crate) fn orphans(rows: Vec<(String, i64, i32, String, String)>) -> StoreResult<Vec<Orphan>> {
    rows.into_iter()
        .map(|(import_id, user_id, attempt, status, kind)| {
            Ok(Orphan { import_id, user_id, attempt, kind: parse_kind(&kind)?, status: parse_status(&status)? })
        })
        .collect()
}

/// Renews a lease; `now` is the backend's clock.
pub(crate) fn heartbeat_sql(now: &str) -> String {
    format!(
        "INSERT INTO instances (id, heartbeat_at) VALUES ($1, {now})
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at"
    )
}

/// Claims the oldest queued import as a new attempt, as instance `$1`; `lock`
/// skips a row another instance is claiming, where the backend can (SQLite's
/// one writer runs the pick and the claim as one statement).
pub(crate) fn claim_sql(now: &str, lock: &str, json_column: fn(&str) -> String) -> String {
    format!(
        "UPDATE imports SET status = 'processing', attempt = attempt + 1, owner = $1, claim_checkpoint = rows_done,
             processing_started_at = COALESCE(processing_started_at, {now}), last_progress_at = {now}
         WHERE id = (SELECT id FROM imports WHERE status = 'queued' AND NOT receiving ORDER BY created_at LIMIT 1 {lock})
           AND status = 'queued'
         RETURNING id, user_id, upload_id, file_name, attempt, {} AS sniffed, {} AS mapping, rows_done, rows_total,
             kind, params, job_cursor",
        json_column("sniffed"),
        json_column("mapping")
    )
}

/// An idle poll stays a read: a claim would queue for SQLite's write lock behind uploads.
pub(crate) const ANY_QUEUED: &str = "SELECT EXISTS (SELECT 1 FROM imports WHERE status = 'queued' AND NOT receiving)";

/// The import that holds user `$1`'s slot, with the backend's clock `now` as `db_now`.
pub(crate) fn slot_holder_sql(now: &str) -> String {
    format!(
        "SELECT id, attempt, kind, created_at, processing_started_at, last_progress_at, {now} AS db_now FROM imports
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

/// Opens a batch: whether a cancel was asked for, if the fence (`$1` import,
/// `$2` attempt) holds, with the import's row locked for the batch by `row_lock`.
/// The batch's checkpoint stamps the progress later, in the same transaction.
pub(crate) fn fence_sql(row_lock: &str) -> String {
    format!("SELECT cancel_requested FROM imports WHERE id = $1 AND attempt = $2 AND status = 'processing' {row_lock}")
}

/// A batch's checkpoint and counters, and its progress stamped with the
/// backend's clock `now`, in the batch's transaction.
pub(crate) fn checkpoint_sql(now: &str) -> String {
    format!(
        "UPDATE imports SET rows_done = $1, checkpoint_line = $2, created = created + $3, updated = updated + $4,
             unchanged = unchanged + $5, rejected = rejected + $6, skipped = skipped + $7, merged = merged + $8,
             warned = warned + $9, kept_beside = kept_beside + $10, last_progress_at = {now}
         WHERE id = $11"
    )
}

/// Ends an import; an acknowledged cancel wins over success. `$1` status, `$2` reason, `$3` now.
pub(crate) const FINISH_SQL: &str =
    "UPDATE imports SET status = CASE WHEN $1 = 'succeeded' AND cancel_requested THEN 'cancelled' ELSE $1 END,
         failure_reason = $2, finished_at = $3, owner = NULL
     WHERE id = $4 AND attempt = $5 AND status = 'processing' RETURNING upload_id, status";

pub(crate) fn insert_import_sql(now: &str, json_param: fn(&str) -> String) -> String {
    format!(
        "INSERT INTO imports (id, user_id, upload_id, file_name, status, sniffed, mapping, rows_total, created_at, receiving, owner, kind, params)
         VALUES ($1, $2, $3, $4, 'queued', {}, {}, $7, {now}, $8, $9, $10, $11)",
        json_param("$5"),
        json_param("$6")
    )
}

/// A receiving import's settings (`$1` file name, `$2` sniffed, `$3` mapping, `$4` rows, `$5` id): now it may be claimed.
pub(crate) fn finish_receiving_sql(json_param: fn(&str) -> String) -> String {
    format!(
        "UPDATE imports SET file_name = $1, sniffed = {}, mapping = {}, rows_total = $4, receiving = FALSE, owner = NULL
         WHERE id = $5 AND status = 'queued' AND receiving",
        json_param("$2"),
        json_param("$3")
    )
}

pub(crate) const DROP_RECEIVING_IMPORT: &str = "DELETE FROM imports WHERE id = $1 AND receiving AND status = 'queued'";
pub(crate) const DELETE_ENDED_IMPORTS: &str =
    "DELETE FROM imports WHERE status NOT IN ('queued', 'processing') AND finished_at < $1";
pub(crate) const QUEUED_IMPORTS: &str = "SELECT COUNT(*) FROM imports WHERE status = 'queued' AND NOT receiving";
/// Cancels a queued import at once (`$1` now, `$2` import, `$3` user): no worker would notice the flag.
pub(crate) const CANCEL_QUEUED: &str =
    "UPDATE imports SET status = 'cancelled', finished_at = $1 WHERE id = $2 AND user_id = $3 AND status = 'queued' RETURNING upload_id";
/// Asks a processing import (`$1`, of user `$2`) to stop after its current batch.
pub(crate) const CANCEL_PROCESSING: &str =
    "UPDATE imports SET cancel_requested = TRUE WHERE id = $1 AND user_id = $2 AND status = 'processing'";

/// A claimed row as a worker's import. Settings that do not decode make an
/// `Unreadable` claim instead of an error, so the worker can fail that import
/// rather than claim it again and again.
pub(crate) fn claim_from_row<R>(row: &R) -> StoreResult<Claim>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let fence = Fence { import_id: row.try_get("id")?, attempt: row.try_get("attempt")? };
    let user_id = row.try_get("user_id")?;
    let kind = parse_kind(&row.try_get::<String, _>("kind")?)?;
    if kind != JobKind::Import {
        let params: Option<String> = row.try_get("params")?;
        let params = match params.as_deref().map(serde_json::from_str::<JobParams>) {
            Some(Ok(params)) => params,
            other => {
                let error = match other {
                    Some(Err(error)) => error.to_string(),
                    _ => "no parameters".to_owned(),
                };
                return Ok(Claim::Unreadable { fence, user_id, kind, error });
            }
        };
        return Ok(Claim::Job(ClaimedJob {
            import_id: fence.import_id,
            user_id,
            attempt: fence.attempt,
            kind,
            label: row.try_get("file_name")?,
            params,
            rows_done: row.try_get::<i64, _>("rows_done")? as u64,
            rows_total: row.try_get::<Option<i64>, _>("rows_total")?.unwrap_or(0) as u64,
            cursor: row.try_get("job_cursor")?,
        }));
    }
    let settings = || -> StoreResult<(Sniffed, Mapping, String)> {
        let (sniffed, mapping): (String, String) = (row.try_get("sniffed")?, row.try_get("mapping")?);
        Ok((serde_json::from_str(&sniffed)?, serde_json::from_str(&mapping)?, row.try_get("upload_id")?))
    };
    let (sniffed, mapping, upload_id) = match settings() {
        Ok(settings) => settings,
        Err(error) => return Ok(Claim::Unreadable { fence, user_id, kind, error: error.to_string() }),
    };
    Ok(Claim::Ready(ClaimedImport {
        import_id: fence.import_id,
        user_id,
        upload_id,
        file_name: row.try_get("file_name")?,
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

pub(crate) fn parse_kind(kind: &str) -> StoreResult<JobKind> {
    JobKind::parse(kind).ok_or_else(|| StoreError::Corrupt(format!("job kind {kind}")))
}

pub(crate) const IMPORT_COLUMNS: &str = "id, file_name, kind, status, attempt, rows_total, rows_done, created, updated, \
     unchanged, rejected, skipped, merged, warned, kept_beside, restored, reverted, removed, cancel_requested, failure_reason, \
     created_at, processing_started_at, last_progress_at, finished_at, \
     (SELECT undone_by FROM history_ops h WHERE h.op_id = imports.id) AS undone_by";

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
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    let count = |column: &str| -> Result<u64, sqlx::Error> { Ok(row.try_get::<i64, _>(column)? as u64) };
    let kind = parse_kind(&row.try_get::<String, _>("kind")?)?;
    let undone_by: Option<String> = row.try_get("undone_by")?;
    let status = parse_status(&status)?;
    Ok(ImportView {
        import_id: row.try_get("id")?,
        file_name: row.try_get("file_name")?,
        kind,
        status: if undone_by.is_some() && !status.is_active() { ImportStatus::Undone } else { status },
        reversal: ReversalCounts { restored: count("restored")?, reverted: count("reverted")?, removed: count("removed")? },
        undone_by,
        rows_done: count("rows_done")?,
        rows_total: row.try_get::<Option<i64>, _>("rows_total")?.map(|n| n as u64),
        counts: Counts {
            created: count("created")?,
            updated: count("updated")?,
            unchanged: count("unchanged")?,
            rejected: count("rejected")?,
            skipped: count("skipped")?,
            merged: count("merged")?,
            warned: count("warned")?,
            kept_beside: count("kept_beside")?,
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

/// The exact count of rows rejected or imported with a warning, and the count of their lines kept.
pub(crate) const ROW_ERROR_COUNTS: &str = "SELECT i.rejected + i.warned, (SELECT COUNT(*) FROM import_errors e WHERE e.import_id = i.id)
     FROM imports i WHERE i.id = $1 AND i.user_id = $2";
/// A page of row errors by key: the primary key (import_id, line) serves it.
pub(crate) const ROW_ERRORS_AFTER: &str =
    "SELECT line, reason, warning FROM import_errors WHERE import_id = $1 AND line > $2 ORDER BY line LIMIT $3";

/// The page that `ROW_ERROR_COUNTS` and `ROW_ERRORS_AFTER` (asked for `limit + 1` rows) read.
pub(crate) fn row_errors_page(counts: (i64, i64), mut rows: Vec<(i64, String, bool)>, limit: u32) -> RowErrorsPage {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_after = if more { rows.last().map(|(line, _, _)| *line as u64) } else { None };
    RowErrorsPage {
        total: counts.0 as u64,
        stored: counts.1 as u64,
        errors: rows.into_iter().map(|(line, reason, warning)| RowErrorView { line: line as u64, reason, warning }).collect(),
        next_after,
    }
}

/// `QueueStore` for a backend (`$store`, which implements `Dialect` and
/// `Connections`), written once; the names it uses are imported inside it.
macro_rules! impl_queue {
    ($store:ty) => {
        const _: () = {
            use $crate::model::{ImportStatus, ImportView, RowErrorsPage};
            use $crate::store::dialect::{Connections, Dialect};
            use $crate::store::error::StoreResult;
            use $crate::store::queue::*;
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use std::time::Duration;

            impl $store {
                /// Runs a statement that ends an import or hands it back
                /// (`RETURNING upload_id, status`) and drops the upload of an import
                /// that ended, in one transaction. The state reached, or `None` when
                /// the fence did not hold.
                async fn end_import<'q>(
                    &self,
                    statement: sqlx::query::QueryAs<'q, <Self as Dialect>::Database, (String, String), <<Self as Dialect>::Database as sqlx::Database>::Arguments<'q>>,
                ) -> StoreResult<Option<ImportStatus>> {
                    let mut tx = self.begin_write().await?;
                    let Some((upload_id, status)) = statement.fetch_optional(&mut *tx).await? else { return Ok(None) };
                    let status = parse_status(&status)?;
                    if !status.is_active() {
                        sqlx::query("DELETE FROM uploads WHERE id = $1").bind(upload_id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(Some(status))
                }
            }

            #[async_trait]
            impl QueueStore for $store {
                async fn insert_import(&self, new: &NewImport) -> StoreResult<InsertOutcome> {
                    let inserted = sqlx::query(&insert_import_sql(Self::NOW, Self::json_param))
                        .bind(&new.id)
                        .bind(new.user_id)
                        .bind(&new.upload_id)
                        .bind(&new.file_name)
                        .bind(serde_json::to_string(&new.sniffed)?)
                        .bind(serde_json::to_string(&new.mapping)?)
                        .bind(new.rows_total as i64)
                        .bind(new.is_receiving())
                        .bind(new.is_receiving().then(|| Connections::instance_id(self).to_owned()))
                        .bind(new.kind.as_str())
                        .bind(new.params.as_ref().map(serde_json::to_string).transpose()?)
                        .execute(self.writes())
                        .await;
                    match inserted {
                        Ok(_) => Ok(InsertOutcome::Inserted),
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(InsertOutcome::SlotTaken),
                        Err(e) => Err(e.into()),
                    }
                }

                async fn finish_receiving(&self, new: &NewImport) -> StoreResult<bool> {
                    let done = sqlx::query(&finish_receiving_sql(Self::json_param))
                        .bind(&new.file_name)
                        .bind(serde_json::to_string(&new.sniffed)?)
                        .bind(serde_json::to_string(&new.mapping)?)
                        .bind(new.rows_total as i64)
                        .bind(&new.id)
                        .execute(self.writes())
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn drop_receiving_import(&self, import_id: &str) -> StoreResult<()> {
                    sqlx::query(DROP_RECEIVING_IMPORT).bind(import_id).execute(self.writes()).await?;
                    Ok(())
                }

                async fn slot_holder(&self, user_id: i64) -> StoreResult<Option<SlotHolder>> {
                    type Stamp = <$store as Dialect>::Stamp;
                    let row: Option<(String, i32, String, Stamp, Option<Stamp>, Option<Stamp>, Stamp)> =
                        sqlx::query_as(&slot_holder_sql(Self::NOW)).bind(user_id).fetch_optional(self.reads()).await?;
                    row.map(|(import_id, attempt, kind, created, started, progress, now)| Ok(SlotHolder {
                        import_id,
                        attempt,
                        kind: parse_kind(&kind)?,
                        times: $crate::domain::guard::ActiveImport {
                            created_at: Self::moment(created),
                            processing_started_at: started.map(Self::moment),
                            last_progress_at: progress.map(Self::moment),
                        },
                        now: Self::moment(now),
                    }))
                    .transpose()
                }

                async fn abandon_if_stale(&self, holder: &SlotHolder, stale_after: Duration) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let upload_id: Option<String> = sqlx::query_scalar(&abandon_sql(Self::NOW, &Self::seconds_ago("$3")))
                        .bind(&holder.import_id)
                        .bind(holder.attempt)
                        .bind(stale_after.as_secs_f64())
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(upload_id) = &upload_id {
                        sqlx::query("DELETE FROM uploads WHERE id = $1").bind(upload_id).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(upload_id.is_some())
                }

                async fn heartbeat(&self, instance_id: &str) -> StoreResult<()> {
                    sqlx::query(&heartbeat_sql(Self::NOW)).bind(instance_id).execute(self.leases()).await?;
                    Ok(())
                }

                async fn remove_instance(&self, instance_id: &str) -> StoreResult<()> {
                    sqlx::query("DELETE FROM instances WHERE id = $1").bind(instance_id).execute(self.leases()).await?;
                    Ok(())
                }

                async fn recover_orphans(&self, lease: Duration, max_failures: i32, count_failures: bool) -> StoreResult<Vec<Orphan>> {
                    self.end_sessions_of_lapsed_owners(lease).await?;
                    let sql = recover_sql(Self::NOW, &Self::seconds_ago("$5"), Self::SKIP_LOCKED);
                    let failure = count_failures.then_some((None, ORPHAN_ERROR));
                    let mut rows: Vec<(String, i64, i32, String, String)> = bind_release(sqlx::query_as(&sql), max_failures, failure)
                        .bind(lease.as_secs_f64())
                        .fetch_all(self.leases())
                        .await?;
                    rows.extend(
                        sqlx::query_as::<_, (String, i64, i32, String, String)>(&end_lost_receipts_sql(Self::NOW, &Self::seconds_ago("$1")))
                            .bind(lease.as_secs_f64())
                            .fetch_all(self.leases())
                            .await?,
                    );
                    sqlx::query(&format!("DELETE FROM instances WHERE heartbeat_at <= {}", Self::seconds_ago("$1")))
                        .bind(lease.as_secs_f64())
                        .execute(self.leases())
                        .await?;
                    orphans(rows)
                }

                async fn claim_next(&self, instance_id: &str) -> StoreResult<Option<Claim>> {
                    let queued: bool = sqlx::query_scalar(ANY_QUEUED).fetch_one(self.reads()).await?;
                    if !queued {
                        return Ok(None);
                    }
                    let row = sqlx::query(&claim_sql(Self::NOW, Self::SKIP_LOCKED, Self::json_column))
                        .bind(instance_id)
                        .fetch_optional(self.writes())
                        .await?;
                    row.map(|r| claim_from_row(&r)).transpose()
                }

                async fn queued_imports(&self) -> StoreResult<u64> {
                    let queued: i64 = sqlx::query_scalar(QUEUED_IMPORTS).fetch_one(self.leases()).await?;
                    Ok(queued as u64)
                }

                async fn release_import(&self, fence: &Fence, failure: Option<&Failure>, max_failures: i32) -> StoreResult<Option<ImportStatus>> {
                    let sql = release_sql(Self::NOW);
                    let failure = failure.map(|f| (Some(f.batch.as_str()), f.error.as_str()));
                    let query = bind_release(sqlx::query_as(&sql), max_failures, failure).bind(fence.import_id.as_str()).bind(fence.attempt);
                    self.end_import(query).await
                }

                async fn finish_import(&self, fence: &Fence, status: ImportStatus, reason: Option<&str>, now: DateTime<Utc>) -> StoreResult<Option<ImportStatus>> {
                    let query = sqlx::query_as(FINISH_SQL)
                        .bind(status.as_str())
                        .bind(reason)
                        .bind(Self::stamp(now))
                        .bind(&fence.import_id)
                        .bind(fence.attempt);
                    let ended = self.end_import(query).await?;
                    self.run_ended(&fence.import_id);
                    Ok(ended)
                }

                async fn get_import(&self, user_id: i64, import_id: &str) -> StoreResult<Option<ImportView>> {
                    let row = sqlx::query(&format!("SELECT {IMPORT_COLUMNS} FROM imports WHERE id = $1 AND user_id = $2"))
                        .bind(import_id)
                        .bind(user_id)
                        .fetch_optional(self.reads())
                        .await?;
                    row.as_ref().map(|r| import_view(r, Self::time_column)).transpose()
                }

                async fn list_imports(&self, user_id: i64, limit: u32) -> StoreResult<Vec<ImportView>> {
                    let rows = sqlx::query(&format!(
                        "SELECT {IMPORT_COLUMNS} FROM imports WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2"
                    ))
                    .bind(user_id)
                    .bind(limit as i64)
                    .fetch_all(self.reads())
                    .await?;
                    rows.iter().map(|r| import_view(r, Self::time_column)).collect()
                }

                async fn row_errors(&self, user_id: i64, import_id: &str, after: Option<u64>, limit: u32) -> StoreResult<Option<RowErrorsPage>> {
                    let counts: Option<(i64, i64)> =
                        sqlx::query_as(ROW_ERROR_COUNTS).bind(import_id).bind(user_id).fetch_optional(self.reads()).await?;
                    let Some(counts) = counts else { return Ok(None) };
                    let rows: Vec<(i64, String, bool)> = sqlx::query_as(ROW_ERRORS_AFTER)
                        .bind(import_id)
                        .bind(after.map_or(-1, |line| line as i64))
                        .bind(i64::from(limit) + 1)
                        .fetch_all(self.reads())
                        .await?;
                    Ok(Some(row_errors_page(counts, rows, limit)))
                }

                async fn request_cancel(&self, user_id: i64, import_id: &str, now: DateTime<Utc>) -> StoreResult<Option<ImportView>> {
                    let mut tx = self.begin_write().await?;
                    let upload_id: Option<String> = sqlx::query_scalar(CANCEL_QUEUED)
                        .bind(Self::stamp(now))
                        .bind(import_id)
                        .bind(user_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    match upload_id {
                        Some(upload_id) => {
                            sqlx::query("DELETE FROM uploads WHERE id = $1").bind(upload_id).execute(&mut *tx).await?;
                        }
                        None => {
                            sqlx::query(CANCEL_PROCESSING).bind(import_id).bind(user_id).execute(&mut *tx).await?;
                        }
                    }
                    tx.commit().await?;
                    self.get_import(user_id, import_id).await
                }

                async fn delete_ended_imports(&self, finished_before: DateTime<Utc>) -> StoreResult<u64> {
                    Ok(sqlx::query(DELETE_ENDED_IMPORTS).bind(Self::stamp(finished_before)).execute(self.writes()).await?.rows_affected())
                }
            }
        };
    };
}
pub(crate) use impl_queue;
