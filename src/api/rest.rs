//! The JSON API for scripts: `Authorization: Bearer <token>` or a session cookie.

use crate::auth::{authenticate, Caller};
use crate::request_body::{multipart_boundary, BodyCutShort};
use crate::error::{HttpError, ImportError};
use crate::model::StartedImport;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use crate::model::DeleteRequest;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// Every API error leaves as its status and its JSON body.
pub fn error_response<E: HttpError + Serialize>(error: E) -> Response {
    let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let retry_after = error.retry_after_seconds();
    let mut response = (status, Json(error)).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    }
    response
}

impl IntoResponse for ImportError {
    fn into_response(self) -> Response {
        error_response(self)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ImportError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(authenticate(&state.services, parts).await?)
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/imports", post(create_import).get(list_imports))
        .route("/api/imports/{id}", get(import_status))
        .route("/api/imports/{id}/errors", get(import_errors))
        .route("/api/imports/{id}/errors.csv", get(error_report))
        .route("/api/imports/{id}/cancel", post(cancel_import))
        .route("/api/imports/{id}/undo", post(undo_operation))
        .route("/api/history", get(history))
        .route("/api/history/restore", post(restore_to))
        .route("/api/history/{id}/undo", post(undo_operation))
        .route("/api/contacts", get(contacts))
        .route("/api/contacts/delete", post(delete_contacts))
        .route("/api/contacts/export.vcf", get(export_vcard))
        .route("/api/contacts/export.csv", get(export_google_csv))
        .route("/api/contacts/{id}", get(contact).patch(edit_contact).delete(delete_contact))
}

/// `POST /api/imports?sheet=Name` reads that sheet of a workbook instead of the first.
#[derive(Deserialize)]
struct CreateImportQuery {
    sheet: Option<String>,
}

async fn create_import(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<CreateImportQuery>,
    request: Request,
) -> Result<Response, ImportError> {
    let services = &state.services;
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let boundary = multipart_boundary(content_type)?;
    let cut_short = request.extensions().get::<BodyCutShort>().cloned();
    // The request guard caps the stream and its first part's head; these are the parser's own limits.
    let upload_limit = services.config.import_max_upload_bytes;
    let constraints = multer::Constraints::new().allowed_fields(vec!["file"]).size_limit(
        multer::SizeLimit::new()
            .whole_stream(upload_limit + services.config.import_multipart_allowance_bytes)
            .per_field(upload_limit),
    );
    let declared_bytes = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
    let multipart = multer::Multipart::with_constraints(request.into_body().into_data_stream(), boundary, constraints);
    let body = crate::uploads::UploadBody { multipart, cut_short, declared_bytes };
    let started = crate::imports::import_upload(services, caller.user_id, body, query.sheet.as_deref()).await?;
    Ok(job_started(started))
}

async fn list_imports(State(state): State<AppState>, caller: Caller) -> Result<Response, ImportError> {
    Ok(Json(crate::imports::list_imports(&state.services, caller.user_id).await?).into_response())
}

async fn import_status(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    Ok(Json(crate::imports::import_view(&state.services, caller.user_id, &id).await?).into_response())
}

/// `page` counts from 1, as the pages do; 0 or none is the first page.
#[derive(Deserialize)]
struct ContactsQuery {
    #[serde(default)]
    page: u32,
    #[serde(default)]
    q: String,
}

#[derive(Deserialize)]
struct ErrorsQuery {
    after: Option<u64>,
}

async fn import_errors(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ErrorsQuery>,
) -> Result<Response, ImportError> {
    Ok(Json(crate::imports::row_errors(&state.services, caller.user_id, &id, query.after).await?).into_response())
}

/// The row errors as a CSV a spreadsheet opens safely, streamed.
async fn error_report(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    let pages = crate::imports::error_report(&state.services, caller.user_id, &id).await?;
    let name = format!("import-{}-errors.csv", id.chars().filter(char::is_ascii_alphanumeric).collect::<String>());
    Ok(download("text/csv; charset=utf-8", &name, axum::body::Body::from_stream(pages)))
}

async fn cancel_import(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    Ok(Json(crate::imports::cancel_import(&state.services, caller.user_id, &id).await?).into_response())
}

/// `?confirm=N`: the number of changes (or contacts) the caller agreed to.
#[derive(Deserialize)]
struct ConfirmQuery {
    confirm: Option<u64>,
}

/// 202 with the job's status URL, as an import's start.
fn job_started(started: StartedImport) -> Response {
    (StatusCode::ACCEPTED, Json::<StartedImport>(started)).into_response()
}

/// Undoes an operation (an import's id is its operation's) and all after it.
async fn undo_operation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ConfirmQuery>,
) -> Result<Response, ImportError> {
    Ok(job_started(crate::history::undo_operation(&state.services, caller.user_id, &id, query.confirm).await?))
}

