//! The shapes every file format shares: how text is encoded and split, what a
//! file is, what its sniffing found, and a record as every reader (delimited
//! text, vCard, workbook) hands it on, with the caps each reader keeps to.

use serde::{Deserialize, Serialize};

/// A field (a CSV cell, a vCard value, a workbook cell) is kept up to this many bytes.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Bytes fed to a reader at once by callers that hold what it finds: the
/// records one feed makes are bounded by these bytes (a file of tiny rows, `x\n`,
/// makes half a million records of a megabyte).
pub const FEED_SLICE_BYTES: usize = 8 * 1024;

/// Fields beyond this count in one record are dropped and the record flagged,
/// so a line of millions of delimiters cannot exhaust memory.
pub const MAX_FIELDS: usize = 1024;

#[derive(Clone, Debug, PartialEq)]
pub struct RawRecord {
    /// 0-based record index in the file (blank lines are not records).
    pub index: u64,
    /// 1-based physical line where the record starts.
    pub line: u64,
    pub fields: Vec<String>,
    pub problem: Option<RecordProblem>,
    /// What a reader could not keep of an otherwise good record (a vCard's
    /// photo past its cap, lines past the card's caps), told as row warnings.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordProblem {
    /// The field at this 0-based column was longer than the cap; only its
    /// first `max_field_bytes` bytes were kept.
    FieldTooLong { column: usize },
    /// The field at this 0-based column contains a NUL character.
    NulByte { column: usize },
    /// The record had more than [`MAX_FIELDS`] fields; the rest were dropped.
    TooManyFields,
    /// A vCard without its END, or with a line that is not a property; the
    /// reason names the line.
    BrokenCard { reason: String },
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

impl TextEncoding {
    pub fn label(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf8Bom => "UTF-8 (BOM)",
            TextEncoding::Utf16Le => "UTF-16 LE",
            TextEncoding::Utf16Be => "UTF-16 BE",
            TextEncoding::Windows1252 => "Windows-1252",
        }
    }

    pub fn encoding(self) -> &'static encoding_rs::Encoding {
        match self {
            TextEncoding::Utf8 | TextEncoding::Utf8Bom => encoding_rs::UTF_8,
            TextEncoding::Utf16Le => encoding_rs::UTF_16LE,
            TextEncoding::Utf16Be => encoding_rs::UTF_16BE,
            TextEncoding::Windows1252 => encoding_rs::WINDOWS_1252,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    Comma,
    Semicolon,
    Tab,
    Pipe,
}

impl Delimiter {
    /// Trial order; earlier wins ties, so comma is preferred.
    pub const ALL: [Delimiter; 4] = [
        Delimiter::Comma,
        Delimiter::Semicolon,
        Delimiter::Tab,
        Delimiter::Pipe,
    ];

    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
            Delimiter::Pipe => b'|',
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Delimiter::Comma => "comma",
            Delimiter::Semicolon => "semicolon",
            Delimiter::Tab => "tab",
            Delimiter::Pipe => "pipe",
        }
    }
}

/// What a file is, recognised by its content.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub enum FileFormat {
    /// CSV, TSV and other delimited text.
    #[default]
    Delimited,
    /// vCards; `version` is the first card's VERSION.
    VCard { version: String },
    /// A workbook read from `sheet`, one of its `sheets`.
    Workbook { kind: WorkbookKind, sheet: String, sheets: Vec<String> },
}

impl FileFormat {
    pub fn label(&self) -> String {
        match self {
            FileFormat::Delimited => "Text (CSV, TSV)".to_owned(),
            FileFormat::VCard { version } if version.is_empty() => "vCard".to_owned(),
            FileFormat::VCard { version } => format!("vCard {version}"),
            FileFormat::Workbook { kind, .. } => kind.label().to_owned(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkbookKind {
    Xlsx,
    Xls,
    Ods,
}

impl WorkbookKind {
    pub fn label(self) -> &'static str {
        match self {
            WorkbookKind::Xlsx => "Excel workbook (.xlsx)",
            WorkbookKind::Xls => "Excel 97-2003 workbook (.xls)",
            WorkbookKind::Ods => "OpenDocument spreadsheet (.ods)",
        }
    }

    /// Recognises a workbook by its first bytes: a zip (.xlsx, or .ods when its
    /// stored `mimetype` says so) or an OLE compound file (.xls).
    pub fn of(prefix: &[u8]) -> Option<WorkbookKind> {
        if prefix.starts_with(b"PK\x03\x04") {
            let ods = b"application/vnd.oasis.opendocument.spreadsheet";
            let head = &prefix[..prefix.len().min(256)];
            Some(if head.windows(ods.len()).any(|w| w == ods) { WorkbookKind::Ods } else { WorkbookKind::Xlsx })
        } else if prefix.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            Some(WorkbookKind::Xls)
        } else {
            None
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Sniffed {
    /// Uploads stored before other formats were read are all delimited text.
    #[serde(default)]
    pub format: FileFormat,
    pub encoding: TextEncoding,
    pub delimiter: Delimiter,
    /// 0-based index of the header among the file's records; records before
    /// it are preamble and are skipped.
    pub header_index: u64,
    /// 1-based physical line number of the header row.
    pub header_line: u64,
    /// Trimmed header cells.
    pub headers: Vec<String>,
    /// Up to 5 non-blank data rows after the header (trimmed), for a preview;
    /// for a vCard, the first values of each property kind.
    pub sample_rows: Vec<Vec<String>>,
    /// For a vCard, the cards that hold each property kind (`headers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub header_counts: Vec<u64>,
}

impl Sniffed {
    /// Index of the first record that is data: after the header, or the first
    /// card of a vCard file, which has no header record.
    pub fn first_data_record(&self) -> u64 {
        match self.format {
            FileFormat::VCard { .. } => 0,
            _ => self.header_index + 1,
        }
    }
}
