//! The batch pipeline of one run: rows are read and built into batches; each
//! batch commits with its checkpoint while the next is built, and the stored
//! owners of the next batch's rows are read beside that commit.

use super::commit::{commit_batch, Batch, BatchOutcome, CommitRules};
use super::outcomes::{RunEnd, RunError};
use super::planning::{prefetch_owners, HeldIdentities, Prefetched};
use super::rows::RowSource;
use crate::domain::draft::RowOutcome;
use crate::domain::row::RowBuilder;
use crate::domain::report::capped_reason;
use crate::model::{ImportStatus, RowErrorView};
use crate::services::Services;
use crate::store::{ClaimedImport, Fence, StoreResult};
use crate::telemetry;
use foldhash::HashSet;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::{info, warn};

type InFlight = tokio::task::JoinHandle<StoreResult<BatchOutcome>>;

/// One run's batches: the batch being built, the one committing, and what the
/// run has learnt on the way.
pub(super) struct BatchPipeline<'a> {
    services: &'a Services,
    claimed: &'a ClaimedImport,
    fence: &'a Fence,
    shutdown: &'a watch::Receiver<bool>,
    /// One batch commits while the next is built; commits stay in order.
    in_flight: Option<InFlight>,
    lines: BatchLines<'a>,
    batch: Batch,
    /// Rows in `batch`.
    in_batch: usize,
    /// What each batch commits with, the row errors and warnings kept so far among it.
    rules: CommitRules,
    /// On a first import, the identities its committed batches touched.
    held: Option<HeldIdentities>,
}

impl<'a> BatchPipeline<'a> {
    pub(super) fn new(
        services: &'a Services,
        claimed: &'a ClaimedImport,
        fence: &'a Fence,
        failing_line: &'a AtomicU64,
        shutdown: &'a watch::Receiver<bool>,
    ) -> Self {
        Self {
            services,
            claimed,
            fence,
            shutdown,
            in_flight: None,
            lines: BatchLines { failing: failing_line, in_flight: None, building: None },
            batch: Batch {
                user_id: claimed.user_id,
                rows_done: claimed.rows_done,
                contacts: Vec::with_capacity(batch_capacity(services, claimed.rows_done, claimed.rows_total)),
                ..Batch::default()
            },
            in_batch: 0,
            rules: CommitRules {
                source: claimed.file_name.clone(),
                max_values: services.config.import_max_values_per_contact as usize,
                max_stored_problems: services.config.import_max_stored_row_errors,
                stored_problems: Arc::new(AtomicU64::new(0)),
            },
            held: None,
        }
    }

    /// Runs the batches from the checkpoint to the file's end, or until the run must stop.
    pub(super) async fn run(&mut self) -> Result<RunEnd, RunError> {
        let (services, claimed) = (self.services, self.claimed);
        // Each row before the checkpoint that was rejected or warned about kept its line until the cap.
        let error_cap = services.config.import_max_stored_row_errors;
        let before = services.store.get_import(claimed.user_id, &claimed.import_id).await?.map_or(0, |v| v.counts.rejected + v.counts.warned);
        self.rules.stored_problems.store(before.min(error_cap), Ordering::Relaxed);
        if !services.store.user_has_contacts(claimed.user_id).await? {
            self.held = Some(HeldIdentities::for_rows(claimed.rows_total.saturating_sub(claimed.rows_done)));
        }
        let batch_rows = services.config.import_batch_rows.max(1);
        let first_data_record = claimed.sniffed.first_data_record();
        let builder = RowBuilder::new(&claimed.sniffed, &claimed.mapping, services.config.draft_rules());
        let mut rows = RowSource::new(services, claimed);
        let mut records = Vec::new();
        loop {
            records.clear();
            let more = rows.fill(&mut records).await?;
            for record in records.drain(..) {
                let Some(data_index) = data_row_index(record.index, first_data_record, claimed.rows_done) else { continue };
                self.lines.row(record.line);
                #[cfg(feature = "test-hooks")]
                crate::test_hooks::at_line(record.line);
                self.take(builder.build(&record));
                self.batch.rows_done = data_index + 1;
                self.batch.last_line = record.line;
                self.in_batch += 1;
                if self.in_batch >= batch_rows {
                    if let ControlFlow::Break(end) = self.send().await? {
                        return Ok(end);
                    }
                }
            }
            if !more {
                break;
            }
        }
        if self.in_batch > 0 {
            if let ControlFlow::Break(end) = self.send().await? {
                return Ok(end);
            }
        }
        if let ControlFlow::Break(end) = self.settle().await? {
            return Ok(end);
        }
        if self.batch.rows_done < claimed.rows_total {
            return Err(RunError::Unfinishable(format!(
                "The uploaded file ends after {} of its {} rows.",
                self.batch.rows_done, claimed.rows_total
            )));
        }
        Ok(RunEnd::Finished(ImportStatus::Succeeded))
    }

