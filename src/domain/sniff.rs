//! Guesses encoding, delimiter and header row from the start of an upload.
//!
//! The prefix is parsed with the same [`RecordReader`] the import uses, so
//! `header_index` and `header_line` mean exactly what the import will see.

use super::format::{Delimiter, FileFormat, RawRecord, Sniffed, TextEncoding, MAX_FIELD_BYTES};
use super::presets;
use super::records::RecordReader;
use super::vcard::card::Census;
use super::vcard::{self, VCardReader};
use serde::{Deserialize, Serialize};

/// How much of the file's start the caller passes to [`sniff`].
pub const SNIFF_BYTES: usize = 64 * 1024;

/// The header is looked for among this many non-blank records.
const HEADER_WINDOW: usize = 10;
/// Delimiter consistency is judged on this many non-blank records.
const DELIMITER_WINDOW: usize = 30;
/// Rows after a header candidate checked for a matching field count.
const FOLLOWING_ROWS: usize = 5;
const SAMPLE_ROWS: usize = 5;
/// Non-blank records the judgement looks at, at most: every window above fits.
const SNIFF_RECORDS: usize = DELIMITER_WINDOW + HEADER_WINDOW + FOLLOWING_ROWS + SAMPLE_ROWS;
/// Bytes parsed at a time while the records are still too few.
const SNIFF_SLICE_BYTES: usize = 4 * 1024;


#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum SniffError {
    Empty,
    NotText,
    NoHeader,
}

impl std::fmt::Display for SniffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SniffError::Empty => "This file is empty.",
            SniffError::NotText => "This does not look like a CSV or text export.",
            SniffError::NoHeader => "No header row was found in the first 10 lines.",
        })
    }
}

impl std::error::Error for SniffError {}

/// `prefix` is the first [`SNIFF_BYTES`] of the file (or all of it, then
/// `is_whole_file` is true and the last unterminated row counts).
pub fn sniff(prefix: &[u8], is_whole_file: bool) -> Result<Sniffed, SniffError> {
    let encoding = detect_encoding(prefix, is_whole_file);
    let text = decode(encoding, prefix, is_whole_file);
    if clean(&text).is_empty() {
        return Err(SniffError::Empty);
    }
    if vcard::looks_like_vcard(&text) {
        return Ok(sniff_vcard(encoding, prefix, is_whole_file));
    }
    if !looks_like_text(&text) {
        return Err(SniffError::NotText);
    }
    // A header of known words decides first: a short file whose values hold
    // many semicolons can look more regular split at them than at its commas.
    let (delimiter, records) = Delimiter::ALL
        .into_iter()
        .map(|d| (d, parse(encoding, d, prefix, is_whole_file)))
        .fold(
            None,
            |best: Option<(Delimiter, Vec<RawRecord>, (usize, (usize, usize)))>, (d, recs)| {
                let score = (known_header_words(&recs), consistency(&recs));
                match best {
                    Some(b) if b.2 >= score => Some(b),
                    _ => Some((d, recs, score)),
                }
            },
        )
        .map(|(d, recs, _)| (d, recs))
        .expect("Delimiter::ALL is not empty");
    let rows: Vec<&RawRecord> = records.iter().filter(|r| !is_blank(r)).collect();
    let at = find_header(&rows).ok_or(SniffError::NoHeader)?;
    Ok(headed(encoding, delimiter, &rows, at))
}

/// The preview of rows whose header is `rows[at]`.
fn headed(encoding: TextEncoding, delimiter: Delimiter, rows: &[&RawRecord], at: usize) -> Sniffed {
    let header = rows[at];
    Sniffed {
        format: FileFormat::Delimited,
        encoding,
        delimiter,
        header_index: header.index,
        header_line: header.line,
        headers: trimmed(header),
        sample_rows: rows[at + 1..]
            .iter()
            .take(SAMPLE_ROWS)
            .map(|r| trimmed(r))
            .collect(),
        header_counts: Vec::new(),
    }
}

