//! Excel workbooks (.xlsx) read as records, through `calamine`.
//!
//! A workbook is a zip, so it is read from a file, never as it streams in. Its
//! central directory is checked first (entries and bytes, read a header at a
//! time), since the zip reader holds it whole. Its XML parts are then copied
//! out of the upload into a clean zip, each decompressed only up to its
//! declared size and all of them within the upload byte cap: a zip bomb stops
//! there. The parts calamine reads whole (shared strings, styles, the sheet
//! list: all but the sheets) are held to a smaller cap of their own. calamine
//! then streams the chosen sheet's cells
//! ([`calamine::Xlsx::worksheet_cells_reader`]); rows are built one at a
//! time, within the CSV reader's field and column caps, and handed on.

use super::format::{FileFormat, RawRecord, RecordProblem, Sniffed, WorkbookKind, MAX_FIELDS, MAX_FIELD_BYTES};
use super::sniff::{self, SniffError};
use calamine::{DataRef, Reader, Xlsx};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Rows given to header detection, as many as the sniffer sees of a text file.
const SNIFF_ROWS: usize = 50;

/// Entries a workbook's zip may hold: a real one has a few dozen.
pub const MAX_ENTRIES: u64 = 10_000;
/// Bytes of a workbook's central directory (the entries' names and headers),
/// which the zip reader holds whole.
pub const MAX_DIRECTORY_BYTES: u64 = 1024 * 1024;
/// Sheets a workbook may list.
pub const MAX_SHEETS: usize = 256;
/// Characters of a sheet name that are kept (Excel allows 31).
const MAX_SHEET_NAME_CHARS: usize = 100;

/// What one workbook may cost to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkbookLimits {
    /// All XML parts together, unpacked (`IMPORT_MAX_UPLOAD_BYTES`).
    pub max_bytes: u64,
    /// The parts read whole, together, unpacked (`IMPORT_MAX_WORKBOOK_WHOLE_PARTS_BYTES`).
    pub max_whole_part_bytes: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorkbookError {
    #[error("This workbook could not be read ({0}).")]
    Unreadable(String),
    #[error("This workbook holds more than {limit_bytes} bytes once unpacked.")]
    TooLarge { limit_bytes: u64 },
    #[error("This workbook's shared strings, styles and sheet list hold more than {limit_bytes} bytes once unpacked (IMPORT_MAX_WORKBOOK_WHOLE_PARTS_BYTES); save the sheet as CSV.")]
    WholePartsTooLarge { limit_bytes: u64 },
    #[error("This workbook's zip lists more than {MAX_ENTRIES} files or {MAX_DIRECTORY_BYTES} bytes of file names and headers.")]
    TooManyEntries,
    #[error("This workbook has more than {MAX_SHEETS} sheets.")]
    TooManySheets,
    #[error("This workbook has no sheet named \"{0}\".")]
    NoSuchSheet(String),
    #[error("{0} files cannot be read yet; save the sheet as .xlsx or CSV.")]
    Unsupported(&'static str),
    #[error("{0}")]
    Sniff(SniffError),
}

fn unreadable(error: impl std::fmt::Display) -> WorkbookError {
    WorkbookError::Unreadable(error.to_string())
}

/// Copies the parts calamine reads (`.xml`, `.rels`) from the zip at `upload`
/// into a new, uncompressed zip at `clean`. Each part is decompressed at most to
/// its declared size, and the declared sizes together stay within the limits.
pub fn unpack_checked(upload: &Path, clean: &Path, limits: WorkbookLimits) -> Result<(), WorkbookError> {
    check_central_directory(&mut BufReader::new(File::open(upload).map_err(unreadable)?))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(File::open(upload).map_err(unreadable)?)).map_err(unreadable)?;
    let mut writer = zip::ZipWriter::new(File::create(clean).map_err(unreadable)?);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut budget = limits.max_bytes;
    let mut whole_budget = limits.max_whole_part_bytes;
    for at in 0..archive.len() {
        let mut part = archive.by_index(at).map_err(unreadable)?;
        let name = part.name().map_err(unreadable)?.into_owned();
        if part.is_dir() || !(name.ends_with(".xml") || name.ends_with(".rels")) {
            continue; // images, thumbnails, macros: not read
        }
        let declared = part.size();
        budget = budget.checked_sub(declared).ok_or(WorkbookError::TooLarge { limit_bytes: limits.max_bytes })?;
        if !is_streamed(&name) {
            whole_budget = whole_budget
                .checked_sub(declared)
                .ok_or(WorkbookError::WholePartsTooLarge { limit_bytes: limits.max_whole_part_bytes })?;
        }
        writer.start_file(name, options).map_err(unreadable)?;
        // One byte more than declared shows a part that lies about its size.
        let copied = std::io::copy(&mut (&mut part).take(declared + 1), &mut writer).map_err(unreadable)?;
        if copied > declared {
            return Err(WorkbookError::TooLarge { limit_bytes: limits.max_bytes });
        }
    }
    writer.finish().map_err(unreadable)?.flush().map_err(unreadable)
}

