//! Property tests: random and mutated bytes fed to the sniffer, the record
//! reader, the vCard reader and the workbook reader never panic, and what they
//! keep stays within the caps.

use super::format::{Delimiter, RawRecord, TextEncoding, MAX_FIELDS, MAX_FIELD_BYTES};
use super::records::RecordReader;
use super::sniff::{sniff, SNIFF_BYTES};
use super::vcard::{VCardReader, VCARD_HEADERS};
use proptest::prelude::*;

const ENCODINGS: [TextEncoding; 5] =
    [TextEncoding::Utf8, TextEncoding::Utf8Bom, TextEncoding::Utf16Le, TextEncoding::Utf16Be, TextEncoding::Windows1252];

/// A plausible export to mutate: quotes, BOM, multi-values, odd line ends.
const SEED: &[u8] = b"\xef\xbb\xbfFirst Name,Last Name,E-mail Address,Phone,Notes\r\n\
Ada,Lovelace,ada@example.com ::: ada@work.example,+44 20 7946 0000,\"multi\nline, \"\"quoted\"\"\"\r\n\
Alan,Turing,alan@example.com,,\r\r\n;;|\t\"unterminated";

/// vCards of every version to mutate: folding, groups, QUOTED-PRINTABLE soft
/// breaks, CHARSET, escapes, a tel: URI, a photo, a card without END.
const VCARD_SEED: &[u8] = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=\r\n=C3=BCrgen\r\n\
TEL;CELL;PREF:+49 170 1\r\nNOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=windows-1252:Caf=E9=\r\nEND:VCARD\r\n\
BEGIN:VCARD\nVERSION:3.0\nFN:Ana\\, L\n item1.EMAIL;type=pref:a@x.io\nPHOTO;ENCODING=b:QUJD\n\tREVG\nEND:VCARD\n\
BEGIN:VCARD\r\nVERSION:4.0\r\nTEL;VALUE=uri;TYPE=\"work,voice\":tel:+1-418;ext=1\r\nBDAY:--0203\r\nBEGIN:VCARD\r\nORG:A;B\r\n";

/// Bytes near a seed: flipped, inserted and deleted bytes, often delimiters,
/// quotes, line ends, NUL and high bytes.
fn mutated_seed() -> impl Strategy<Value = Vec<u8>> {
    mutated(SEED)
}

fn mutated(seed: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(0u8), Just(0xff), Just(b';'), Just(b':'), Just(b'='), Just(b' '), any::<u8>()];
    prop::collection::vec((0..seed.len() + 1, 0u8..3, interesting), 0..40).prop_map(move |edits| {
        let mut bytes = seed.to_vec();
        for (at, kind, byte) in edits {
            let at = at.min(bytes.len());
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.push(byte),
            }
        }
        bytes
    })
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..4096), mutated_seed(), mutated(VCARD_SEED)]
}

fn vcard_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..4096), mutated(VCARD_SEED)]
}

/// What the reader finds in `bytes` fed `chunk` bytes at a time.
fn read_in_chunks(mut reader: RecordReader, bytes: &[u8], chunk: usize) -> Vec<RawRecord> {
    let mut records = Vec::new();
    for piece in bytes.chunks(chunk) {
        reader.feed(piece, false, &mut records);
    }
    reader.feed(&[], true, &mut records);
    records
}

