//! The import use cases behind pages and REST: receive an upload, start an import
//! through the guard, cancel one. Web handlers parse and authorise, then call these.

use crate::body_limits::BodyCutShort;
use crate::domain::guard::{self, StartDecision};
use crate::domain::mapping::{self, Field, Mapping};
use crate::domain::records::{RawRecord, TextRecordReader};
use crate::domain::sniff::{self, FileFormat, Sniffed, TextEncoding, WorkbookKind, SNIFF_BYTES};
use crate::domain::workbook::{self, Workbook, WorkbookError};
use crate::error::ImportError;
use crate::model::{ImportView, StartedImport, UploadPreview};
use crate::services::{chrono_duration, Services};
use crate::store::{InsertOutcome, NewImport, SlotHolder, StoreError, UploadMeta};
use crate::telemetry;
use tracing::{error, info, warn};

/// Uploads are stored in chunks of this size, so no instance ever holds a whole file.
pub const UPLOAD_CHUNK_BYTES: usize = 1024 * 1024;

impl From<StoreError> for ImportError {
    fn from(error: StoreError) -> Self {
        error!(%error, "storage failed");
        if error.is_transient() { ImportError::Unavailable } else { ImportError::Internal }
    }
}

fn only_the_file_part() -> ImportError {
    ImportError::MalformedUpload { reason: "the form may have only one part, a file named `file`.".to_owned() }
}

/// A multipart error as the client should see it: the request guard's reason
/// when it cut the body short, else what the parser found.
fn malformed(error: multer::Error, cut_short: Option<&BodyCutShort>) -> ImportError {
    if let Some(reason) = cut_short.and_then(BodyCutShort::reason) {
        return reason;
    }
    match error {
        multer::Error::FieldSizeExceeded { limit, .. } | multer::Error::StreamSizeExceeded { limit } => {
            ImportError::TooLarge { limit_bytes: limit }
        }
        multer::Error::UnknownField { .. } => only_the_file_part(),
        error => ImportError::MalformedUpload { reason: error.to_string() },
    }
}

/// The longest search text accepted.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Search text as both backends can match it: bounded, and without control
/// characters (Postgres cannot hold NUL; SQLite must answer the same).
pub fn checked_search(query: &str) -> Result<&str, ImportError> {
    if query.chars().count() > MAX_SEARCH_CHARS {
        return Err(ImportError::InvalidSearch {
            reason: format!("Search text is limited to {MAX_SEARCH_CHARS} characters."),
        });
    }
    if query.chars().any(char::is_control) {
        return Err(ImportError::InvalidSearch { reason: "Search text may not contain control characters.".to_owned() });
    }
    Ok(query)
}

/// Keeps the last path segment of a browser-supplied name, within a sane length.
fn clean_file_name(name: Option<&str>) -> String {
    let name = name.unwrap_or_default();
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let base: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if base.is_empty() { "upload.csv".to_owned() } else { base }
}

/// Streams the multipart field `file` into storage, sniffing its start and
/// counting its rows on the way, and returns what the preview step shows. The
/// form has that one part: any other is refused before it is read.
pub async fn receive_upload(
    services: &Services,
    user_id: i64,
    mut multipart: multer::Multipart<'_>,
    cut_short: Option<&BodyCutShort>,
    sheet: Option<&str>,
) -> Result<UploadPreview, ImportError> {
    if let Some(mut field) = multipart.next_field().await.map_err(|e| malformed(e, cut_short))? {
        if field.name() != Some("file") {
            return Err(only_the_file_part());
        }
        let quota = services.config.import_max_stored_bytes_per_user;
        let room = quota.saturating_sub(services.store.user_upload_bytes(user_id).await?);
        if room == 0 {
            return Err(ImportError::UploadQuotaReached { limit_bytes: quota });
        }
        let file_name = clean_file_name(field.file_name());
        let upload_id = uuid::Uuid::new_v4().to_string();
        services.store.create_upload(&upload_id, user_id, &file_name, services.now()).await?;
        let received = store_file(services, &upload_id, &mut field, room, cut_short, sheet).await;
        let meta = match received {
            Ok(stats) => UploadMeta { file_name, byte_size: stats.bytes, sniffed: stats.sniffed, data_rows: stats.data_rows },
            Err(failure) => {
                services.store.delete_upload(&upload_id).await?;
                info!(user_id, %failure, "upload refused");
                return Err(failure);
            }
        };
        services.store.finish_upload(&upload_id, &meta).await?;
        info!(user_id, upload_id, bytes = meta.byte_size, rows = meta.data_rows, "upload stored");
        return Ok(preview(upload_id, meta));
    }
    Err(ImportError::MalformedUpload { reason: "the form has no field named `file`.".to_owned() })
}