async fn history(State(state): State<AppState>, caller: Caller) -> Result<Response, ImportError> {
    Ok(Json(crate::history::history(&state.services, caller.user_id).await?).into_response())
}

/// `?at=` an RFC 3339 moment, `&confirm=N`.
#[derive(Deserialize)]
struct RestoreQuery {
    at: String,
    confirm: Option<u64>,
}

async fn restore_to(State(state): State<AppState>, caller: Caller, Query(query): Query<RestoreQuery>) -> Result<Response, ImportError> {
    let at = chrono::DateTime::parse_from_rfc3339(&query.at)
        .map_err(|error| ImportError::InvalidRequest { message: format!("`at` is not an RFC 3339 time: {error}") })?;
    let started = crate::history::restore_to(&state.services, caller.user_id, at.to_utc(), query.confirm).await?;
    Ok(job_started(started))
}

/// `?merge=true` merges the contacts whose identities the edit takes.
#[derive(Deserialize)]
struct EditQuery {
    #[serde(default)]
    merge: bool,
}

async fn edit_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<EditQuery>,
    body: Result<Json<crate::domain::contact::Contact>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ImportError> {
    let id = contact_id(&id)?;
    let Json(edited) = body.map_err(|rejection| ImportError::InvalidRequest { message: rejection.body_text() })?;
    Ok(Json(crate::contacts::edit_contact(&state.services, caller.user_id, id, crate::contacts::Edit::Whole(edited), query.merge).await?).into_response())
}

async fn delete_contact(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    let op_id = crate::contacts::delete_contact(&state.services, caller.user_id, contact_id(&id)?).await?;
    Ok(Json(serde_json::json!({ "op_id": op_id, "undo_url": format!("/api/history/{op_id}/undo") })).into_response())
}

async fn delete_contacts(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ConfirmQuery>,
    body: Result<Json<DeleteRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ImportError> {
    let Json(request) = body.map_err(|rejection| ImportError::InvalidRequest { message: rejection.body_text() })?;
    Ok(job_started(crate::contacts::delete_contacts(&state.services, caller.user_id, request, query.confirm).await?))
}

/// Another person's contact and a contact that never was answer alike.
fn contact_id(id: &str) -> Result<i64, ImportError> {
    id.parse().map_err(|_| ImportError::NotFound)
}

async fn contacts(State(state): State<AppState>, caller: Caller, Query(query): Query<ContactsQuery>) -> Result<Response, ImportError> {
    Ok(Json(crate::contacts::search(&state.services, caller.user_id, &query.q, query.page).await?).into_response())
}

async fn contact(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    let id = contact_id(&id)?;
    Ok(Json(crate::contacts::contact(&state.services, caller.user_id, id).await?).into_response())
}

/// `?q=` filters as search does; `?version=3.0` writes vCard 3.0 instead of 4.0.
#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    q: String,
    version: Option<String>,
}

async fn export_vcard(State(state): State<AppState>, caller: Caller, Query(query): Query<ExportQuery>) -> Result<Response, ImportError> {
    use crate::domain::vcard::write::Version;
    let version = match query.version.as_deref() {
        None | Some("4.0" | "4") => Version::V4,
        Some("3.0" | "3") => Version::V3,
        Some(other) => return Err(ImportError::InvalidRequest { message: format!("vCard version {other} cannot be written; ask for 4.0 or 3.0.") }),
    };
    let format = crate::contacts::ExportFormat::VCard(version);
    let text = crate::contacts::export(&state.services, caller.user_id, &query.q, format).await?;
    Ok(download("text/vcard; charset=utf-8", "contacts.vcf", axum::body::Body::from_stream(text)))
}

async fn export_google_csv(State(state): State<AppState>, caller: Caller, Query(query): Query<ExportQuery>) -> Result<Response, ImportError> {
    let text = crate::contacts::export(&state.services, caller.user_id, &query.q, crate::contacts::ExportFormat::GoogleCsv).await?;
    Ok(download("text/csv; charset=utf-8", "contacts.csv", axum::body::Body::from_stream(text)))
}

fn download(content_type: &str, file_name: &str, body: axum::body::Body) -> Response {
    let disposition = format!("attachment; filename=\"{file_name}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body).into_response()
}
