//! The errors that cross the web boundary, shared by server and client.
//!
//! Each enum serialises as `{"error": "<snake_case variant>", ...fields}`, which is
//! both the server functions' JSON error body and the REST API's error body, so a
//! script and the hydrated page see the same thing. `http_status` is the one place
//! an error becomes a status code.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use crate::domain::history::Covers;
use serde::{Deserialize, Serialize};

/// Failures of the import and contacts API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ImportError {
    #[error("{}", already_running_message(*elapsed_minutes))]
    AlreadyRunning { elapsed_minutes: i64, import_id: String },
    #[error("This file is larger than the {} upload limit (IMPORT_MAX_UPLOAD_BYTES).", human_bytes(*limit_bytes))]
    TooLarge { limit_bytes: u64 },
    #[error("Your stored uploads would pass the {} limit per person (IMPORT_MAX_STORED_BYTES_PER_USER). Start or wait for the imports you uploaded, or try again after unstarted previews expire.", human_bytes(*limit_bytes))]
    UploadQuotaReached { limit_bytes: u64 },
    #[error("You have {limit} uploads in progress already (IMPORT_MAX_CONCURRENT_UPLOADS_PER_USER). Try again when one has finished.")]
    TooManyUploads { limit: usize },
    #[error("The server is reading {limit} other workbooks right now (IMPORT_MAX_WORKBOOK_READS). Try again in a minute, or upload a CSV.")]
    WorkbookReadsBusy { limit: usize },
    #[error("This upload was cancelled or removed before it had arrived.")]
    UploadGone,
    #[error("This request is larger than the {} limit for forms (INTAKE_MAX_FORM_BODY_BYTES).", human_bytes(*limit_bytes))]
    RequestTooLarge { limit_bytes: u64 },
    #[error("{reason}")]
    NotCsv { reason: String },
    #[error("The upload could not be read: {reason}")]
    MalformedUpload { reason: String },
    #[error("{reason}")]
    InvalidMapping { reason: String },
    #[error("{reason}")]
    InvalidSearch { reason: String },
    #[error("Please sign in first.")]
    Unauthorized,
    #[error("This request did not come from Intake's own pages.")]
    CrossOrigin,
    #[error("This is for a signed-in browser; scripts call the JSON API (/api/…) with their token.")]
    BrowserSessionRequired,
    #[error("Not found.")]
    NotFound,
    #[error("This import has already finished.")]
    AlreadyFinished,
    #[error("{}", confirmation_message(*what, *confirm, covers))]
    ConfirmationNeeded {
        confirm: u64,
        covers: Covers,
        #[serde(default)]
        what: Confirming,
    },
    #[error("This was undone already. To do it again, import the file again.")]
    AlreadyUndone,
    #[error("This changed no contacts, so there is nothing to undo.")]
    NothingToUndo,
    #[error("The history no longer reaches back this far (HISTORY_RETENTION, HISTORY_MAX_CHANGES_PER_USER), so this cannot be undone exactly.")]
    HistoryExpired,
    #[error("{identity} belongs to another contact, {name}. Merge the two, or change the value.")]
    IdentityTaken { contact_id: i64, name: String, identity: String },
    #[error("{reason}")]
    InvalidContact { reason: String },
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    #[error("The database is unavailable right now. Please try again in a minute.")]
    Unavailable,
    #[error("The request was not understood: {message}")]
    InvalidRequest { message: String },
    #[error("Could not reach the server: {message}")]
    Transport { message: String },
}

/// Failures of sign-up, sign-in and token management.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum AccountError {
    #[error("This email already has an account.")]
    EmailTaken,
    #[error("Please enter a valid email address.")]
    InvalidEmail,
    #[error("The password needs at least {min} characters.")]
    PasswordTooShort { min: usize },
    #[error("The password may be at most {max} bytes long.")]
    PasswordTooLong { max: usize },
    #[error("The email or password is wrong.")]
    InvalidCredentials,
    #[error("Too many failed sign-ins for this email. Try again in {}.", minutes(*retry_after_minutes))]
    TooManyAttempts { retry_after_minutes: i64 },
    #[error("Too many failed sign-ins from your network address (the limit is {limit} per window). Try again in {}.", minutes(*retry_after_minutes))]
    TooManyAttemptsFromClient { limit: u32, retry_after_minutes: i64 },
    #[error("Too many sign-ups from your network address (the limit is {limit} per window). Try again in {}.", minutes(*retry_after_minutes))]
    TooManySignUps { limit: u32, retry_after_minutes: i64 },
    #[error("The server is busy checking other passwords (at most {concurrency} at once). Try again in a few seconds.")]
    PasswordCheckBusy { concurrency: usize, retry_after_seconds: u64 },
    #[error("API tokens can only be managed from a signed-in browser, not with an API token.")]
    BrowserSessionRequired,
    #[error("Please sign in first.")]
    Unauthorized,
    #[error("This request did not come from Intake's own pages.")]
    CrossOrigin,
    #[error("Not found.")]
    NotFound,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    #[error("The database is unavailable right now. Please try again in a minute.")]
    Unavailable,
    #[error("The request was not understood: {message}")]
    InvalidRequest { message: String },
    #[error("Could not reach the server: {message}")]
    Transport { message: String },
}

