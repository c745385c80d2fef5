//! Receiving an upload: the multipart field streamed into storage in chunks,
//! its start sniffed and its rows counted on the way, a workbook spilled to disk
//! and read there, and the preview the page shows.
//!
//! What one person's uploads may cost is bounded three ways:
//! - bytes stored: each chunk reserves its bytes against the person's quota in
//!   the database, in the transaction that stores it, so parallel uploads share
//!   the quota instead of each seeing all of it;
//! - uploads at once: `IMPORT_MAX_CONCURRENT_UPLOADS_PER_USER` per instance;
//! - temporary disk: a workbook read takes one of `IMPORT_MAX_WORKBOOK_READS`
//!   places per instance, each up to twice the upload cap on disk.

use crate::request_body::BodyCutShort;
use crate::domain::format::{FileFormat, RawRecord, Sniffed, TextEncoding, WorkbookKind, FEED_SLICE_BYTES};
use crate::domain::preview::{self, MappingSummary};
use crate::domain::vcard::card::Census;
use crate::domain::records::TextRecordReader;
use crate::domain::sniff::{self, SNIFF_BYTES};
use crate::domain::workbook::{self, Workbook, WorkbookError, WorkbookLimits};
use crate::error::ImportError;
use crate::model::UploadPreview;
use crate::services::Services;
use crate::store::{ChunkOutcome, StoreError, UploadChunk, UploadMeta};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tracing::{error, info};

/// Uploads are stored in chunks of this size, so no instance ever holds a whole
/// file; each chunk is copied a few times on its way in and out of the database
/// (a megabyte cost a file of invalid rows 4 MiB more, issue 21).
pub const UPLOAD_CHUNK_BYTES: usize = 256 * 1024;

/// Rows a workbook's reading thread may have sent ahead of the import.
const WORKBOOK_ROWS_AHEAD: usize = 1024;

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

/// Keeps the last path segment of a browser-supplied name, within a sane length.
fn clean_file_name(name: Option<&str>) -> String {
    let name = name.unwrap_or_default();
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let base: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if base.is_empty() { "upload.csv".to_owned() } else { base }
}

/// Streams the multipart field `file` into a new upload of `user_id`, and returns
/// its id and what the preview shows. The form has that one part: any other is
/// refused before it is read. A refused upload leaves nothing stored.
pub async fn receive(services: &Services, user_id: i64, upload_id: &str, body: UploadBody<'_>, sheet: Option<&str>) -> Result<UploadMeta, ImportError> {
    let UploadBody { mut multipart, cut_short, declared_bytes } = body;
    let Some(mut field) = multipart.next_field().await.map_err(|e| malformed(e, cut_short.as_ref()))? else {
        return Err(ImportError::MalformedUpload { reason: "the form has no field named `file`.".to_owned() });
    };
    if field.name() != Some("file") {
        return Err(only_the_file_part());
    }
    let quota = services.config.import_max_stored_bytes_per_user;
    if services.store.user_upload_bytes(user_id).await? >= quota {
        return Err(ImportError::UploadQuotaReached { limit_bytes: quota });
    }
    let file_name = clean_file_name(field.file_name());
    services.store.create_upload(upload_id, user_id, &file_name, services.now()).await?;
    // A declared length is reserved up front: of parallel uploads that do not
    // all fit, the first ones go through and the others stop at once.
    let ahead = match declared_bytes {
        Some(declared) => {
            let total = declared.min(services.config.import_max_upload_bytes);
            let quota = services.config.import_max_stored_bytes_per_user;
            services.store.reserve_upload_bytes(upload_id, user_id, total, quota).await.map_err(ImportError::from).and_then(|o| reserved(services, o))
        }
        None => Ok(()),
    };
    let received = match ahead {
        Ok(()) => store_file(services, user_id, upload_id, &mut field, cut_short.as_ref(), sheet).await,
        Err(refused) => Err(refused),
    };
    let meta = match received {
        Ok(stats) => UploadMeta { file_name, byte_size: stats.bytes, sniffed: stats.sniffed, data_rows: stats.data_rows },
        Err(failure) => {
            services.store.delete_upload(upload_id).await?;
            info!(user_id, %failure, "upload refused");
            return Err(failure);
        }
    };
    services.store.finish_upload(upload_id, &meta).await?;
    info!(user_id, upload_id, bytes = meta.byte_size, rows = meta.data_rows, "upload stored");
    Ok(meta)
}

