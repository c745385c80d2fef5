//! Committing one batch: the fenced transaction that plans the batch's rows
//! against the stored contacts, writes the plan, the row errors and the
//! checkpoint, and commits them together, so that a resume after a crash or a
//! takeover never loses or doubles a row.

use super::planning::{free_beside, plan_against_store, touched_identities, Prefetched};
use crate::domain::contact::{Counts, RowContact};
use crate::model::RowErrorView;
use crate::store::{Checkpoint, Fence, Store, StoreResult};
use chrono::{DateTime, Utc};
use foldhash::HashSet;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// `touched`: every identity of every person the batch planned
    /// (`identity_hash`), which the next batch's prefetched owners may not reflect.
    Committed { counts: Counts, cancel_requested: bool, touched: HashSet<u64> },
    /// The fence did not hold: another attempt owns the import now. Nothing was written.
    Replaced,
}

/// Commits `batch` with its checkpoint if `fence` still holds. Its progress is
/// stamped with the database's clock; `now` dates the contacts it writes.
pub async fn commit_batch(store: &dyn Store, fence: &Fence, batch: Batch, now: DateTime<Utc>) -> StoreResult<BatchOutcome> {
    let mut tx = store.begin_contact_writes().await?;
    let Some(cancel_requested) = tx.hold_fence(fence).await? else {
        return Ok(BatchOutcome::Replaced);
    };
    let plan = plan_against_store(&mut *tx, batch.user_id, &batch.contacts, Vec::new(), batch.prefetched).await?;
    tx.write_plan(batch.user_id, &plan, now).await?;
    tx.write_row_errors(&fence.import_id, &batch.row_errors).await?;
    let counts = Counts { rejected: batch.rejected, skipped: batch.skipped, ..plan.counts };
    let checkpoint = Checkpoint { rows_done: batch.rows_done, last_line: batch.last_line, counts };
    tx.checkpoint(&fence.import_id, &checkpoint).await?;
    let touched = touched_identities(&plan);
    tx.commit().await?;
    drop(plan);
    free_beside(batch.contacts);
    Ok(BatchOutcome::Committed { counts, cancel_requested, touched })
}
