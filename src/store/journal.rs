//! The change journal as stored: each change to a person's contacts with the
//! row it replaced (`contact_changes`), and each operation with its first change
//! (`history_ops`). Written in the transactions of `batch`; read here to
//! answer what an undo would cover, and swept when it is older than kept.

use super::dialect::Dialect;
use super::error::{StoreError, StoreResult};
use super::sql::placeholders;
use crate::domain::history::{Action, ContactRecord, Covers, Entry, OpKind};
use crate::model::OperationView;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// What the history of a person holds.
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// The first change of operation `op_id` of the user, when its changes are still kept.
    async fn op_first_change(&self, user_id: i64, op_id: &str) -> StoreResult<Option<OpRecord>>;
    /// The first change of the first operation the user started at or after `at`.
    async fn first_change_since(&self, user_id: i64, at: DateTime<Utc>) -> StoreResult<Option<i64>>;
    /// The changes from `from` on (how many, and the user's newest), and the
    /// operations they belong to, by kind, but `except`.
    async fn changes_since(&self, user_id: i64, from: i64, except: &str) -> StoreResult<(u64, i64, Covers)>;
    /// When the oldest operation kept started: how far back an undo reaches.
    async fn history_reach(&self, user_id: i64) -> StoreResult<Option<DateTime<Utc>>>;
    /// When the newest operation swept from the user's history started: a
    /// restore to that moment or earlier cannot be exact.
    async fn history_swept_through(&self, user_id: i64) -> StoreResult<Option<DateTime<Utc>>>;
    /// Deletes whole operations with their changes: those started before `before`,
    /// and each person's oldest past `max_changes` changes. The changes deleted.
    async fn sweep_history(&self, before: DateTime<Utc>, max_changes: u64) -> StoreResult<u64>;
    /// The user's operations, newest first, with the changes each made.
    async fn operations(&self, user_id: i64, limit: u32) -> StoreResult<Vec<OperationView>>;
    /// The user's largest contact id: a deletion of "all" stops there.
    async fn newest_contact(&self, user_id: i64) -> StoreResult<i64>;
}

/// An operation as the history keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRecord {
    pub first_change: i64,
    pub kind: OpKind,
    pub undone_by: Option<String>,
}

/// Records an operation unless it is already (`$1` op, `$2` user, `$3` kind,
/// `$4` label, `$5` now, `$6` user again): its changes start after the
/// user's newest, since a person has one operation at a time.
pub(crate) const OPEN_OP_SQL: &str = "INSERT INTO history_ops (op_id, user_id, kind, label, first_change, started_at)
     SELECT $1, $2, $3, $4, COALESCE(MAX(id), 0) + 1, $5 FROM contact_changes WHERE user_id = $6
     ON CONFLICT (op_id) DO NOTHING";

/// The run of changes a batch of an undo takes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalRun {
    /// Its oldest change and its newest.
    pub oldest: i64,
    pub newest: i64,
    /// How many changes it holds.
    pub changes: u64,
    /// Whether each of them created a contact: then there is nothing to
    /// compare, and every contact it names goes.
    pub only_creations: bool,
}

/// The run a batch of the user's journal takes, back from `$3` to no further
/// than `$2` (`$1` user, `$4` limit, `$5` bytes): its oldest change, how many it
/// holds, and how many did not create a contact. The rows it reads stay within
/// the bytes, and at least the newest is taken. One row comes back, not one per change.
/// `$2` bounds the rows taken, not the index scan: with both bounds, Postgres
/// without statistics (a journal an import just filled) read the whole range
/// and sorted it, 30 times slower than walking the key back from `$3`.
pub(crate) const JOURNAL_RUN_SQL: &str = "SELECT MIN(id), COUNT(*), SUM(CASE WHEN action = 'c' THEN 0 ELSE 1 END) FROM (
        SELECT id, action, SUM(CAST(COALESCE(LENGTH(card), 0) + COALESCE(LENGTH(photo), 0) + COALESCE(LENGTH(identities), 0) + 64 AS BIGINT))
                   OVER (ORDER BY id DESC) AS running,
               ROW_NUMBER() OVER (ORDER BY id DESC) AS n
        FROM (SELECT id, action, card, photo, identities FROM contact_changes
              WHERE user_id = $1 AND id <= $3 ORDER BY id DESC LIMIT $4) AS newest
        WHERE id >= $2
     ) AS sized WHERE running <= $5 OR n = 1";

