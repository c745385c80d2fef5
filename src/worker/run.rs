//! One run of a claimed import: supervised in a task of its own, so that a
//! panic ends only this run; stopped at shutdown after its current batch; and
//! how it ended, recorded until that is durable.

use super::batches::BatchPipeline;
use super::outcomes::{RunEnd, RunError};
use crate::model::{ImportStatus, JobKind};
use crate::services::Services;
use crate::store::{ClaimedImport, Failure, Fence};
use crate::telemetry::{self, RequeueCause};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info, warn, Instrument};

/// The longest wait between two tries to record how an import ended.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// What to record once a run is over.
#[derive(Debug)]
pub(super) enum End {
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
    let run = tokio::spawn(
        process(services.clone(), claimed, fence.clone(), failing_line.clone(), shutdown.clone()).in_current_span(),
    );
    let failing_batch = move || match failing_line.load(Ordering::Relaxed) {
        0 => "the start of the file".to_owned(),
        line => format!("the batch starting at line {line}"),
    };
    supervise(services, JobKind::Import, &fence, run, failing_batch, shutdown).await
}

/// Waits for a run (of an import or another job) in its own task, gives it
/// `shutdown_timeout` to commit its current batch once a stop is asked for,
/// and records how it ended. `failing_batch` names the batch a failure now is
/// charged to. The logs name the job by its `kind` ("the import panicked").
pub(super) async fn supervise(
    services: &Services,
    kind: JobKind,
    fence: &Fence,
    mut run: tokio::task::JoinHandle<Result<RunEnd, RunError>>,
    failing_batch: impl Fn() -> String,
    shutdown: &watch::Receiver<bool>,
) -> RunEnd {
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
            warn!("the current batch did not commit within the shutdown timeout; handing the {} back", kind.as_str());
            run.abort();
            run.await
        }
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
            warn!(%error, "the database is unavailable; handing the {} back", kind.as_str());
            End::Release(RequeueCause::DatabaseUnavailable, None)
        }
        Ok(Err(RunError::Store(error))) => {
            error!(%error, "a batch failed");
            End::Release(RequeueCause::Failure, Some(Failure { batch: failing_batch(), error: error.to_string() }))
        }
        Ok(Err(RunError::Unfinishable(reason))) => {
            error!(reason, "the {} cannot go on", kind.as_str());
            End::Finish(ImportStatus::Failed, Some(reason))
        }
        Err(failure) if failure.is_panic() => {
            let message = panic_message(failure.into_panic());
            error!(message, "the {} panicked", kind.as_str());
            End::Release(RequeueCause::Panic, Some(Failure { batch: failing_batch(), error: format!("internal error: {message}") }))
        }
        // Aborted: the shutdown deadline passed.
        Err(_) => End::Release(RequeueCause::Shutdown, None),
    };
    record_end(services, kind, fence, &end, shutdown).await
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
pub(super) async fn record_end(services: &Services, kind: JobKind, fence: &Fence, end: &End, shutdown: &watch::Receiver<bool>) -> RunEnd {
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
                telemetry::import_finished(kind, status);
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


/// The run's batches, until the file ends or the run must stop. A panic ends
/// the task; the batch before the one that panicked may still be committing:
/// it lands first, so that the panic is charged to its own batch.
async fn process(
    services: Services,
    claimed: ClaimedImport,
    fence: Fence,
    failing_line: Arc<AtomicU64>,
    shutdown: watch::Receiver<bool>,
) -> Result<RunEnd, RunError> {
    use futures::FutureExt;
    let mut pipeline = BatchPipeline::new(&services, &claimed, &fence, &failing_line, &shutdown);
    let ended = std::panic::AssertUnwindSafe(pipeline.run()).catch_unwind().await;
    match ended {
        Ok(ended) => ended,
        Err(panic) => {
            pipeline.land_in_flight().await;
            std::panic::resume_unwind(panic)
        }
    }
}
