//! Property tests: random and mutated bytes fed to the sniffer and the record
//! reader never panic, and what they keep stays within the caps.

use super::records::{RawRecord, RecordReader, MAX_FIELDS};
use super::sniff::{sniff, Delimiter, TextEncoding, SNIFF_BYTES};
use proptest::prelude::*;

const ENCODINGS: [TextEncoding; 5] =
    [TextEncoding::Utf8, TextEncoding::Utf8Bom, TextEncoding::Utf16Le, TextEncoding::Utf16Be, TextEncoding::Windows1252];

/// A plausible export to mutate: quotes, BOM, multi-values, odd line ends.
const SEED: &[u8] = b"\xef\xbb\xbfFirst Name,Last Name,E-mail Address,Phone,Notes\r\n\
Ada,Lovelace,ada@example.com ::: ada@work.example,+44 20 7946 0000,\"multi\nline, \"\"quoted\"\"\"\r\n\
Alan,Turing,alan@example.com,,\r\r\n;;|\t\"unterminated";

/// Bytes near the seed: flipped, inserted and deleted bytes, often delimiters,
/// quotes, line ends, NUL and high bytes.
fn mutated_seed() -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(0u8), Just(0xff), Just(b';'), any::<u8>()];
    prop::collection::vec((0..SEED.len() + 1, 0u8..3, interesting), 0..40).prop_map(|edits| {
        let mut bytes = SEED.to_vec();
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
    prop_oneof![prop::collection::vec(any::<u8>(), 0..4096), mutated_seed()]
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
    fn chunking_never_changes_what_is_read(bytes in any_bytes(), chunk in 1usize..300) {
        let read = |size: usize| {
            let mut reader = RecordReader::new(TextEncoding::Utf8, Delimiter::Comma, 1024);
            let mut records = Vec::new();
            for piece in bytes.chunks(size) {
                reader.feed(piece, false, &mut records);
            }
            reader.feed(&[], true, &mut records);
            records
        };
        prop_assert_eq!(read(chunk), read(bytes.len().max(1)));
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
