//! Push-based decoding and CSV record splitting with bounded memory.
//!
//! Bytes arrive in arbitrary chunks (the caller streams the upload from the
//! database). They are decoded to UTF-8 with `encoding_rs`'s streaming decoder
//! and split into records by `csv_core`, which never needs more than the bytes
//! it is given. Fields are capped at `max_field_bytes` and records at
//! [`MAX_FIELDS`] fields, so no input can make the reader hold more than about
//! one record of capped fields.

use super::format::{Delimiter, FileFormat, RawRecord, RecordProblem, Sniffed, TextEncoding, MAX_FIELDS, MAX_FIELD_BYTES};
use super::vcard::VCardReader;
use csv_core::{ReadFieldResult, Reader, ReaderBuilder};
use encoding_rs::{CoderResult, Decoder};

/// Size of the stack buffers for decoded text and parsed field bytes.
const CHUNK: usize = 4096;

/// The push reader for a text file's records: delimited rows or vCards.
pub enum TextRecordReader {
    Delimited(RecordReader),
    VCard(VCardReader),
}

impl TextRecordReader {
    pub fn new(sniffed: &Sniffed) -> Self {
        match sniffed.format {
            FileFormat::VCard { .. } => TextRecordReader::VCard(VCardReader::new(sniffed.encoding)),
            _ => TextRecordReader::Delimited(RecordReader::new(sniffed.encoding, sniffed.delimiter, MAX_FIELD_BYTES)),
        }
    }

    /// Finds the records `new` would, keeping no delimited fields (`RecordReader::counting`).
    pub fn counting(sniffed: &Sniffed) -> Self {
        match sniffed.format {
            FileFormat::VCard { .. } => TextRecordReader::new(sniffed),
            _ => TextRecordReader::Delimited(RecordReader::counting(sniffed.encoding, sniffed.delimiter)),
        }
    }

    pub fn feed(&mut self, bytes: &[u8], last: bool, out: &mut Vec<RawRecord>) {
        match self {
            TextRecordReader::Delimited(reader) => reader.feed(bytes, last, out),
            TextRecordReader::VCard(reader) => reader.feed(bytes, last, out),
        }
    }
}

pub struct RecordReader {
    decoder: Decoder,
    parser: Reader,
    max_field_bytes: usize,
    /// False when only the records' places are wanted (`counting`): no field is kept.
    keep_fields: bool,
    field: Vec<u8>,
    field_truncated: bool,
    field_has_nul: bool,
    fields: Vec<String>,
    problem: Option<RecordProblem>,
    next_index: u64,
    /// Line terminators consumed so far (CRLF counts once).
    lines_seen: u64,
    prev_cr: bool,
    in_record: bool,
    record_line: u64,
    finished: bool,
}

/// The most fields a record's vector is made room for from the record before
/// it: more than any export's layout (Outlook's has about 90).
const WIDTH_CARRIED_OVER: usize = 128;

impl RecordReader {
    pub fn new(encoding: TextEncoding, delimiter: Delimiter, max_field_bytes: usize) -> Self {
        RecordReader {
            decoder: encoding.encoding().new_decoder_with_bom_removal(),
            parser: ReaderBuilder::new().delimiter(delimiter.byte()).build(),
            max_field_bytes,
            keep_fields: true,
            field: Vec::new(),
            field_truncated: false,
            field_has_nul: false,
            fields: Vec::new(),
            problem: None,
            next_index: 0,
            lines_seen: 0,
            prev_cr: false,
            in_record: false,
            record_line: 0,
            finished: false,
        }
    }

    /// A reader that finds the same records, with their index and line, but
    /// keeps none of their fields: an upload is counted as it arrives, and a
    /// String per field was most of that count's cost.
    pub fn counting(encoding: TextEncoding, delimiter: Delimiter) -> Self {
        RecordReader { keep_fields: false, ..RecordReader::new(encoding, delimiter, 0) }
    }

    /// Push raw (undecoded) bytes in chunks of any size/alignment (a chunk may
    /// split a multibyte char, a CRLF, a quoted field). `last` = end of file.
    /// Completed records are appended to `out`. Calls after `last` are ignored.
    pub fn feed(&mut self, bytes: &[u8], last: bool, out: &mut Vec<RawRecord>) {
        if self.finished {
            return;
        }
        let mut decoded = [0u8; CHUNK];
        let mut src = bytes;
        loop {
            let (result, read, written, _) = self.decoder.decode_to_utf8(src, &mut decoded, last);
            src = &src[read..];
            if written > 0 {
                self.parse(&decoded[..written], false, out);
            }
            if result == CoderResult::InputEmpty {
                break;
            }
        }
        if last {
            // Empty input tells csv_core the stream ended, flushing the last record.
            self.parse(&[], true, out);
            self.finished = true;
        }
    }

