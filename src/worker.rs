//! Import workers: claim queued imports, process them batch by batch from their
//! checkpoint, and stop as soon as a write shows they were replaced.
//!
//! Each instance also beats a heartbeat and requeues the imports of instances
//! whose heartbeat lapsed, so a crashed instance's work resumes elsewhere.

use crate::domain::contact::{build_row, RowOutcome};
use crate::domain::format::{FileFormat, RawRecord, FEED_SLICE_BYTES};
use crate::domain::records::TextRecordReader;
use crate::domain::report::capped_reason;
use crate::uploads::{SpillError, SpilledUpload};
use crate::model::{ImportStatus, RowErrorView};
use crate::services::Services;
use crate::store::{Batch, BatchOutcome, Claim, ClaimedImport, Failure, Fence, HeldIdentities, Prefetched, StoreError, StoreResult};
use crate::telemetry::{self, RequeueCause};
use foldhash::HashSet;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn, Instrument};

/// How often an idle worker looks for work queued by other instances.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The longest wait between two tries to record how an import ended.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Starts the heartbeat and `config.import_workers` workers. When `shutdown` flips
/// to true the workers hand their imports back, and only then does the instance
/// deregister, so no import of a stopping instance is ever taken for an orphan.
pub fn spawn(services: Services, instance_id: String, shutdown: watch::Receiver<bool>) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    tasks.spawn(run_instance(services, instance_id, shutdown));
    tasks
}

async fn run_instance(services: Services, instance_id: String, shutdown: watch::Receiver<bool>) {
    let (stop_heartbeat, heartbeat_stopped) = watch::channel(false);
    let heartbeat = tokio::spawn(heartbeat_loop(services.clone(), instance_id.clone(), heartbeat_stopped));
    let mut workers = JoinSet::new();
    for _ in 0..services.config.import_workers {
        workers.spawn(work_loop(services.clone(), instance_id.clone(), shutdown.clone()));
    }
    while workers.join_next().await.is_some() {}
    let _ = stop_heartbeat.send(true);
    let _ = heartbeat.await;
    // A clean stop tells the others at once that nothing of this instance is running.
    if let Err(error) = services.store.remove_instance(&instance_id).await {
        warn!(%error, "could not deregister the instance");
    }
}

