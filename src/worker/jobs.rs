//! Jobs besides imports, claimed, fenced and supervised like one: an undo (of
//! an operation, or back to a moment) and a deletion of many contacts. Each
//! batch commits its changes, their journal and the job's cursor together, so a
//! run resumes after a crash or a takeover exactly where the last one stopped.

use super::outcomes::{RunEnd, RunError};
use super::run::supervise;
use crate::domain::history::{reverse, Action, JobParams, NewEntry, ReversalCounts};
use crate::model::ImportStatus;
use crate::services::Services;
use crate::store::{ClaimedJob, ContactWrites, Fence, Op, StoreResult};
use crate::telemetry;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{info, warn, Instrument};

/// Runs a claimed job in its own task and records how it ended, as `run_import` does.
pub async fn run_job(services: &Services, claimed: ClaimedJob, shutdown: &watch::Receiver<bool>) -> RunEnd {
    let (fence, kind) = (Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt }, claimed.kind);
    info!(kind = claimed.kind.as_str(), done = claimed.rows_done, "job claimed");
    // Where the batch not yet committed starts: the batch a failure is charged to.
    let cursor = Arc::new(AtomicI64::new(claimed.cursor.unwrap_or(0)));
    let run = tokio::spawn(process(services.clone(), claimed, fence.clone(), cursor.clone(), shutdown.clone()).in_current_span());
    let failing_batch = move || format!("the batch after position {}", cursor.load(Ordering::Relaxed));
    supervise(services, kind, &fence, run, failing_batch, shutdown).await
}