    fn parse(&mut self, mut input: &[u8], at_eof: bool, out: &mut Vec<RawRecord>) {
        let mut buf = [0u8; CHUNK];
        loop {
            // csv_core reads empty input as end of file.
            if input.is_empty() && !at_eof {
                return;
            }
            let (result, nin, nout) = self.parser.read_field(input, &mut buf);
            self.track_lines(&input[..nin]);
            input = &input[nin..];
            self.push_field_bytes(&buf[..nout]);
            match result {
                ReadFieldResult::InputEmpty | ReadFieldResult::OutputFull => {}
                ReadFieldResult::Field { record_end } => {
                    self.end_field();
                    if record_end {
                        self.end_record(out);
                    }
                }
                ReadFieldResult::End => return,
            }
        }
    }

    fn track_lines(&mut self, consumed: &[u8]) {
        for &b in consumed {
            let terminator = b == b'\n' || b == b'\r';
            if !self.in_record && !terminator {
                self.in_record = true;
                self.record_line = self.lines_seen + 1;
            }
            if b == b'\r' || (b == b'\n' && !self.prev_cr) {
                self.lines_seen += 1;
            }
            self.prev_cr = b == b'\r';
        }
    }

    fn push_field_bytes(&mut self, bytes: &[u8]) {
        if !self.keep_fields {
            return;
        }
        if bytes.contains(&0) {
            self.field_has_nul = true;
        }
        let room = self.max_field_bytes.saturating_sub(self.field.len());
        if bytes.len() > room {
            self.field_truncated = true;
        }
        self.field
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end_field(&mut self) {
        if !self.keep_fields {
            return;
        }
        let column = self.fields.len();
        if self.problem.is_none() {
            if self.field_has_nul {
                self.problem = Some(RecordProblem::NulByte { column });
            } else if self.field_truncated {
                self.problem = Some(RecordProblem::FieldTooLong { column });
            }
        }
        if column >= MAX_FIELDS {
            self.problem.get_or_insert(RecordProblem::TooManyFields);
        } else {
            // A cap can cut a multibyte char; keep only whole chars.
            let text = match std::str::from_utf8(&self.field) {
                Ok(s) => s.to_owned(),
                Err(e) => String::from_utf8_lossy(&self.field[..e.valid_up_to()]).into_owned(),
            };
            self.fields.push(text);
        }
        self.field.clear();
        self.field_truncated = false;
        self.field_has_nul = false;
    }

    fn end_record(&mut self, out: &mut Vec<RawRecord>) {
        // The next record most likely has as many fields; a hostile file's rows
        // of hundreds of empty fields are not made the room of every row after them.
        let width = self.fields.len().min(WIDTH_CARRIED_OVER);
        out.push(RawRecord {
            index: self.next_index,
            line: self.record_line,
            fields: std::mem::replace(&mut self.fields, Vec::with_capacity(width)),
            problem: self.problem.take(),
            warnings: Vec::new(),
        });
        self.next_index += 1;
        self.in_record = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_chunked(
        enc: TextEncoding,
        delim: Delimiter,
        max: usize,
        bytes: &[u8],
        chunk: usize,
    ) -> Vec<RawRecord> {
        let mut reader = RecordReader::new(enc, delim, max);
        let mut out = Vec::new();
        let mut parts = bytes.chunks(chunk).peekable();
        while let Some(part) = parts.next() {
            reader.feed(part, parts.peek().is_none(), &mut out);
        }
        if bytes.is_empty() {
            reader.feed(&[], true, &mut out);
        }
        out
    }

    fn read_all(enc: TextEncoding, delim: Delimiter, bytes: &[u8]) -> Vec<RawRecord> {
        read_chunked(enc, delim, MAX_FIELD_BYTES, bytes, bytes.len().max(1))
    }

    fn fields(records: &[RawRecord]) -> Vec<Vec<&str>> {
        records
            .iter()
            .map(|r| r.fields.iter().map(String::as_str).collect())
            .collect()
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut out = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in text.encode_utf16() {
            let pair = if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            };
            out.extend_from_slice(&pair);
        }
        out
    }

    const SAMPLE: &str = "Name,City,Note\r\nHélène Dupont,Paris,\"said \"\"hi\"\"\"\r\n山田 太郎,東京,\"two\nlines\"\r\nMüller,Köln,x\r\n";

    fn expected_sample() -> Vec<Vec<&'static str>> {
        vec![
            vec!["Name", "City", "Note"],
            vec!["Hélène Dupont", "Paris", "said \"hi\""],
            vec!["山田 太郎", "東京", "two\nlines"],
            vec!["Müller", "Köln", "x"],
        ]
    }

