//! Server functions for uploads, imports and contacts.

use crate::domain::mapping::Mapping;
use crate::error::ImportError;
use crate::domain::edit::ContactForm;
use crate::model::{ContactSheet, ContactsPage, DeleteRequest, HistoryView, ImportView, RowErrorsPage, StartedImport, UploadPreview};
use leptos::prelude::*;
use leptos::server_fn::codec::{Json, MultipartData, MultipartFormData};


/// Receives a file (multipart field `file`) and returns its preview. Nothing starts yet.
#[server(input = MultipartFormData)]
pub async fn upload_file(data: MultipartData) -> Result<UploadPreview, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            let multipart = data
                .into_inner()
                .ok_or_else(|| ImportError::MalformedUpload { reason: "the body is not multipart.".to_owned() })?;
            let parts = request_parts();
            let cut_short = parts.as_ref().and_then(|parts| parts.extensions.get::<crate::request_body::BodyCutShort>().cloned());
            let declared_bytes = parts
                .as_ref()
                .and_then(|parts| parts.headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok());
            let body = crate::uploads::UploadBody { multipart, cut_short, declared_bytes };
            crate::uploads::upload_for_preview(&services, caller.user_id, body).await
        }
        .await,
    )
}

/// Starts importing an upload with the preview's mapping: the guarded start.
#[server(input = Json)]
pub async fn start_import(upload_id: String, mapping: Mapping) -> Result<StartedImport, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::imports::start_import(&services, caller.user_id, &upload_id, mapping).await
        }
        .await,
    )
}

/// Reads another sheet of an uploaded workbook and returns its preview.
#[server(input = Json)]
pub async fn choose_sheet(upload_id: String, sheet: String) -> Result<UploadPreview, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::uploads::choose_sheet(&services, caller.user_id, &upload_id, &sheet).await
        }
        .await,
    )
}

/// The import that currently holds the caller's slot, if any.
#[server]
pub async fn running_import() -> Result<Option<ImportView>, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::imports::running_import(&services, caller.user_id).await
        }
        .await,
    )
}

#[server]
pub async fn import_status(import_id: String) -> Result<ImportView, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::imports::import_view(&services, caller.user_id, &import_id).await
        }
        .await,
    )
}

#[server]
pub async fn list_imports() -> Result<Vec<ImportView>, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::imports::list_imports(&services, caller.user_id).await
        }
        .await,
    )
}

/// A page of the import's row errors: those after line `after`, or the first ones.
#[server]
pub async fn import_errors(import_id: String, after: Option<u64>) -> Result<RowErrorsPage, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::imports::row_errors(&services, caller.user_id, &import_id, after).await
        }
        .await,
    )
}

#[server]
pub async fn cancel_import(import_id: String) -> Result<ImportView, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::imports::cancel_import(&services, caller.user_id, &import_id).await
        }
        .await,
    )
}

/// `page` counts from 1.
#[server]
pub async fn list_contacts(query: String, page: u32) -> Result<ContactsPage, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::contacts::search(&services, caller.user_id, &query, page).await
        }
        .await,
    )
}

/// One whole contact, as its page shows it.
#[server]
pub async fn get_contact(id: i64) -> Result<ContactSheet, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::contacts::contact(&services, caller.user_id, id).await.map(ContactSheet::of)
        }
        .await,
    )
}

/// Undoes an operation (an import's id is its operation's) with every change
/// after it; without the right `confirm`, answers `ConfirmationNeeded`.
#[server]
pub async fn undo_operation(op_id: String, confirm: Option<u64>) -> Result<StartedImport, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::history::undo_operation(&services, caller.user_id, &op_id, confirm).await
        }
        .await,
    )
}

/// Takes the contacts back to moment `at` (RFC 3339).
#[server]
pub async fn restore_to(at: String, confirm: Option<u64>) -> Result<StartedImport, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            let at = chrono::DateTime::parse_from_rfc3339(&at)
                .map_err(|error| ImportError::InvalidRequest { message: format!("That is not a time: {error}") })?;
            crate::history::restore_to(&services, caller.user_id, at.to_utc(), confirm).await
        }
        .await,
    )
}

#[server]
pub async fn history() -> Result<HistoryView, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::history::history(&services, caller.user_id).await
        }
        .await,
    )
}

/// The fields of a contact its page edits.
#[server]
pub async fn contact_for_edit(id: i64) -> Result<ContactForm, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::contacts::contact_form(&services, caller.user_id, id).await
        }
        .await,
    )
}

/// Applies the page's form to the contact as stored.
#[server(input = Json)]
pub async fn edit_contact(id: i64, form: ContactForm, merge: bool) -> Result<(), ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::contacts::edit_contact(&services, caller.user_id, id, crate::contacts::Edit::Form(form), merge).await.map(|_| ())
        }
        .await,
    )
}

#[server]
/// The deletion's operation id, to undo it.
pub async fn delete_contact(id: i64) -> Result<String, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::contacts::delete_contact(&services, caller.user_id, id).await
        }
        .await,
    )
}

#[server(input = Json)]
pub async fn delete_contacts(request: DeleteRequest, confirm: Option<u64>) -> Result<StartedImport, ImportError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = authorised::<ImportError>().await?;
            crate::contacts::delete_contacts(&services, caller.user_id, request, confirm).await
        }
        .await,
    )
}
