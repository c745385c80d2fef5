//! What the server shows the client: views shared by pages, server functions and REST.

use crate::domain::contact::Contact;
use crate::domain::mapping::Mapping;
use crate::domain::history::ReversalCounts;
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
    /// Its changes were taken back by an undo (never stored: shown for an
    /// import whose operation the history marks undone).
    Undone,
}

/// What a job in the queue does. Every kind holds the one slot a person has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    #[default]
    Import,
    /// An undo of an import, or a restore to a moment.
    Undo,
    /// A deletion of many contacts.
    Delete,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Import => "import",
            JobKind::Undo => "undo",
            JobKind::Delete => "delete",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [JobKind::Import, JobKind::Undo, JobKind::Delete].into_iter().find(|k| k.as_str() == text)
    }
}

impl ImportStatus {
    pub const ALL: [ImportStatus; 7] = [
        ImportStatus::Queued,
        ImportStatus::Processing,
        ImportStatus::Succeeded,
        ImportStatus::Failed,
        ImportStatus::Cancelled,
        ImportStatus::Abandoned,
        ImportStatus::Undone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Queued => "queued",
            ImportStatus::Processing => "processing",
            ImportStatus::Succeeded => "succeeded",
            ImportStatus::Failed => "failed",
            ImportStatus::Cancelled => "cancelled",
            ImportStatus::Abandoned => "abandoned",
            ImportStatus::Undone => "undone",
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
            ImportStatus::Undone => "Undone",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportView {
    pub import_id: String,
    /// The file's name; for another job, what it does ("Undo of contacts.csv").
    pub file_name: String,
    #[serde(default)]
    pub kind: JobKind,
    pub status: ImportStatus,
    pub rows_done: u64,
    pub rows_total: Option<u64>,
    pub counts: Counts,
    /// What an undo did; zero for an import.
    #[serde(default)]
    pub reversal: ReversalCounts,
    /// The undo that took this job's changes back.
    #[serde(default)]
    pub undone_by: Option<String>,
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
    /// What every column may choose besides its own choices.
    pub shared_choices: Vec<(String, String)>,
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

/// A contact as its page shows it: sections of labelled values, made by the
/// server, so that the client holds only text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactSheet {
    pub id: i64,
    pub name: String,
    /// An embedded image as a `data:` URI, shown inline.
    pub image: Option<String>,
    /// A photo the file gave as a link: offered as a link, not fetched from
    /// its host on every visit.
    pub photo_link: Option<String>,
    pub sections: Vec<SheetSection>,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetSection {
    pub title: String,
    /// `contact-…`, for tests.
    pub key: String,
    /// (label, value); a value may hold several lines.
    pub rows: Vec<(String, String)>,
}

#[cfg(feature = "ssr")]
impl ContactSheet {
    pub fn of(detail: ContactDetail) -> Self {
        use crate::domain::contact::Labeled;
        use crate::domain::labels;
        fn label_text<T>(value: &Labeled<T>) -> String {
            let label = labels::shown(&value.label);
            match (label.is_empty(), value.preferred) {
                (true, true) => "Preferred".to_owned(),
                (true, false) => String::new(),
                (false, true) => format!("{label} (preferred)"),
                (false, false) => label,
            }
        }
        fn labelled<T>(values: &[Labeled<T>], show: impl Fn(&T) -> String) -> Vec<(String, String)> {
            values.iter().map(|v| (label_text(v), show(&v.value))).collect()
        }
        let ContactDetail { id, contact, photo, .. } = detail;
        let name = &contact.name;
        let name_rows: Vec<(String, String)> = [
            ("Prefix", &name.prefix),
            ("First name", &name.given),
            ("Middle name", &name.middle),
            ("Last name", &name.family),
            ("Suffix", &name.suffix),
            ("Phonetic first name", &name.phonetic_given),
            ("Phonetic middle name", &name.phonetic_middle),
            ("Phonetic last name", &name.phonetic_family),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(label, value)| (label.to_owned(), value.clone()))
        .chain(contact.nicknames.iter().map(|n| ("Nickname".to_owned(), n.clone())))
        .collect();
        let mut about: Vec<(String, String)> = Vec::new();
        if let Some(birthday) = contact.birthday {
            about.push(("Birthday".to_owned(), birthday.shown()));
        }
        about.extend(contact.dates.iter().map(|d| (if d.label.is_empty() { "Date".to_owned() } else { label_text(d) }, d.value.shown())));
        if !contact.gender.is_empty() {
            about.push(("Gender".to_owned(), contact.gender.clone()));
        }
        if !contact.groups.is_empty() {
            about.push(("Groups".to_owned(), contact.groups.join(", ")));
        }
        let organizations = labelled(&contact.organizations, |o| {
            [&o.title, &o.name, &o.department].into_iter().filter(|p| !p.is_empty()).cloned().collect::<Vec<_>>().join(" · ")
        });
        let ims = labelled(&contact.ims, |im| if im.service.is_empty() { im.handle.clone() } else { format!("{} ({})", im.handle, im.service) });
        let section = |title: &str, key: &str, rows: Vec<(String, String)>| SheetSection { title: title.to_owned(), key: format!("contact-{key}"), rows };
        let sections = vec![
            section("Name", "name-parts", name_rows),
            section("Emails", "emails", labelled(&contact.emails, Clone::clone)),
            section("Phones", "phones", labelled(&contact.phones, |p| p.raw.clone())),
            section("Addresses", "addresses", labelled(&contact.addresses, |a| a.lines().join("\n"))),
            section("Work", "organizations", organizations),
            section("Dates and more", "about", about),
            section("Websites", "websites", labelled(&contact.websites, Clone::clone)),
            section("Messaging", "ims", ims),
            section("Related people", "relations", labelled(&contact.relations, Clone::clone)),
            section("Custom fields", "custom", contact.custom.iter().map(|c| (c.label.clone(), c.value.clone())).collect()),
        ]
        .into_iter()
        .filter(|s| !s.rows.is_empty())
        .collect();
        let (image, photo_link) = match photo {
            Some(uri) if uri.starts_with("data:") => (Some(uri), None),
            other => (None, other),
        };
        Self { id, name: contact.display_name.clone(), image, photo_link, sections, notes: contact.notes.clone() }
    }
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

/// A person's history: their operations, newest first, and how far back an undo reaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryView {
    /// When the oldest operation kept started; nothing before it can be undone.
    pub reaches_back_to: Option<DateTime<Utc>>,
    pub operations: Vec<OperationView>,
}

/// One operation that changed contacts: an import, an undo, an edit or a deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationView {
    pub op_id: String,
    pub kind: crate::domain::history::OpKind,
    /// The file's name, "Edit of Ana Lima", …
    pub label: String,
    pub started_at: DateTime<Utc>,
    /// Contacts it changed.
    pub changes: u64,
    /// The undo that took it back.
    pub undone_by: Option<String>,
}

/// Which contacts a deletion of many takes (`POST /api/contacts/delete`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// These contacts; without them, those the search finds (empty: all).
    #[serde(default)]
    pub ids: Option<Vec<i64>>,
    #[serde(default)]
    pub query: String,
}