async fn process(
    services: Services,
    claimed: ClaimedJob,
    fence: Fence,
    cursor: Arc<AtomicI64>,
    shutdown: watch::Receiver<bool>,
) -> Result<RunEnd, RunError> {
    let op_kind = match claimed.params {
        JobParams::Undo { .. } => crate::domain::history::OpKind::Undo,
        JobParams::Delete { .. } => crate::domain::history::OpKind::Delete,
    };
    let op = Op { id: claimed.import_id.clone(), kind: op_kind, label: claimed.label.clone() };
    let mut job = Job { services: &services, claimed: &claimed, fence: &fence, op: &op, done: claimed.rows_done, cursor: claimed.cursor };
    loop {
        let step = match &claimed.params {
            JobParams::Undo { from, until } => job.undo_batch(*from, *until).await?,
            JobParams::Delete { ids, query, until } => job.delete_batch(ids.as_deref(), query, *until).await?,
        };
        if let Some(at) = job.cursor {
            cursor.store(at, Ordering::Relaxed);
        }
        match step {
            Step::Fenced => {
                warn!("this attempt was replaced; stopping without writing");
                telemetry::fenced_write("batch");
                return Ok(RunEnd::Replaced);
            }
            Step::Done => return Ok(RunEnd::Finished(ImportStatus::Succeeded)),
            Step::More { cancel_requested: true } => return Ok(RunEnd::Finished(ImportStatus::Cancelled)),
            Step::More { .. } if *shutdown.borrow() => return Ok(RunEnd::Requeued),
            Step::More { .. } => {
                let pause = services.config.import_batch_pause;
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// A job's batch, in an import's batches (`IMPORT_BATCH_ROWS`).
const JOB_BATCH_FACTOR: usize = 4;
/// The most an undo's batch reads of the rows its entries kept: the rows it
/// puts back, and as many of the current ones, stay within a few times this.
const JOB_BATCH_BYTES: u64 = 16 * 1024 * 1024;

/// How a batch ended.
enum Step {
    More { cancel_requested: bool },
    Done,
    /// Another attempt owns the job now: nothing was written.
    Fenced,
}

struct Job<'a> {
    services: &'a Services,
    claimed: &'a ClaimedJob,
    fence: &'a Fence,
    op: &'a Op,
    /// Entries undone, or contacts deleted, so far.
    done: u64,
    /// An undo: the newest change not yet undone. A deletion: the last contact deleted.
    cursor: Option<i64>,
}

impl Job<'_> {
    /// Entries (or contacts) per batch: four times an import's rows. An entry
    /// is smaller than a row, and most of an undo's work stays inside the
    /// database; fewer, larger transactions are what make it faster.
    fn batch_size(&self) -> u32 {
        (self.services.config.import_batch_rows.saturating_mul(JOB_BATCH_FACTOR)).clamp(1, u32::MAX as usize) as u32
    }

    /// The fenced transaction a batch runs in, or `None` when the fence fell.
    async fn begin(&self) -> StoreResult<Option<(Box<dyn ContactWrites>, bool)>> {
        let mut tx = self.services.store.begin_contact_writes().await?;
        Ok(tx.hold_fence(self.fence).await?.map(|cancel| (tx, cancel)))
    }

    /// Undoes the newest batch of changes not yet undone in `from..=until`;
    /// once none is left, marks the operations they belong to undone.
    async fn undo_batch(&mut self, from: i64, until: i64) -> Result<Step, RunError> {
        let user_id = self.claimed.user_id;
        let started = std::time::Instant::now();
        let Some((mut tx, cancel_requested)) = self.begin().await? else { return Ok(Step::Fenced) };
        if !tx.op_kept(user_id, from).await? {
            return Err(RunError::Unfinishable(
                "The changes this undo needed were swept from the history before it finished (HISTORY_RETENTION).".to_owned(),
            ));
        }
        let now = self.services.now();
        tx.open_op(user_id, self.op, now).await?;
        let newest = self.cursor.unwrap_or(until);
        let Some(run) = tx.journal_run(user_id, from, newest, self.batch_size(), JOB_BATCH_BYTES).await? else {
            tx.mark_undone(user_id, from, &self.op.id).await?;
            tx.job_checkpoint(&self.fence.import_id, self.done, from - 1, &ReversalCounts::default()).await?;
            tx.commit().await?;
            info!(undone = self.done, "undo finished");
            return Ok(Step::Done);
        };
        // Contacts the run created go whatever they hold now, moved to the
        // journal inside the database; the rest are compared and put back.
        let rest = tx.entries_to_reverse(user_id, &run).await?;
        let mut named: Vec<i64> = rest.iter().map(|e| e.contact_id).collect();
        named.sort_unstable();
        named.dedup();
        let current = tx.records(user_id, &named).await?;
        let mut reversal = reverse(&rest, &current);
        // Every removal before any row comes back: a row put back may hold
        // identities that a removed contact holds now.
        reversal.counts.removed += tx.remove_created(user_id, &run, now).await?;
        tx.remove(user_id, &reversal.remove).await?;
        tx.put_back(user_id, &reversal.restore, now).await?;
        tx.journal(user_id, &reversal.changes, now).await?;
        self.done += run.changes;
        tx.job_checkpoint(&self.fence.import_id, self.done, run.oldest - 1, &reversal.counts).await?;
        tx.commit().await?;
        self.cursor = Some(run.oldest - 1);
        telemetry::batch_committed(run.changes, started.elapsed());
        Ok(Step::More { cancel_requested })
    }

    /// Deletes the next batch of the contacts asked for, oldest first, up to contact `until`.
    async fn delete_batch(&mut self, ids: Option<&[i64]>, query: &str, until: i64) -> Result<Step, RunError> {
        let user_id = self.claimed.user_id;
        let Some((mut tx, cancel_requested)) = self.begin().await? else { return Ok(Step::Fenced) };
        let after = self.cursor.unwrap_or(0);
        let limit = self.batch_size();
        let chosen: Vec<i64> = match ids {
            Some(ids) => ids.iter().copied().filter(|id| *id > after && *id <= until).take(limit as usize).collect(),
            None => tx.matching_ids(user_id, query, after, until, limit).await?,
        };
        let Some(last) = chosen.last().copied() else {
            info!(deleted = self.done, "deletion finished");
            return Ok(Step::Done);
        };
        let started = std::time::Instant::now();
        let records = tx.records(user_id, &chosen).await?;
        let now = self.services.now();
        tx.open_op(user_id, self.op, now).await?;
        let gone: Vec<i64> = records.iter().map(|r| r.id).collect();
        tx.remove(user_id, &gone).await?;
        let changes: Vec<NewEntry> =
            records.into_iter().map(|before| NewEntry { contact_id: before.id, action: Action::Deleted, before: Some(before) }).collect();
        tx.journal(user_id, &changes, now).await?;
        self.done += changes.len() as u64;
        let counts = ReversalCounts { removed: changes.len() as u64, ..ReversalCounts::default() };
        tx.job_checkpoint(&self.fence.import_id, self.done, last, &counts).await?;
        tx.commit().await?;
        self.cursor = Some(last);
        telemetry::batch_committed(changes.len() as u64, started.elapsed());
        Ok(Step::More { cancel_requested })
    }
}
