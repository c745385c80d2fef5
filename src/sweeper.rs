//! The periodic sweep: deletes what only costs space once its time is up —
//! expired sessions, closed sign-in throttle windows, the uploads of ended
//! imports (one that failed after too many attempts keeps its upload until
//! here), uploads whose preview was never started within `IMPORT_PREVIEW_TTL`
//! or that a crashed instance left half-received, and imports that ended more
//! than `IMPORT_RETENTION` ago, with their row errors; and the change journal's
//! operations older than `HISTORY_RETENTION` or past a person's
//! `HISTORY_MAX_CHANGES_PER_USER`.

use crate::services::{chrono_duration, Services};
use crate::store::{Pruned, StoreResult};
use tokio::sync::watch;
use tracing::{error, info};

/// Sweeps every `config.prune_every` until `shutdown` flips to true.
pub async fn sweep_loop(services: Services, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(error) = sweep(&services).await {
            error!(%error, "sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(services.config.prune_every) => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub pruned: Pruned,
    pub uploads: u64,
    pub imports: u64,
    pub history_changes: u64,
}

/// One sweep, at the services' clock.
pub async fn sweep(services: &Services) -> StoreResult<Swept> {
    let now = services.now();
    let config = &services.config;
    let sessions = services.session_cutoffs(now);
    // The sign-in and sign-up throttles share a table: a window is closed once the longer one has passed.
    let longest_window = config.sign_in_window.max(config.sign_up_window);
    let pruned = services.store.prune_expired(now - chrono_duration(longest_window), &sessions).await?;
    let uploads = services.store.delete_uploads_of_ended_imports().await?
        + services.store.delete_stale_uploads(now - chrono_duration(config.import_preview_ttl)).await?;
    let imports = services.store.delete_ended_imports(now - chrono_duration(config.import_retention)).await?;
    let history_changes = services
        .store
        .sweep_history(now - chrono_duration(config.history_retention), config.history_max_changes_per_user)
        .await?;
    let swept = Swept { pruned, uploads, imports, history_changes };
    if swept != Swept::default() {
        info!(sessions = pruned.sessions, throttle_windows = pruned.throttle_windows, uploads, imports, history_changes, "swept expired data");
    }
    Ok(swept)
}