/// Finds the header among a sheet's first rows as among a text file's; the
/// workbook reader gives records as the CSV reader would.
pub fn sniff_rows(records: &[RawRecord]) -> Result<Sniffed, SniffError> {
    let rows: Vec<&RawRecord> = records.iter().filter(|r| !is_blank(r)).collect();
    if rows.is_empty() {
        return Err(SniffError::Empty);
    }
    let at = find_header(&rows).ok_or(SniffError::NoHeader)?;
    Ok(headed(TextEncoding::Utf8, Delimiter::Comma, &rows, at))
}

/// A vCard file's preview: the property kinds of its first cards. The
/// upload's inspection replaces them with those of every card (`show_census`).
fn sniff_vcard(encoding: TextEncoding, prefix: &[u8], is_whole_file: bool) -> Sniffed {
    let mut reader = VCardReader::new(encoding);
    let mut cards = Vec::new();
    let mut census = Census::default();
    let mut sampled = 0;
    let mut slices = prefix.chunks(SNIFF_SLICE_BYTES).peekable();
    while let Some(slice) = slices.next() {
        reader.feed(slice, is_whole_file && slices.peek().is_none(), &mut cards);
        for card in cards.drain(..).filter(|card| card.problem.is_none()) {
            census.add(&card);
            sampled += 1;
        }
        if sampled >= SAMPLE_ROWS && reader.version().is_some() {
            break;
        }
    }
    let mut sniffed = Sniffed {
        format: FileFormat::VCard { version: reader.version().unwrap_or_default().to_owned() },
        encoding,
        delimiter: Delimiter::Comma,
        header_index: 0,
        header_line: 0,
        headers: Vec::new(),
        sample_rows: Vec::new(),
        header_counts: Vec::new(),
    };
    show_census(&mut sniffed, census);
    sniffed
}

/// A vCard's property kinds become the preview's columns: each with the
/// cards that hold it and its first values as two sample rows.
pub fn show_census(sniffed: &mut Sniffed, census: Census) {
    let kinds = census.kinds();
    sniffed.headers = kinds.iter().map(|(kind, _, _)| kind.clone()).collect();
    sniffed.header_counts = kinds.iter().map(|(_, cards, _)| *cards).collect();
    sniffed.sample_rows = (0..2)
        .map(|nth| kinds.iter().map(|(_, _, samples)| samples.get(nth).cloned().unwrap_or_default()).collect())
        .collect();
}

fn detect_encoding(prefix: &[u8], is_whole_file: bool) -> TextEncoding {
    if prefix.starts_with(&[0xEF, 0xBB, 0xBF]) {
        TextEncoding::Utf8Bom
    } else if prefix.starts_with(&[0xFF, 0xFE]) {
        TextEncoding::Utf16Le
    } else if prefix.starts_with(&[0xFE, 0xFF]) {
        TextEncoding::Utf16Be
    } else if let Some(utf16) = bomless_utf16(prefix) {
        utf16
    } else {
        match std::str::from_utf8(prefix) {
            Ok(_) => TextEncoding::Utf8,
            // No error_len: the input ends inside a character, which only
            // proves invalidity when nothing follows the prefix.
            Err(e) if !is_whole_file && e.error_len().is_none() => TextEncoding::Utf8,
            Err(_) => TextEncoding::Windows1252,
        }
    }
}

/// Text in UTF-16 without a BOM has a zero in the same half of almost every
/// code unit when it is mostly ASCII, which CSV exports are.
fn bomless_utf16(prefix: &[u8]) -> Option<TextEncoding> {
    let units = prefix[..prefix.len().min(4096)].chunks_exact(2);
    let total = units.len();
    if total < 4 {
        return None;
    }
    let (mut first_zero, mut second_zero) = (0, 0);
    for unit in units {
        first_zero += usize::from(unit[0] == 0);
        second_zero += usize::from(unit[1] == 0);
    }
    let mostly = |n: usize| n * 10 >= total * 7;
    let rarely = |n: usize| n * 20 <= total;
    if mostly(second_zero) && rarely(first_zero) {
        Some(TextEncoding::Utf16Le)
    } else if mostly(first_zero) && rarely(second_zero) {
        Some(TextEncoding::Utf16Be)
    } else {
        None
    }
}