/// An upload's multipart body, as the web handler found it.
pub struct UploadBody<'a> {
    pub multipart: multer::Multipart<'a>,
    /// Why the request guard cut the body short, if it did.
    pub cut_short: Option<BodyCutShort>,
    /// The request's `Content-Length`, when it had one.
    pub declared_bytes: Option<u64>,
}

/// The page's first step: an upload to preview; nothing starts yet.
pub async fn upload_for_preview(services: &Services, user_id: i64, body: UploadBody<'_>) -> Result<UploadPreview, ImportError> {
    let _slot = services.upload_slots.take(user_id, services.config.import_max_concurrent_uploads_per_user)?;
    let upload_id = uuid::Uuid::new_v4().to_string();
    let meta = receive(services, user_id, &upload_id, body, None).await?;
    Ok(preview(upload_id, meta))
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

/// What the upload's text says as it passes: its format from its start, then
/// its records counted and its UTF-8 checked. CPU work, run on a blocking
/// thread a stored chunk at a time.
struct TextInspection {
    sniffed: Option<Sniffed>,
    reader: Option<TextRecordReader>,
    records: u64,
    /// A vCard's property kinds, over every card.
    census: Census,
    scratch: Vec<RawRecord>,
    utf8: Utf8Check,
    ascii_start: bool,
}

impl TextInspection {
    fn new() -> Self {
        Self { sniffed: None, reader: None, records: 0, census: Census::default(), scratch: Vec::new(), utf8: Utf8Check::new(), ascii_start: false }
    }

    /// Takes the next stored chunk; the first one holds the file's start
    /// (`SNIFF_BYTES`, or all of a smaller file).
    fn feed(&mut self, bytes: &[u8], last: bool) -> Result<(), ImportError> {
        #[cfg(feature = "test-hooks")]
        crate::test_hooks::upload_inspected(bytes.len());
        self.utf8.feed(bytes);
        let reader = match &mut self.reader {
            Some(reader) => reader,
            None => {
                let prefix = &bytes[..bytes.len().min(SNIFF_BYTES)];
                self.ascii_start = prefix.is_ascii();
                let found = sniff::sniff(prefix, last && bytes.len() <= SNIFF_BYTES)
                    .map_err(|e| ImportError::NotCsv { reason: e.to_string() })?;
                let reader = self.reader.insert(TextRecordReader::counting(&found));
                self.sniffed = Some(found);
                reader
            }
        };
        let is_vcard = matches!(reader, TextRecordReader::VCard(_));
        let mut slices = bytes.chunks(FEED_SLICE_BYTES).peekable();
        if slices.peek().is_none() {
            reader.feed(&[], last, &mut self.scratch);
        }
        loop {
            if is_vcard {
                self.scratch.iter().filter(|card| card.problem.is_none()).for_each(|card| self.census.add(card));
            }
            self.records += self.scratch.len() as u64;
            self.scratch.clear();
            let Some(slice) = slices.next() else { break };
            reader.feed(slice, last && slices.peek().is_none(), &mut self.scratch);
        }
        Ok(())
    }

    fn finish(self) -> Result<(Sniffed, u64), ImportError> {
        let mut sniffed = self.sniffed.ok_or_else(|| ImportError::NotCsv { reason: sniff::SniffError::Empty.to_string() })?;
        // Delimiters, quotes and line ends are ASCII in both, so the row count stands.
        if sniffed.encoding == TextEncoding::Utf8 && self.ascii_start && !self.utf8.finish() {
            sniffed.encoding = TextEncoding::Windows1252;
        }
        if matches!(sniffed.format, FileFormat::VCard { .. }) {
            sniff::show_census(&mut sniffed, self.census);
        }
        let data_rows = self.records.saturating_sub(sniffed.first_data_record());
        Ok((sniffed, data_rows))
    }
}

/// How the upload's bytes are being read, once its start said what it is.
enum Reading {
    /// Not known yet: the first chunk decides.
    Undecided,
    Text(Box<TextInspection>),
    Workbook(WorkbookKind, SpilledUpload),
}

async fn store_file(
    services: &Services,
    user_id: i64,
    upload_id: &str,
    field: &mut multer::Field<'_>,
    cut_short: Option<&BodyCutShort>,
    sheet: Option<&str>,
) -> Result<StoredFile, ImportError> {
    let limit = services.config.import_max_upload_bytes;
    let mut pending: Vec<u8> = Vec::with_capacity(UPLOAD_CHUNK_BYTES + 64 * 1024);
    let mut bytes = 0u64;
    let mut seq = 0i64;
    let mut reading = Reading::Undecided;
    loop {
        let chunk = field.chunk().await.map_err(|e| malformed(e, cut_short))?;
        let last = chunk.is_none();
        if let Some(chunk) = &chunk {
            bytes += chunk.len() as u64;
            if bytes > limit {
                return Err(ImportError::TooLarge { limit_bytes: limit });
            }
            pending.extend_from_slice(chunk);
        }
        // The first chunk stored is the file's start, so that sniffing sees it whole.
        let due = if seq == 0 { SNIFF_BYTES } else { UPLOAD_CHUNK_BYTES };
        if pending.len() >= due || last {
            if matches!(reading, Reading::Undecided) {
                reading = match WorkbookKind::of(&pending[..pending.len().min(SNIFF_BYTES)]) {
                    Some(kind) => {
                        workbook::check_supported(kind).map_err(not_readable)?;
                        let place = services.workbook_reads.try_take(services.config.import_max_workbook_reads)?;
                        Reading::Workbook(kind, SpilledUpload::new(place).map_err(disk_failed)?)
                    }
                    None => Reading::Text(Box::new(TextInspection::new())),
                };
            }
            // Shared, not copied: the inspection's thread and the chunk's write read the same bytes.
            let stored = Arc::new(std::mem::take(&mut pending));
            let chunk = UploadChunk { upload_id, user_id, seq, data: &stored, stored_after: bytes };
            let (inspected, kept) = tokio::join!(inspect(&mut reading, stored.clone(), last), async {
                if stored.is_empty() {
                    return Ok(());
                }
                keep_chunk(services, chunk).await
            });
            inspected?;
            kept?;
            pending = Arc::try_unwrap(stored).unwrap_or_default();
            pending.clear();
            seq += 1;
        }
        if last {
            break;
        }
    }
    let (sniffed, data_rows) = match reading {
        Reading::Workbook(kind, spill) => spill.sniff(kind, sheet.map(str::to_owned), services.config.workbook_limits()).await?,
        Reading::Text(inspection) => inspection.finish()?,
        Reading::Undecided => return Err(ImportError::NotCsv { reason: sniff::SniffError::Empty.to_string() }),
    };
    Ok(StoredFile { bytes, sniffed, data_rows })
}

/// Looks at a stored chunk as the reading needs: text on a blocking thread,
/// a workbook copied to its file on disk.
async fn inspect(reading: &mut Reading, chunk: Arc<Vec<u8>>, last: bool) -> Result<(), ImportError> {
    match reading {
        Reading::Undecided => Ok(()),
        Reading::Workbook(_, spill) => spill.write(&chunk).await.map_err(disk_failed),
        Reading::Text(inspection) => {
            let mut taken = std::mem::replace(inspection, Box::new(TextInspection::new()));
            let bytes = chunk;
            let done = tokio::task::spawn_blocking(move || {
                let fed = taken.feed(&bytes, last);
                (taken, fed)
            })
            .await;
            match done {
                Ok((back, fed)) => {
                    *inspection = back;
                    fed
                }
                Err(failure) => std::panic::resume_unwind(failure.into_panic()),
            }
        }
    }
}

/// Stores one chunk, the bytes stored so far reserved against the person's quota in the same transaction.
async fn keep_chunk(services: &Services, chunk: UploadChunk<'_>) -> Result<(), ImportError> {
    let quota = services.config.import_max_stored_bytes_per_user;
    reserved(services, services.store.append_upload_chunk(&chunk, quota).await?)
}

fn reserved(services: &Services, outcome: ChunkOutcome) -> Result<(), ImportError> {
    match outcome {
        ChunkOutcome::Stored => Ok(()),
        ChunkOutcome::QuotaReached => {
            Err(ImportError::UploadQuotaReached { limit_bytes: services.config.import_max_stored_bytes_per_user })
        }
        ChunkOutcome::UploadGone => Err(ImportError::UploadGone),
    }
}

fn not_readable(error: WorkbookError) -> ImportError {
    ImportError::NotCsv { reason: error.to_string() }
}

fn disk_failed(error: std::io::Error) -> ImportError {
    error!(%error, "a temporary file for a workbook failed");
    ImportError::Internal
}

/// A workbook's bytes on disk while it is read: a zip is read by seeking, and
/// the upload itself stays in the database in chunks. It holds one of the
/// instance's workbook read places until dropped.
pub struct SpilledUpload {
    file: tempfile::NamedTempFile,
    writer: tokio::fs::File,
    _place: OwnedSemaphorePermit,
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

impl SpilledUpload {
    fn new(place: OwnedSemaphorePermit) -> std::io::Result<Self> {
        let file = tempfile::NamedTempFile::new()?;
        let writer = tokio::fs::File::from_std(file.reopen()?);
        Ok(Self { file, writer, _place: place })
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.writer.write_all(bytes).await
    }

    /// The stored upload copied to disk, chunk by chunk, in `place`; `None` when it has no chunks.
    pub async fn from_store(services: &Services, upload_id: &str, place: OwnedSemaphorePermit) -> Result<Option<Self>, SpillError> {
        let mut spill = Self::new(place).map_err(SpillError::Disk)?;
        let mut seq = 0;
        while let Some(chunk) = services.store.upload_chunk(upload_id, seq).await.map_err(SpillError::Store)? {
            spill.write(&chunk).await.map_err(SpillError::Disk)?;
            seq += 1;
        }
        Ok((seq > 0).then_some(spill))
    }

    /// Checks and unpacks the workbook (on the blocking thread that calls this).
    fn open(&self, limits: WorkbookLimits) -> Result<(tempfile::NamedTempFile, Workbook), WorkbookError> {
        let clean = tempfile::NamedTempFile::new().map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
        workbook::unpack_checked(self.file.path(), clean.path(), limits)?;
        let opened = Workbook::open(clean.path())?;
        Ok((clean, opened))
    }

    async fn finished(mut self) -> std::io::Result<Self> {
        use tokio::io::AsyncWriteExt;
        self.writer.flush().await?;
        Ok(self)
    }

    /// The preview of `sheet` (the first when `None`) and its data rows.
    async fn sniff(self, kind: WorkbookKind, sheet: Option<String>, limits: WorkbookLimits) -> Result<(Sniffed, u64), ImportError> {
        let spill = self.finished().await.map_err(disk_failed)?;
        let read = tokio::task::spawn_blocking(move || {
            let (_clean, mut opened) = spill.open(limits)?;
            opened.sniff(kind, sheet.as_deref())
        });
        match read.await {
            Ok(sniffed) => sniffed.map_err(not_readable),
            Err(failure) => std::panic::resume_unwind(failure.into_panic()),
        }
    }

    /// The rows of `sheet`, read on a blocking thread a bounded number ahead;
    /// a failure to read arrives as the last message.
    pub async fn rows(self, sheet: String, limits: WorkbookLimits) -> Result<tokio::sync::mpsc::Receiver<Result<RawRecord, String>>, SpillError> {
        let spill = self.finished().await.map_err(SpillError::Disk)?;
        let (sender, receiver) = tokio::sync::mpsc::channel(WORKBOOK_ROWS_AHEAD);
        tokio::task::spawn_blocking(move || {
            let read = spill.open(limits).and_then(|(_clean, mut opened)| {
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
    let _slot = services.upload_slots.take(user_id, services.config.import_max_concurrent_uploads_per_user)?;
    let place = services.workbook_reads.try_take(services.config.import_max_workbook_reads)?;
    let spill = SpilledUpload::from_store(services, upload_id, place).await?.ok_or(ImportError::NotFound)?;
    let (sniffed, data_rows) = spill.sniff(kind, Some(sheet.to_owned()), services.config.workbook_limits()).await?;
    let meta = UploadMeta { sniffed, data_rows, ..upload };
    services.store.finish_upload(upload_id, &meta).await?;
    info!(user_id, upload_id, sheet, rows = data_rows, "sheet chosen");
    Ok(preview(upload_id.to_owned(), meta))
}

pub fn preview(upload_id: String, meta: UploadMeta) -> UploadPreview {
    let (preset, mapping) = preview::detect(&meta.sniffed);
    let is_vcard = matches!(meta.sniffed.format, FileFormat::VCard { .. });
    UploadPreview {
        columns: preview::columns(&meta.sniffed, &mapping),
        shared_choices: preview::shared_choices(is_vcard),
        summary: MappingSummary::of(&mapping, is_vcard),
        upload_id,
        file_name: meta.file_name,
        byte_size: meta.byte_size,
        data_rows: meta.data_rows,
        format: meta.sniffed.format.label(),
        is_vcard,
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn text_is_inspected_a_stored_chunk_at_a_time() {
        let file = "Name,Email\nAna,ana@x.io\nBo,bo@x.io\n".repeat(1000);
        let mut inspection = TextInspection::new();
        let (first, rest) = file.as_bytes().split_at(SNIFF_BYTES.min(file.len() / 2));
        inspection.feed(first, false).unwrap();
        inspection.feed(rest, true).unwrap();
        let (sniffed, rows) = inspection.finish().unwrap();
        assert_eq!(sniffed.headers, ["Name", "Email"]);
        assert_eq!(rows, 2999, "every record after the header, the repeated headers among them");
    }
}