    /// Adds a row's outcome to the batch being built.
    /// Adds a row's outcome to the batch being built. The batch's commit keeps
    /// its problems up to the import's cap; a batch holds at most one per row.
    fn take(&mut self, outcome: RowOutcome) {
        match outcome {
            RowOutcome::Contact { row, warnings } => {
                if !warnings.is_empty() {
                    let reason = capped_reason(warnings.join(" "));
                    self.batch.problems.push(RowErrorView { line: row.line, reason, warning: true });
                }
                self.batch.contacts.push(row);
            }
            RowOutcome::Blank => self.batch.skipped += 1,
            RowOutcome::Rejected { line, reason } => {
                self.batch.rejected += 1;
                self.batch.problems.push(RowErrorView { line, reason: capped_reason(reason), warning: false });
            }
        }
    }

    /// Reads the stored owners of the built batch's rows while the batch in
    /// flight commits, waits for that commit, then starts committing the built
    /// one; `Break` when the run must end here. `held`, on a first import,
    /// spares the read the identities no contact can hold yet: those the batch
    /// in flight stores are in what it touched, which the batch asks for again.
    async fn send(&mut self) -> Result<ControlFlow<RunEnd>, RunError> {
        let store = &self.services.store;
        let prefetch = prefetch_owners(store.as_ref(), self.batch.user_id, &self.batch.contacts, self.held.as_ref());
        let (owners, settled) = tokio::join!(prefetch, settle(self.services, &mut self.in_flight, self.shutdown));
        let stale = match settled? {
            ControlFlow::Break(end) => return Ok(ControlFlow::Break(end)),
            ControlFlow::Continue(touched) => touched,
        };
        self.lines.committed();
        if let Some(held) = &mut self.held {
            held.add(&stale);
        }
        // Only a head start: without it the batch reads its owners in its own transaction.
        self.batch.prefetched = match owners {
            Ok(contacts) => Some(Prefetched { contacts, stale }),
            Err(error) => {
                warn!(%error, "could not read the next batch's stored contacts ahead; its commit reads them");
                None
            }
        };
        self.in_flight = Some(self.spawn_commit().await);
        self.lines.sent();
        self.in_batch = 0;
        Ok(ControlFlow::Continue(()))
    }

    /// Waits for the batch in flight, if there is one.
    async fn settle(&mut self) -> Result<ControlFlow<RunEnd>, RunError> {
        let settled = settle(self.services, &mut self.in_flight, self.shutdown).await?;
        self.lines.committed();
        Ok(settled.map_continue(|_| ()))
    }

    /// Starts committing the built batch with its checkpoint, leaving an empty
    /// batch that carries the checkpoint on.
    async fn spawn_commit(&mut self) -> InFlight {
        let next = Batch {
            user_id: self.batch.user_id,
            rows_done: self.batch.rows_done,
            contacts: Vec::with_capacity(batch_capacity(self.services, self.batch.rows_done, self.claimed.rows_total)),
            ..Batch::default()
        };
        let full = std::mem::replace(&mut self.batch, next);
        let (services, fence, rules) = (self.services.clone(), self.fence.clone(), self.rules.clone());
        let rows = full.contacts.len() as u64 + full.rejected + full.skipped;
        let commit = tokio::spawn(async move {
            let now = services.now();
            let started = std::time::Instant::now();
            let outcome = commit_batch(services.store.as_ref(), &fence, full, now, &rules).await;
            if let Ok(BatchOutcome::Committed { .. }) = outcome {
                telemetry::batch_committed(rows, started.elapsed());
            }
            outcome
        });
        // A task spawned on a runtime thread waits in that thread's LIFO slot, which
        // no other thread may take, until the spawner yields: the loop that builds
        // the next batch would hold the commit back for a whole batch.
        tokio::task::yield_now().await;
        commit
    }