    #[test]
    fn utf8_quotes_and_multiline_fields() {
        let recs = read_all(TextEncoding::Utf8, Delimiter::Comma, SAMPLE.as_bytes());
        assert_eq!(fields(&recs), expected_sample());
        let lines: Vec<u64> = recs.iter().map(|r| r.line).collect();
        // The quoted field spans a line, so the next record starts on line 5.
        assert_eq!(lines, vec![1, 2, 3, 5]);
        let indexes: Vec<u64> = recs.iter().map(|r| r.index).collect();
        assert_eq!(indexes, vec![0, 1, 2, 3]);
        assert!(recs.iter().all(|r| r.problem.is_none()));
    }

    #[test]
    fn utf8_bom_is_stripped() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice(SAMPLE.as_bytes());
        let recs = read_all(TextEncoding::Utf8Bom, Delimiter::Comma, &bytes);
        assert_eq!(fields(&recs), expected_sample());
    }

    #[test]
    fn utf16_both_byte_orders_round_trip() {
        for big_endian in [false, true] {
            let enc = if big_endian {
                TextEncoding::Utf16Be
            } else {
                TextEncoding::Utf16Le
            };
            let bytes = utf16(SAMPLE, big_endian);
            for chunk in [1, 3, 4096] {
                let recs = read_chunked(enc, Delimiter::Comma, MAX_FIELD_BYTES, &bytes, chunk);
                assert_eq!(
                    fields(&recs),
                    expected_sample(),
                    "be={big_endian} chunk={chunk}"
                );
            }
        }
    }

    #[test]
    fn windows_1252_umlauts_decode() {
        let bytes = b"Vorname;Nachname\r\nJ\xfcrgen;M\xfcller\r\nH\xe9l\xe8ne;\x80uro\r\n";
        let recs = read_all(TextEncoding::Windows1252, Delimiter::Semicolon, bytes);
        assert_eq!(
            fields(&recs),
            vec![
                vec!["Vorname", "Nachname"],
                vec!["Jürgen", "Müller"],
                vec!["Hélène", "€uro"]
            ]
        );
    }

    #[test]
    fn every_delimiter_splits() {
        for delim in [
            Delimiter::Comma,
            Delimiter::Semicolon,
            Delimiter::Tab,
            Delimiter::Pipe,
        ] {
            let d = delim.byte() as char;
            let text = format!("a{d}b{d}c\n1{d}\"x{d}y\"{d}3\n");
            let recs = read_all(TextEncoding::Utf8, delim, text.as_bytes());
            let want_quoted = format!("x{d}y");
            assert_eq!(
                fields(&recs),
                vec![vec!["a", "b", "c"], vec!["1", want_quoted.as_str(), "3"]],
                "{delim:?}"
            );
        }
    }

    #[test]
    fn line_endings_lf_crlf_cr_and_blank_lines() {
        for sep in ["\n", "\r\n", "\r"] {
            let text = format!("a,b{sep}{sep}c,d{sep}e,f");
            let recs = read_all(TextEncoding::Utf8, Delimiter::Comma, text.as_bytes());
            assert_eq!(
                fields(&recs),
                vec![vec!["a", "b"], vec!["c", "d"], vec!["e", "f"]]
            );
            // Blank lines are not records but still count as physical lines.
            let lines: Vec<u64> = recs.iter().map(|r| r.line).collect();
            assert_eq!(lines, vec![1, 3, 4], "{sep:?}");
            let indexes: Vec<u64> = recs.iter().map(|r| r.index).collect();
            assert_eq!(indexes, vec![0, 1, 2]);
        }
    }

    #[test]
    fn short_rows_and_empty_cells_are_kept() {
        let recs = read_all(TextEncoding::Utf8, Delimiter::Comma, b"a,b,c\nx\n,,\n");
        assert_eq!(
            fields(&recs),
            vec![vec!["a", "b", "c"], vec!["x"], vec!["", "", ""]]
        );
    }

    #[test]
    fn chunk_boundaries_do_not_change_results() {
        let mut text = String::from("\u{feff}First Name,Notes\r\n");
        for i in 0..40 {
            text.push_str(&format!(
                "Jürgen 山田 {i},\"a \"\"quoted\"\",\r\nmulti-line note\"\r\n"
            ));
        }
        text.push_str("Hélène,last\rCR,only\n");
        let bytes = text.as_bytes();
        let reference = read_all(TextEncoding::Utf8Bom, Delimiter::Comma, bytes);
        assert_eq!(reference.len(), 43);
        for chunk in [1, 2, 3, 7, 4096] {
            let got = read_chunked(
                TextEncoding::Utf8Bom,
                Delimiter::Comma,
                MAX_FIELD_BYTES,
                bytes,
                chunk,
            );
            assert_eq!(got, reference, "chunk size {chunk}");
        }
        let utf16_bytes = utf16(&text[3..], false);
        for chunk in [1, 2, 3, 7, 4096] {
            let got = read_chunked(
                TextEncoding::Utf16Le,
                Delimiter::Comma,
                MAX_FIELD_BYTES,
                &utf16_bytes,
                chunk,
            );
            assert_eq!(got, reference, "utf-16 chunk size {chunk}");
        }
    }

    #[test]
    fn long_field_is_capped_and_flagged() {
        let mut text = String::from("a,");
        text.push_str(&"x".repeat(10_000));
        text.push_str(",c\nnext,row\n");
        for chunk in [1, 7, 4096] {
            let recs = read_chunked(
                TextEncoding::Utf8,
                Delimiter::Comma,
                100,
                text.as_bytes(),
                chunk,
            );
            assert_eq!(recs.len(), 2);
            assert_eq!(recs[0].fields[1].len(), 100);
            assert_eq!(recs[0].fields[2], "c");
            assert_eq!(
                recs[0].problem,
                Some(RecordProblem::FieldTooLong { column: 1 })
            );
            assert_eq!(recs[1].problem, None);
        }
    }

    #[test]
    fn cap_never_splits_a_multibyte_char() {
        // "ü" is two bytes: a cap of 3 bytes would land inside the second one.
        let recs = read_all_capped(b"\xc3\xbc\xc3\xbcz\n", 3);
        assert_eq!(recs[0].fields, vec!["ü"]);
        assert_eq!(
            recs[0].problem,
            Some(RecordProblem::FieldTooLong { column: 0 })
        );
    }

    fn read_all_capped(bytes: &[u8], max: usize) -> Vec<RawRecord> {
        read_chunked(
            TextEncoding::Utf8,
            Delimiter::Comma,
            max,
            bytes,
            bytes.len(),
        )
    }

    #[test]
    fn file_without_newlines_stays_bounded() {
        // 2 MB with no terminator: memory must stay at the cap, not the input size.
        let mut reader = RecordReader::new(TextEncoding::Utf8, Delimiter::Comma, 1000);
        let mut out = Vec::new();
        let block = [b'y'; 8192];
        for _ in 0..256 {
            reader.feed(&block, false, &mut out);
            assert!(reader.field.len() <= 1000);
            assert!(out.is_empty());
        }
        reader.feed(&[], true, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].fields[0].len(), 1000);
        assert_eq!(
            out[0].problem,
            Some(RecordProblem::FieldTooLong { column: 0 })
        );
    }

    #[test]
    fn too_many_fields_are_dropped() {
        let text = ",".repeat(MAX_FIELDS * 3);
        let recs = read_all(TextEncoding::Utf8, Delimiter::Comma, text.as_bytes());
        assert_eq!(recs[0].fields.len(), MAX_FIELDS);
        assert_eq!(recs[0].problem, Some(RecordProblem::TooManyFields));
    }

    #[test]
    fn nul_byte_is_flagged_with_its_column() {
        let recs = read_all(TextEncoding::Utf8, Delimiter::Comma, b"a,b\x00c,d\nok,ok\n");
        assert_eq!(recs[0].problem, Some(RecordProblem::NulByte { column: 1 }));
        assert_eq!(recs[1].problem, None);
    }

    #[test]
    fn empty_input_yields_no_records_and_feed_after_end_is_ignored() {
        let mut reader = RecordReader::new(TextEncoding::Utf8, Delimiter::Comma, 10);
        let mut out = Vec::new();
        reader.feed(b"", true, &mut out);
        reader.feed(b"late,data\n", true, &mut out);
        assert!(out.is_empty());
    }
}
