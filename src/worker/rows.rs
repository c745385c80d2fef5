//! Where an import's records come from: a text upload read chunk by chunk
//! from storage and parsed a slice at a time on blocking threads, or a
//! workbook's sheet read from a copy on disk.

use super::outcomes::RunError;
use crate::domain::format::{FileFormat, RawRecord, FEED_SLICE_BYTES};
use crate::domain::records::TextRecordReader;
use crate::services::Services;
use crate::store::ClaimedImport;
use crate::uploads::SpilledUpload;

/// Where an import's records come from.
pub(super) struct RowSource<'a>(Source<'a>);

enum Source<'a> {
    Text(UploadRows<'a>),
    Workbook(WorkbookRows<'a>),
}

impl<'a> RowSource<'a> {
    pub(super) fn new(services: &'a Services, claimed: &'a ClaimedImport) -> Self {
        RowSource(match &claimed.sniffed.format {
            FileFormat::Workbook { sheet, .. } => Source::Workbook(WorkbookRows {
                services,
                upload_id: &claimed.upload_id,
                sheet,
                rows: None,
            }),
            _ => Source::Text(UploadRows::new(services, claimed)),
        })
    }

    /// Appends the next records to `out`; false once the file is exhausted.
    pub(super) async fn fill(&mut self, out: &mut Vec<RawRecord>) -> Result<bool, RunError> {
        match &mut self.0 {
            Source::Text(rows) => rows.fill(out).await,
            Source::Workbook(rows) => rows.fill(out).await,
        }
    }
}

/// A workbook sheet's rows: the upload is copied to disk, then a blocking
/// thread reads the sheet a bounded number of rows ahead.
struct WorkbookRows<'a> {
    services: &'a Services,
    upload_id: &'a str,
    sheet: &'a str,
    rows: Option<tokio::sync::mpsc::Receiver<Result<RawRecord, String>>>,
}

/// Records taken from a workbook's reading thread per fill.
const WORKBOOK_ROWS_PER_FILL: usize = 512;

impl WorkbookRows<'_> {
    async fn fill(&mut self, out: &mut Vec<RawRecord>) -> Result<bool, RunError> {
        let rows = match &mut self.rows {
            Some(rows) => rows,
            None => {
                let place = self.services.workbook_reads.take().await;
                let spill = SpilledUpload::from_store(self.services, self.upload_id, place).await?;
                let spill = spill.ok_or_else(|| RunError::Unfinishable("The uploaded file is missing.".to_owned()))?;
                let limits = self.services.config.workbook_limits();
                self.rows.insert(spill.rows(self.sheet.to_owned(), limits).await?)
            }
        };
        let Some(first) = rows.recv().await else { return Ok(false) };
        out.push(first.map_err(RunError::Unfinishable)?);
        while out.len() < WORKBOOK_ROWS_PER_FILL {
            match rows.try_recv() {
                Ok(record) => out.push(record.map_err(RunError::Unfinishable)?),
                Err(_) => break,
            }
        }
        Ok(true)
    }
}

/// The data rows of a text upload, read chunk by chunk from storage and parsed
/// a slice at a time.
struct UploadRows<'a> {
    services: &'a Services,
    upload_id: &'a str,
    /// `None` only while a slice is parsed on a blocking thread.
    reader: Option<Box<TextRecordReader>>,
    /// The stored chunk being parsed, and how far.
    chunk: Vec<u8>,
    parsed: usize,
    next_chunk: i64,
    done: bool,
}


impl<'a> UploadRows<'a> {
    fn new(services: &'a Services, claimed: &'a ClaimedImport) -> Self {
        Self {
            services,
            upload_id: &claimed.upload_id,
            reader: Some(Box::new(TextRecordReader::new(&claimed.sniffed))),
            chunk: Vec::new(),
            parsed: 0,
            next_chunk: 0,
            done: false,
        }
    }

    /// Appends the next records to `out`; false once the file is exhausted.
    /// Decoding and splitting is CPU work, so it runs on a blocking thread,
    /// where it cannot starve the requests the runtime serves.
    async fn fill(&mut self, out: &mut Vec<RawRecord>) -> Result<bool, RunError> {
        if self.done {
            return Ok(false);
        }
        if self.parsed == self.chunk.len() {
            match self.services.store.upload_chunk(self.upload_id, self.next_chunk).await? {
                Some(bytes) => {
                    self.next_chunk += 1;
                    self.chunk = bytes;
                }
                None if self.next_chunk == 0 => return Err(RunError::Unfinishable("The uploaded file is missing.".to_owned())),
                None => {
                    self.done = true;
                    self.chunk.clear();
                }
            }
            self.parsed = 0;
        }
        // Only a dropped `fill` (and with it this whole run) keeps the reader away.
        let mut reader = self.reader.take().expect("the record reader is back after every parse");
        let last = self.done;
        let (chunk, from) = (std::mem::take(&mut self.chunk), self.parsed);
        let to = chunk.len().min(from + FEED_SLICE_BYTES);
        let mut records = std::mem::take(out);
        let parsed = tokio::task::spawn_blocking(move || {
            reader.feed(&chunk[from..to], last, &mut records);
            (reader, records, chunk)
        })
        .await;
        match parsed {
            Ok((reader, records, chunk)) => {
                #[cfg(feature = "test-hooks")]
                crate::test_hooks::records_parsed(records.len());
                self.reader = Some(reader);
                self.chunk = chunk;
                self.parsed = to;
                *out = records;
                Ok(true)
            }
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
}