fn minutes(count: i64) -> String {
    if count == 1 { "1 minute".to_owned() } else { format!("{count} minutes") }
}

/// "You already have an import running — started 3 minutes ago."
pub fn already_running_message(elapsed_minutes: i64) -> String {
    let when = match elapsed_minutes {
        m if m <= 0 => "just now".to_owned(),
        1 => "1 minute ago".to_owned(),
        m => format!("{m} minutes ago"),
    };
    format!("You already have an import running — started {when}.")
}

/// What a `ConfirmationNeeded` asks to confirm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirming {
    /// An undo: `confirm` counts the changes it takes back.
    #[default]
    Undo,
    /// A deletion: `confirm` counts the contacts it deletes.
    Deletion,
}

/// "This undoes 40 changes, and with them 2 imports and 5 edits made since."
pub fn confirmation_message(what: Confirming, changes: u64, covers: &Covers) -> String {
    if what == Confirming::Deletion {
        return match changes {
            1 => "This deletes 1 contact. Confirm to go on.".to_owned(),
            n => format!("This deletes {n} contacts. Confirm to go on."),
        };
    }
    let also = covers.sentence();
    let changes = if changes == 1 { "1 change".to_owned() } else { format!("{changes} changes") };
    if also.is_empty() {
        format!("This undoes {changes}. Confirm to go on.")
    } else {
        format!("This undoes {changes}, and with them {also} made since. Confirm to go on.")
    }
}