/// Every record the reader keeps is within its caps.
fn assert_within_caps(records: &[RawRecord], max_field_bytes: usize) {
    for record in records {
        assert!(record.fields.len() <= MAX_FIELDS, "{} fields", record.fields.len());
        for field in &record.fields {
            assert!(field.len() <= max_field_bytes, "a field of {} bytes", field.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_sniffer_never_panics(bytes in any_bytes(), whole in any::<bool>()) {
        let prefix = &bytes[..bytes.len().min(SNIFF_BYTES)];
        if let Ok(sniffed) = sniff(prefix, whole) {
            prop_assert!(sniffed.sample_rows.len() <= 5);
            prop_assert!(sniffed.headers.len() <= MAX_FIELDS);
            prop_assert!(sniffed.headers.iter().chain(sniffed.sample_rows.iter().flatten()).all(|cell| !cell.contains('\0')));
        }
    }

    #[test]
    fn the_record_reader_never_panics_and_keeps_its_caps(
        bytes in any_bytes(),
        encoding in 0..ENCODINGS.len(),
        delimiter in 0..Delimiter::ALL.len(),
        chunk in 1usize..700,
        max_field_bytes in 1usize..64,
    ) {
        let mut reader = RecordReader::new(ENCODINGS[encoding], Delimiter::ALL[delimiter], max_field_bytes);
        let mut records = Vec::new();
        for piece in bytes.chunks(chunk) {
            reader.feed(piece, false, &mut records);
            assert_within_caps(&records, max_field_bytes);
        }
        reader.feed(&[], true, &mut records);
        assert_within_caps(&records, max_field_bytes);
        let indexes: Vec<u64> = records.iter().map(|r| r.index).collect();
        prop_assert_eq!(indexes, (0..records.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn counting_finds_the_records_reading_does(
        bytes in any_bytes(),
        encoding in 0..ENCODINGS.len(),
        delimiter in 0..Delimiter::ALL.len(),
        chunk in 1usize..700,
    ) {
        let places = |reader: RecordReader| {
            read_in_chunks(reader, &bytes, chunk).iter().map(|r| (r.index, r.line)).collect::<Vec<_>>()
        };
        let (encoding, delimiter) = (ENCODINGS[encoding], Delimiter::ALL[delimiter]);
        prop_assert_eq!(places(RecordReader::counting(encoding, delimiter)), places(RecordReader::new(encoding, delimiter, 1024)));
    }

    #[test]
    fn chunking_never_changes_what_is_read(bytes in any_bytes(), chunk in 1usize..300) {
        let read = |size: usize| read_in_chunks(RecordReader::new(TextEncoding::Utf8, Delimiter::Comma, 1024), &bytes, size);
        prop_assert_eq!(read(chunk), read(bytes.len().max(1)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_vcard_reader_never_panics_keeps_its_caps_and_ignores_chunking(
        bytes in vcard_bytes(),
        encoding in 0..ENCODINGS.len(),
        chunk in 1usize..300,
    ) {
        let read = |size: usize| {
            let mut reader = VCardReader::new(ENCODINGS[encoding]);
            let mut cards = Vec::new();
            for piece in bytes.chunks(size) {
                reader.feed(piece, false, &mut cards);
            }
            reader.feed(&[], true, &mut cards);
            cards
        };
        let cards = read(chunk);
        assert_within_caps(&cards, MAX_FIELD_BYTES);
        prop_assert!(cards.iter().all(|card| card.fields.len() == VCARD_HEADERS.len()));
        let indexes: Vec<u64> = cards.iter().map(|r| r.index).collect();
        prop_assert_eq!(indexes, (0..cards.len() as u64).collect::<Vec<_>>());
        prop_assert_eq!(cards, read(bytes.len().max(1)));
    }
}

#[cfg(feature = "ssr")]
mod workbooks {
    use super::super::workbook::fixture::{xlsx, Cell::*};
    use super::super::workbook::{unpack_checked, Workbook, WorkbookLimits};
    use super::super::format::WorkbookKind;
    use super::*;

    fn seed() -> &'static [u8] {
        static SEED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        SEED.get_or_init(|| {
            xlsx(&[
                ("A", vec![vec![Text("Name"), Text("Phone"), Text("Born")], vec![Text("Ana & <Bo>"), Number(4915112345678.0), Date(29221.0)]]),
                ("B", vec![vec![Text("x")]]),
            ])
        })
    }

    /// Random bytes, the fixture with bytes changed, and the fixture cut short.
    fn workbook_bytes() -> impl Strategy<Value = Vec<u8>> {
        let len = seed().len();
        let flips = prop::collection::vec((0..len, any::<u8>()), 1..20).prop_map(|edits| {
            let mut bytes = seed().to_vec();
            for (at, byte) in edits {
                bytes[at] = byte;
            }
            bytes
        });
        let cuts = (0..len).prop_map(|at| seed()[..at].to_vec());
        prop_oneof![prop::collection::vec(any::<u8>(), 0..2048), flips, cuts]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn the_workbook_reader_never_panics_and_keeps_its_caps(bytes in workbook_bytes()) {
            let dir = tempfile::tempdir().unwrap();
            let (upload, clean) = (dir.path().join("upload"), dir.path().join("clean"));
            std::fs::write(&upload, &bytes).unwrap();
            if unpack_checked(&upload, &clean, WorkbookLimits { max_bytes: 1 << 20, max_whole_part_bytes: 1 << 20 }).is_err() {
                return Ok(());
            }
            let Ok(mut workbook) = Workbook::open(&clean) else { return Ok(()) };
            for sheet in workbook.sheet_names() {
                let mut rows = Vec::new();
                let _ = workbook.rows(&sheet, |row| { rows.push(row); true });
                assert_within_caps(&rows, MAX_FIELD_BYTES);
                let _ = workbook.sniff(WorkbookKind::Xlsx, Some(&sheet));
            }
        }
    }
}

/// A line of a million delimiters keeps at most `MAX_FIELDS` fields.
#[test]
fn a_line_of_delimiters_stays_bounded() {
    let line = vec![b','; 1_000_000];
    let mut reader = RecordReader::new(TextEncoding::Utf8, Delimiter::Comma, 16);
    let mut records = Vec::new();
    reader.feed(&line, true, &mut records);
    assert_eq!(records.len(), 1);
    assert_within_caps(&records, 16);
}
