//! The transactions an import's batches run in: the reads that plan a batch
//! against the stored contacts, and the writes that commit it with its
//! checkpoint. The import code (`worker`) drives them and owns the planning;
//! each backend writes a plan its own way (SQLite's multi-row statements,
//! Postgres's `COPY`).

use super::error::StoreResult;
use super::queue::{Checkpoint, Fence};
use crate::domain::plan::{BatchPlan, StoredContact};
use crate::domain::identity::Identity;
use crate::model::RowErrorView;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

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
    /// Stamps the import's progress if `fence` still holds, and (on Postgres)
    /// locks its row for the transaction: whether a cancel was asked for, or
    /// `None` when another attempt owns the import now.
    async fn hold_fence(&mut self, fence: &Fence) -> StoreResult<Option<bool>>;
    /// Merges absorbed contacts, writes created and updated contacts (with
    /// their search text) and stores every new identity.
    async fn write_plan(&mut self, user_id: i64, plan: &BatchPlan<'_>, now: DateTime<Utc>) -> StoreResult<()>;
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
/// the merged contacts went), `write_row_errors(tx, import, errors)`, and
/// `committed(on_commit)`, called after a commit with the struct's `on_commit`.
macro_rules! impl_contact_transactions {
    ($tx:ty, $store:ty, identity_owners: $identity_owners:path, write_plan: $write_plan:path,
     write_row_errors: $write_row_errors:path, committed: $committed:path) => {
        const _: () = {
            use $crate::domain::plan::{BatchPlan, Change, StoredContact};
            use $crate::domain::identity::Identity;
            use $crate::model::RowErrorView;
            use $crate::store::batch::{ContactReads, ContactWrites};
            use $crate::store::contact_rows::*;
            use $crate::store::dialect::Dialect;
            use $crate::store::error::{StoreError, StoreResult};
            use $crate::store::queue::{progress_sql, Checkpoint, Fence, CHECKPOINT_SQL};
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::Row;

            #[async_trait]
            impl ContactReads for $tx {
                async fn identity_owners(&mut self, user_id: i64, identities: &[&Identity]) -> StoreResult<Vec<i64>> {
                    $identity_owners(&mut self.tx, user_id, identities).await
                }

                async fn stored_contacts(&mut self, user_id: i64, ids: &[i64]) -> StoreResult<Vec<StoredContact>> {
                    let sql = <$store as Dialect>::query_text(contacts_by_id_sql(ids.len()));
                    let mut contacts = sqlx::query(&sql);
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
                            Ok(StoredContact { id, contact: stored_contact(row)?, identities: listed_identities(listed.as_deref())? })
                        })
                        .collect()
                }
            }

            #[async_trait]
            impl ContactWrites for $tx {
                async fn hold_fence(&mut self, fence: &Fence) -> StoreResult<Option<bool>> {
                    Ok(sqlx::query_scalar(&progress_sql(<$store as Dialect>::NOW))
                        .bind(&fence.import_id)
                        .bind(fence.attempt)
                        .fetch_optional(&mut *self.tx)
                        .await?)
                }

                /// Deletes the contacts merged into a survivor first, with their
                /// identities, before the survivors are written and store those
                /// identities again; and relists the identities of stored contacts
                /// that gained some without changing a field. Then the backend's own.
                async fn write_plan(&mut self, user_id: i64, plan: &BatchPlan<'_>, now: DateTime<Utc>) -> StoreResult<()> {
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
                    $write_plan(&mut self.tx, user_id, plan, now).await
                }

                async fn write_row_errors(&mut self, import_id: &str, errors: &[RowErrorView]) -> StoreResult<()> {
                    if errors.is_empty() {
                        return Ok(());
                    }
                    $write_row_errors(&mut self.tx, import_id, errors).await
                }

                async fn checkpoint(&mut self, import_id: &str, checkpoint: &Checkpoint) -> StoreResult<()> {
                    let counts = &checkpoint.counts;
                    sqlx::query(CHECKPOINT_SQL)
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
                            let stored = StoredContact { id: row.try_get("id")?, contact: stored_contact(row)?, identities: Vec::new() };
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