async fn heartbeat_loop(services: Services, instance_id: String, mut stop: watch::Receiver<bool>) {
    let period = services.config.instance_lease / 3;
    // The start beat once already; by this instance's own monotonic clock, not the database's.
    let mut last_beat = tokio::time::Instant::now();
    loop {
        match beat(&services, &instance_id, Some(last_beat)).await {
            Ok(beaten) => last_beat = beaten,
            Err(error) => error!(%error, "heartbeat failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => break,
        }
    }
}

/// One heartbeat: stay alive, requeue the work of instances that are not, and
/// refresh the queue depth; the moment the lease was renewed. When this
/// instance's lease was last renewed (`last_beat`) longer than a lease ago, it
/// was away itself (the database was unreachable, or the instance frozen), so
/// the others' leases most likely lapsed for the same reason, and their
/// imports are requeued without a failure counted, as after an outage.
pub async fn beat(services: &Services, instance_id: &str, last_beat: Option<tokio::time::Instant>) -> StoreResult<tokio::time::Instant> {
    services.store.heartbeat(instance_id).await?;
    let beaten = tokio::time::Instant::now();
    let lease = services.config.instance_lease;
    let away = last_beat.is_some_and(|last| beaten.duration_since(last) > lease);
    if away {
        warn!("this instance could not renew its lease for longer than the lease; imports of lapsed leases are requeued without a failure");
    }
    let orphans = services.store.recover_orphans(lease, services.config.import_max_attempts, !away).await?;
    for orphan in orphans {
        let (user_id, import_id, attempt) = (orphan.user_id, orphan.import_id, orphan.attempt);
        match orphan.status {
            ImportStatus::Queued => {
                warn!(user_id, %import_id, attempt, "resuming an import whose instance stopped");
                telemetry::requeued(RequeueCause::CrashRecovery);
                services.work_queued.notify_one();
            }
            status => {
                error!(user_id, %import_id, attempt, status = status.as_str(), "ended an import whose instance stopped");
                telemetry::import_finished(status);
            }
        }
    }
    telemetry::queue_depth(services.store.queued_imports().await?);
    Ok(beaten)
}

async fn work_loop(services: Services, instance_id: String, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        match services.store.claim_next(&instance_id).await {
            Ok(Some(Claim::Ready(claimed))) => {
                let span = tracing::info_span!("import", import_id = %claimed.import_id, user_id = claimed.user_id,
                    attempt = claimed.attempt, instance = %instance_id);
                run_import(&services, claimed, &shutdown).instrument(span).await;
            }
            Ok(Some(Claim::Unreadable { fence, user_id, error })) => {
                let span = tracing::info_span!("import", import_id = %fence.import_id, user_id, attempt = fence.attempt,
                    instance = %instance_id);
                async {
                    error!(%error, "the claimed import's settings are unreadable");
                    let reason = "The import's stored settings could not be read.";
                    record_end(&services, &fence, &End::Finish(ImportStatus::Failed, Some(reason.to_owned())), &shutdown).await;
                }
                .instrument(span)
                .await;
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
    /// Back in the queue, to resume from its checkpoint: the instance is stopping,
    /// the database was away, or a failure was counted.
    Requeued,
    /// Neither its end nor a hand-back could be recorded: it stays `processing`
    /// until `IMPORT_STALE_AFTER` lets a new start replace it.
    Unrecorded,
}

/// Why a run stopped before the end of the file.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored upload is gone or no longer matches what was received.
    #[error("{0}")]
    Upload(String),
}

impl From<SpillError> for RunError {
    fn from(error: SpillError) -> Self {
        match error {
            SpillError::Store(error) => RunError::Store(error),
            SpillError::Disk(error) => RunError::Upload(format!("The upload could not be read from disk: {error}")),
        }
    }
}

/// What to record once a run is over.
#[derive(Debug)]
enum End {
    Finish(ImportStatus, Option<String>),
    /// Back to the queue, for this cause, counting a failure or not.
    Release(RequeueCause, Option<Failure>),
}

/// Runs a claimed import in its own task, so that a panic ends only this run, and
/// records how it ended, retrying until that is durable. On shutdown the run gets
/// `shutdown_timeout` to commit its current batch before it is stopped; either way
/// the import goes back to the queue without a failure counted.
pub async fn run_import(services: &Services, claimed: ClaimedImport, shutdown: &watch::Receiver<bool>) -> RunEnd {
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    info!(checkpoint = claimed.rows_done, "import claimed");
    // The first line of the oldest batch not yet committed: the batch a failure is charged to.
    let failing_line = Arc::new(AtomicU64::new(0));
    let mut run = tokio::spawn(
        process(services.clone(), claimed, fence.clone(), failing_line.clone(), shutdown.clone()).in_current_span(),
    );
    let deadline = services.config.shutdown_timeout;
    let mut stopping = shutdown.clone();
    let joined = tokio::select! {
        joined = &mut run => joined,
        _ = async {
            // A dropped sender is no shutdown: only a stop that was asked for starts the clock.
            if stopping.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(deadline).await
        } => {
            warn!("the current batch did not commit within the shutdown timeout; handing the import back");
            run.abort();
            run.await
        }
    };
    let batch = || match failing_line.load(Ordering::Relaxed) {
        0 => None,
        line => Some(format!("the batch starting at line {line}")),
    };
    let end = match joined {
        Ok(Ok(RunEnd::Finished(status))) => End::Finish(status, None),
        Ok(Ok(end)) => {
            if end == RunEnd::Requeued {
                End::Release(RequeueCause::Shutdown, None)
            } else {
                return end;
            }
        }
        Ok(Err(RunError::Store(error))) if error.is_transient() => {
            warn!(%error, "the database is unavailable; handing the import back");
            End::Release(RequeueCause::DatabaseUnavailable, None)
        }
        Ok(Err(RunError::Store(error))) => {
            error!(%error, "a batch failed");
            End::Release(RequeueCause::Failure, Some(Failure {
                batch: batch().unwrap_or_else(|| "the start of the file".to_owned()),
                error: error.to_string(),
            }))
        }
        Ok(Err(RunError::Upload(reason))) => {
            error!(reason, "the upload cannot be read as it was received");
            End::Finish(ImportStatus::Failed, Some(reason))
        }
        Err(failure) if failure.is_panic() => {
            let message = panic_message(failure.into_panic());
            error!(message, "the import panicked");
            End::Release(RequeueCause::Panic, Some(Failure {
                batch: batch().unwrap_or_else(|| "the start of the file".to_owned()),
                error: format!("internal error: {message}"),
            }))
        }
        // Aborted: the shutdown deadline passed.
        Err(_) => End::Release(RequeueCause::Shutdown, None),
    };
    record_end(services, &fence, &end, shutdown).await
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// Records how a run ended, retrying while the database is away: an import left
/// `processing` by a live instance would never be recovered. A stopping instance
/// gives up after its shutdown timeout; its lease then lapses and another instance
/// recovers the import. An error that is not the database being away would fail
/// the same way forever: an end that cannot be recorded becomes a hand-back with
/// a failure counted (so the import fails after `IMPORT_MAX_ATTEMPTS`), and a
/// hand-back that cannot be recorded is given up, leaving the import to the stale rule.
async fn record_end(services: &Services, fence: &Fence, end: &End, shutdown: &watch::Receiver<bool>) -> RunEnd {
    let max_failures = services.config.import_max_attempts;
    let mut pause = Duration::from_millis(100);
    let mut given_up_at = None;
    let mut fallback: Option<End> = None;
    loop {
        let end = fallback.as_ref().unwrap_or(end);
        let recorded = match end {
            End::Finish(status, reason) => {
                services.store.finish_import(fence, *status, reason.as_deref(), services.now()).await
            }
            End::Release(_, failure) => services.store.release_import(fence, failure.as_ref(), max_failures).await,
        };
        match recorded {
            Ok(Some(status)) => {
                match (status, end) {
                    (ImportStatus::Queued, End::Release(_, Some(failure))) => {
                        warn!(error = %failure.error, batch = %failure.batch, "import requeued after a failure")
                    }
                    (ImportStatus::Queued, _) => info!("import handed back to the queue"),
                    (status, _) => info!(status = status.as_str(), "import finished"),
                }
                if status == ImportStatus::Queued {
                    if let End::Release(cause, _) = end {
                        telemetry::requeued(*cause);
                    }
                    services.work_queued.notify_one();
                    return RunEnd::Requeued;
                }
                telemetry::import_finished(status);
                return RunEnd::Finished(status);
            }
            Ok(None) => {
                warn!("import was replaced before its end was recorded");
                telemetry::fenced_write("end");
                return RunEnd::Replaced;
            }
            Err(error) if !error.is_transient() => match end {
                End::Finish(..) => {
                    error!(%error, "could not record the end of the import; handing it back with a failure counted");
                    let failure = Failure { batch: "the end of the import".to_owned(), error: error.to_string() };
                    fallback = Some(End::Release(RequeueCause::Failure, Some(failure)));
                }
                End::Release(..) => {
                    error!(%error, "could not hand the import back; the stale rule will replace it");
                    return RunEnd::Unrecorded;
                }
            },
            Err(error) => {
                error!(%error, "could not record the end of the import; retrying");
                if *shutdown.borrow() {
                    let since = *given_up_at.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= services.config.shutdown_timeout {
                        return RunEnd::Requeued;
                    }
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
        }
    }
}

/// Where an import's records come from.
enum RowSource<'a> {
    Text(UploadRows<'a>),
    Workbook(WorkbookRows<'a>),
}

impl<'a> RowSource<'a> {
    fn new(services: &'a Services, claimed: &'a ClaimedImport) -> Self {
        match &claimed.sniffed.format {
            FileFormat::Workbook { sheet, .. } => RowSource::Workbook(WorkbookRows {
                services,
                upload_id: &claimed.upload_id,
                sheet,
                rows: None,
            }),
            _ => RowSource::Text(UploadRows::new(services, claimed)),
        }
    }

    /// Appends the next records to `out`; false once the file is exhausted.
    async fn fill(&mut self, out: &mut Vec<RawRecord>) -> Result<bool, RunError> {
        match self {
            RowSource::Text(rows) => rows.fill(out).await,
            RowSource::Workbook(rows) => rows.fill(out).await,
        }
    }
}

/// A workbook sheet's rows: the upload is copied to disk, then a blocking
/// thread reads the sheet a bounded number of rows ahead.
struct WorkbookRows<'a> {
    services: &'a Services,
    upload_id: &'a str,
    sheet: &'a str,
    rows: Option<tokio::sync::mpsc::Receiver<Result<RawRecord, String>>>,
}

/// Records taken from a workbook's reading thread per fill.
const WORKBOOK_ROWS_PER_FILL: usize = 512;

impl WorkbookRows<'_> {
    async fn fill(&mut self, out: &mut Vec<RawRecord>) -> Result<bool, RunError> {
        let rows = match &mut self.rows {
            Some(rows) => rows,
            None => {
                let place = self.services.workbook_reads.take().await;
                let spill = SpilledUpload::from_store(self.services, self.upload_id, place).await?;
                let spill = spill.ok_or_else(|| RunError::Upload("The uploaded file is missing.".to_owned()))?;
                let limits = self.services.config.workbook_limits();
                self.rows.insert(spill.rows(self.sheet.to_owned(), limits).await?)
            }
        };
        let Some(first) = rows.recv().await else { return Ok(false) };
        out.push(first.map_err(RunError::Upload)?);
        while out.len() < WORKBOOK_ROWS_PER_FILL {
            match rows.try_recv() {
                Ok(record) => out.push(record.map_err(RunError::Upload)?),
                Err(_) => break,
            }
        }
        Ok(true)
    }
}

/// The data rows of a text upload, read chunk by chunk from storage and parsed
/// a slice at a time.
struct UploadRows<'a> {
    services: &'a Services,
    upload_id: &'a str,
    /// `None` only while a slice is parsed on a blocking thread.
    reader: Option<Box<TextRecordReader>>,
    /// The stored chunk being parsed, and how far.
    chunk: Vec<u8>,
    parsed: usize,
    next_chunk: i64,
    done: bool,
}


impl<'a> UploadRows<'a> {
    fn new(services: &'a Services, claimed: &'a ClaimedImport) -> Self {
        Self {
            services,
            upload_id: &claimed.upload_id,
            reader: Some(Box::new(TextRecordReader::new(&claimed.sniffed))),
            chunk: Vec::new(),
            parsed: 0,
            next_chunk: 0,
            done: false,
        }
    }

    /// Appends the next records to `out`; false once the file is exhausted.
    /// Decoding and splitting is CPU work, so it runs on a blocking thread,
    /// where it cannot starve the requests the runtime serves.
    async fn fill(&mut self, out: &mut Vec<RawRecord>) -> Result<bool, RunError> {
        if self.done {
            return Ok(false);
        }
        if self.parsed == self.chunk.len() {
            match self.services.store.upload_chunk(self.upload_id, self.next_chunk).await? {
                Some(bytes) => {
                    self.next_chunk += 1;
                    self.chunk = bytes;
                }
                None if self.next_chunk == 0 => return Err(RunError::Upload("The uploaded file is missing.".to_owned())),
                None => {
                    self.done = true;
                    self.chunk.clear();
                }
            }
            self.parsed = 0;
        }
        // Only a dropped `fill` (and with it this whole run) keeps the reader away.
        let mut reader = self.reader.take().expect("the record reader is back after every parse");
        let last = self.done;
        let (chunk, from) = (std::mem::take(&mut self.chunk), self.parsed);
        let to = chunk.len().min(from + FEED_SLICE_BYTES);
        let mut records = std::mem::take(out);
        let parsed = tokio::task::spawn_blocking(move || {
            reader.feed(&chunk[from..to], last, &mut records);
            (reader, records, chunk)
        })
        .await;
        match parsed {
            Ok((reader, records, chunk)) => {
                #[cfg(feature = "test-hooks")]
                crate::test_hooks::records_parsed(records.len());
                self.reader = Some(reader);
                self.chunk = chunk;
                self.parsed = to;
                *out = records;
                Ok(true)
            }
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
}

async fn process(
    services: Services,
    claimed: ClaimedImport,
    fence: Fence,
    failing_line: Arc<AtomicU64>,
    shutdown: watch::Receiver<bool>,
) -> Result<RunEnd, RunError> {
    use futures::FutureExt;
    // One batch commits while the next is parsed; commits stay in order.
    let mut in_flight: Option<InFlight> = None;
    let mut lines = BatchLines { failing: &failing_line, in_flight: None, building: None };
    let batches = process_batches(&services, &claimed, &fence, &shutdown, &mut in_flight, &mut lines);
    match std::panic::AssertUnwindSafe(batches).catch_unwind().await {
        Ok(ended) => ended,
        Err(panic) => {
            // The batch before the one that panicked may still be committing: let it
            // land before the import is released, so the panic is charged to its own batch.
            if let Some(commit) = in_flight.take() {
                if let Ok(Ok(BatchOutcome::Committed { .. })) = commit.await {
                    lines.committed();
                }
            }
            std::panic::resume_unwind(panic)
        }
    }
}

async fn process_batches(
    services: &Services,
    claimed: &ClaimedImport,
    fence: &Fence,
    shutdown: &watch::Receiver<bool>,
    in_flight: &mut Option<InFlight>,
    lines: &mut BatchLines<'_>,
) -> Result<RunEnd, RunError> {
    let batch_rows = services.config.import_batch_rows.max(1);
    let first_data_record = claimed.sniffed.first_data_record();
    let mut rows = RowSource::new(services, claimed);
    let mut records = Vec::new();
    let mut batch = Batch { user_id: claimed.user_id, rows_done: claimed.rows_done, ..Batch::default() };
    // Each rejected row before the checkpoint kept its error until the cap.
    let error_cap = services.config.import_max_stored_row_errors;
    let rejected_before = services.store.get_import(claimed.user_id, &claimed.import_id).await?.map_or(0, |v| v.counts.rejected);
    let mut errors_kept = rejected_before.min(error_cap);
    let mut in_batch = 0usize;
    let mut held = if services.store.user_has_contacts(claimed.user_id).await? {
        None
    } else {
        Some(HeldIdentities::for_rows(claimed.rows_total.saturating_sub(claimed.rows_done)))
    };

    loop {
        records.clear();
        let more = rows.fill(&mut records).await?;
        for record in records.drain(..) {
            let Some(data_index) = data_row_index(record.index, first_data_record, claimed.rows_done) else { continue };
            lines.row(record.line);
            #[cfg(feature = "test-hooks")]
            crate::test_hooks::at_line(record.line);
            match build_row(&record, &claimed.mapping, services.config.import_default_phone_region.as_ref()) {
                RowOutcome::Contact(contact) => batch.contacts.push(contact),
                RowOutcome::Blank => batch.skipped += 1,
                RowOutcome::Rejected { line, reason } => {
                    batch.rejected += 1;
                    if errors_kept < error_cap {
                        batch.row_errors.push(RowErrorView { line, reason: capped_reason(reason) });
                        errors_kept += 1;
                    }
                }
            }
            batch.rows_done = data_index + 1;
            batch.last_line = record.line;
            in_batch += 1;
            if in_batch >= batch_rows {
                if let ControlFlow::Break(end) = prefetch_and_settle(services, in_flight, shutdown, &mut batch, &mut held).await? {
                    return Ok(end);
                }
                lines.committed();
                *in_flight = Some(spawn_commit(services, fence, &mut batch).await);
                lines.sent();
                in_batch = 0;
            }
        }
        if !more {
            break;
        }
    }
    if let ControlFlow::Break(end) = prefetch_and_settle(services, in_flight, shutdown, &mut batch, &mut held).await? {
        return Ok(end);
    }
    lines.committed();
    if in_batch > 0 {
        *in_flight = Some(spawn_commit(services, fence, &mut batch).await);
        if let ControlFlow::Break(end) = settle(services, in_flight, shutdown).await? {
            return Ok(end);
        }
    }
    if batch.rows_done < claimed.rows_total {
        return Err(RunError::Upload(format!(
            "The uploaded file ends after {} of its {} rows.",
            batch.rows_done, claimed.rows_total
        )));
    }
    Ok(RunEnd::Finished(ImportStatus::Succeeded))
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

/// The 0-based data row of a record, or `None` for the preamble, the header, and
/// rows before the checkpoint (an earlier attempt committed those).
fn data_row_index(record_index: u64, first_data_record: u64, checkpoint: u64) -> Option<u64> {
    record_index.checked_sub(first_data_record).filter(|&row| row >= checkpoint)
}

type InFlight = tokio::task::JoinHandle<StoreResult<BatchOutcome>>;

/// Starts committing the batch with its checkpoint, leaving an empty batch that carries the checkpoint on.
async fn spawn_commit(services: &Services, fence: &Fence, batch: &mut Batch) -> InFlight {
    let next = Batch { user_id: batch.user_id, rows_done: batch.rows_done, ..Batch::default() };
    let full = std::mem::replace(batch, next);
    let (services, fence) = (services.clone(), fence.clone());
    let rows = full.contacts.len() as u64 + full.rejected + full.skipped;
    let commit = tokio::spawn(async move {
        let now = services.now();
        let started = std::time::Instant::now();
        let outcome = services.store.commit_batch(&fence, full, now).await;
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

/// Reads the stored owners of `batch`'s rows while the batch in flight commits,
/// then waits for that commit; `Break` when the run must end there. `held`, on
/// a first import, spares the read the identities no contact can hold yet: those
/// the batch in flight stores are in what it touched, which the batch asks for again.
async fn prefetch_and_settle(
    services: &Services,
    in_flight: &mut Option<InFlight>,
    shutdown: &watch::Receiver<bool>,
    batch: &mut Batch,
    held: &mut Option<HeldIdentities>,
) -> Result<ControlFlow<RunEnd>, RunError> {
    let (owners, settled) = tokio::join!(
        services.store.prefetch_owners(batch.user_id, &batch.contacts, held.as_ref()),
        settle(services, in_flight, shutdown)
    );
    let stale = match settled? {
        ControlFlow::Break(end) => return Ok(ControlFlow::Break(end)),
        ControlFlow::Continue(touched) => touched,
    };
    if let Some(held) = held {
        held.add(&stale);
    }
    // Only a head start: without it the batch reads its owners in its own transaction.
    batch.prefetched = match owners {
        Ok(contacts) => Some(Prefetched { contacts, stale }),
        Err(error) => {
            warn!(%error, "could not read the next batch's stored contacts ahead; its commit reads them");
            None
        }
    };
    Ok(ControlFlow::Continue(()))
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
