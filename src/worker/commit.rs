//! Committing one batch: the fenced transaction that plans the batch's rows
//! against the stored contacts, writes the plan, the row errors and warnings,
//! and the checkpoint, and commits them together, so that a resume after a
//! crash or a takeover never loses or doubles a row.

use super::planning::{free_beside, plan_against_store, touched_identities, Prefetched};
use crate::domain::history::OpKind;
use crate::domain::merge::MergeRules;
use crate::domain::plan::{Counts, RowContact};
use crate::model::RowErrorView;
use crate::store::{Checkpoint, Fence, Op, Store, StoreResult};
use chrono::{DateTime, Utc};
use foldhash::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One batch of work, committed atomically with its checkpoint.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub user_id: i64,
    pub contacts: Vec<RowContact>,
    /// The batch's row errors and the warnings its rows were built with.
    pub problems: Vec<RowErrorView>,
    pub rejected: u64,
    pub skipped: u64,
    /// The checkpoint after this batch.
    pub rows_done: u64,
    /// The file line where the batch's last row starts.
    pub last_line: u64,
    /// Its rows' stored owners, read before its transaction (`Store::prefetch_owners`).
    pub prefetched: Option<Prefetched>,
}

/// What an import's batches are committed with.
#[derive(Debug, Clone)]
pub struct CommitRules {
    /// The file's name: values kept beside others are said to come from it.
    pub source: String,
    pub max_values: usize,
    /// Row errors and warnings an import keeps (`IMPORT_MAX_STORED_ROW_ERRORS`).
    pub max_stored_problems: u64,
    /// Those kept so far, by this run and the attempts before it. The run's
    /// batches commit one after another, so the count needs no lock.
    pub stored_problems: Arc<AtomicU64>,
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
pub async fn commit_batch(store: &dyn Store, fence: &Fence, batch: Batch, now: DateTime<Utc>, rules: &CommitRules) -> StoreResult<BatchOutcome> {
    let mut tx = store.begin_contact_writes().await?;
    let Some(cancel_requested) = tx.hold_fence(fence).await? else {
        return Ok(BatchOutcome::Replaced);
    };
    let merge_rules = MergeRules { source: &rules.source, max_values: rules.max_values };
    let plan = plan_against_store(&mut *tx, batch.user_id, &batch.contacts, Vec::new(), batch.prefetched, &merge_rules).await?;
    let op = Op { id: fence.import_id.clone(), kind: OpKind::Import, label: rules.source.clone() };
    tx.write_plan(batch.user_id, &plan, Some(&op), now).await?;
    let problems = with_merge_warnings(batch.problems, &plan.warnings);
    let warned = problems.iter().filter(|p| p.warning).count() as u64;
    let kept_before = rules.stored_problems.load(Ordering::Relaxed);
    let room = rules.max_stored_problems.saturating_sub(kept_before) as usize;
    let kept = &problems[..problems.len().min(room)];
    tx.write_row_errors(&fence.import_id, kept).await?;
    let counts = Counts { rejected: batch.rejected, skipped: batch.skipped, warned, ..plan.counts };
    let checkpoint = Checkpoint { rows_done: batch.rows_done, last_line: batch.last_line, counts };
    tx.checkpoint(&fence.import_id, &checkpoint).await?;
    let touched = touched_identities(&plan);
    tx.commit().await?;
    rules.stored_problems.store(kept_before + kept.len() as u64, Ordering::Relaxed);
    drop(plan);
    free_beside(batch.contacts);
    Ok(BatchOutcome::Committed { counts, cancel_requested, touched })
}

/// The batch's problems with what its merges could not keep, one entry a
/// line in line order: a merge's warning joins a warning the row had.
fn with_merge_warnings(mut problems: Vec<RowErrorView>, merge_warnings: &[(u64, String)]) -> Vec<RowErrorView> {
    for (line, warning) in merge_warnings {
        match problems.iter_mut().find(|p| p.line == *line) {
            Some(problem) => {
                problem.reason.push(' ');
                problem.reason.push_str(warning);
            }
            None => problems.push(RowErrorView { line: *line, reason: warning.clone(), warning: true }),
        }
    }
    problems.sort_by_key(|p| p.line);
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_warning_joins_the_row_warning_of_its_line() {
        let problems = vec![
            RowErrorView { line: 4, reason: "\"x\" is not a valid email address; it was kept as the custom field \"Email\".".into(), warning: true },
            RowErrorView { line: 2, reason: "The row has no name, email address or phone number.".into(), warning: false },
        ];
        let merged = with_merge_warnings(problems, &[(4, "Ana: 1 email addresses past the limit of 1 per contact were not kept.".into()), (9, "Bo: a second photo was not kept.".into())]);
        let lines: Vec<(u64, bool)> = merged.iter().map(|p| (p.line, p.warning)).collect();
        assert_eq!(lines, [(2, false), (4, true), (9, true)]);
        assert!(merged[1].reason.ends_with("per contact were not kept."));
    }
}
