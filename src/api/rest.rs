//! The JSON API for scripts: `Authorization: Bearer <token>` or a session cookie.

use crate::auth::{authenticate, Caller};
use crate::request_body::{multipart_boundary, BodyCutShort};
use crate::domain::report::{error_report_more, error_report_rows, ERROR_REPORT_HEADER};
use crate::error::{HttpError, ImportError};
use crate::model::StartedImport;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tracing::error;

use super::imports::{CONTACTS_PER_PAGE, ERRORS_PER_PAGE};

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
        .route("/api/contacts", get(contacts))
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
    Ok((StatusCode::ACCEPTED, Json::<StartedImport>(started)).into_response())
}

async fn list_imports(State(state): State<AppState>, caller: Caller) -> Result<Response, ImportError> {
    Ok(Json(state.services.store.list_imports(caller.user_id, 100).await?).into_response())
}

async fn import_status(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    let view = state.services.store.get_import(caller.user_id, &id).await?.ok_or(ImportError::NotFound)?;
    Ok(Json(view).into_response())
}

/// `page` counts from 1, as the pages do; 0 or none is the first page.
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
    let page = state
        .services
        .store
        .row_errors(caller.user_id, &id, query.after, ERRORS_PER_PAGE)
        .await?
        .ok_or(ImportError::NotFound)?;
    Ok(Json(page).into_response())
}

/// The row errors as a CSV a spreadsheet opens safely, written a page at a time
/// so memory stays flat whatever the count; it ends with "and N more" when only
/// the first errors were kept.
async fn error_report(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    const PAGE: u32 = 1_000;
    let store = state.services.store.clone();
    let first = store.row_errors(caller.user_id, &id, None, PAGE).await?.ok_or(ImportError::NotFound)?;
    let disposition = format!("attachment; filename=\"import-{}-errors.csv\"", id.chars().filter(char::is_ascii_alphanumeric).collect::<String>());
    let user_id = caller.user_id;
    let pages = futures::stream::unfold(Some((first, ERROR_REPORT_HEADER.to_owned())), move |state| {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let (page, mut text) = state?;
            let rows: Vec<(u64, String)> = page.errors.iter().map(|e| (e.line, e.reason.clone())).collect();
            text.push_str(&error_report_rows(&rows));
            let next = match page.next_after {
                Some(after) => match store.row_errors(user_id, &id, Some(after), PAGE).await {
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
    });
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        axum::body::Body::from_stream(pages),
    )
        .into_response())
}

async fn cancel_import(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    Ok(Json(crate::imports::cancel_import(&state.services, caller.user_id, &id).await?).into_response())
}

async fn contacts(State(state): State<AppState>, caller: Caller, Query(query): Query<ContactsQuery>) -> Result<Response, ImportError> {
    let search = crate::imports::checked_search(&query.q)?;
    let page = state.services.store.contacts(caller.user_id, search, query.page.max(1), CONTACTS_PER_PAGE).await?;
    Ok(Json(page).into_response())
}