struct StoredFile {
    bytes: u64,
    sniffed: Sniffed,
    data_rows: u64,
}

/// Checks that a byte stream is UTF-8 all the way, across chunk boundaries.
/// Sniffing sees only the file's start; an ASCII start with Windows-1252 bytes
/// further down must not be decoded as UTF-8.
struct Utf8Check {
    carry: Vec<u8>,
    valid: bool,
}

impl Utf8Check {
    fn new() -> Self {
        Self { carry: Vec::new(), valid: true }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if !self.valid {
            return;
        }
        let joined;
        let text = if self.carry.is_empty() {
            bytes
        } else {
            joined = [std::mem::take(&mut self.carry).as_slice(), bytes].concat();
            &joined
        };
        if let Err(error) = std::str::from_utf8(text) {
            match error.error_len() {
                // A character cut by the chunk's end: finish it with the next chunk.
                None => self.carry = text[error.valid_up_to()..].to_vec(),
                Some(_) => self.valid = false,
            }
        }
    }

    fn finish(&self) -> bool {
        self.valid && self.carry.is_empty()
    }
}

/// Counts records as the bytes pass, once the file's start has been sniffed.
struct RowCounter {
    reader: TextRecordReader,
    records: u64,
    scratch: Vec<RawRecord>,
}

impl RowCounter {
    fn new(sniffed: &Sniffed) -> Self {
        Self { reader: TextRecordReader::counting(sniffed), records: 0, scratch: Vec::new() }
    }

    fn feed(&mut self, bytes: &[u8], last: bool) {
        self.reader.feed(bytes, last, &mut self.scratch);
        self.records += self.scratch.len() as u64;
        self.scratch.clear();
    }
}

async fn store_file(
    services: &Services,
    upload_id: &str,
    field: &mut multer::Field<'_>,
    quota_room: u64,
    cut_short: Option<&BodyCutShort>,
    sheet: Option<&str>,
) -> Result<StoredFile, ImportError> {
    let limit = services.config.import_max_upload_bytes;
    let mut pending: Vec<u8> = Vec::with_capacity(UPLOAD_CHUNK_BYTES + 64 * 1024);
    let mut bytes = 0u64;
    let mut seq = 0i64;
    let mut sniffed: Option<Sniffed> = None;
    let mut counter: Option<RowCounter> = None;
    let mut utf8 = Utf8Check::new();
    let mut ascii_start = false;
    // A workbook is read once it is whole, from a copy on disk.
    let mut spilled: Option<(WorkbookKind, SpilledUpload)> = None;
    loop {
        let chunk = field.chunk().await.map_err(|e| malformed(e, cut_short))?;
        let last = chunk.is_none();
        if let Some(chunk) = &chunk {
            bytes += chunk.len() as u64;
            if bytes > limit {
                return Err(ImportError::TooLarge { limit_bytes: limit });
            }
            if bytes > quota_room {
                return Err(ImportError::UploadQuotaReached { limit_bytes: services.config.import_max_stored_bytes_per_user });
            }
            utf8.feed(chunk);
            pending.extend_from_slice(chunk);
            if let Some(counter) = &mut counter {
                counter.feed(chunk, false);
            }
            if let Some((_, spill)) = &mut spilled {
                spill.write(chunk).await.map_err(disk_failed)?;
            }
        }
        let workbook = spilled.is_none().then(|| WorkbookKind::of(&pending[..pending.len().min(SNIFF_BYTES)])).flatten();
        if let Some(kind) = workbook.filter(|_| sniffed.is_none() && (last || pending.len() >= SNIFF_BYTES)) {
            workbook::check_supported(kind).map_err(not_readable)?;
            let mut spill = SpilledUpload::new().map_err(disk_failed)?;
            spill.write(&pending).await.map_err(disk_failed)?;
            spilled = Some((kind, spill));
        } else if sniffed.is_none() && spilled.is_none() && (last || pending.len() >= SNIFF_BYTES) {
            let prefix = &pending[..pending.len().min(SNIFF_BYTES)];
            ascii_start = prefix.is_ascii();
            let found = sniff::sniff(prefix, last && pending.len() <= SNIFF_BYTES)
                .map_err(|e| ImportError::NotCsv { reason: e.to_string() })?;
            let mut fresh = RowCounter::new(&found);
            fresh.feed(&pending, false);
            counter = Some(fresh);
            sniffed = Some(found);
        }
        if last {
            if let Some(counter) = &mut counter {
                counter.feed(&[], true);
            }
        }
        if pending.len() >= UPLOAD_CHUNK_BYTES || (last && !pending.is_empty()) {
            services.store.append_upload_chunk(upload_id, seq, &pending).await?;
            seq += 1;
            pending.clear();
        }
        if last {
            break;
        }
    }
    if let Some((kind, spill)) = spilled {
        let (sniffed, data_rows) = spill.sniff(kind, sheet.map(str::to_owned), services.config.import_max_upload_bytes).await?;
        return Ok(StoredFile { bytes, sniffed, data_rows });
    }
    let mut sniffed = sniffed.ok_or_else(|| ImportError::NotCsv { reason: sniff::SniffError::Empty.to_string() })?;
    // Delimiters, quotes and line ends are ASCII in both, so the row count stands.
    if sniffed.encoding == TextEncoding::Utf8 && ascii_start && !utf8.finish() {
        sniffed.encoding = TextEncoding::Windows1252;
    }
    let records = counter.map_or(0, |c| c.records);
    let data_rows = records.saturating_sub(sniffed.first_data_record());
    Ok(StoredFile { bytes, sniffed, data_rows })
}

