//! The import use cases behind pages and REST: start an import through the
//! guard (from a previewed upload, or from a script's upload in one step), and
//! cancel one. Web handlers parse and authorise, then call these.

use crate::domain::guard::{self, StartDecision};
use crate::domain::format::FileFormat;
use crate::domain::mapping::Mapping;
use crate::domain::preview::{self, MappingSummary};
use crate::error::ImportError;
use crate::domain::report::{error_report_more, error_report_rows, ERROR_REPORT_HEADER};
use crate::model::{ImportView, RowErrorsPage, StartedImport, ERRORS_PER_PAGE};
use crate::services::{chrono_duration, Services};
use crate::store::{InsertOutcome, NewImport, SlotHolder, StoreError};
use crate::telemetry;
use crate::uploads::UploadBody;
use tracing::{error, info, warn};

impl From<StoreError> for ImportError {
    fn from(error: StoreError) -> Self {
        error!(%error, "storage failed");
        if error.is_transient() { ImportError::Unavailable } else { ImportError::Internal }
    }
}

/// A mapping from the client is checked against the file it is for.
fn checked_mapping(mapping: Mapping, headers: &[String]) -> Result<Mapping, ImportError> {
    if mapping.columns.len() != headers.len() {
        return Err(ImportError::InvalidMapping {
            reason: format!("The mapping has {} columns but the file has {}.", mapping.columns.len(), headers.len()),
        });
    }
    let identifies = mapping.columns.iter().any(|target| target.identifies());
    if !identifies {
        return Err(ImportError::InvalidMapping {
            reason: "Map at least one column to a name, an email or a phone.".to_owned(),
        });
    }
    Ok(mapping)
}

/// The page's start: an import of a previewed upload with the preview's
/// (possibly edited) mapping, through the guard.
pub async fn start_import(services: &Services, user_id: i64, upload_id: &str, mapping: Mapping) -> Result<StartedImport, ImportError> {
    let upload = services.store.upload_meta(user_id, upload_id).await?.ok_or(ImportError::NotFound)?;
    let new = NewImport {
        id: uuid::Uuid::new_v4().to_string(),
        user_id,
        upload_id: upload_id.to_owned(),
        file_name: upload.file_name,
        mapping: Some(checked_mapping(mapping, &upload.sniffed.headers)?),
        sniffed: Some(upload.sniffed),
        rows_total: upload.data_rows,
        ..NewImport::default()
    };
    claim_slot(services, &new).await?;
    queued(services, &new)
}

/// A script's start (`POST /api/imports`): the guard first, then the file, with
/// the mapping detected from it. The import holds the person's slot while its
/// file arrives (it waits in the queue, not claimable), so a second start is
/// refused with `already_running` before a byte of it is stored, whatever the
/// upload quota; and an upload that fails leaves no import behind.
pub async fn import_upload(services: &Services, user_id: i64, body: UploadBody<'_>, sheet: Option<&str>) -> Result<StartedImport, ImportError> {
    let mut new = NewImport {
        id: uuid::Uuid::new_v4().to_string(),
        user_id,
        upload_id: uuid::Uuid::new_v4().to_string(),
        file_name: String::new(),
        ..NewImport::default()
    };
    claim_slot(services, &new).await?;
    // After the guard: a second start is told `already_running`, not that uploads are busy.
    let received = match services.upload_slots.take(user_id, services.config.import_max_concurrent_uploads_per_user) {
        Ok(_slot) => crate::uploads::receive(services, user_id, &new.upload_id, body, sheet).await,
        Err(busy) => Err(busy),
    };
    let ready = received.and_then(|meta| {
        let mapping = checked_mapping(preview::detect(&meta.sniffed).1, &meta.sniffed.headers)?;
        Ok((meta, mapping))
    });
    let (meta, mapping) = match ready {
        Ok(ready) => ready,
        Err(error) => {
            services.store.drop_receiving_import(&new.id).await?;
            services.store.delete_upload(&new.upload_id).await?;
            return Err(error);
        }
    };
    (new.file_name, new.rows_total, new.mapping) = (meta.file_name, meta.data_rows, Some(mapping));
    new.sniffed = Some(meta.sniffed);
    if !services.store.finish_receiving(&new).await? {
        // Cancelled, or replaced by a start that found it stale, while its file arrived.
        services.store.delete_upload(&new.upload_id).await?;
        return Err(match services.store.slot_holder(user_id).await? {
            Some(holder) => {
                let elapsed_minutes = guard::elapsed_minutes(&holder.times, holder.now);
                already_running(holder, elapsed_minutes)
            }
            None => ImportError::AlreadyFinished,
        });
    }
    queued(services, &new)
}

/// Counts and announces an import (or another job) that is in the queue now.
pub(crate) fn queued(services: &Services, new: &NewImport) -> Result<StartedImport, ImportError> {
    telemetry::import_started(new.kind);
    info!(user_id = new.user_id, import_id = %new.id, rows = new.rows_total, kind = new.kind.as_str(), "import queued");
    services.work_queued.notify_one();
    let is_vcard = new.sniffed.as_ref().is_some_and(|s| matches!(s.format, FileFormat::VCard { .. }));
    let mapping = new.mapping.as_ref().map(|m| MappingSummary::of(m, is_vcard)).unwrap_or_default();
    Ok(StartedImport { status_url: format!("/api/imports/{}", new.id), import_id: new.id.clone(), mapping })
}

