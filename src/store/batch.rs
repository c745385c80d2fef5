//! The transactions an import's batches run in: the reads that plan a batch
//! against the stored contacts, and the writes that commit it with its
//! checkpoint. The import code (`worker`) drives them and owns the planning;
//! each backend writes a plan its own way (SQLite's multi-row statements,
//! Postgres's `COPY`).

use super::error::StoreResult;
use super::journal::JournalRun;
use super::queue::{Checkpoint, Fence};
use crate::domain::history::{ContactRecord, Entry, NewEntry, ReversalCounts};
use crate::domain::identity::Identity;
use crate::domain::plan::{BatchPlan, StoredContact};
use crate::model::RowErrorView;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// An operation whose changes the journal records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub id: String,
    pub kind: crate::domain::history::OpKind,
    /// What the history calls it: a file's name, "Edit of Ana Lima", …
    pub label: String,
}

/// Contact reads in one transaction: one snapshot on SQLite, no locks on either backend.
#[async_trait]
pub trait ContactReads: Send {
    /// The ids of the user's contacts holding any of `identities`.
    async fn identity_owners(&mut self, user_id: i64, identities: &[&Identity]) -> StoreResult<Vec<i64>>;
    /// These contacts of the user, with their stored identities.
    async fn stored_contacts(&mut self, user_id: i64, ids: &[i64]) -> StoreResult<Vec<StoredContact>>;
}