    /// After a panic: lets the batch in flight land, so that the panic is
    /// charged to the batch that panicked, not to the one before.
    pub(super) async fn land_in_flight(&mut self) {
        if let Some(commit) = self.in_flight.take() {
            if let Ok(Ok(BatchOutcome::Committed { .. })) = commit.await {
                self.lines.committed();
            }
        }
    }
}

/// Tracks the first line of the batch in flight and of the one being built, and
/// publishes the older one: a failure now is charged to that batch.
struct BatchLines<'a> {
    failing: &'a AtomicU64,
    in_flight: Option<u64>,
    building: Option<u64>,
}

impl BatchLines<'_> {
    fn row(&mut self, line: u64) {
        if self.building.is_none() {
            self.building = Some(line);
            self.publish();
        }
    }

    /// The batch in flight committed.
    fn committed(&mut self) {
        self.in_flight = None;
        self.publish();
    }

    /// The batch being built was sent to commit.
    fn sent(&mut self) {
        self.in_flight = self.building.take();
        self.publish();
    }

    fn publish(&self) {
        if let Some(line) = self.in_flight.or(self.building) {
            self.failing.store(line, Ordering::Relaxed);
        }
    }
}

/// The rows a batch starting at checkpoint `rows_done` may hold, for its vector:
/// grown row by row, the vector would be copied each time it doubles, into
/// memory fresh from the system.
fn batch_capacity(services: &Services, rows_done: u64, rows_total: u64) -> usize {
    let left = usize::try_from(rows_total.saturating_sub(rows_done)).unwrap_or(usize::MAX);
    services.config.import_batch_rows.max(1).min(left)
}

/// The 0-based data row of a record, or `None` for the preamble, the header, and
/// rows before the checkpoint (an earlier attempt committed those).
fn data_row_index(record_index: u64, first_data_record: u64, checkpoint: u64) -> Option<u64> {
    record_index.checked_sub(first_data_record).filter(|&row| row >= checkpoint)
}

/// Waits for the batch in flight: what it touched, or `Break` when the run must end here.
async fn settle(
    services: &Services,
    in_flight: &mut Option<InFlight>,
    shutdown: &watch::Receiver<bool>,
) -> Result<ControlFlow<RunEnd, HashSet<u64>>, RunError> {
    let Some(commit) = in_flight.take() else { return Ok(ControlFlow::Continue(HashSet::default())) };
    let outcome = match commit.await {
        Ok(outcome) => outcome?,
        Err(failure) if failure.is_panic() => std::panic::resume_unwind(failure.into_panic()),
        // Cancelled: the runtime is shutting down, and this run with it.
        Err(_) => return Ok(ControlFlow::Break(RunEnd::Requeued)),
    };
    if let BatchOutcome::Committed { counts, .. } = &outcome {
        if counts.merged > 0 {
            info!(merged = counts.merged, "merged stored contacts that rows showed to be one person");
        }
    }
    match outcome {
        BatchOutcome::Replaced => {
            warn!("this attempt was replaced; stopping without writing");
            telemetry::fenced_write("batch");
            Ok(ControlFlow::Break(RunEnd::Replaced))
        }
        BatchOutcome::Committed { cancel_requested: true, .. } => Ok(ControlFlow::Break(RunEnd::Finished(ImportStatus::Cancelled))),
        BatchOutcome::Committed { .. } if *shutdown.borrow() => Ok(ControlFlow::Break(RunEnd::Requeued)),
        BatchOutcome::Committed { touched, .. } => {
            let pause = services.config.import_batch_pause;
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            Ok(ControlFlow::Continue(touched))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::data_row_index;

    #[test]
    fn resume_starts_at_the_checkpoint() {
        // Two preamble records, the header at index 2, data from index 3.
        assert_eq!(data_row_index(1, 3, 0), None, "preamble");
        assert_eq!(data_row_index(2, 3, 0), None, "header");
        assert_eq!(data_row_index(3, 3, 0), Some(0));
        // 120 rows committed: rows 0..120 are skipped, row 120 is the first again.
        assert_eq!(data_row_index(3 + 119, 3, 120), None);
        assert_eq!(data_row_index(3 + 120, 3, 120), Some(120));
    }
}
