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

    loop {
        records.clear();
        let more = rows.fill(&mut records).await?;
        for record in records.drain(..) {
            let Some(data_index) = record.index.checked_sub(first_data_record) else { continue };
            // Rows before the checkpoint were committed by an earlier attempt.
            if data_index < claimed.rows_done {
                continue;
            }
            match build_row(&record, &claimed.mapping) {
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
                if let Some(end) = commit(services, fence, &mut batch, shutdown).await? {
                    return Ok(end);
                }
                in_batch = 0;
            }
        }
        if !more {
            break;
        }
    }
    if in_batch > 0 {
        if let Some(end) = commit(services, fence, &mut batch, shutdown).await? {
            return Ok(end);
        }
    }
    Ok(RunEnd::Finished(ImportStatus::Succeeded))
}

/// Commits the batch with its checkpoint; `Some` when the run must end here.
async fn commit(
    services: &Services,
    fence: &Fence,
    batch: &mut Batch,
    shutdown: &watch::Receiver<bool>,
) -> StoreResult<Option<RunEnd>> {
    let next = Batch { user_id: batch.user_id, rows_done: batch.rows_done, ..Batch::default() };
    let full = std::mem::replace(batch, next);
    match services.store.commit_batch(fence, full, services.now()).await? {
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
