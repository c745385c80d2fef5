//! Import workers: claim queued imports, process them batch by batch from their
//! checkpoint, and stop as soon as a write shows they were replaced.
//!
//! Each instance also beats a heartbeat and requeues the imports of instances
//! whose heartbeat lapsed, so a crashed instance's work resumes elsewhere.

use crate::domain::contact::{build_row, RowOutcome};
use crate::domain::records::{RawRecord, RecordReader, MAX_FIELD_BYTES};
use crate::model::{ImportStatus, RowErrorView};
use crate::services::{chrono_duration, Services};
use crate::store::{Batch, BatchOutcome, ClaimedImport, Fence, StoreResult};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn, Instrument};

/// How often an idle worker looks for work queued by other instances.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Starts the heartbeat and `config.import_workers` workers; they stop when `shutdown` flips to true.
pub fn spawn(services: Services, instance_id: String, shutdown: watch::Receiver<bool>) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    tasks.spawn(heartbeat_loop(services.clone(), instance_id.clone(), shutdown.clone()));
    for _ in 0..services.config.import_workers {
        tasks.spawn(work_loop(services.clone(), instance_id.clone(), shutdown.clone()));
    }
    tasks
}

async fn heartbeat_loop(services: Services, instance_id: String, mut shutdown: watch::Receiver<bool>) {
    let period = services.config.instance_lease / 3;
    loop {
        if let Err(error) = beat(&services, &instance_id).await {
            error!(%error, "heartbeat failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => break,
        }
    }
    // A clean stop hands this instance's imports over without waiting for the lease.
    if let Err(error) = services.store.remove_instance(&instance_id).await {
        warn!(%error, "could not deregister the instance");
    }
}

/// One heartbeat: stay alive, and requeue the work of instances that are not.
pub async fn beat(services: &Services, instance_id: &str) -> StoreResult<()> {
    let now = services.now();
    services.store.heartbeat(instance_id, now).await?;
    let lease_cutoff = now - chrono_duration(services.config.instance_lease);
    let orphans = services.store.recover_orphans(lease_cutoff, services.config.import_max_attempts, now).await?;
    for orphan in orphans {
        if orphan.requeued {
            warn!(user_id = orphan.user_id, import_id = %orphan.import_id, attempt = orphan.attempt,
                "resuming an import whose instance stopped");
            services.work_queued.notify_one();
        } else {
            error!(user_id = orphan.user_id, import_id = %orphan.import_id, attempt = orphan.attempt,
                "giving up on an import that stopped too often");
        }
    }
    Ok(())
}

async fn work_loop(services: Services, instance_id: String, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        match services.store.claim_next(&instance_id, services.now()).await {
            Ok(Some(claimed)) => {
                let span = tracing::info_span!("import", import_id = %claimed.import_id, user_id = claimed.user_id, attempt = claimed.attempt);
                run_import(&services, claimed, &shutdown).instrument(span).await;
            }
            Ok(None) => {
                tokio::select! {
                    _ = services.work_queued.notified() => {}
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(error) => {
                error!(%error, "could not claim work");
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
    }
}

/// How a run of one claimed import ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    Finished(ImportStatus),
    /// Another attempt owns the import; this one wrote nothing more.
    Replaced,
    /// The instance is stopping; the import resumes from its checkpoint elsewhere.
    Interrupted,
}

/// Processes a claimed import to its end, and records the end unless fenced out.
pub async fn run_import(services: &Services, claimed: ClaimedImport, shutdown: &watch::Receiver<bool>) -> RunEnd {
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    info!(checkpoint = claimed.rows_done, "import claimed");
    let outcome = process(services, &claimed, &fence, shutdown).await;
    let (status, reason) = match outcome {
        Ok(RunEnd::Finished(status)) => (status, None),
        Ok(other) => {
            info!(end = ?other, "import run stopped");
            return other;
        }
        Err(error) => {
            error!(%error, "import failed");
            (ImportStatus::Failed, Some("The import stopped on a storage error. Please try again.".to_owned()))
        }
    };
    match services.store.finish_import(&fence, status, reason.as_deref(), services.now()).await {
        Ok(true) => {
            info!(status = status.as_str(), "import finished");
            RunEnd::Finished(status)
        }
        Ok(false) => {
            warn!("import was replaced before it could finish");
            RunEnd::Replaced
        }
        Err(error) => {
            error!(%error, "could not record the end of the import");
            RunEnd::Interrupted
        }
    }
}

/// The data rows of an upload, read chunk by chunk from storage.
struct UploadRows<'a> {
    services: &'a Services,
    upload_id: &'a str,
    reader: RecordReader,
    next_chunk: i64,
    done: bool,
}

impl<'a> UploadRows<'a> {
    fn new(services: &'a Services, claimed: &'a ClaimedImport) -> Self {
        Self {
            services,
            upload_id: &claimed.upload_id,
            reader: RecordReader::new(claimed.sniffed.encoding, claimed.sniffed.delimiter, MAX_FIELD_BYTES),
            next_chunk: 0,
            done: false,
        }
    }

    /// Appends the next records to `out`; false once the file is exhausted.
    async fn fill(&mut self, out: &mut Vec<RawRecord>) -> StoreResult<bool> {
        if self.done {
            return Ok(false);
        }
        match self.services.store.upload_chunk(self.upload_id, self.next_chunk).await? {
            Some(bytes) => {
                self.next_chunk += 1;
                self.reader.feed(&bytes, false, out);
            }
            None => {
                self.done = true;
                self.reader.feed(&[], true, out);
            }
        }
        Ok(true)
    }
}

async fn process(
    services: &Services,
    claimed: &ClaimedImport,
    fence: &Fence,
    shutdown: &watch::Receiver<bool>,
) -> StoreResult<RunEnd> {
    let batch_rows = services.config.import_batch_rows.max(1);
    let first_data_record = claimed.sniffed.header_index + 1;
    let mut rows = UploadRows::new(services, claimed);
    let mut records = Vec::new();
    let mut batch = Batch { user_id: claimed.user_id, rows_done: claimed.rows_done, ..Batch::default() };
    let mut in_batch = 0usize;
    // One batch commits while the next is parsed; commits stay in order.
    let mut in_flight: Option<InFlight> = None;

    loop {
        records.clear();
        let more = rows.fill(&mut records).await?;
        for record in records.drain(..) {
            let Some(data_index) = data_row_index(record.index, first_data_record, claimed.rows_done) else { continue };
            match build_row(&record, &claimed.mapping, services.config.import_default_phone_region.as_ref()) {
                RowOutcome::Contact(contact) => batch.contacts.push(contact),
                RowOutcome::Blank => batch.skipped += 1,
                RowOutcome::Rejected { line, reason } => {
                    batch.rejected += 1;
                    batch.row_errors.push(RowErrorView { line, reason });
                }
            }
            batch.rows_done = data_index + 1;
            in_batch += 1;
            if in_batch >= batch_rows {
                if let Some(end) = settle(services, &mut in_flight, shutdown).await? {
                    return Ok(end);
                }
                in_flight = Some(spawn_commit(services, fence, &mut batch));
                in_batch = 0;
            }
        }
        if !more {
            break;
        }
    }
    if let Some(end) = settle(services, &mut in_flight, shutdown).await? {
        return Ok(end);
    }
    if in_batch > 0 {
        in_flight = Some(spawn_commit(services, fence, &mut batch));
        if let Some(end) = settle(services, &mut in_flight, shutdown).await? {
            return Ok(end);
        }
    }
    Ok(RunEnd::Finished(ImportStatus::Succeeded))
}

/// The 0-based data row of a record, or `None` for the preamble, the header, and
/// rows before the checkpoint (an earlier attempt committed those).
fn data_row_index(record_index: u64, first_data_record: u64, checkpoint: u64) -> Option<u64> {
    record_index.checked_sub(first_data_record).filter(|&row| row >= checkpoint)
}

type InFlight = tokio::task::JoinHandle<StoreResult<BatchOutcome>>;

/// Starts committing the batch with its checkpoint, leaving an empty batch that carries the checkpoint on.
fn spawn_commit(services: &Services, fence: &Fence, batch: &mut Batch) -> InFlight {
    let next = Batch { user_id: batch.user_id, rows_done: batch.rows_done, ..Batch::default() };
    let full = std::mem::replace(batch, next);
    let (services, fence) = (services.clone(), fence.clone());
    tokio::spawn(async move {
        let now = services.now();
        services.store.commit_batch(&fence, full, now).await
    })
}

/// Waits for the batch in flight; `Some` when the run must end here.
async fn settle(
    services: &Services,
    in_flight: &mut Option<InFlight>,
    shutdown: &watch::Receiver<bool>,
) -> StoreResult<Option<RunEnd>> {
    let Some(commit) = in_flight.take() else { return Ok(None) };
    let outcome = match commit.await {
        Ok(outcome) => outcome?,
        Err(failure) => std::panic::resume_unwind(failure.into_panic()),
    };
    if let BatchOutcome::Committed { counts, .. } = &outcome {
        if counts.merged > 0 {
            info!(merged = counts.merged, "merged stored contacts that rows showed to be one person");
        }
    }
    match outcome {
        BatchOutcome::Replaced => {
            warn!("this attempt was replaced; stopping without writing");
            Ok(Some(RunEnd::Replaced))
        }
        BatchOutcome::Committed { cancel_requested: true, .. } => Ok(Some(RunEnd::Finished(ImportStatus::Cancelled))),
        BatchOutcome::Committed { .. } if *shutdown.borrow() => Ok(Some(RunEnd::Interrupted)),
        BatchOutcome::Committed { .. } => {
            let pause = services.config.import_batch_pause;
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            Ok(None)
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