/// The contacts whose oldest change in a run (`$1` user, `$2` oldest, `$3`
/// newest) created them (`=`), or did not (`<>`). An undo removes the first
/// kind whatever they hold now, inside the database, and compares the rest
/// with what their changes kept.
fn first_change_is_creation(is: &str) -> String {
    format!(
        "SELECT contact_id FROM (
             SELECT contact_id, action, ROW_NUMBER() OVER (PARTITION BY contact_id ORDER BY id) AS nth
             FROM contact_changes WHERE user_id = $1 AND id >= $2 AND id <= $3) AS run
         WHERE nth = 1 AND action {is} 'c'"
    )
}

/// The contacts the run created (`$1` user, `$2` oldest, `$3` newest).
pub(crate) fn created_by_run_sql(run: &JournalRun) -> String {
    if run.only_creations {
        "SELECT contact_id FROM contact_changes WHERE user_id = $1 AND id >= $2 AND id <= $3".to_owned()
    } else {
        first_change_is_creation("=")
    }
}

/// The run's changes to every other contact, newest first (`$1` user, `$2`
/// oldest, `$3` newest); there are none in a run of creations only.
pub(crate) fn entries_to_reverse_sql() -> String {
    format!(
        "SELECT id, contact_id, action, name, card, photo, identities, created_at FROM contact_changes
         WHERE user_id = $1 AND id >= $2 AND id <= $3 AND contact_id IN ({}) ORDER BY id DESC",
        first_change_is_creation("<>")
    )
}

pub(crate) fn records_sql(ids: usize) -> String {
    format!(
        "SELECT id, display_name, card, photo, identities, created_at FROM contacts WHERE user_id = $1 AND id IN {}",
        placeholders(2, 1, ids)
    )
}

/// A job's progress: `$1` rows done, `$2` cursor, `$3`–`$5` what it did, `$6` the job, stamped with the backend's clock `now`.
pub(crate) fn job_checkpoint_sql(now: &str) -> String {
    format!(
        "UPDATE imports SET rows_done = $1, job_cursor = $2,
             restored = restored + $3, reverted = reverted + $4, removed = removed + $5, last_progress_at = {now}
         WHERE id = $6"
    )
}

/// Whether an operation of user `$1` starts at change `$2`.
pub(crate) const OP_KEPT_SQL: &str = "SELECT EXISTS (SELECT 1 FROM history_ops WHERE user_id = $1 AND first_change = $2)";

/// Operations before change `$2` that an undo from `$2` on had taken back are
/// back once that undo is undone (`$1`, `$3` user, `$2`, `$4` from).
pub(crate) const UNMARK_REDONE_SQL: &str = "UPDATE history_ops SET undone_by = NULL
     WHERE user_id = $1 AND first_change < $2
       AND undone_by IN (SELECT op_id FROM history_ops WHERE user_id = $3 AND first_change >= $4)";

/// `$1` the undo, `$2` user, `$3` from, `$4` the undo again.
pub(crate) const MARK_UNDONE_SQL: &str =
    "UPDATE history_ops SET undone_by = $1 WHERE user_id = $2 AND first_change >= $3 AND op_id <> $4 AND undone_by IS NULL";

/// Takes the user's slot with a job row that never commits (`$1` id, `$2` user).
pub(crate) fn hold_slot_sql(now: &str, json_param: fn(&str) -> String) -> String {
    format!(
        "INSERT INTO imports (id, user_id, upload_id, file_name, status, sniffed, mapping, created_at, kind)
         VALUES ($1, $2, '', '', 'processing', {}, {}, {now}, 'edit') ON CONFLICT DO NOTHING",
        json_param("'null'"),
        json_param("'null'")
    )
}

