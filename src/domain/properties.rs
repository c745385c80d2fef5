//! Property tests: random and mutated bytes fed to the sniffer, the record
//! reader, the vCard reader and the workbook reader never panic, and what they
//! keep stays within the caps.

use super::format::{Delimiter, RawRecord, TextEncoding, MAX_FIELDS, MAX_FIELD_BYTES};
use super::records::RecordReader;
use super::sniff::{sniff, SNIFF_BYTES};
use super::vcard::read::{MAX_CARD_BYTES, MAX_LINE_BYTES};
use super::vcard::VCardReader;
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
        // A property line holds at most a photo's worth; a card at most its caps.
        assert_within_caps(&cards, MAX_LINE_BYTES);
        prop_assert!(cards.iter().all(|card| card.fields.iter().map(String::len).sum::<usize>() <= MAX_CARD_BYTES));
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

/// Random full contacts, within what a file can say: every value trimmed,
/// names on one line, no value repeated where a contact keeps one of each.
mod contacts {
    use super::super::contact::{Address, Contact, CustomField, Im, Labeled, Name, Organization, Phone, Photo};
    use super::super::dates::PartialDate;
    use super::super::google_csv::GoogleLayout;
    use super::super::testing::contacts;
    use super::super::vcard::write::{write_card, Version};
    use proptest::prelude::*;

    const LABELS: [&str; 14] =
        ["", "home", "work", "mobile", "fax", "home fax", "work fax", "pager", "main", "other", "iphone", "google voice", "Bakery", "Casa de verão"];

    fn word() -> impl Strategy<Value = String> {
        "[A-Za-zÀ-ÿ0-9.,;'\"\\-\\\\^&/]{1,8}"
    }

    fn line() -> impl Strategy<Value = String> {
        prop::collection::vec(word(), 1..4).prop_map(|words| words.join(" "))
    }

