//! An instance's workers and its lease: the loop that claims queued imports,
//! and the heartbeat that keeps this instance's lease and recovers the work of
//! instances whose lease lapsed.

use super::jobs::run_job;
use super::run::{record_end, run_import, End};
use crate::model::ImportStatus;
use crate::services::Services;
use crate::store::{Claim, StoreResult};
use crate::telemetry::{self, RequeueCause};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, warn, Instrument};

/// How often an idle worker looks for work queued by other instances.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

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
        let (user_id, import_id, attempt, kind) = (orphan.user_id, orphan.import_id, orphan.attempt, orphan.kind.as_str());
        match orphan.status {
            ImportStatus::Queued => {
                warn!(user_id, %import_id, attempt, kind, "resuming an import whose instance stopped");
                telemetry::requeued(RequeueCause::CrashRecovery);
                services.work_queued.notify_one();
            }
            status => {
                error!(user_id, %import_id, attempt, kind, status = status.as_str(), "ended an import whose instance stopped");
                telemetry::import_finished(orphan.kind, status);
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
            Ok(Some(Claim::Job(claimed))) => {
                let span = tracing::info_span!("import", import_id = %claimed.import_id, user_id = claimed.user_id,
                    attempt = claimed.attempt, kind = claimed.kind.as_str(), instance = %instance_id);
                run_job(&services, claimed, &shutdown).instrument(span).await;
            }
            Ok(Some(Claim::Unreadable { fence, user_id, kind, error })) => {
                let span = tracing::info_span!("import", import_id = %fence.import_id, user_id, attempt = fence.attempt,
                    kind = kind.as_str(), instance = %instance_id);
                async {
                    error!(%error, "the claimed import's settings are unreadable");
                    let reason = "The import's stored settings could not be read.";
                    record_end(&services, kind, &fence, &End::Finish(ImportStatus::Failed, Some(reason.to_owned())), &shutdown).await;
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