fn not_readable(error: WorkbookError) -> ImportError {
    ImportError::NotCsv { reason: error.to_string() }
}

fn disk_failed(error: std::io::Error) -> ImportError {
    error!(%error, "a temporary file for a workbook failed");
    ImportError::Internal
}

/// A workbook's bytes on disk while it is read: a zip is read by seeking, and
/// the upload itself stays in the database in chunks.
pub struct SpilledUpload {
    file: tempfile::NamedTempFile,
    writer: tokio::fs::File,
}

/// Why a stored upload could not be copied to disk.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error(transparent)]
    Store(StoreError),
    #[error("a temporary file failed: {0}")]
    Disk(std::io::Error),
}

impl From<SpillError> for ImportError {
    fn from(error: SpillError) -> Self {
        match error {
            SpillError::Store(error) => error.into(),
            SpillError::Disk(error) => disk_failed(error),
        }
    }
}

/// Rows a workbook's reading thread may have sent ahead of the import.
const WORKBOOK_ROWS_AHEAD: usize = 1024;

impl SpilledUpload {
    fn new() -> std::io::Result<Self> {
        let file = tempfile::NamedTempFile::new()?;
        let writer = tokio::fs::File::from_std(file.reopen()?);
        Ok(Self { file, writer })
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.writer.write_all(bytes).await
    }

    /// The stored upload copied to disk, chunk by chunk; `None` when it has no chunks.
    pub async fn from_store(services: &Services, upload_id: &str) -> Result<Option<Self>, SpillError> {
        let mut spill = Self::new().map_err(SpillError::Disk)?;
        let mut seq = 0;
        while let Some(chunk) = services.store.upload_chunk(upload_id, seq).await.map_err(SpillError::Store)? {
            spill.write(&chunk).await.map_err(SpillError::Disk)?;
            seq += 1;
        }
        Ok((seq > 0).then_some(spill))
    }

    /// Checks and unpacks the workbook (on the blocking thread that calls this).
    fn open(&self, max_bytes: u64) -> Result<(tempfile::NamedTempFile, Workbook), WorkbookError> {
        let clean = tempfile::NamedTempFile::new().map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
        workbook::unpack_checked(self.file.path(), clean.path(), max_bytes)?;
        let opened = Workbook::open(clean.path())?;
        Ok((clean, opened))
    }