fn decode(encoding: TextEncoding, bytes: &[u8], last: bool) -> String {
    let mut decoder = encoding.encoding().new_decoder_with_bom_removal();
    let capacity = decoder
        .max_utf8_buffer_length(bytes.len())
        .unwrap_or(bytes.len() * 3);
    let mut text = String::with_capacity(capacity);
    let _ = decoder.decode_to_string(bytes, &mut text, last);
    text
}

/// Refuses binaries: more than 1% NULs or more than 5% control characters
/// (replacement characters count as control, they mean undecodable bytes).
fn looks_like_text(text: &str) -> bool {
    let (mut total, mut nul, mut control) = (0usize, 0usize, 0usize);
    for c in text.chars() {
        total += 1;
        if c == '\0' {
            nul += 1;
        }
        if (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFD}' {
            control += 1;
        }
    }
    nul * 100 <= total && control * 20 <= total
}

fn parse(
    encoding: TextEncoding,
    delimiter: Delimiter,
    prefix: &[u8],
    last: bool,
) -> Vec<RawRecord> {
    let mut reader = RecordReader::new(encoding, delimiter, MAX_FIELD_BYTES);
    let mut out = Vec::new();
    // The judgement needs the first records only: a prefix of tiny rows (`@\n`)
    // would otherwise be 32,000 records with their fields, for each delimiter.
    let mut slices = prefix.chunks(SNIFF_SLICE_BYTES).peekable();
    while let Some(slice) = slices.next() {
        reader.feed(slice, last && slices.peek().is_none(), &mut out);
        out.retain(|record| !is_blank(record));
        if out.len() >= SNIFF_RECORDS {
            out.truncate(SNIFF_RECORDS);
            break;
        }
    }
    out
}

/// (rows sharing the most common field count above 1, that count): more
/// consistent rows win, then more fields.
/// The most known header words in one of the first rows, when at least two:
/// one known word may be chance.
fn known_header_words(records: &[RawRecord]) -> usize {
    let known = records
        .iter()
        .filter(|r| !is_blank(r))
        .take(HEADER_WINDOW)
        .map(|r| r.fields.iter().filter(|f| presets::is_known_header(f)).count())
        .max()
        .unwrap_or(0);
    if known >= 2 { known } else { 0 }
}

fn consistency(records: &[RawRecord]) -> (usize, usize) {
    let counts: Vec<usize> = records
        .iter()
        .filter(|r| !is_blank(r))
        .take(DELIMITER_WINDOW)
        .map(|r| r.fields.len())
        .collect();
    counts
        .iter()
        .filter(|&&c| c > 1)
        .map(|&c| (counts.iter().filter(|&&x| x == c).count(), c))
        .max()
        .unwrap_or((0, 0))
}

/// Index into `rows` (non-blank records) of the header: the qualifying row
/// with the most known header words, earliest first; else the first row.
fn find_header(rows: &[&RawRecord]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (at, row) in rows.iter().enumerate().take(HEADER_WINDOW) {
        let following: Vec<usize> = rows[at + 1..]
            .iter()
            .take(FOLLOWING_ROWS)
            .map(|r| r.fields.len())
            .collect();
        if !looks_like_header(&row.fields, &following) {
            continue;
        }
        let known = row
            .fields
            .iter()
            .filter(|f| presets::is_known_header(f))
            .count();
        if best.is_none_or(|(k, _)| known > k) {
            best = Some((known, at));
        }
    }
    best.map(|(_, at)| at)
        .or(if rows.is_empty() { None } else { Some(0) })
}

