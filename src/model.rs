//! What the server shows the client: views shared by pages, server functions and REST.

use crate::domain::contact::Contact;
use crate::domain::mapping::Mapping;
use crate::domain::plan::Counts;
use crate::domain::preview::{ColumnPreview, MappingSummary};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Row errors on a page of an import's errors.
pub const ERRORS_PER_PAGE: u32 = 50;
/// Contacts on a page of the contacts list.
pub const CONTACTS_PER_PAGE: u32 = 50;
/// Passwords are read up to this size; argon2 on megabytes would be a denial of service.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Queued,
    Processing,
    Succeeded,
    Failed,
    Cancelled,
    Abandoned,
}

impl ImportStatus {
    pub const ALL: [ImportStatus; 6] = [
        ImportStatus::Queued,
        ImportStatus::Processing,
        ImportStatus::Succeeded,
        ImportStatus::Failed,
        ImportStatus::Cancelled,
        ImportStatus::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Queued => "queued",
            ImportStatus::Processing => "processing",
            ImportStatus::Succeeded => "succeeded",
            ImportStatus::Failed => "failed",
            ImportStatus::Cancelled => "cancelled",
            ImportStatus::Abandoned => "abandoned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Active imports hold the user's single import slot.
    pub fn is_active(self) -> bool {
        matches!(self, ImportStatus::Queued | ImportStatus::Processing)
    }

    pub fn label(self) -> &'static str {
        match self {
            ImportStatus::Queued => "Waiting to start",
            ImportStatus::Processing => "Importing",
            ImportStatus::Succeeded => "Done",
            ImportStatus::Failed => "Failed",
            ImportStatus::Cancelled => "Cancelled",
            ImportStatus::Abandoned => "Replaced after it stalled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportView {
    pub import_id: String,
    pub file_name: String,
    pub status: ImportStatus,
    pub rows_done: u64,
    pub rows_total: Option<u64>,
    pub counts: Counts,
    pub attempt: i32,
    pub cancel_requested: bool,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub processing_started_at: Option<DateTime<Utc>>,
    pub last_progress_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl ImportView {
    /// Whole percent done, once the total is known.
    pub fn percent(&self) -> Option<u32> {
        match (self.status, self.rows_total) {
            (ImportStatus::Succeeded, _) => Some(100),
            (_, Some(0)) => Some(0),
            (_, Some(total)) => Some(((self.rows_done.min(total) * 100) / total) as u32),
            (_, None) => None,
        }
    }

    /// Rows per second over the processing time so far.
    pub fn rows_per_second(&self) -> Option<f64> {
        let start = self.processing_started_at?;
        let end = self.finished_at.or(self.last_progress_at)?;
        let seconds = (end - start).num_milliseconds() as f64 / 1000.0;
        (seconds > 0.0 && self.rows_done > 0).then(|| self.rows_done as f64 / seconds)
    }

    /// Seconds left at the current rate, while processing.
    pub fn eta_seconds(&self) -> Option<u64> {
        if self.status != ImportStatus::Processing {
            return None;
        }
        let remaining = self.rows_total?.saturating_sub(self.rows_done);
        Some((remaining as f64 / self.rows_per_second()?).ceil() as u64)
    }
}

/// What the preview step shows before an import starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadPreview {
    pub upload_id: String,
    pub file_name: String,
    pub byte_size: u64,
    /// Records after the header row; cards in a vCard file.
    pub data_rows: u64,
    /// What the file is, by its content: "vCard 3.0", "Excel workbook (.xlsx)", …
    pub format: String,
    /// Cards, not rows, are counted.
    pub is_vcard: bool,
    /// Empty for workbooks.
    pub encoding: String,
    /// Empty but for delimited text.
    pub delimiter: String,
    pub header_line: u64,
    pub headers: Vec<String>,
    pub preset: String,
    pub mapping: Mapping,
    pub sample_rows: Vec<Vec<String>>,
    /// Where each column (each property kind, for vCards) goes, with its samples.
    pub columns: Vec<ColumnPreview>,
    pub summary: MappingSummary,
    /// A workbook's sheets, and the one read.
    pub sheets: Vec<String>,
    pub sheet: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedImport {
    pub import_id: String,
    pub status_url: String,
    /// Where the file's columns go: what the preview would have shown.
    pub mapping: MappingSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowErrorView {
    pub line: u64,
    pub reason: String,
    /// The row was imported, with what the reason says it could not keep as the file meant.
    #[serde(default)]
    pub warning: bool,
}

/// One page of an import's row errors, read by key: the rows after a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowErrorsPage {
    /// Every rejected row and every row imported with a warning, exactly, kept or not.
    pub total: u64,
    /// The row errors kept (the first `IMPORT_MAX_STORED_ROW_ERRORS`).
    pub stored: u64,
    pub errors: Vec<RowErrorView>,
    /// The `after` that reads the next page, when there is one.
    pub next_after: Option<u64>,
}

impl RowErrorsPage {
    /// Rejected rows whose errors were not kept.
    pub fn not_stored(&self) -> u64 {
        self.total.saturating_sub(self.stored)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactView {
    pub id: i64,
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub organization: String,
    pub title: String,
}

/// A whole contact: `GET /api/contacts/{id}` and the contact page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactDetail {
    pub id: i64,
    pub contact: Contact,
    /// The photo: a link as the file gave it, or a `data:` URI of the embedded image.
    pub photo: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactsPage {
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    pub contacts: Vec<ContactView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token is shown once, when it is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    pub token: String,
    pub view: TokenView,
}