    async fn finished(mut self) -> std::io::Result<Self> {
        use tokio::io::AsyncWriteExt;
        self.writer.flush().await?;
        Ok(self)
    }

    /// The preview of `sheet` (the first when `None`) and its data rows.
    async fn sniff(self, kind: WorkbookKind, sheet: Option<String>, max_bytes: u64) -> Result<(Sniffed, u64), ImportError> {
        let spill = self.finished().await.map_err(disk_failed)?;
        let read = tokio::task::spawn_blocking(move || {
            let (_clean, mut opened) = spill.open(max_bytes)?;
            opened.sniff(kind, sheet.as_deref())
        });
        match read.await {
            Ok(sniffed) => sniffed.map_err(not_readable),
            Err(failure) => std::panic::resume_unwind(failure.into_panic()),
        }
    }

    /// The rows of `sheet`, read on a blocking thread a bounded number ahead;
    /// a failure to read arrives as the last message.
    pub async fn rows(self, sheet: String, max_bytes: u64) -> Result<tokio::sync::mpsc::Receiver<Result<RawRecord, String>>, SpillError> {
        let spill = self.finished().await.map_err(SpillError::Disk)?;
        let (sender, receiver) = tokio::sync::mpsc::channel(WORKBOOK_ROWS_AHEAD);
        tokio::task::spawn_blocking(move || {
            let read = spill.open(max_bytes).and_then(|(_clean, mut opened)| {
                // A send fails once the import stopped listening: stop reading too.
                opened.rows(&sheet, |record| sender.blocking_send(Ok(record)).is_ok())
            });
            if let Err(error) = read {
                let _ = sender.blocking_send(Err(error.to_string()));
            }
        });
        Ok(receiver)
    }
}

/// Reads another sheet of an uploaded workbook: its preview replaces the upload's.
pub async fn choose_sheet(services: &Services, user_id: i64, upload_id: &str, sheet: &str) -> Result<UploadPreview, ImportError> {
    let upload = services.store.upload_meta(user_id, upload_id).await?.ok_or(ImportError::NotFound)?;
    let FileFormat::Workbook { kind, .. } = upload.sniffed.format else {
        return Err(ImportError::NotCsv { reason: "Only a workbook has sheets to choose from.".to_owned() });
    };
    let spill = SpilledUpload::from_store(services, upload_id).await?.ok_or(ImportError::NotFound)?;
    let (sniffed, data_rows) = spill.sniff(kind, Some(sheet.to_owned()), services.config.import_max_upload_bytes).await?;
    let meta = UploadMeta { sniffed, data_rows, ..upload };
    services.store.finish_upload(upload_id, &meta).await?;
    info!(user_id, upload_id, sheet, rows = data_rows, "sheet chosen");
    Ok(preview(upload_id.to_owned(), meta))
}

fn preview(upload_id: String, meta: UploadMeta) -> UploadPreview {
    let (preset, mapping) = mapping::detect(&meta.sniffed.headers);
    UploadPreview {
        upload_id,
        file_name: meta.file_name,
        byte_size: meta.byte_size,
        data_rows: meta.data_rows,
        format: meta.sniffed.format.label(),
        is_vcard: matches!(meta.sniffed.format, FileFormat::VCard { .. }),
        encoding: match meta.sniffed.format {
            FileFormat::Workbook { .. } => String::new(),
            _ => meta.sniffed.encoding.label().to_owned(),
        },
        delimiter: match meta.sniffed.format {
            FileFormat::Delimited => meta.sniffed.delimiter.label().to_owned(),
            _ => String::new(),
        },
        header_line: meta.sniffed.header_line,
        headers: meta.sniffed.headers,
        preset: preset.label().to_owned(),
        mapping,
        sample_rows: meta.sniffed.sample_rows,
        sheets: match &meta.sniffed.format {
            FileFormat::Workbook { sheets, .. } => sheets.clone(),
            _ => Vec::new(),
        },
        sheet: match &meta.sniffed.format {
            FileFormat::Workbook { sheet, .. } => Some(sheet.clone()),
            _ => None,
        },
    }
}