/// A write transaction over a user's contacts: a batch of an import with its
/// checkpoint, or a chunk of the identity backfill. Dropped without `commit`,
/// it rolls back.
#[async_trait]
pub trait ContactWrites: ContactReads {
    /// Checks that `fence` still holds, and (on Postgres) locks the import's
    /// row for the transaction and lets its commit skip the wait for the disk
    /// (`Dialect::BATCH_SETTING`): whether a cancel was asked for, or `None`
    /// when another attempt owns the import now. The checkpoint stamps progress.
    async fn hold_fence(&mut self, fence: &Fence) -> StoreResult<Option<bool>>;
    /// Merges absorbed contacts, writes created and updated contacts (with
    /// their search text) and stores every new identity; with `op`, journals
    /// each change as part of that operation.
    async fn write_plan(&mut self, user_id: i64, plan: &BatchPlan<'_>, op: Option<&Op>, now: DateTime<Utc>) -> StoreResult<()>;
    /// Records `op` as the user's newest operation unless it is already: its
    /// changes are the journal's from the next one on.
    async fn open_op(&mut self, user_id: i64, op: &Op, now: DateTime<Utc>) -> StoreResult<()>;
    /// Appends changes to the user's journal, in order, stamped `now`.
    async fn journal(&mut self, user_id: i64, entries: &[NewEntry], now: DateTime<Utc>) -> StoreResult<()>;
    /// The run of the user's journal that a batch of an undo takes back: from
    /// `to` back towards `from` (ids, inclusive), at most `limit` changes and
    /// no more than `max_bytes` of rows (at least one); `None` when none is left.
    async fn journal_run(&mut self, user_id: i64, from: i64, to: i64, limit: u32, max_bytes: u64) -> StoreResult<Option<JournalRun>>;
    /// The run's changes, newest first, to the contacts its oldest change to
    /// them did not create: those an undo compares and puts back.
    async fn entries_to_reverse(&mut self, user_id: i64, run: &JournalRun) -> StoreResult<Vec<Entry>>;
    /// Whether an operation of the user's that starts at change `from` is still kept.
    async fn op_kept(&mut self, user_id: i64, from: i64) -> StoreResult<bool>;
    /// Up to `limit` ids of the user's contacts that match `query` (as search
    /// does), past `after` and up to `until`, in order.
    async fn matching_ids(&mut self, user_id: i64, query: &str, after: i64, until: i64, limit: u32) -> StoreResult<Vec<i64>>;
    /// These contacts of the user as the journal keeps them.
    async fn records(&mut self, user_id: i64, ids: &[i64]) -> StoreResult<Vec<ContactRecord>>;
    /// Deletes these contacts of the user, with their identities.
    async fn remove(&mut self, user_id: i64, ids: &[i64]) -> StoreResult<()>;
    /// Deletes the contacts the run created, whatever they hold now, and
    /// journals each as deleted with its row, inside the database: neither the
    /// run nor the rows travel to the app and back. How many there were.
    async fn remove_created(&mut self, user_id: i64, run: &JournalRun, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Puts rows back under their ids, in place of any current row, with the
    /// identities they list and their search text.
    async fn put_back(&mut self, user_id: i64, records: &[ContactRecord], now: DateTime<Utc>) -> StoreResult<()>;
    /// A job's progress with its cursor and what it did, in the batch's transaction.
    async fn job_checkpoint(&mut self, import_id: &str, rows_done: u64, cursor: i64, counts: &ReversalCounts) -> StoreResult<()>;
    /// Marks the user's operations from journal id `from` on, but `undo`'s own,
    /// undone by it; those that an undo among them had undone are done again.
    async fn mark_undone(&mut self, user_id: i64, from: i64, undo: &str) -> StoreResult<()>;
    /// Takes the user's import slot for this transaction (an edit or a
    /// deletion): false when an import or undo holds it. The slot is the guard's
    /// own unique index, taken and given back inside the transaction.
    async fn hold_slot(&mut self, user_id: i64, op_id: &str) -> StoreResult<bool>;
    /// Keeps the row errors and warnings of an import (each line once).
    async fn write_row_errors(&mut self, import_id: &str, errors: &[RowErrorView]) -> StoreResult<()>;
    /// The batch's checkpoint and counts.
    async fn checkpoint(&mut self, import_id: &str, checkpoint: &Checkpoint) -> StoreResult<()>;
    /// Up to `limit` contacts from before the identity migration, oldest first,
    /// with their user; they hold no identities yet.
    async fn contacts_to_backfill(&mut self, limit: u32) -> StoreResult<Vec<(i64, StoredContact)>>;
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}

/// `ContactReads` and `ContactWrites` for a backend's transaction type `$tx`
/// (a struct with the transaction in its field `tx`), whose SQL and binds are
/// the same on both backends; `$store` is the backend's store (its `Dialect`).
/// The backend's own, passed as paths: `identity_owners(tx, user, identities)`,
/// `write_plan(tx, user, plan, now)` (the plan's contacts and identities, after
/// the merged contacts went; the id of each planned contact), `write_row_errors(tx,
/// import, errors)`, `journal(tx, user, entries, now)`, `insert_records(tx, user,
/// records, now)` (rows whose ids are free, with their identities),
/// `remove_created(tx, user, run, now)`, and `committed(on_commit)`, called after a commit with the struct's `on_commit`.
macro_rules! impl_contact_transactions {
    ($tx:ty, $store:ty, identity_owners: $identity_owners:path, write_plan: $write_plan:path,
     write_row_errors: $write_row_errors:path, journal: $journal:path, insert_records: $insert_records:path,
     remove_created: $remove_created:path, committed: $committed:path) => {
        const _: () = {
            use $crate::domain::history::{ContactRecord, Entry, NewEntry, ReversalCounts};
            use $crate::domain::plan::{BatchPlan, Change, StoredContact};
            use $crate::domain::identity::Identity;
            use $crate::model::RowErrorView;
            use $crate::store::batch::{ContactReads, ContactWrites, Op};
            use $crate::store::journal::*;
            use $crate::store::contact_rows::*;
            use $crate::store::dialect::Dialect;
            use $crate::store::error::{StoreError, StoreResult};
            use $crate::store::queue::{checkpoint_sql, fence_sql, Checkpoint, Fence};
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::Row;

            #[async_trait]
            impl ContactReads for $tx {
                async fn identity_owners(&mut self, user_id: i64, identities: &[&Identity]) -> StoreResult<Vec<i64>> {
                    $identity_owners(&mut self.tx, user_id, identities).await
                }

                async fn stored_contacts(&mut self, user_id: i64, ids: &[i64]) -> StoreResult<Vec<StoredContact>> {
                    // One text per number of ids: not worth a place in the statement cache.
                    let sql = <$store as Dialect>::query_text(contacts_by_id_sql(ids.len()));
                    let mut contacts = sqlx::query(&sql).persistent(false);
                    for id in ids {
                        contacts = contacts.bind(id);
                    }
                    contacts
                        .fetch_all(&mut *self.tx)
                        .await?
                        .iter()
                        .map(|row| {
                            let (id, owner): (i64, i64) = (row.try_get("id")?, row.try_get("user_id")?);
                            if owner != user_id {
                                return Err(StoreError::Corrupt(format!("an identity of user {user_id} names contact {id} of user {owner}")));
                            }
                            let listed: Option<String> = row.try_get("identities")?;
                            let record = record_of::<$store>(row, listed.as_deref())?;
                            Ok(StoredContact {
                                id,
                                contact: stored_contact(row)?,
                                identities: listed_identities(listed.as_deref())?,
                                record: Some(record),
                            })
                        })
                        .collect()
                }
            }

            #[async_trait]
            impl ContactWrites for $tx {
                async fn hold_fence(&mut self, fence: &Fence) -> StoreResult<Option<bool>> {
                    if let Some(setting) = <$store as Dialect>::BATCH_SETTING {
                        sqlx::query(setting).execute(&mut *self.tx).await?;
                    }
                    Ok(sqlx::query_scalar(&fence_sql(<$store as Dialect>::FENCE_LOCK))
                        .bind(&fence.import_id)
                        .bind(fence.attempt)
                        .fetch_optional(&mut *self.tx)
                        .await?)
                }

                /// Deletes the contacts merged into a survivor first, with their
                /// identities, before the survivors are written and store those
                /// identities again; and relists the identities of stored contacts
                /// that gained some without changing a field. Then the backend's own.
                async fn write_plan(&mut self, user_id: i64, plan: &BatchPlan<'_>, op: Option<&Op>, now: DateTime<Utc>) -> StoreResult<()> {
                    for planned in plan.contacts.iter().filter(|c| !c.absorbed.is_empty()) {
                        let sql = <$store as Dialect>::query_text(absorb_sql(planned.absorbed.len()));
                        let mut deleting = sqlx::query(&sql).bind(user_id);
                        for id in &planned.absorbed {
                            deleting = deleting.bind(id);
                        }
                        deleting.execute(&mut *self.tx).await?;
                    }
                    let relisted = plan.contacts.iter().filter(|c| c.change == Change::Unchanged && !c.new_identities.is_empty());
                    for planned in relisted {
                        sqlx::query(RELIST_IDENTITIES_SQL)
                            .bind($crate::domain::identity::listing(&planned.identities))
                            .bind(user_id)
                            .bind(planned.id)
                            .execute(&mut *self.tx)
                            .await?;
                    }
                    let ids = $write_plan(&mut self.tx, user_id, plan, now).await?;
                    if let Some(op) = op {
                        self.open_op(user_id, op, now).await?;
                        let entries = plan.journal(&ids);
                        if !entries.is_empty() {
                            $journal(&mut self.tx, user_id, &entries, now).await?;
                        }
                    }
                    Ok(())
                }

                async fn open_op(&mut self, user_id: i64, op: &Op, now: DateTime<Utc>) -> StoreResult<()> {
                    sqlx::query(&<$store as Dialect>::query_text(OPEN_OP_SQL.to_owned()))
                        .bind(&op.id)
                        .bind(user_id)
                        .bind(op.kind.as_str())
                        .bind(&op.label)
                        .bind(<$store as Dialect>::stamp(now))
                        .bind(user_id)
                        .execute(&mut *self.tx)
                        .await?;
                    Ok(())
                }

                async fn journal(&mut self, user_id: i64, entries: &[NewEntry], now: DateTime<Utc>) -> StoreResult<()> {
                    if entries.is_empty() {
                        return Ok(());
                    }
                    $journal(&mut self.tx, user_id, entries, now).await
                }

                async fn journal_run(&mut self, user_id: i64, from: i64, to: i64, limit: u32, max_bytes: u64) -> StoreResult<Option<JournalRun>> {
                    let (oldest, changes, not_creations): (Option<i64>, i64, Option<i64>) = sqlx::query_as(JOURNAL_RUN_SQL)
                        .bind(user_id)
                        .bind(from)
                        .bind(to)
                        .bind(i64::from(limit))
                        .bind(max_bytes.min(i64::MAX as u64) as i64)
                        .fetch_one(&mut *self.tx)
                        .await?;
                    Ok(oldest.map(|oldest| JournalRun {
                        oldest,
                        newest: to,
                        changes: changes as u64,
                        only_creations: not_creations.unwrap_or(0) == 0,
                    }))
                }

                async fn entries_to_reverse(&mut self, user_id: i64, run: &JournalRun) -> StoreResult<Vec<Entry>> {
                    if run.only_creations {
                        return Ok(Vec::new());
                    }
                    let rows = sqlx::query(&entries_to_reverse_sql())
                        .bind(user_id)
                        .bind(run.oldest)
                        .bind(run.newest)
                        .fetch_all(&mut *self.tx)
                        .await?;
                    rows.iter().map(|row| entry_of::<$store>(row)).collect()
                }

                async fn op_kept(&mut self, user_id: i64, from: i64) -> StoreResult<bool> {
                    Ok(sqlx::query_scalar(OP_KEPT_SQL).bind(user_id).bind(from).fetch_one(&mut *self.tx).await?)
                }

                async fn matching_ids(&mut self, user_id: i64, query: &str, after: i64, until: i64, limit: u32) -> StoreResult<Vec<i64>> {
                    Ok(sqlx::query_scalar(&format!("SELECT id FROM contacts WHERE {CONTACT_MATCHES} AND id > $3 AND id <= $4 ORDER BY id LIMIT $5"))
                        .bind(user_id)
                        .bind(like_pattern(query))
                        .bind(after)
                        .bind(until)
                        .bind(i64::from(limit))
                        .fetch_all(&mut *self.tx)
                        .await?)
                }

                async fn records(&mut self, user_id: i64, ids: &[i64]) -> StoreResult<Vec<ContactRecord>> {
                    let mut found = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks($crate::store::sql::ROWS_PER_STATEMENT) {
                        let sql = <$store as Dialect>::query_text(records_sql(chunk.len()));
                        let mut query = sqlx::query(&sql).persistent(false).bind(user_id);
                        for id in chunk {
                            query = query.bind(id);
                        }
                        for row in query.fetch_all(&mut *self.tx).await? {
                            let listed: Option<String> = row.try_get("identities")?;
                            found.push(record_of::<$store>(&row, listed.as_deref())?);
                        }
                    }
                    Ok(found)
                }

                async fn remove(&mut self, user_id: i64, ids: &[i64]) -> StoreResult<()> {
                    for chunk in ids.chunks($crate::store::sql::ROWS_PER_STATEMENT) {
                        let sql = <$store as Dialect>::query_text(absorb_sql(chunk.len()));
                        let mut deleting = sqlx::query(&sql).persistent(false).bind(user_id);
                        for id in chunk {
                            deleting = deleting.bind(id);
                        }
                        deleting.execute(&mut *self.tx).await?;
                    }
                    Ok(())
                }

                async fn remove_created(&mut self, user_id: i64, run: &JournalRun, now: DateTime<Utc>) -> StoreResult<u64> {
                    $remove_created(&mut self.tx, user_id, run, now).await
                }

                async fn put_back(&mut self, user_id: i64, records: &[ContactRecord], now: DateTime<Utc>) -> StoreResult<()> {
                    if records.is_empty() {
                        return Ok(());
                    }
                    let ids: Vec<i64> = records.iter().map(|r| r.id).collect();
                    self.remove(user_id, &ids).await?;
                    $insert_records(&mut self.tx, user_id, records, now).await
                }

                async fn job_checkpoint(&mut self, import_id: &str, rows_done: u64, cursor: i64, counts: &ReversalCounts) -> StoreResult<()> {
                    sqlx::query(&job_checkpoint_sql(<$store as Dialect>::NOW))
                        .bind(rows_done as i64)
                        .bind(cursor)
                        .bind(counts.restored as i64)
                        .bind(counts.reverted as i64)
                        .bind(counts.removed as i64)
                        .bind(import_id)
                        .execute(&mut *self.tx)
                        .await?;
                    Ok(())
                }

                async fn mark_undone(&mut self, user_id: i64, from: i64, undo: &str) -> StoreResult<()> {
                    sqlx::query(UNMARK_REDONE_SQL).bind(user_id).bind(from).bind(user_id).bind(from).execute(&mut *self.tx).await?;
                    sqlx::query(MARK_UNDONE_SQL).bind(undo).bind(user_id).bind(from).bind(undo).execute(&mut *self.tx).await?;
                    Ok(())
                }

                async fn hold_slot(&mut self, user_id: i64, op_id: &str) -> StoreResult<bool> {
                    let sql = hold_slot_sql(<$store as Dialect>::NOW, <$store as Dialect>::json_param);
                    let taken = sqlx::query(&<$store as Dialect>::query_text(sql)).bind(op_id).bind(user_id).execute(&mut *self.tx).await?;
                    if taken.rows_affected() == 0 {
                        return Ok(false);
                    }
                    sqlx::query("DELETE FROM imports WHERE id = $1").bind(op_id).execute(&mut *self.tx).await?;
                    Ok(true)
                }

                async fn write_row_errors(&mut self, import_id: &str, errors: &[RowErrorView]) -> StoreResult<()> {
                    if errors.is_empty() {
                        return Ok(());
                    }
                    $write_row_errors(&mut self.tx, import_id, errors).await
                }

                async fn checkpoint(&mut self, import_id: &str, checkpoint: &Checkpoint) -> StoreResult<()> {
                    let counts = &checkpoint.counts;
                    sqlx::query(&checkpoint_sql(<$store as Dialect>::NOW))
                        .bind(checkpoint.rows_done as i64)
                        .bind(checkpoint.last_line as i64)
                        .bind(counts.created as i64)
                        .bind(counts.updated as i64)
                        .bind(counts.unchanged as i64)
                        .bind(counts.rejected as i64)
                        .bind(counts.skipped as i64)
                        .bind(counts.merged as i64)
                        .bind(counts.warned as i64)
                        .bind(counts.kept_beside as i64)
                        .bind(import_id)
                        .execute(&mut *self.tx)
                        .await?;
                    Ok(())
                }

                async fn contacts_to_backfill(&mut self, limit: u32) -> StoreResult<Vec<(i64, StoredContact)>> {
                    let rows = sqlx::query(&<$store as Dialect>::query_text(format!(
                        "SELECT user_id, {STORED_CONTACT_COLUMNS} FROM contacts WHERE search_text IS NULL ORDER BY user_id, id LIMIT $1"
                    )))
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?;
                    rows.iter()
                        .map(|row| {
                            let stored = StoredContact { id: row.try_get("id")?, contact: stored_contact(row)?, identities: Vec::new(), record: None };
                            Ok((row.try_get("user_id")?, stored))
                        })
                        .collect()
                }

                async fn commit(self: Box<Self>) -> StoreResult<()> {
                    let this = *self;
                    let after = this.tx.commit().await;
                    after?;
                    $committed(&this.on_commit);
                    Ok(())
                }
            }
        };
    };
}
pub(crate) use impl_contact_transactions;
