//! Excel workbooks (.xlsx) read as records, through `calamine`.
//!
//! A workbook is a zip, so it is read from a file, never as it streams in. Its
//! XML parts are first copied out of the upload into a clean zip, each
//! decompressed only up to its declared size and all of them within the upload
//! byte cap: a zip bomb stops there. calamine then streams the chosen sheet's
//! cells ([`calamine::Xlsx::worksheet_cells_reader`]); rows are built one at a
//! time, within the CSV reader's field and column caps, and handed on.

use super::records::{RawRecord, RecordProblem, MAX_FIELDS, MAX_FIELD_BYTES};
use super::sniff::{self, FileFormat, Sniffed, SniffError, WorkbookKind};
use calamine::{DataRef, Reader, Xlsx};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

/// Rows given to header detection, as many as the sniffer sees of a text file.
const SNIFF_ROWS: usize = 50;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorkbookError {
    #[error("This workbook could not be read ({0}).")]
    Unreadable(String),
    #[error("This workbook holds more than {limit_bytes} bytes once unpacked.")]
    TooLarge { limit_bytes: u64 },
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
/// its declared size, and the declared sizes together stay within `max_bytes`.
pub fn unpack_checked(upload: &Path, clean: &Path, max_bytes: u64) -> Result<(), WorkbookError> {
    let mut archive = zip::ZipArchive::new(BufReader::new(File::open(upload).map_err(unreadable)?)).map_err(unreadable)?;
    let mut writer = zip::ZipWriter::new(File::create(clean).map_err(unreadable)?);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut budget = max_bytes;
    for at in 0..archive.len() {
        let mut part = archive.by_index(at).map_err(unreadable)?;
        let name = part.name().map_err(unreadable)?.into_owned();
        if part.is_dir() || !(name.ends_with(".xml") || name.ends_with(".rels")) {
            continue; // images, thumbnails, macros: not read
        }
        let declared = part.size();
        budget = budget.checked_sub(declared).ok_or(WorkbookError::TooLarge { limit_bytes: max_bytes })?;
        writer.start_file(name, options).map_err(unreadable)?;
        // One byte more than declared shows a part that lies about its size.
        let copied = std::io::copy(&mut (&mut part).take(declared + 1), &mut writer).map_err(unreadable)?;
        if copied > declared {
            return Err(WorkbookError::TooLarge { limit_bytes: max_bytes });
        }
    }
    writer.finish().map_err(unreadable)?.flush().map_err(unreadable)
}

pub struct Workbook {
    xlsx: Xlsx<BufReader<File>>,
}

impl Workbook {
    /// Opens a zip written by [`unpack_checked`].
    pub fn open(clean: &Path) -> Result<Self, WorkbookError> {
        let file = BufReader::new(File::open(clean).map_err(unreadable)?);
        Ok(Workbook { xlsx: Xlsx::new(file).map_err(unreadable)? })
    }

    pub fn sheet_names(&self) -> Vec<String> {
        self.xlsx.sheet_names()
    }

    /// Hands `each` the sheet's non-empty rows in order, until it returns
    /// false. A record's index counts those rows; its line is the sheet's row number.
    pub fn rows(&mut self, sheet: &str, mut each: impl FnMut(RawRecord) -> bool) -> Result<(), WorkbookError> {
        if !self.sheet_names().iter().any(|name| name == sheet) {
            return Err(WorkbookError::NoSuchSheet(sheet.to_owned()));
        }
        let mut cells = self.xlsx.worksheet_cells_reader(sheet).map_err(unreadable)?;
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
        (!fields.is_empty() || problem.is_some()).then_some(RawRecord { index, line, fields, problem })
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
    use crate::domain::mapping::{detect, Field, Preset};

    /// Writes `bytes` as an upload, checks and opens it.
    fn open(bytes: &[u8], max_bytes: u64) -> Result<(tempfile::TempDir, Workbook), WorkbookError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("upload"), bytes).unwrap();
        unpack_checked(&dir.path().join("upload"), &dir.path().join("clean"), max_bytes)?;
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
        let (preset, mapping) = detect(&sniffed.headers);
        assert_eq!(preset, Preset::OutlookGerman);
        assert_eq!(mapping.columns[3], Some(Field::Phone));
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
