//! The errors that cross the web boundary, shared by server and client.
//!
//! Each enum serialises as `{"error": "<snake_case variant>", ...fields}`, which is
//! both the server functions' JSON error body and the REST API's error body, so a
//! script and the hydrated page see the same thing. `http_status` is the one place
//! an error becomes a status code.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Failures of the import and contacts API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ImportError {
    #[error("{}", already_running_message(*elapsed_minutes))]
    AlreadyRunning { elapsed_minutes: i64, import_id: String },
    #[error("This file is larger than the {} limit.", human_bytes(*limit_bytes))]
    TooLarge { limit_bytes: u64 },
    #[error("{reason}")]
    NotCsv { reason: String },
    #[error("The upload could not be read: {reason}")]
    MalformedUpload { reason: String },
    #[error("{reason}")]
    InvalidMapping { reason: String },
    #[error("Please sign in first.")]
    Unauthorized,
    #[error("This request did not come from Intake's own pages.")]
    CrossOrigin,
    #[error("Not found.")]
    NotFound,
    #[error("This import has already finished.")]
    AlreadyFinished,
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
    #[error("Too many failed sign-ins for this email. Try again in {} minute{}.", retry_after_minutes, if *retry_after_minutes == 1 { "" } else { "s" })]
    TooManyAttempts { retry_after_minutes: i64 },
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

/// "You already have an import running — started 3 minutes ago."
pub fn already_running_message(elapsed_minutes: i64) -> String {
    let when = match elapsed_minutes {
        m if m <= 0 => "just now".to_owned(),
        1 => "1 minute ago".to_owned(),
        m => format!("{m} minutes ago"),
    };
    format!("You already have an import running — started {when}.")
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
}

impl HttpError for ImportError {
    fn http_status(&self) -> u16 {
        match self {
            ImportError::AlreadyRunning { .. } | ImportError::AlreadyFinished => 409,
            ImportError::TooLarge { .. } => 413,
            ImportError::NotCsv { .. } => 422,
            ImportError::MalformedUpload { .. }
            | ImportError::InvalidMapping { .. }
            | ImportError::InvalidRequest { .. } => 400,
            ImportError::Unauthorized => 401,
            ImportError::CrossOrigin => 403,
            ImportError::NotFound => 404,
            ImportError::Internal => 500,
            ImportError::Unavailable => 503,
            ImportError::Transport { .. } => 502,
        }
    }
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
            AccountError::CrossOrigin => 403,
            AccountError::NotFound => 404,
            AccountError::TooManyAttempts { .. } => 429,
            AccountError::Internal => 500,
            AccountError::Unavailable => 503,
            AccountError::Transport { .. } => 502,
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
    crate::api::context::set_status(&error);
    error
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
    fn a_duplicate_start_is_never_a_server_error() {
        let e = ImportError::AlreadyRunning { elapsed_minutes: 0, import_id: String::new() };
        assert_eq!(e.http_status(), 409);
    }
}