/// Whether calamine streams this part (a sheet, `…/sheetN.xml`) rather than reading it whole.
fn is_streamed(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or_default().to_ascii_lowercase();
    file.strip_prefix("sheet")
        .and_then(|rest| rest.strip_suffix(".xml"))
        .is_some_and(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
}

/// The end-of-central-directory record's signature, and the zip64 one's.
const END_OF_DIRECTORY: [u8; 4] = *b"PK\x05\x06";
const ZIP64_END_OF_DIRECTORY: [u8; 4] = *b"PK\x06\x06";
const ZIP64_LOCATOR: [u8; 4] = *b"PK\x06\x07";
const DIRECTORY_ENTRY: [u8; 4] = *b"PK\x01\x02";
/// The end record is in the last 22 bytes and a comment of at most 65,535.
const END_SEARCH_BYTES: u64 = 22 + 65_535;

/// Refuses a zip whose central directory, as any end record in its tail
/// describes it, lists more than `MAX_ENTRIES` entries or `MAX_DIRECTORY_BYTES`
/// bytes, walking the entries' headers one at a time, so that the check itself
/// holds nothing. Every candidate end record is checked: the zip reader may
/// pick another than the last.
fn check_central_directory<R: Read + Seek>(file: &mut R) -> Result<(), WorkbookError> {
    let length = file.seek(SeekFrom::End(0)).map_err(unreadable)?;
    let tail_start = length.saturating_sub(END_SEARCH_BYTES);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(tail_start)).map_err(unreadable)?;
    file.take(END_SEARCH_BYTES).read_to_end(&mut tail).map_err(unreadable)?;
    let candidates: Vec<usize> = tail.windows(4).enumerate().filter(|(_, w)| *w == END_OF_DIRECTORY).map(|(at, _)| at).collect();
    for at in candidates {
        let Some(record) = tail.get(at..at + 22) else { continue };
        let (mut entries, mut size, mut offset) = (u16_at(record, 10) as u64, u32_at(record, 12) as u64, u32_at(record, 16) as u64);
        if entries == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            if let Some((entries64, size64, offset64)) = zip64_directory(file, tail_start + at as u64)? {
                (entries, size, offset) = (entries64, size64, offset64);
            }
        }
        if entries > MAX_ENTRIES || size > MAX_DIRECTORY_BYTES {
            return Err(WorkbookError::TooManyEntries);
        }
        walk_directory(file, offset, entries)?;
    }
    Ok(())
}

/// The zip64 end record's entries, size and offset, found through the locator before `end_at`.
fn zip64_directory<R: Read + Seek>(file: &mut R, end_at: u64) -> Result<Option<(u64, u64, u64)>, WorkbookError> {
    let Some(locator_at) = end_at.checked_sub(20) else { return Ok(None) };
    let mut locator = [0u8; 20];
    file.seek(SeekFrom::Start(locator_at)).map_err(unreadable)?;
    if file.read_exact(&mut locator).is_err() || locator[..4] != ZIP64_LOCATOR {
        return Ok(None);
    }
    let mut record = [0u8; 56];
    file.seek(SeekFrom::Start(u64_at(&locator, 8))).map_err(unreadable)?;
    if file.read_exact(&mut record).is_err() || record[..4] != ZIP64_END_OF_DIRECTORY {
        return Ok(None);
    }
    Ok(Some((u64_at(&record, 32), u64_at(&record, 40), u64_at(&record, 48))))
}