pub fn human_bytes(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB {
        format!("{:.0} MB", bytes as f64 / MIB as f64)
    } else if bytes >= 1024 {
        format!("{:.0} KB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

/// An error with its HTTP status: the single mapping for server functions and REST.
pub trait HttpError {
    fn http_status(&self) -> u16;

    /// Seconds for a `Retry-After` header, for refusals that pass with time.
    fn retry_after_seconds(&self) -> Option<u64> {
        None
    }
}

impl HttpError for ImportError {
    fn http_status(&self) -> u16 {
        match self {
            ImportError::AlreadyRunning { .. }
            | ImportError::AlreadyFinished
            | ImportError::UploadGone
            | ImportError::ConfirmationNeeded { .. }
            | ImportError::AlreadyUndone
            | ImportError::NothingToUndo
            | ImportError::IdentityTaken { .. } => 409,
            ImportError::HistoryExpired => 410,
            ImportError::TooManyUploads { .. } => 429,
            ImportError::WorkbookReadsBusy { .. } => 503,
            ImportError::TooLarge { .. } | ImportError::RequestTooLarge { .. } | ImportError::UploadQuotaReached { .. } => 413,
            ImportError::NotCsv { .. } | ImportError::InvalidSearch { .. } => 422,
            ImportError::MalformedUpload { .. }
            | ImportError::InvalidMapping { .. }
            | ImportError::InvalidContact { .. }
            | ImportError::InvalidRequest { .. } => 400,
            ImportError::Unauthorized => 401,
            ImportError::CrossOrigin | ImportError::BrowserSessionRequired => 403,
            ImportError::NotFound => 404,
            ImportError::Internal => 500,
            ImportError::Unavailable => 503,
            ImportError::Transport { .. } => 502,
        }
    }

    fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            ImportError::TooManyUploads { .. } | ImportError::WorkbookReadsBusy { .. } => Some(Self::UPLOAD_RETRY_SECONDS),
            _ => None,
        }
    }
}

impl ImportError {
    const UPLOAD_RETRY_SECONDS: u64 = 10;
}

impl HttpError for AccountError {
    fn http_status(&self) -> u16 {
        match self {
            AccountError::EmailTaken => 409,
            AccountError::InvalidEmail
            | AccountError::InvalidRequest { .. }
            | AccountError::PasswordTooShort { .. }
            | AccountError::PasswordTooLong { .. } => 400,
            AccountError::InvalidCredentials | AccountError::Unauthorized => 401,
            AccountError::CrossOrigin | AccountError::BrowserSessionRequired => 403,
            AccountError::NotFound => 404,
            AccountError::TooManyAttempts { .. }
            | AccountError::TooManyAttemptsFromClient { .. }
            | AccountError::TooManySignUps { .. } => 429,
            AccountError::PasswordCheckBusy { .. } => 503,
            AccountError::Internal => 500,
            AccountError::Unavailable => 503,
            AccountError::Transport { .. } => 502,
        }
    }

    fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            AccountError::TooManyAttempts { retry_after_minutes }
            | AccountError::TooManyAttemptsFromClient { retry_after_minutes, .. }
            | AccountError::TooManySignUps { retry_after_minutes, .. } => Some(*retry_after_minutes as u64 * 60),
            AccountError::PasswordCheckBusy { retry_after_seconds, .. } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

/// Arguments the server could not decode are the caller's mistake (400); the rest
/// of the framework's errors are transport failures.
fn is_bad_request(error: &ServerFnErrorErr) -> bool {
    matches!(error, ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) | ServerFnErrorErr::Deserialization(_))
}

/// Builds a boundary error from a framework error, and on the server gives the
/// response that error's status.
fn framework_error<E: HttpError>(
    value: ServerFnErrorErr,
    invalid_request: fn(String) -> E,
    transport: fn(String) -> E,
) -> E {
    let error = if is_bad_request(&value) { invalid_request(value.to_string()) } else { transport(value.to_string()) };
    #[cfg(feature = "ssr")]
    set_status(&error);
    error
}

/// Sets the response status (and `Retry-After`) for `error`, when a server
/// function is serving a request.
#[cfg(feature = "ssr")]
pub fn set_status(error: &impl HttpError) {
    use leptos::prelude::use_context;
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        let status = http::StatusCode::from_u16(error.http_status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        response.set_status(status);
        if let Some(seconds) = error.retry_after_seconds() {
            response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
    }
}

impl FromServerFnError for ImportError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        framework_error(value, |message| Self::InvalidRequest { message }, |message| Self::Transport { message })
    }
}

impl FromServerFnError for AccountError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        framework_error(value, |message| Self::InvalidRequest { message }, |message| Self::Transport { message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_running_is_a_flat_json_body() {
        let body = serde_json::to_value(ImportError::AlreadyRunning {
            elapsed_minutes: 3,
            import_id: "abc".into(),
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "already_running", "elapsed_minutes": 3, "import_id": "abc"})
        );
        let back: ImportError = serde_json::from_value(body).unwrap();
        assert!(matches!(back, ImportError::AlreadyRunning { elapsed_minutes: 3, .. }));
    }

    #[test]
    fn already_running_reads_naturally() {
        assert_eq!(
            already_running_message(0),
            "You already have an import running — started just now."
        );
        assert_eq!(
            already_running_message(1),
            "You already have an import running — started 1 minute ago."
        );
        assert_eq!(
            already_running_message(3),
            "You already have an import running — started 3 minutes ago."
        );
    }

    #[test]
    fn a_confirmation_names_what_it_also_undoes() {
        let covers = Covers { imports: 2, edits: 5, ..Covers::default() };
        let body = serde_json::to_value(ImportError::ConfirmationNeeded { confirm: 40, covers, what: Confirming::Undo }).unwrap();
        assert_eq!(body["error"], "confirmation_needed");
        assert_eq!(body["confirm"], 40);
        assert_eq!(body["covers"]["imports"], 2);
        assert_eq!(
            confirmation_message(Confirming::Undo, 40, &covers),
            "This undoes 40 changes, and with them 2 imports and 5 edits made since. Confirm to go on."
        );
        assert_eq!(confirmation_message(Confirming::Undo, 1, &Covers::default()), "This undoes 1 change. Confirm to go on.");
        assert_eq!(confirmation_message(Confirming::Deletion, 3, &Covers::default()), "This deletes 3 contacts. Confirm to go on.");
    }

    #[test]
    fn a_duplicate_start_is_never_a_server_error() {
        let e = ImportError::AlreadyRunning { elapsed_minutes: 0, import_id: String::new() };
        assert_eq!(e.http_status(), 409);
    }
}