/// A mapping from the client is checked against the file it is for.
fn checked_mapping(mapping: Mapping, headers: &[String]) -> Result<Mapping, ImportError> {
    if mapping.columns.len() != headers.len() {
        return Err(ImportError::InvalidMapping {
            reason: format!("The mapping has {} columns but the file has {}.", mapping.columns.len(), headers.len()),
        });
    }
    let identifies = mapping.columns.iter().flatten().any(|field| {
        matches!(field, Field::FullName | Field::GivenName | Field::FamilyName | Field::Email | Field::Phone)
    });
    if !identifies {
        return Err(ImportError::InvalidMapping {
            reason: "Map at least one column to a name, an email or a phone.".to_owned(),
        });
    }
    Ok(mapping)
}

/// The one start path: the page's `start_import` and `POST /api/imports` both end here.
/// `mapping` is the preview's (possibly edited) mapping; `None` takes the detected one.
pub async fn start_import(
    services: &Services,
    user_id: i64,
    upload_id: &str,
    mapping: Option<Mapping>,
) -> Result<StartedImport, ImportError> {
    let upload = services.store.upload_meta(user_id, upload_id).await?.ok_or(ImportError::NotFound)?;
    let mapping = match mapping {
        Some(mapping) => checked_mapping(mapping, &upload.sniffed.headers)?,
        None => checked_mapping(mapping::detect(&upload.sniffed.headers).1, &upload.sniffed.headers)?,
    };
    let new = NewImport {
        id: uuid::Uuid::new_v4().to_string(),
        user_id,
        upload_id: upload_id.to_owned(),
        file_name: upload.file_name,
        sniffed: upload.sniffed,
        mapping,
        rows_total: upload.data_rows,
    };
    claim_slot(services, &new).await?;
    telemetry::import_started();
    info!(user_id, import_id = %new.id, rows = new.rows_total, "import queued");
    services.work_queued.notify_one();
    Ok(StartedImport { status_url: format!("/api/imports/{}", new.id), import_id: new.id })
}

/// Takes the user's single import slot. The insert is the check: the partial unique
/// index refuses a second active import, and only then is the holder judged, with
/// the database's clock read along with it.
async fn claim_slot(services: &Services, new: &NewImport) -> Result<(), ImportError> {
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
                    telemetry::import_finished(crate::model::ImportStatus::Abandoned);
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

    #[test]
    fn search_text_is_bounded_and_printable() {
        assert_eq!(checked_search("Ada Lovelace"), Ok("Ada Lovelace"));
        assert!(matches!(checked_search("a\0b"), Err(ImportError::InvalidSearch { .. })));
        assert!(matches!(checked_search(&"x".repeat(MAX_SEARCH_CHARS + 1)), Err(ImportError::InvalidSearch { .. })));
    }

    #[test]
    fn file_names_lose_their_paths() {
        assert_eq!(clean_file_name(Some("C:\\Users\\me\\contacts.csv")), "contacts.csv");
        assert_eq!(clean_file_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_file_name(None), "upload.csv");
        assert_eq!(clean_file_name(Some("a\u{0}b.csv")), "ab.csv");
    }

    #[test]
    fn utf8_is_checked_across_chunks() {
        let text = "Zoë,Jürgen\n".repeat(3);
        for split in 0..text.len() {
            let mut check = Utf8Check::new();
            check.feed(&text.as_bytes()[..split]);
            check.feed(&text.as_bytes()[split..]);
            assert!(check.finish(), "split at {split}");
        }
        let mut check = Utf8Check::new();
        check.feed(b"Name\nM\xfcller\n");
        assert!(!check.finish());
        let mut cut = Utf8Check::new();
        cut.feed(b"Zo\xc3");
        assert!(!cut.finish(), "a file may not end inside a character");
    }

    #[test]
    fn a_mapping_must_identify_someone() {
        let headers = vec!["Notes".to_owned(), "Email".to_owned()];
        let notes_only = Mapping { columns: vec![Some(Field::Notes), None] };
        assert!(matches!(checked_mapping(notes_only, &headers), Err(ImportError::InvalidMapping { .. })));
        let wrong_width = Mapping { columns: vec![Some(Field::Email)] };
        assert!(matches!(checked_mapping(wrong_width, &headers), Err(ImportError::InvalidMapping { .. })));
        let fine = Mapping { columns: vec![Some(Field::Notes), Some(Field::Email)] };
        assert!(checked_mapping(fine, &headers).is_ok());
    }
}