/// Reads `entries` directory headers from `offset`, adding up their bytes.
fn walk_directory<R: Read + Seek>(file: &mut R, offset: u64, entries: u64) -> Result<(), WorkbookError> {
    file.seek(SeekFrom::Start(offset)).map_err(unreadable)?;
    let mut total = 0u64;
    let mut header = [0u8; 46];
    for _ in 0..entries {
        if file.read_exact(&mut header).is_err() || header[..4] != DIRECTORY_ENTRY {
            return Ok(()); // not a directory here: the zip reader refuses it
        }
        let variable = u16_at(&header, 28) as i64 + u16_at(&header, 30) as i64 + u16_at(&header, 32) as i64;
        total += 46 + variable as u64;
        if total > MAX_DIRECTORY_BYTES {
            return Err(WorkbookError::TooManyEntries);
        }
        file.seek(SeekFrom::Current(variable)).map_err(unreadable)?;
    }
    Ok(())
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

pub struct Workbook {
    xlsx: Xlsx<BufReader<File>>,
    /// Each sheet's name as shown and stored, and as the workbook spells it.
    sheets: Vec<(String, String)>,
}

impl Workbook {
    /// Opens a zip written by [`unpack_checked`].
    pub fn open(clean: &Path) -> Result<Self, WorkbookError> {
        let file = BufReader::new(File::open(clean).map_err(unreadable)?);
        let xlsx: Xlsx<_> = Xlsx::new(file).map_err(unreadable)?;
        let names = xlsx.sheet_names();
        if names.len() > MAX_SHEETS {
            return Err(WorkbookError::TooManySheets);
        }
        let sheets = names.into_iter().map(|name| (shown_sheet_name(&name), name)).collect();
        Ok(Workbook { xlsx, sheets })
    }

    /// The sheets' names as shown: without control characters (a NUL cannot be
    /// stored on Postgres), and at most `MAX_SHEET_NAME_CHARS` long.
    pub fn sheet_names(&self) -> Vec<String> {
        self.sheets.iter().map(|(shown, _)| shown.clone()).collect()
    }

    /// Hands `each` the sheet's non-empty rows in order, until it returns
    /// false. A record's index counts those rows; its line is the sheet's row number.
    pub fn rows(&mut self, sheet: &str, mut each: impl FnMut(RawRecord) -> bool) -> Result<(), WorkbookError> {
        let Some((_, spelled)) = self.sheets.iter().find(|(shown, _)| shown == sheet) else {
            return Err(WorkbookError::NoSuchSheet(sheet.to_owned()));
        };
        let spelled = spelled.clone();
        let mut cells = self.xlsx.worksheet_cells_reader(&spelled).map_err(unreadable)?;
        let mut row = RowBuilder::default();
        let mut index = 0;
        while let Some(cell) = cells.next_cell().map_err(unreadable)? {
            let (at_row, column) = cell.get_position();
            if row.line != Some(u64::from(at_row) + 1) {
                if let Some(record) = row.finish(index) {
                    index += 1;
                    if !each(record) {
                        return Ok(());
                    }
                }
                row.line = Some(u64::from(at_row) + 1);
            }
            row.put(column as usize, cell_text(cell.get_value()));
        }
        if let Some(record) = row.finish(index) {
            each(record);
        }
        Ok(())
    }

    /// The preview of `sheet` (the first when `None`) and its data rows.
    pub fn sniff(&mut self, kind: WorkbookKind, sheet: Option<&str>) -> Result<(Sniffed, u64), WorkbookError> {
        let sheets = self.sheet_names();
        let sheet = match sheet {
            Some(name) => name.to_owned(),
            None => sheets.first().cloned().ok_or(WorkbookError::Sniff(SniffError::Empty))?,
        };
        let mut first = Vec::new();
        let mut records = 0u64;
        self.rows(&sheet, |record| {
            if first.len() < SNIFF_ROWS {
                first.push(record);
            }
            records += 1;
            true
        })?;
        let mut sniffed = sniff::sniff_rows(&first).map_err(WorkbookError::Sniff)?;
        sniffed.format = FileFormat::Workbook { kind, sheet, sheets };
        let data_rows = records.saturating_sub(sniffed.first_data_record());
        Ok((sniffed, data_rows))
    }
}

fn shown_sheet_name(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(MAX_SHEET_NAME_CHARS).collect()
}

/// Refuses workbook kinds this reader does not stream.
pub fn check_supported(kind: WorkbookKind) -> Result<(), WorkbookError> {
    match kind {
        WorkbookKind::Xlsx => Ok(()),
        WorkbookKind::Xls => Err(WorkbookError::Unsupported("Excel 97-2003 (.xls)")),
        WorkbookKind::Ods => Err(WorkbookError::Unsupported("OpenDocument (.ods)")),
    }
}

/// One sheet row as it is read, within the field and column caps.
#[derive(Default)]
struct RowBuilder {
    line: Option<u64>,
    fields: Vec<String>,
    problem: Option<RecordProblem>,
}

impl RowBuilder {
    fn put(&mut self, column: usize, mut text: String) {
        if text.is_empty() {
            return;
        }
        if column >= MAX_FIELDS {
            self.problem.get_or_insert(RecordProblem::TooManyFields);
            return;
        }
        if text.len() > MAX_FIELD_BYTES {
            let mut end = MAX_FIELD_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            self.problem.get_or_insert(RecordProblem::FieldTooLong { column });
        }
        if text.contains('\0') {
            self.problem.get_or_insert(RecordProblem::NulByte { column });
        }
        if self.fields.len() <= column {
            self.fields.resize(column + 1, String::new());
        }
        self.fields[column] = text;
    }

    /// The row so far as record `index`, or `None` when it holds nothing.
    fn finish(&mut self, index: u64) -> Option<RawRecord> {
        let line = self.line.take()?;
        let fields = std::mem::take(&mut self.fields);
        let problem = self.problem.take();
        (!fields.is_empty() || problem.is_some()).then_some(RawRecord { index, line, fields, problem, warnings: Vec::new() })
    }
}

/// A cell as text: whole numbers keep their digits (phone numbers stored as
/// numbers get no `.0` and no exponent) and dates become ISO 8601.
fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Int(number) => number.to_string(),
        // Display never writes an exponent; a whole number prints without ".0".
        DataRef::Float(number) if number.fract() == 0.0 && number.abs() < 1e18 => format!("{}", *number as i64),
        DataRef::Float(number) => number.to_string(),
        DataRef::String(text) => text.clone(),
        DataRef::SharedString(text) => (*text).to_owned(),
        DataRef::Bool(flag) => if *flag { "TRUE" } else { "FALSE" }.to_owned(),
        DataRef::DateTime(moment) => match moment.as_datetime() {
            Some(at) if at.time() == chrono::NaiveTime::MIN => at.date().format("%Y-%m-%d").to_string(),
            Some(at) => at.format("%Y-%m-%dT%H:%M:%S").to_string(),
            None => moment.as_f64().to_string(),
        },
        DataRef::DateTimeIso(text) | DataRef::DurationIso(text) => text.clone(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    }
}