    fn maybe_line() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), line()]
    }

    fn para() -> impl Strategy<Value = String> {
        prop::collection::vec(line(), 1..3).prop_map(|lines| lines.join("\n"))
    }

    fn label() -> impl Strategy<Value = (String, bool)> {
        (prop::sample::select(&LABELS[..]), any::<bool>()).prop_map(|(label, preferred)| (label.to_owned(), preferred))
    }

    fn date() -> impl Strategy<Value = PartialDate> {
        (prop::option::of(1900u16..2030), 1u8..13, 1u8..29).prop_map(|(year, month, day)| PartialDate::new(year, month, day).unwrap())
    }

    fn labeled<T: std::fmt::Debug + Clone>(value: impl Strategy<Value = T>) -> impl Strategy<Value = Labeled<T>> {
        (value, label()).prop_map(|(value, (label, preferred))| Labeled::new(value, label, preferred))
    }

    /// Up to three, none the same as another by `key`.
    fn distinct<T: std::fmt::Debug + Clone, K: PartialEq>(items: impl Strategy<Value = T>, key: fn(&T) -> K) -> impl Strategy<Value = Vec<T>> {
        prop::collection::vec(items, 0..4).prop_map(move |mut items| {
            let mut kept: Vec<T> = Vec::new();
            for item in items.drain(..) {
                if !kept.iter().any(|k| key(k) == key(&item)) {
                    kept.push(item);
                }
            }
            kept
        })
    }

    fn address() -> impl Strategy<Value = Address> {
        (para(), maybe_line(), maybe_line(), maybe_line(), maybe_line(), maybe_line(), maybe_line(), prop_oneof![Just(String::new()), para()])
            .prop_map(|(street, extended, po_box, city, region, postal_code, country, formatted)| Address {
                street,
                extended,
                po_box,
                city,
                region,
                postal_code,
                country,
                formatted,
            })
    }

    fn organization() -> impl Strategy<Value = Organization> {
        (maybe_line(), maybe_line(), line()).prop_map(|(name, department, title)| Organization { name, department, title })
    }

    fn photo() -> impl Strategy<Value = Option<Photo>> {
        prop_oneof![
            Just(None),
            (0u32..1000).prop_map(|n| Some(Photo::Url(format!("https://photos.example/p/{n}")))),
            prop::collection::vec(any::<u8>(), 1..200).prop_map(|data| Some(Photo::Embedded { media_type: "image/png".into(), data })),
        ]
    }

    prop_compose! {
        fn contact()(
            named in any::<bool>(),
            display in line(),
            name in (maybe_line(), maybe_line(), maybe_line(), maybe_line(), maybe_line(), maybe_line(), maybe_line(), maybe_line()),
            nicknames in distinct(line(), |n: &String| n.clone()),
            email_numbers in prop::collection::btree_set(0u32..1000, 1..4),
            email_labels in prop::collection::vec(label(), 3),
            phone_numbers in prop::collection::btree_set(1000u32..9999, 0..4),
            phone_labels in prop::collection::vec(label(), 3),
            addresses in distinct(labeled(address()), |a: &Labeled<Address>| a.value.clone()),
            websites in distinct(labeled(line()), |w: &Labeled<String>| w.value.clone()),
            ims in distinct(labeled((prop::sample::select(&["", "Skype", "Jabber", "AIM"][..]), word())
                .prop_map(|(service, handle)| Im { service: service.to_owned(), handle })), |i: &Labeled<Im>| i.value.clone()),
            organizations in distinct(labeled(organization()), |o: &Labeled<Organization>| o.value.clone()),
            birthday in prop::option::of(date()),
            dates in distinct(labeled(date()), |d: &Labeled<PartialDate>| (d.value, d.label.clone())),
            relations in distinct(labeled(line()), |r: &Labeled<String>| r.value.clone()),
            notes in prop_oneof![Just(String::new()), para()],
            groups in distinct(line(), |g: &String| g.clone()),
            gender in prop::sample::select(&["", "female", "male", "other", "none", "unknown", "two-spirit"][..]),
            photo in photo(),
            custom in distinct((line(), para()).prop_map(|(label, value)| CustomField { label, value }), |c: &CustomField| c.clone()),
        ) -> Contact {
            let (prefix, given, middle, family, suffix, phonetic_given, phonetic_middle, phonetic_family) = name;
            let mut contact = Contact {
                display_name: String::new(),
                name: Name { prefix, given, middle, family, suffix, phonetic_given, phonetic_middle, phonetic_family },
                nicknames,
                emails: email_numbers.iter().zip(email_labels).map(|(n, (label, preferred))| Labeled::new(format!("p{n}@mail{}.example", n % 7), label, preferred)).collect(),
                phones: phone_numbers.iter().zip(phone_labels).map(|(n, (label, preferred))| {
                    Labeled::new(Phone { raw: format!("+1 (555) {n}"), normalized: format!("+1555{n}") }, label, preferred)
                }).collect(),
                addresses,
                websites,
                ims,
                organizations,
                birthday,
                dates,
                relations,
                notes,
                groups,
                gender: gender.to_owned(),
                photo,
                custom,
            };
            contact.display_name = if named { display } else { contact.implied_display_name() };
            contact
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn full_contacts_survive_every_export_and_re_import_unchanged(people in prop::collection::vec(contact(), 1..4)) {
            for version in [Version::V4, Version::V3] {
                let mut text = String::new();
                people.iter().for_each(|c| write_card(c, version, &mut text));
                let read: Vec<Contact> = contacts(text.as_bytes()).into_iter().map(|(c, warnings)| {
                    assert!(warnings.is_empty(), "{warnings:?}");
                    c
                }).collect();
                prop_assert_eq!(&read, &people, "vCard {:?}:\n{}", version, text);
            }
            let mut layout = GoogleLayout::default();
            people.iter().for_each(|c| layout.measure(c));
            let mut text = layout.header();
            people.iter().for_each(|c| text.push_str(&layout.row(c)));
            let read: Vec<Contact> = contacts(text.as_bytes()).into_iter().map(|(c, _)| c).collect();
            prop_assert_eq!(&read, &people, "Google CSV:\n{}", text);
        }
    }
}
