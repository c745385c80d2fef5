//! The history use cases behind pages and REST: what a person's operations
//! were, and undoing one (with everything after it) or going back to a moment.
//! An undo is a job in the import queue: it holds the person's one slot, so it
//! never runs beside an import, an edit or another undo.

use crate::domain::guard::{self, StartDecision};
use crate::domain::history::JobParams;
use crate::error::{Confirming, ImportError};
use crate::imports::{already_running, claim_slot, queued};
use crate::model::{HistoryView, JobKind, StartedImport};
use crate::services::{chrono_duration, Services};
use crate::store::NewImport;
use chrono::{DateTime, SubsecRound, Utc};
use tracing::info;

/// Operations a history page lists.
const OPERATIONS_SHOWN: u32 = 200;

/// The person's operations, newest first, and how far back an undo reaches.
pub async fn history(services: &Services, user_id: i64) -> Result<HistoryView, ImportError> {
    Ok(HistoryView {
        reaches_back_to: services.store.history_reach(user_id).await?,
        operations: services.store.operations(user_id, OPERATIONS_SHOWN).await?,
    })
}

/// Undoes operation `op_id` (an import's id is its operation's) and every
/// change made after it. Without `confirm`, or when `confirm` is not the number
/// of changes it would undo, it answers `ConfirmationNeeded` with that number.
pub async fn undo_operation(services: &Services, user_id: i64, op_id: &str, confirm: Option<u64>) -> Result<StartedImport, ImportError> {
    let Some(op) = services.store.op_first_change(user_id, op_id).await? else {
        return Err(match services.store.get_import(user_id, op_id).await? {
            None => ImportError::NotFound,
            Some(import) if import.status.is_active() => running_refusal(services, user_id).await?.unwrap_or(ImportError::NothingToUndo),
            // Its changes were swept from the history, or it made none.
            Some(import) if import.counts.created + import.counts.updated + import.counts.merged > 0 => ImportError::HistoryExpired,
            Some(_) => ImportError::NothingToUndo,
        });
    };
    if op.undone_by.is_some() {
        return Err(ImportError::AlreadyUndone);
    }
    let label = match services.store.get_import(user_id, op_id).await? {
        Some(import) => format!("Undo of {}", import.file_name),
        None => format!("Undo of {}", op.kind.as_str()),
    };
    start_undo(services, user_id, op.first_change, op_id, label, confirm).await
}

/// Takes the person's contacts back to how they were at `at`: every operation
/// started since is undone, newest first.
pub async fn restore_to(services: &Services, user_id: i64, at: DateTime<Utc>, confirm: Option<u64>) -> Result<StartedImport, ImportError> {
    // To the millisecond, as SQLite keeps times: each check below and the query see the same moment.
    let at = at.trunc_subsecs(3);
    let now = services.now();
    if at > now {
        return Err(ImportError::InvalidRequest { message: "That moment has not come yet.".to_owned() });
    }
    if at < now - chrono_duration(services.config.history_retention) {
        return Err(ImportError::HistoryExpired);
    }
    // An operation swept by the size cap started after `at`: its changes would stay.
    if services.store.history_swept_through(user_id).await?.is_some_and(|swept| at <= swept) {
        return Err(ImportError::HistoryExpired);
    }
    let Some(from) = services.store.first_change_since(user_id, at).await? else { return Err(ImportError::NothingToUndo) };
    let label = format!("Restore to {}", at.format("%Y-%m-%d %H:%M UTC"));
    start_undo(services, user_id, from, "", label, confirm).await
}

/// Queues an undo of the person's changes from `from` on, once `confirm` is
/// their number. The count is read again once the slot is held: a change in
/// between means the person confirmed something else, and is asked again.
async fn start_undo(services: &Services, user_id: i64, from: i64, op_id: &str, label: String, confirm: Option<u64>) -> Result<StartedImport, ImportError> {
    let (count, newest, covers) = services.store.changes_since(user_id, from, op_id).await?;
    if count == 0 {
        return Err(ImportError::NothingToUndo);
    }
    if confirm != Some(count) {
        // The typed refusal first: asking to confirm what cannot start misleads.
        if let Some(refusal) = running_refusal(services, user_id).await? {
            return Err(refusal);
        }
        return Err(ImportError::ConfirmationNeeded { confirm: count, covers, what: Confirming::Undo });
    }
    let mut new = NewImport {
        id: uuid::Uuid::new_v4().to_string(),
        user_id,
        file_name: label,
        rows_total: count,
        kind: JobKind::Undo,
        params: Some(JobParams::Undo { from, until: newest }),
        ..NewImport::default()
    };
    claim_slot(services, &new).await?;
    let (now_count, now_newest, covers) = services.store.changes_since(user_id, from, op_id).await?;
    if (now_count, now_newest) != (count, newest) {
        services.store.drop_receiving_import(&new.id).await?;
        return Err(ImportError::ConfirmationNeeded { confirm: now_count, covers, what: Confirming::Undo });
    }
    new.rows_total = now_count;
    if !services.store.finish_receiving(&new).await? {
        return Err(ImportError::AlreadyFinished);
    }
    info!(user_id, import_id = %new.id, from, until = newest, changes = count, "undo queued");
    queued(services, &new)
}

/// The `AlreadyRunning` refusal a start would get now, if any: for the nicer
/// answer only; the guard itself is the slot's insert.
pub(crate) async fn running_refusal(services: &Services, user_id: i64) -> Result<Option<ImportError>, ImportError> {
    let Some(holder) = services.store.slot_holder(user_id).await? else { return Ok(None) };
    let stale_after = chrono_duration(services.config.import_stale_after);
    Ok(match guard::decide(Some(&holder.times), stale_after, holder.now) {
        StartDecision::Reject { elapsed_minutes } => Some(already_running(holder, elapsed_minutes)),
        StartDecision::TakeOver { .. } | StartDecision::Start => None,
    })
}