fn looks_like_header(fields: &[String], following: &[usize]) -> bool {
    let cells: Vec<&str> = fields
        .iter()
        .map(|f| clean(f))
        .filter(|c| !c.is_empty())
        .collect();
    if cells.len() < 2 || cells.iter().any(|c| c.contains('@')) {
        return false;
    }
    let numeric = cells
        .iter()
        .filter(|c| !c.chars().any(char::is_alphabetic))
        .count();
    if numeric * 10 > cells.len() {
        return false;
    }
    let mut distinct: Vec<String> = cells.iter().map(|c| c.to_lowercase()).collect();
    distinct.sort();
    distinct.dedup();
    if distinct.len() * 5 < cells.len() * 4 {
        return false;
    }
    // Data rows may be short (trailing cells dropped) but not wider than the
    // header; a preamble line is followed by wider rows.
    let n = fields.len();
    let matching = following.iter().filter(|&&c| c == n).count();
    let widest = following.iter().copied().max().unwrap_or(0);
    following.is_empty() || matching * 2 >= following.len() || (widest <= n && widest > 1)
}

fn clean(cell: &str) -> &str {
    cell.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

/// The record's cells as shown and stored with the upload. NUL characters are
/// dropped: Postgres text and JSON cannot hold them, and SQLite must keep the same.
fn trimmed(record: &RawRecord) -> Vec<String> {
    record.fields.iter().map(|f| clean(f).replace('\0', "")).collect()
}

fn is_blank(record: &RawRecord) -> bool {
    record.fields.iter().all(|f| clean(f).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Sniffed {
        sniff(bytes, true).expect("sniff should succeed")
    }

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if big_endian {
                &[0xFE, 0xFF]
            } else {
                &[0xFF, 0xFE]
            });
        }
        for unit in text.encode_utf16() {
            out.extend_from_slice(&if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        out
    }

    const CONTACTS: &str = "Name,Email,City\r\nHélène Dupont,h@example.fr,Paris\r\n山田 太郎,yamada@example.jp,東京\r\n";

    fn assert_contacts(s: &Sniffed) {
        assert_eq!(s.headers, vec!["Name", "Email", "City"]);
        assert_eq!(
            s.sample_rows[0],
            vec!["Hélène Dupont", "h@example.fr", "Paris"]
        );
        assert_eq!(
            s.sample_rows[1],
            vec!["山田 太郎", "yamada@example.jp", "東京"]
        );
        assert_eq!((s.header_index, s.header_line), (0, 1));
        assert_eq!(s.delimiter, Delimiter::Comma);
    }

    #[test]
    fn known_header_words_outweigh_semicolons_in_a_short_files_values() {
        let file = "First Name,Last Name,Notes,E-mail 1 - Value\r\nAna,Lima,\"a;b;c\nd;e\",ana@x.io\r\n";
        let sniffed = sniff(file.as_bytes(), true).unwrap();
        assert_eq!(sniffed.delimiter, Delimiter::Comma);
        assert_eq!(sniffed.headers.len(), 4);
    }

    #[test]
    fn utf8_plain() {
        let s = whole(CONTACTS.as_bytes());
        assert_eq!(s.encoding, TextEncoding::Utf8);
        assert_contacts(&s);
    }

    #[test]
    fn utf8_with_bom() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(CONTACTS.as_bytes());
        let s = whole(&bytes);
        assert_eq!(s.encoding, TextEncoding::Utf8Bom);
        assert_contacts(&s);
    }

    #[test]
    fn utf16_with_bom_both_orders() {
        let s = whole(&utf16(CONTACTS, false, true));
        assert_eq!(s.encoding, TextEncoding::Utf16Le);
        assert_contacts(&s);
        let s = whole(&utf16(CONTACTS, true, true));
        assert_eq!(s.encoding, TextEncoding::Utf16Be);
        assert_contacts(&s);
    }

    #[test]
    fn utf16_without_bom_is_recognised() {
        assert_eq!(
            whole(&utf16(CONTACTS, false, false)).encoding,
            TextEncoding::Utf16Le
        );
        assert_eq!(
            whole(&utf16(CONTACTS, true, false)).encoding,
            TextEncoding::Utf16Be
        );
    }

    #[test]
    fn windows_1252_when_not_utf8() {
        let s = whole(b"Vorname;Nachname;Ort\r\nJ\xfcrgen;M\xfcller;K\xf6ln\r\n");
        assert_eq!(s.encoding, TextEncoding::Windows1252);
        assert_eq!(s.delimiter, Delimiter::Semicolon);
        assert_eq!(s.sample_rows[0], vec!["Jürgen", "Müller", "Köln"]);
    }

    #[test]
    fn prefix_cut_inside_a_multibyte_char_is_still_utf8() {
        let text = "Name,Ort\nJürgen,Köln\nMüller,Zürich\n";
        let cut = text.find("Zü").unwrap() + 2; // between the two bytes of "ü"
        let prefix = &text.as_bytes()[..cut];
        let s = sniff(prefix, false).unwrap();
        assert_eq!(s.encoding, TextEncoding::Utf8);
        // The unfinished last row is not shown in the preview.
        assert_eq!(s.sample_rows, vec![vec!["Jürgen", "Köln"]]);
        // The same bytes as a whole file really are broken UTF-8.
        assert_eq!(
            sniff(prefix, true).unwrap().encoding,
            TextEncoding::Windows1252
        );
    }

    #[test]
    fn each_delimiter_is_detected() {
        for delim in Delimiter::ALL {
            let d = delim.byte() as char;
            let text = format!(
                "Name{d}Email{d}Phone\nAna{d}ana@example.com{d}123\nBo{d}bo@example.com{d}456\n"
            );
            let s = whole(text.as_bytes());
            assert_eq!(s.delimiter, delim, "{}", delim.label());
            assert_eq!(s.headers, vec!["Name", "Email", "Phone"]);
        }
    }

    #[test]
    fn commas_inside_semicolon_cells_do_not_fool_detection() {
        let s = whole(b"Name;Notes\n\"Doe, Jane\";likes tea, coffee\nBob;a, b, c\n");
        assert_eq!(s.delimiter, Delimiter::Semicolon);
        assert_eq!(s.sample_rows[0], vec!["Doe, Jane", "likes tea, coffee"]);
    }

    #[test]
    fn single_column_ties_prefer_comma() {
        let s = whole(b"Email\nana@example.com\nbo@example.com\n");
        assert_eq!(s.delimiter, Delimiter::Comma);
        assert_eq!(s.headers, vec!["Email"]);
        assert_eq!(s.sample_rows.len(), 2);
    }

    #[test]
    fn line_endings_crlf_lf_cr() {
        for sep in ["\r\n", "\n", "\r"] {
            let text = format!("Name,Email{sep}Ana,ana@example.com{sep}Bo,bo@example.com");
            let s = whole(text.as_bytes());
            assert_eq!(s.headers, vec!["Name", "Email"], "{sep:?}");
            assert_eq!(s.sample_rows.len(), 2, "{sep:?}");
        }
    }

    #[test]
    fn linkedin_preamble_is_skipped() {
        let text = "Notes:\r\n\"When exporting your connection data, you may notice that some of the email addresses are missing.\"\r\n\r\nFirst Name,Last Name,URL,Email Address,Company,Position,Connected On\r\nAna,Lima,https://www.linkedin.com/in/ana,,Acme,CTO,01 Mar 2024\r\n";
        let s = whole(text.as_bytes());
        assert_eq!(s.header_index, 2);
        assert_eq!(s.header_line, 4);
        assert_eq!(s.headers[6], "Connected On");
        assert_eq!(s.sample_rows.len(), 1);
        assert_eq!(s.sample_rows[0][4], "Acme");
    }

    #[test]
    fn row_with_known_header_words_beats_an_earlier_candidate() {
        let text = "Contacts,Export,,,\nFirst Name,Last Name,Email,Phone,Company\nAna,Lima,a@x.io,1,Acme\n";
        let s = whole(text.as_bytes());
        assert_eq!((s.header_index, s.header_line), (1, 2));
    }

    #[test]
    fn two_cell_preamble_followed_by_wider_rows_is_skipped() {
        let text = "Report generated,Monday\nAlpha,Beta,Gamma,Delta\nq,w,e,r\nt,y,u,i\n";
        let s = whole(text.as_bytes());
        assert_eq!(s.headers, vec!["Alpha", "Beta", "Gamma", "Delta"]);
    }

    #[test]
    fn generic_spreadsheet_without_a_header_takes_the_first_row() {
        let s = whole(b"ana@example.com,Ana\nbo@example.com,Bo\n");
        assert_eq!(s.header_index, 0);
        assert_eq!(s.headers, vec!["ana@example.com", "Ana"]);
    }

    #[test]
    fn sample_rows_are_capped_and_skip_blank_rows() {
        let mut text = String::from("A,B\n,\n");
        for i in 0..9 {
            text.push_str(&format!("x{i},y\n"));
        }
        let s = whole(text.as_bytes());
        assert_eq!(s.sample_rows.len(), 5);
        assert_eq!(s.sample_rows[0], vec!["x0", "y"]);
    }

    #[test]
    fn empty_inputs() {
        for bytes in [
            &b""[..],
            b"  \r\n\t\n",
            b"\xEF\xBB\xBF",
            b"\xFF\xFE",
            b"\xEF\xBB\xBF \n",
        ] {
            assert_eq!(sniff(bytes, true), Err(SniffError::Empty), "{bytes:?}");
        }
        assert_eq!(SniffError::Empty.to_string(), "This file is empty.");
    }

    #[test]
    fn png_header_is_not_text() {
        let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00\x5c\x72\xa8\x66\x00\x00\x00\x04gAMA";
        assert_eq!(sniff(png, false), Err(SniffError::NotText));
        assert_eq!(
            SniffError::NotText.to_string(),
            "This does not look like a CSV or text export."
        );
    }

    #[test]
    fn random_bytes_are_not_text() {
        // Deterministic pseudo-random bytes (LCG), NULs included.
        let mut state: u32 = 12345;
        let junk: Vec<u8> = (0..4096)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as u8
            })
            .collect();
        assert!(junk.contains(&0));
        assert_eq!(sniff(&junk, true), Err(SniffError::NotText));
        let zip =
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb2\x8c\x18\x13\x00\x00\x00\x00";
        assert_eq!(sniff(zip, false), Err(SniffError::NotText));
    }

    #[test]
    fn a_stray_nul_does_not_refuse_the_file() {
        let mut text = String::from("Name,Email\n");
        for i in 0..50 {
            text.push_str(&format!("Person {i},p{i}@example.com\n"));
        }
        text.push_str("Bad\0Row,x@example.com\n");
        assert_eq!(whole(text.as_bytes()).headers, vec!["Name", "Email"]);
    }

    #[test]
    fn only_blank_cells_means_no_header() {
        assert_eq!(sniff(b",,,\n, ,\n", true), Err(SniffError::NoHeader));
        assert_eq!(
            SniffError::NoHeader.to_string(),
            "No header row was found in the first 10 lines."
        );
    }

    #[test]
    fn labels() {
        let labels: Vec<_> = [
            TextEncoding::Utf8,
            TextEncoding::Utf8Bom,
            TextEncoding::Utf16Le,
            TextEncoding::Utf16Be,
            TextEncoding::Windows1252,
        ]
        .iter()
        .map(|e| e.label())
        .collect();
        assert_eq!(
            labels,
            vec![
                "UTF-8",
                "UTF-8 (BOM)",
                "UTF-16 LE",
                "UTF-16 BE",
                "Windows-1252"
            ]
        );
        let labels: Vec<_> = Delimiter::ALL.iter().map(|d| d.label()).collect();
        assert_eq!(labels, vec!["comma", "semicolon", "tab", "pipe"]);
    }

    #[test]
    fn sniffed_serialises_for_the_client() {
        let s = whole(CONTACTS.as_bytes());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Sniffed>(&json).unwrap(), s);
    }

    #[test]
    fn nul_characters_leave_headers_and_samples() {
        let mut text = String::from("Na\0me,Email\nAda\0,ada@example.com\n");
        text.push_str(&"Alan,alan@example.com\n".repeat(20));
        let s = whole(text.as_bytes());
        assert_eq!(s.headers, vec!["Name", "Email"]);
        assert_eq!(s.sample_rows[0], vec!["Ada".to_owned(), "ada@example.com".to_owned()]);
    }
}