/// Small .xlsx files written part by part, for tests: readable XML in the
/// source instead of binary fixtures.
#[cfg(feature = "test-hooks")]
pub mod fixture {
    use std::io::Write;

    pub enum Cell<'a> {
        Text(&'a str),
        Number(f64),
        /// An Excel date serial, shown with the built-in date format.
        Date(f64),
    }

    /// An .xlsx holding `sheets`, each a name and its rows (empty rows are left out).
    pub fn xlsx(sheets: &[(&str, Vec<Vec<Cell<'_>>>)]) -> Vec<u8> {
        let mut strings: Vec<String> = Vec::new();
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        let mut part = |name: &str, text: &str| {
            zip.start_file(name, options).expect("a zip entry");
            zip.write_all(text.as_bytes()).expect("zip bytes");
        };
        let overrides: String = (1..=sheets.len())
            .map(|n| format!(r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#))
            .collect();
        part("[Content_Types].xml", &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>{overrides}</Types>"#
        ));
        part("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#);
        let listed: String = sheets
            .iter()
            .enumerate()
            .map(|(n, (name, _))| format!(r#"<sheet name="{name}" sheetId="{}" r:id="rId{}"/>"#, n + 1, n + 1))
            .collect();
        part("xl/workbook.xml", &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{listed}</sheets></workbook>"#
        ));
        let rels: String = (1..=sheets.len())
            .map(|n| format!(r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#))
            .collect();
        part("xl/_rels/workbook.xml.rels", &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rIdT" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#
        ));
        part("xl/styles.xml", r#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>"#);
        for (n, (_, rows)) in sheets.iter().enumerate() {
            let mut data = String::new();
            for (r, row) in rows.iter().enumerate() {
                if row.is_empty() {
                    continue;
                }
                data.push_str(&format!(r#"<row r="{}">"#, r + 1));
                for (c, cell) in row.iter().enumerate() {
                    let at = format!("{}{}", column_name(c), r + 1);
                    data.push_str(&match cell {
                        Cell::Text(text) => {
                            strings.push(escape(text));
                            format!(r#"<c r="{at}" t="s"><v>{}</v></c>"#, strings.len() - 1)
                        }
                        Cell::Number(number) => format!(r#"<c r="{at}"><v>{number}</v></c>"#),
                        Cell::Date(serial) => format!(r#"<c r="{at}" s="1"><v>{serial}</v></c>"#),
                    });
                }
                data.push_str("</row>");
            }
            part(&format!("xl/worksheets/sheet{}.xml", n + 1), &format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#
            ));
        }
        let items: String = strings.iter().map(|s| format!("<si><t>{s}</t></si>")).collect();
        part("xl/sharedStrings.xml", &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{0}" uniqueCount="{0}">{items}</sst>"#,
            strings.len()
        ));
        zip.finish().expect("a finished zip").into_inner()
    }

    fn column_name(mut column: usize) -> String {
        let mut name = Vec::new();
        loop {
            name.push(b'A' + (column % 26) as u8);
            if column < 26 {
                break;
            }
            column = column / 26 - 1;
        }
        name.reverse();
        String::from_utf8(name).expect("ASCII letters")
    }

    fn escape(text: &str) -> String {
        text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{xlsx, Cell::*};
    use super::*;
    use crate::domain::mapping::{Field, Target};
    use crate::domain::presets::{detect_columns, Preset};

    /// Writes `bytes` as an upload, checks and opens it.
    fn open(bytes: &[u8], max_bytes: u64) -> Result<(tempfile::TempDir, Workbook), WorkbookError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("upload"), bytes).unwrap();
        let limits = WorkbookLimits { max_bytes, max_whole_part_bytes: max_bytes };
        unpack_checked(&dir.path().join("upload"), &dir.path().join("clean"), limits)?;
        let workbook = Workbook::open(&dir.path().join("clean"))?;
        Ok((dir, workbook))
    }

    fn all_rows(workbook: &mut Workbook, sheet: &str) -> Vec<RawRecord> {
        let mut rows = Vec::new();
        workbook.rows(sheet, |r| { rows.push(r); true }).unwrap();
        rows
    }

    fn german_export() -> Vec<u8> {
        xlsx(&[
            ("Kontakte", vec![
                vec![Text("Exportiert am 1. März")],
                vec![],
                vec![Text("Vorname"), Text("Nachname"), Text("E-Mail-Adresse"), Text("Mobiltelefon"), Text("Firma"), Text("Geburtstag")],
                vec![Text("Jürgen"), Text("Müller"), Text("j@example.de"), Number(4915112345678.0), Text("Acme & Co"), Date(29221.0)],
                vec![Text("Ana"), Text("Lima"), Text("ana@example.com"), Number(5511912345678.0), Number(1.5), Date(45000.5)],
            ]),
            ("Notes", vec![vec![Text("Name"), Text("Email")], vec![Text("Bo"), Text("bo@example.com")]]),
        ])
    }

    #[test]
    fn header_presets_phone_digits_and_iso_dates() {
        let (_dir, mut workbook) = open(&german_export(), 1 << 20).unwrap();
        assert_eq!(workbook.sheet_names(), vec!["Kontakte", "Notes"]);
        let (sniffed, data_rows) = workbook.sniff(WorkbookKind::Xlsx, None).unwrap();
        assert_eq!(data_rows, 2);
        assert_eq!((sniffed.header_index, sniffed.header_line), (1, 3));
        assert_eq!(sniffed.format.label(), "Excel workbook (.xlsx)");
        assert_eq!(sniffed.sample_rows[0], vec!["Jürgen", "Müller", "j@example.de", "4915112345678", "Acme & Co", "1980-01-01"]);
        assert_eq!(sniffed.sample_rows[1][4..], ["1.5", "2023-03-15T12:00:00"]);
        let (preset, mapping) = detect_columns(&sniffed.headers);
        assert_eq!(preset, Preset::OutlookGerman);
        assert_eq!(mapping.columns[3], Target::Field { field: Field::Phone, group: 0, label: "mobile".into() });
        let rows = all_rows(&mut workbook, "Kontakte");
        let lines: Vec<(u64, u64)> = rows.iter().map(|r| (r.index, r.line)).collect();
        assert_eq!(lines, vec![(0, 1), (1, 3), (2, 4), (3, 5)]);
    }

    #[test]
    fn another_sheet_can_be_chosen() {
        let (_dir, mut workbook) = open(&german_export(), 1 << 20).unwrap();
        let (sniffed, data_rows) = workbook.sniff(WorkbookKind::Xlsx, Some("Notes")).unwrap();
        assert_eq!((sniffed.headers.clone(), data_rows), (vec!["Name".to_owned(), "Email".to_owned()], 1));
        assert_eq!(
            sniffed.format,
            FileFormat::Workbook { kind: WorkbookKind::Xlsx, sheet: "Notes".to_owned(), sheets: vec!["Kontakte".to_owned(), "Notes".to_owned()] }
        );
        assert_eq!(workbook.sniff(WorkbookKind::Xlsx, Some("Nope")).unwrap_err(), WorkbookError::NoSuchSheet("Nope".to_owned()));
    }

    #[test]
    fn a_zip_bomb_stops_at_the_byte_cap() {
        let big = "x".repeat(2 << 20);
        let bomb = xlsx(&[("Sheet1", vec![vec![Text("Name")], vec![Text(&big)]])]);
        assert!(bomb.len() < 100 * 1024, "{} bytes compressed", bomb.len());
        assert_eq!(open(&bomb, 1 << 20).err(), Some(WorkbookError::TooLarge { limit_bytes: 1 << 20 }));
    }

    #[test]
    fn a_part_larger_than_it_declares_is_refused() {
        let mut bytes = xlsx(&[("Sheet1", vec![vec![Text("Name")], vec![Text(&"y".repeat(50_000))]])]);
        // Lower the declared size of the shared strings in the central directory.
        let name = b"xl/sharedStrings.xml";
        let at = bytes.windows(name.len()).rposition(|w| w == name).unwrap();
        let header = at - 46;
        assert_eq!(&bytes[header..header + 4], b"PK\x01\x02");
        bytes[header + 24..header + 28].copy_from_slice(&100u32.to_le_bytes());
        assert!(matches!(open(&bytes, 1 << 20).err(), Some(WorkbookError::TooLarge { .. } | WorkbookError::Unreadable(_))));
    }

    #[test]
    fn cells_and_columns_are_capped() {
        let long = "z".repeat(MAX_FIELD_BYTES + 5);
        let mut wide: Vec<_> = (0..MAX_FIELDS + 3).map(|_| Text("w")).collect();
        wide[0] = Text("wide");
        let bytes = xlsx(&[("S", vec![vec![Text("Name"), Text("Notes")], vec![Text("a"), Text(&long)], wide])]);
        let (_dir, mut workbook) = open(&bytes, 64 << 20).unwrap();
        let rows = all_rows(&mut workbook, "S");
        assert_eq!(rows[1].fields[1].len(), MAX_FIELD_BYTES);
        assert_eq!(rows[1].problem, Some(RecordProblem::FieldTooLong { column: 1 }));
        assert_eq!(rows[2].fields.len(), MAX_FIELDS);
        assert_eq!(rows[2].problem, Some(RecordProblem::TooManyFields));
    }

    #[test]
    fn shared_strings_past_their_cap_are_refused_though_the_sheet_fits() {
        let rows: Vec<Vec<_>> = (0..2000).map(|i| vec![Text(Box::leak(format!("person{i}@example.com").into_boxed_str()))]).collect();
        let bytes = xlsx(&[("S", rows)]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("upload"), &bytes).unwrap();
        let limits = WorkbookLimits { max_bytes: 64 << 20, max_whole_part_bytes: 16 * 1024 };
        assert_eq!(
            unpack_checked(&dir.path().join("upload"), &dir.path().join("clean"), limits),
            Err(WorkbookError::WholePartsTooLarge { limit_bytes: 16 * 1024 })
        );
        assert!(is_streamed("xl/worksheets/sheet12.xml") && !is_streamed("xl/sharedStrings.xml") && !is_streamed("xl/worksheets/sheet.xml"));
    }

    /// A zip of `entries` empty files, each named by its number padded to `name_bytes`.
    fn many_entries(entries: usize, name_bytes: usize) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for i in 0..entries {
            zip.start_file(format!("{i:0>name_bytes$}.bin"), options).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn a_central_directory_past_its_caps_is_refused_before_it_is_read() {
        let crowded = many_entries(MAX_ENTRIES as usize + 1, 1);
        assert_eq!(check_central_directory(&mut std::io::Cursor::new(&crowded)), Err(WorkbookError::TooManyEntries));
        // Few entries with long names: the directory's bytes, not its count.
        let long_names = many_entries(300, 4000);
        assert_eq!(check_central_directory(&mut std::io::Cursor::new(&long_names)), Err(WorkbookError::TooManyEntries));
        assert_eq!(open(&long_names, 1 << 20).err(), Some(WorkbookError::TooManyEntries));
        assert!(check_central_directory(&mut std::io::Cursor::new(german_export())).is_ok());
        // A directory whose end record claims more entries than it holds is judged by the claim.
        let mut lying = many_entries(3, 1);
        let end = lying.windows(4).rposition(|w| w == END_OF_DIRECTORY).unwrap();
        lying[end + 10..end + 12].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(check_central_directory(&mut std::io::Cursor::new(&lying)), Err(WorkbookError::TooManyEntries));
    }

    #[test]
    fn sheet_names_lose_control_characters_and_their_count_is_capped() {
        let bytes = xlsx(&[("Kon\u{0}takte\u{1}", vec![vec![Text("Name")], vec![Text("Ana")]])]);
        let (_dir, mut workbook) = open(&bytes, 1 << 20).unwrap();
        assert_eq!(workbook.sheet_names(), vec!["Kontakte"]);
        assert_eq!(all_rows(&mut workbook, "Kontakte").len(), 2, "the shown name opens the sheet");
        let names: Vec<String> = (0..=MAX_SHEETS).map(|i| format!("S{i}")).collect();
        let named: Vec<(&str, Vec<Vec<_>>)> = names.iter().map(|name| (name.as_str(), vec![vec![Text("x")]])).collect();
        assert_eq!(open(&xlsx(&named), 16 << 20).err(), Some(WorkbookError::TooManySheets));
    }

    #[test]
    fn not_a_workbook_and_unsupported_kinds() {
        assert!(matches!(open(b"PK\x03\x04 not really a zip", 1 << 20).err(), Some(WorkbookError::Unreadable(_))));
        assert!(check_supported(WorkbookKind::Xlsx).is_ok());
        assert_eq!(
            check_supported(WorkbookKind::Ods).unwrap_err().to_string(),
            "OpenDocument (.ods) files cannot be read yet; save the sheet as .xlsx or CSV."
        );
        assert_eq!(WorkbookKind::of(&german_export()), Some(WorkbookKind::Xlsx));
        assert_eq!(WorkbookKind::of(b"Name,Email\n"), None);
    }
}