/// Takes the user's single import slot. The insert is the check: the partial unique
/// index refuses a second active import, and only then is the holder judged, with
/// the database's clock read along with it. A `new` without settings holds the
/// slot while its file arrives.
pub(crate) async fn claim_slot(services: &Services, new: &NewImport) -> Result<(), ImportError> {
    let stale_after = chrono_duration(services.config.import_stale_after);
    // Each retry follows a change made by someone else (a finish, a takeover); a few suffice.
    for _ in 0..4 {
        if services.store.insert_import(new).await? == InsertOutcome::Inserted {
            return Ok(());
        }
        let Some(holder) = services.store.slot_holder(new.user_id).await? else { continue };
        match guard::decide(Some(&holder.times), stale_after, holder.now) {
            StartDecision::Reject { elapsed_minutes } => return Err(already_running(holder, elapsed_minutes)),
            StartDecision::TakeOver { idle_minutes } => {
                if services.store.abandon_if_stale(&holder, services.config.import_stale_after).await? {
                    telemetry::stale_takeover();
                    telemetry::import_finished(holder.kind, crate::model::ImportStatus::Abandoned);
                    warn!(
                        user_id = new.user_id,
                        import_id = %holder.import_id,
                        attempt = holder.attempt,
                        idle_minutes,
                        "replacing an import that made no progress"
                    );
                }
            }
            StartDecision::Start => {}
        }
    }
    let holder = services.store.slot_holder(new.user_id).await?;
    Err(match holder {
        Some(holder) => {
            let elapsed_minutes = guard::elapsed_minutes(&holder.times, holder.now);
            already_running(holder, elapsed_minutes)
        }
        None => ImportError::Internal,
    })
}

/// The refusal a start gets while `holder` runs, counted.
pub fn already_running(holder: SlotHolder, elapsed_minutes: i64) -> ImportError {
    telemetry::already_running();
    ImportError::AlreadyRunning { elapsed_minutes, import_id: holder.import_id }
}

/// The user's import that holds the slot, for pages that warn before an upload.
pub async fn running_import(services: &Services, user_id: i64) -> Result<Option<ImportView>, ImportError> {
    match services.store.slot_holder(user_id).await? {
        Some(holder) => Ok(services.store.get_import(user_id, &holder.import_id).await?),
        None => Ok(None),
    }
}

/// One of the user's imports.
pub async fn import_view(services: &Services, user_id: i64, import_id: &str) -> Result<ImportView, ImportError> {
    services.store.get_import(user_id, import_id).await?.ok_or(ImportError::NotFound)
}

/// The user's imports, newest first.
pub async fn list_imports(services: &Services, user_id: i64) -> Result<Vec<ImportView>, ImportError> {
    Ok(services.store.list_imports(user_id, 100).await?)
}

/// A page of an import's row errors: those after line `after`, or the first ones.
pub async fn row_errors(services: &Services, user_id: i64, import_id: &str, after: Option<u64>) -> Result<RowErrorsPage, ImportError> {
    services.store.row_errors(user_id, import_id, after, ERRORS_PER_PAGE).await?.ok_or(ImportError::NotFound)
}

/// Row errors read per page of the CSV report.
const REPORT_PAGE: u32 = 1_000;

/// An import's row errors as a CSV that a spreadsheet opens safely, made a page
/// at a time as it is sent, so memory stays flat whatever the count; it ends
/// with "and N more" when only the first errors were kept.
pub async fn error_report(
    services: &Services,
    user_id: i64,
    import_id: &str,
) -> Result<impl futures::Stream<Item = Result<String, StoreError>> + Send + 'static, ImportError> {
    let store = services.store.clone();
    let first = store.row_errors(user_id, import_id, None, REPORT_PAGE).await?.ok_or(ImportError::NotFound)?;
    let import_id = import_id.to_owned();
    Ok(futures::stream::unfold(Some((first, ERROR_REPORT_HEADER.to_owned())), move |state| {
        let (store, import_id) = (store.clone(), import_id.clone());
        async move {
            let (page, mut text) = state?;
            let rows: Vec<(u64, bool, String)> = page.errors.iter().map(|e| (e.line, e.warning, e.reason.clone())).collect();
            text.push_str(&error_report_rows(&rows));
            let next = match page.next_after {
                Some(after) => match store.row_errors(user_id, &import_id, Some(after), REPORT_PAGE).await {
                    Ok(next) => next.map(|next| (next, String::new())),
                    Err(error) => {
                        error!(%error, "error report stopped");
                        return Some((Err(error), None));
                    }
                },
                None => {
                    if page.not_stored() > 0 {
                        text.push_str(&error_report_more(page.not_stored()));
                    }
                    None
                }
            };
            Some((Ok(text), next))
        }
    }))
}

/// Stops a queued import at once, or a processing one after its current batch.
pub async fn cancel_import(services: &Services, user_id: i64, import_id: &str) -> Result<ImportView, ImportError> {
    let view = services
        .store
        .request_cancel(user_id, import_id, services.now())
        .await?
        .ok_or(ImportError::NotFound)?;
    if !view.status.is_active() && view.status != crate::model::ImportStatus::Cancelled {
        return Err(ImportError::AlreadyFinished);
    }
    info!(user_id, import_id, "import cancel requested");
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::mapping::{Field, Target};

    #[test]
    fn a_mapping_must_identify_someone() {
        let headers = vec!["Notes".to_owned(), "Email".to_owned()];
        let notes = || Target::field(Field::Notes);
        let notes_only = Mapping { columns: vec![notes(), Target::Custom], ..Mapping::default() };
        assert!(matches!(checked_mapping(notes_only, &headers), Err(ImportError::InvalidMapping { .. })));
        let wrong_width = Mapping { columns: vec![Target::field(Field::Email)], ..Mapping::default() };
        assert!(matches!(checked_mapping(wrong_width, &headers), Err(ImportError::InvalidMapping { .. })));
        let fine = Mapping { columns: vec![notes(), Target::field(Field::Email)], ..Mapping::default() };
        assert!(checked_mapping(fine, &headers).is_ok());
    }
}