/// A contact's row (`id, display_name, card, photo, created_at`) with its listing, as the journal keeps it.
pub(crate) fn record_of<S: Dialect>(row: &<S::Database as sqlx::Database>::Row, listing: Option<&str>) -> StoreResult<ContactRecord>
where
    for<'c> &'c str: sqlx::ColumnIndex<<S::Database as sqlx::Database>::Row>,
    for<'v> String: sqlx::Decode<'v, S::Database> + sqlx::Type<S::Database>,
    for<'v> i64: sqlx::Decode<'v, S::Database> + sqlx::Type<S::Database>,
{
    use sqlx::Row;
    let created_at = S::time_column(row, "created_at")?.ok_or_else(|| StoreError::Corrupt("a contact without created_at".into()))?;
    Ok(ContactRecord {
        id: row.try_get("id")?,
        name: row.try_get("display_name")?,
        card: row.try_get("card")?,
        photo: row.try_get("photo")?,
        identities: listing.unwrap_or("[]").to_owned(),
        created_at: created_at.timestamp_micros(),
    })
}

/// A journal row (`entries_to_reverse_sql`).
pub(crate) fn entry_of<S: Dialect>(row: &<S::Database as sqlx::Database>::Row) -> StoreResult<Entry>
where
    for<'c> &'c str: sqlx::ColumnIndex<<S::Database as sqlx::Database>::Row>,
    for<'v> String: sqlx::Decode<'v, S::Database> + sqlx::Type<S::Database>,
    for<'v> i64: sqlx::Decode<'v, S::Database> + sqlx::Type<S::Database>,
{
    use sqlx::Row;
    let action: String = row.try_get("action")?;
    let action = Action::from_code(&action).ok_or_else(|| StoreError::Corrupt(format!("journal action {action}")))?;
    let contact_id: i64 = row.try_get("contact_id")?;
    let before = match action {
        Action::Created => None,
        Action::Updated | Action::Deleted => {
            let created_at = S::time_column(row, "created_at")?.map_or(0, |at| at.timestamp_micros());
            let card: Option<String> = row.try_get("card")?;
            Some(ContactRecord {
                id: contact_id,
                name: row.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
                card: card.ok_or_else(|| StoreError::Corrupt("a journal entry without the row it replaced".into()))?,
                photo: row.try_get("photo")?,
                identities: row.try_get::<Option<String>, _>("identities")?.unwrap_or_else(|| "[]".to_owned()),
                created_at,
            })
        }
    };
    Ok(Entry { id: row.try_get("id")?, contact_id, before })
}

/// The search text of a row put back: its document, read and folded.
pub(crate) fn record_search_text(record: &ContactRecord) -> StoreResult<String> {
    let contact: crate::domain::contact::Contact = serde_json::from_str(&record.card)?;
    Ok(contact.search_text())
}

/// A row's creation time as the backend stores it.
pub(crate) fn record_created_at(record: &ContactRecord) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(record.created_at).unwrap_or_default()
}

/// Moves the user's `history_swept_through` on to the latest start among the
/// operations before change `$2`, which are about to be swept; never back, and
/// never to nothing (`greatest` of two values, NULL when either is).
pub(crate) fn swept_through_sql(greatest: &str) -> String {
    let swept = "(SELECT MAX(started_at) FROM history_ops WHERE user_id = $1 AND first_change < $2)";
    format!(
        "UPDATE users SET history_swept_through =
             {greatest}(COALESCE(history_swept_through, {swept}), COALESCE({swept}, history_swept_through))
         WHERE id = $1"
    )
}

