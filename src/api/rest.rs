//! The JSON API for scripts: `Authorization: Bearer <token>` or a session cookie.

use crate::auth::{authenticate, Caller};
use crate::domain::guard;
use crate::domain::report::error_report_csv;
use crate::error::{HttpError, ImportError};
use crate::model::StartedImport;
use crate::server::AppState;
use crate::services::chrono_duration;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::imports::{CONTACTS_PER_PAGE, ERRORS_PER_PAGE};

/// Every API error leaves as its status and its JSON body.
pub fn error_response<E: HttpError + Serialize>(error: E) -> Response {
    let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(error)).into_response()
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

/// The boundary of a multipart body, or a 400 that says what is wrong.
pub fn multipart_boundary(content_type: Option<&str>) -> Result<String, ImportError> {
    let content_type = content_type.ok_or_else(|| ImportError::MalformedUpload {
        reason: "the request has no Content-Type; send multipart/form-data with a `file` field.".to_owned(),
    })?;
    multer::parse_boundary(content_type).map_err(|_| ImportError::MalformedUpload {
        reason: "the Content-Type is not multipart/form-data with a boundary.".to_owned(),
    })
}

async fn create_import(State(state): State<AppState>, caller: Caller, request: Request) -> Result<Response, ImportError> {
    let services = &state.services;
    // Not the guard (the insert is), but it spares a doomed upload of a big file.
    if let Some(holder) = services.store.slot_holder(caller.user_id).await? {
        let now = services.now();
        if let guard::StartDecision::Reject { elapsed_minutes } =
            guard::decide(Some(&holder.times), chrono_duration(services.config.import_stale_after), now)
        {
            return Err(ImportError::AlreadyRunning { elapsed_minutes, import_id: holder.import_id });
        }
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let boundary = multipart_boundary(content_type)?;
    let multipart = multer::Multipart::new(request.into_body().into_data_stream(), boundary);
    let preview = crate::imports::receive_upload(services, caller.user_id, multipart).await?;
    match crate::imports::start_import(services, caller.user_id, &preview.upload_id, None).await {
        Ok(started) => Ok((StatusCode::ACCEPTED, Json::<StartedImport>(started)).into_response()),
        Err(error) => {
            services.store.delete_upload(&preview.upload_id).await?;
            Err(error)
        }
    }
}

async fn list_imports(State(state): State<AppState>, caller: Caller) -> Result<Response, ImportError> {
    Ok(Json(state.services.store.list_imports(caller.user_id, 100).await?).into_response())
}

async fn import_status(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    let view = state.services.store.get_import(caller.user_id, &id).await?.ok_or(ImportError::NotFound)?;
    Ok(Json(view).into_response())
}

/// `page` counts from 1, as the pages do; 0 or none is the first page.
#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    page: u32,
    #[serde(default)]
    q: String,
}

async fn import_errors(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, ImportError> {
    let page = state
        .services
        .store
        .row_errors(caller.user_id, &id, query.page.max(1), ERRORS_PER_PAGE)
        .await?
        .ok_or(ImportError::NotFound)?;
    Ok(Json(page).into_response())
}

/// The row errors as a CSV a spreadsheet opens safely.
async fn error_report(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    const PAGE: u32 = 10_000;
    let store = &state.services.store;
    let mut rows = Vec::new();
    for page in 1.. {
        let chunk = store.row_errors(caller.user_id, &id, page, PAGE).await?.ok_or(ImportError::NotFound)?;
        let last = (chunk.errors.len() as u32) < PAGE;
        rows.extend(chunk.errors.into_iter().map(|e| (e.line, e.reason)));
        if last {
            break;
        }
    }
    let disposition = format!("attachment; filename=\"import-{}-errors.csv\"", id.chars().filter(char::is_ascii_alphanumeric).collect::<String>());
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        error_report_csv(&rows),
    )
        .into_response())
}

async fn cancel_import(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ImportError> {
    Ok(Json(crate::imports::cancel_import(&state.services, caller.user_id, &id).await?).into_response())
}

async fn contacts(State(state): State<AppState>, caller: Caller, Query(query): Query<PageQuery>) -> Result<Response, ImportError> {
    let page = state.services.store.contacts(caller.user_id, &query.q, query.page.max(1), CONTACTS_PER_PAGE).await?;
    Ok(Json(page).into_response())
}