/// `HistoryStore` for a backend, written once.
macro_rules! impl_history {
    ($store:ty) => {
        const _: () = {
            use $crate::domain::history::{Covers, OpKind};
            use $crate::store::dialect::{Connections, Dialect};
            use $crate::store::error::{StoreError, StoreResult};
            use $crate::store::journal::{hold_slot_sql, swept_through_sql, HistoryStore, OpRecord};
            use $crate::model::OperationView;
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::Row;

            #[async_trait]
            impl HistoryStore for $store {
                async fn op_first_change(&self, user_id: i64, op_id: &str) -> StoreResult<Option<OpRecord>> {
                    let row = sqlx::query("SELECT first_change, kind, undone_by FROM history_ops WHERE op_id = $1 AND user_id = $2")
                        .bind(op_id)
                        .bind(user_id)
                        .fetch_optional(self.reads())
                        .await?;
                    row.map(|row| {
                        let kind: String = row.try_get("kind")?;
                        Ok(OpRecord {
                            first_change: row.try_get("first_change")?,
                            kind: OpKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("operation kind {kind}")))?,
                            undone_by: row.try_get("undone_by")?,
                        })
                    })
                    .transpose()
                }

                async fn first_change_since(&self, user_id: i64, at: DateTime<Utc>) -> StoreResult<Option<i64>> {
                    Ok(sqlx::query_scalar(
                        "SELECT MIN(first_change) FROM history_ops WHERE user_id = $1 AND started_at >= $2",
                    )
                    .bind(user_id)
                    .bind(Self::stamp(at))
                    .fetch_one(self.reads())
                    .await?)
                }

                async fn changes_since(&self, user_id: i64, from: i64, except: &str) -> StoreResult<(u64, i64, Covers)> {
                    let (count, newest): (i64, Option<i64>) =
                        sqlx::query_as("SELECT COUNT(*), MAX(id) FROM contact_changes WHERE user_id = $1 AND id >= $2")
                            .bind(user_id)
                            .bind(from)
                            .fetch_one(self.reads())
                            .await?;
                    let kinds: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT kind, COUNT(*) FROM history_ops WHERE user_id = $1 AND first_change >= $2 AND op_id <> $3 GROUP BY kind",
                    )
                    .bind(user_id)
                    .bind(from)
                    .bind(except)
                    .fetch_all(self.reads())
                    .await?;
                    let mut covers = Covers::default();
                    for (kind, n) in kinds {
                        let n = n as u64;
                        match OpKind::parse(&kind) {
                            Some(OpKind::Import) => covers.imports += n,
                            Some(OpKind::Undo) => covers.undos += n,
                            Some(OpKind::Edit) => covers.edits += n,
                            Some(OpKind::Delete) => covers.deletions += n,
                            None => return Err(StoreError::Corrupt(format!("operation kind {kind}"))),
                        }
                    }
                    Ok((count as u64, newest.unwrap_or(from - 1), covers))
                }

                async fn history_reach(&self, user_id: i64) -> StoreResult<Option<DateTime<Utc>>> {
                    let row = sqlx::query("SELECT MIN(started_at) AS started_at FROM history_ops WHERE user_id = $1")
                        .bind(user_id)
                        .fetch_one(self.reads())
                        .await?;
                    Ok(Self::time_column(&row, "started_at")?)
                }

                async fn history_swept_through(&self, user_id: i64) -> StoreResult<Option<DateTime<Utc>>> {
                    let row = sqlx::query("SELECT history_swept_through FROM users WHERE id = $1").bind(user_id).fetch_optional(self.reads()).await?;
                    Ok(row.map(|row| Self::time_column(&row, "history_swept_through")).transpose()?.flatten())
                }

                async fn sweep_history(&self, before: DateTime<Utc>, max_changes: u64) -> StoreResult<u64> {
                    let mut swept = 0;
                    let users: Vec<(i64, i64, i64)> = sqlx::query_as(
                        "SELECT user_id, MIN(first_change), MAX(first_change) FROM history_ops GROUP BY user_id",
                    )
                    .fetch_all(self.reads())
                    .await?;
                    for (user_id, oldest_op, newest_op) in users {
                        // Whole operations go, oldest first, and never a person's
                        // latest: it may be running, and it is what an undo is for.
                        let by_time: Option<i64> =
                            sqlx::query_scalar("SELECT MIN(first_change) FROM history_ops WHERE user_id = $1 AND started_at >= $2")
                                .bind(user_id)
                                .bind(Self::stamp(before))
                                .fetch_one(self.reads())
                                .await?;
                        let newest: Option<i64> =
                            sqlx::query_scalar("SELECT MAX(id) FROM contact_changes WHERE user_id = $1").bind(user_id).fetch_one(self.reads()).await?;
                        let by_size: Option<i64> = match newest {
                            // The first operation whose changes, with the later ones', fit the cap.
                            Some(newest) => sqlx::query_scalar("SELECT MIN(first_change) FROM history_ops WHERE user_id = $1 AND first_change > $2")
                                .bind(user_id)
                                .bind(newest.saturating_sub(max_changes as i64))
                                .fetch_one(self.reads())
                                .await?,
                            None => None,
                        };
                        let keep_from = by_time.unwrap_or(newest_op).max(by_size.unwrap_or(newest_op)).min(newest_op);
                        if keep_from <= oldest_op {
                            continue;
                        }
                        let mut tx = self.begin_write().await?;
                        // The person's slot, held for the transaction: an undo
                        // never loses the changes it is taking back mid-way.
                        let slot = uuid::Uuid::new_v4().to_string();
                        let held = sqlx::query(&Self::query_text(hold_slot_sql(Self::NOW, Self::json_param)))
                            .bind(&slot)
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if held == 0 {
                            continue;
                        }
                        let deleted = sqlx::query("DELETE FROM contact_changes WHERE user_id = $1 AND id < $2")
                            .bind(user_id)
                            .bind(keep_from)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        // Never back: a sweep that another beat to these operations finds none,
                        // and instances' clocks may disagree on which started later.
                        sqlx::query(&swept_through_sql(<$store as Dialect>::GREATEST)).bind(user_id).bind(keep_from).execute(&mut *tx).await?;
                        sqlx::query("DELETE FROM history_ops WHERE user_id = $1 AND first_change < $2")
                            .bind(user_id)
                            .bind(keep_from)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("DELETE FROM imports WHERE id = $1").bind(&slot).execute(&mut *tx).await?;
                        tx.commit().await?;
                        self.wrote();
                        swept += deleted;
                    }
                    Ok(swept)
                }

                async fn operations(&self, user_id: i64, limit: u32) -> StoreResult<Vec<OperationView>> {
                    // An operation's changes run to the next one's first, or to the newest.
                    let rows = sqlx::query(
                        "SELECT op_id, kind, label, started_at, undone_by,
                                COALESCE(LEAD(first_change) OVER (ORDER BY first_change, started_at),
                                         (SELECT COALESCE(MAX(id), 0) + 1 FROM contact_changes WHERE user_id = $1)) - first_change AS changes
                         FROM history_ops WHERE user_id = $2 ORDER BY first_change DESC, started_at DESC LIMIT $3",
                    )
                    .bind(user_id)
                    .bind(user_id)
                    .bind(i64::from(limit))
                    .fetch_all(self.reads())
                    .await?;
                    rows.iter()
                        .map(|row| {
                            let kind: String = row.try_get("kind")?;
                            let changes: i64 = row.try_get("changes")?;
                            Ok(OperationView {
                                op_id: row.try_get("op_id")?,
                                kind: OpKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("operation kind {kind}")))?,
                                label: row.try_get("label")?,
                                started_at: Self::time_column(row, "started_at")?
                                    .ok_or_else(|| StoreError::Corrupt("an operation without started_at".into()))?,
                                changes: changes.max(0) as u64,
                                undone_by: row.try_get("undone_by")?,
                            })
                        })
                        .collect()
                }

                async fn newest_contact(&self, user_id: i64) -> StoreResult<i64> {
                    let newest: Option<i64> =
                        sqlx::query_scalar("SELECT MAX(id) FROM contacts WHERE user_id = $1").bind(user_id).fetch_one(self.reads()).await?;
                    Ok(newest.unwrap_or(0))
                }
            }
        };
    };
}
pub(crate) use impl_history;
