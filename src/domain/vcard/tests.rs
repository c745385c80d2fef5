//! vCards as Apple, Google, Android, Outlook and Nextcloud write them, read
//! into full contacts; the reader's caps; and contacts written and read back.

use super::read::{VCardReader, MAX_CARD_BYTES};
use super::write::{write_card, Version};
use crate::domain::contact::{Address, Contact, CustomField, Im, Labeled, Name, Organization, Phone, Photo};
use crate::domain::dates::PartialDate;
use crate::domain::draft::RowOutcome;
use crate::domain::format::{RawRecord, RecordProblem, TextEncoding, MAX_FIELDS};
use crate::domain::mapping::Target;
use crate::domain::testing::{contacts, only, outcomes, outcomes_mapped, records};

fn read(encoding: TextEncoding, bytes: &[u8], chunk: usize) -> Vec<RawRecord> {
    let mut reader = VCardReader::new(encoding);
    let mut out = Vec::new();
    for part in bytes.chunks(chunk.max(1)) {
        reader.feed(part, false, &mut out);
    }
    reader.feed(&[], true, &mut out);
    out
}

/// The cards of `text`, the same however it is cut.
fn cards(text: &str) -> Vec<RawRecord> {
    let whole = read(TextEncoding::Utf8, text.as_bytes(), text.len());
    for chunk in [1, 2, 3, 7, 64] {
        assert_eq!(read(TextEncoding::Utf8, text.as_bytes(), chunk), whole, "chunk {chunk}");
    }
    whole
}

fn labeled<T>(value: T, label: &str) -> Labeled<T> {
    Labeled::new(value, label, false)
}

fn emails(contact: &Contact) -> Vec<(&str, &str, bool)> {
    contact.emails.iter().map(|e| (e.value.as_str(), e.label.as_str(), e.preferred)).collect()
}

fn phones(contact: &Contact) -> Vec<(&str, &str)> {
    contact.phones.iter().map(|p| (p.value.raw.as_str(), p.label.as_str())).collect()
}

fn date(year: Option<u16>, month: u8, day: u8) -> PartialDate {
    PartialDate::new(year, month, day).unwrap()
}

#[test]
fn rfc_2426_example_keeps_addresses_urls_and_labels() {
    let text = "BEGIN:vCard\r\nVERSION:3.0\r\nFN:Frank Dawson\r\nORG:Lotus Development Corporation\r\n\
ADR;TYPE=WORK,POSTAL,PARCEL:;;6544 Battleford Drive\r\n ;Raleigh;NC;27613-3502;U.S.A.\r\n\
TEL;TYPE=VOICE,MSG,WORK:+1-919-676-9515\r\nTEL;TYPE=FAX,WORK:+1-919-676-9564\r\n\
EMAIL;TYPE=INTERNET,PREF:Frank_Dawson@Lotus.com\r\nEMAIL;TYPE=INTERNET:fdawson@earthlink.net\r\n\
URL:http://home.earthlink.net/~fdawson\r\nEND:vCard\r\n";
    let frank = only(text.as_bytes());
    assert_eq!(frank.display_name, "Frank Dawson");
    assert_eq!(emails(&frank), [("frank_dawson@lotus.com", "", true), ("fdawson@earthlink.net", "", false)]);
    assert_eq!(phones(&frank), [("+1-919-676-9515", "work"), ("+1-919-676-9564", "work fax")]);
    let address = Address { street: "6544 Battleford Drive".into(), city: "Raleigh".into(), region: "NC".into(), postal_code: "27613-3502".into(), country: "U.S.A.".into(), ..Address::default() };
    assert_eq!(frank.addresses, vec![labeled(address, "work")]);
    assert_eq!(frank.websites, vec![labeled("http://home.earthlink.net/~fdawson".to_owned(), "")]);
    assert_eq!(frank.organization(), ("Lotus Development Corporation", ""));
}

#[test]
fn rfc_6350_example_with_uris_a_yearless_birthday_and_the_new_properties() {
    let text = "BEGIN:VCARD\nVERSION:4.0\nKIND:individual\nFN:Simon Perreault\nN:Perreault;Simon;;;ing. jr,M.Sc.\nBDAY:--0203\n\
ANNIVERSARY:20090808T1430-0500\nGENDER:M\nLANG;PREF=1:fr\nEMAIL;TYPE=work:simon.perreault@viagenie.ca\n\
TEL;VALUE=uri;TYPE=\"work,voice\";PREF=1:tel:+1-418-656-9254;ext=102\n\
TEL;VALUE=uri;TYPE=\"work,cell,voice,video,text\":tel:+1-418-262-6501\n\
ADR;TYPE=work;LABEL=\"Simon Perreault\\n2875 boul. Laurier, suite D2-630\\nQuebec, Canada\":;;2875 boul. Laurier\\, suite D2-630;Quebec;QC;G1V 2M2;Canada\n\
IMPP;PREF=1:xmpp:simon@viagenie.ca\nRELATED;TYPE=spouse;VALUE=text:Sophie\nURL;TYPE=home:http://nomis80.org\n\
PHOTO:data:image/png;base64,iVBORw0KGgo=\nUID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\nEND:VCARD\n";
    let simon = only(text.as_bytes());
    assert_eq!(simon.name, Name { given: "Simon".into(), family: "Perreault".into(), suffix: "ing. jr, M.Sc.".into(), ..Name::default() });
    assert_eq!(simon.birthday, Some(date(None, 2, 3)));
    assert_eq!(simon.dates, vec![labeled(date(Some(2009), 8, 8), "anniversary")]);
    assert_eq!(simon.gender, "male");
    assert_eq!(phones(&simon), [("+1-418-656-9254", "work"), ("+1-418-262-6501", "mobile")]);
    assert!(simon.phones[0].preferred);
    assert_eq!(simon.addresses[0].value.street, "2875 boul. Laurier, suite D2-630");
    assert_eq!(simon.addresses[0].value.formatted, "Simon Perreault\n2875 boul. Laurier, suite D2-630\nQuebec, Canada");
    assert_eq!(simon.ims, vec![Labeled::new(Im { service: "xmpp".into(), handle: "simon@viagenie.ca".into() }, "", true)]);
    assert_eq!(simon.relations, vec![labeled("Sophie".to_owned(), "spouse")]);
    assert_eq!(simon.websites, vec![labeled("http://nomis80.org".to_owned(), "home")]);
    assert_eq!(simon.photo, Some(Photo::Embedded { media_type: "image/png".into(), data: vec![0x89, b'P', b'N', b'G', 13, 10, 26, 10] }));
    assert_eq!(simon.custom, vec![CustomField { label: "Language".into(), value: "fr".into() }], "LANG is kept; KIND and UID describe the card");
}

/// iOS 5 ended every line with CR CR LF. Such a file was rejected whole:
/// "Line 51 is not a vCard property", where a folded photo went on.
#[test]
fn ios_5_line_ends_with_a_folded_photo_and_apple_labels() {
    let photo = crate::domain::contact::base64_bytes::encode(&[0xFF, 0xD8, 0xFF, 0xE0].repeat(22).into_iter().chain([1, 2]).collect::<Vec<u8>>());
    let lines = [
        "BEGIN:VCARD".to_owned(),
        "VERSION:3.0".to_owned(),
        "PRODID:-//Apple Inc.//iOS 5.0.1//EN".to_owned(),
        "N:Doe;John;Richter,James;Mr.;Sr.".to_owned(),
        "FN:Mr. John Richter James Doe Sr.".to_owned(),
        "NICKNAME:Johny".to_owned(),
        "ORG:IBM;Accounting".to_owned(),
        "TITLE:Money Counter".to_owned(),
        "EMAIL;type=INTERNET;type=WORK;type=pref:john.doe@ibm.com".to_owned(),
        "TEL;type=CELL;type=VOICE;type=pref:905-666-1234".to_owned(),
        "item1.TEL:905-555-1234".to_owned(),
        "item1.X-ABLabel:_$!<Other>!$_".to_owned(),
        "item2.ADR;type=HOME;type=pref:;;Silicon Alley 5;New York;New York;12345;United States of America".to_owned(),
        "item2.X-ABADR:us".to_owned(),
        "item3.URL;type=pref:http://www.ibm.com".to_owned(),
        "item3.X-ABLabel:_$!<HomePage>!$_".to_owned(),
        "BDAY;value=date:2012-06-06".to_owned(),
        "item4.X-ABDATE;type=pref:1975-06-03".to_owned(),
        "item4.X-ABLabel:_$!<Anniversary>!$_".to_owned(),
        "item5.X-ABRELATEDNAMES;type=pref:Jenny".to_owned(),
        "item5.X-ABLabel:_$!<Spouse>!$_".to_owned(),
        "IMPP;X-SERVICE-TYPE=Skype;type=HOME;type=pref:skype:johnny.doe".to_owned(),
        "X-SOCIALPROFILE;type=twitter;x-user=jdoe:http://twitter.com/jdoe".to_owned(),
        format!("PHOTO;ENCODING=b;TYPE=JPEG:{}", &photo[..60]),
        format!("  {}", &photo[60..]),
        "CATEGORIES:Work,Friends".to_owned(),
        "X-FAVORITE-COLOR:blue".to_owned(),
        "END:VCARD".to_owned(),
    ];
    let text = lines.join("\r\r\n") + "\r\r\n";
    let records = cards(&text);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].problem, None);
    assert!(records[0].warnings.is_empty(), "{:?}", records[0].warnings);
    let john = only(text.as_bytes());
    assert_eq!(john.display_name, "Mr. John Richter James Doe Sr.");
    assert_eq!(john.name.middle, "Richter, James");
    assert_eq!(john.nicknames, ["Johny"]);
    assert_eq!(john.organizations, vec![labeled(Organization { name: "IBM".into(), department: "Accounting".into(), title: "Money Counter".into() }, "")]);
    assert_eq!(emails(&john), [("john.doe@ibm.com", "work", true)]);
    assert_eq!(phones(&john), [("905-666-1234", "mobile"), ("905-555-1234", "other")]);
    assert_eq!((john.addresses[0].label.as_str(), john.addresses[0].preferred, john.addresses[0].value.city.as_str()), ("home", true, "New York"));
    assert_eq!(john.websites, vec![Labeled::new("http://www.ibm.com".to_owned(), "homepage", true), labeled("http://twitter.com/jdoe".to_owned(), "twitter")]);
    assert_eq!(john.birthday, Some(date(Some(2012), 6, 6)));
    assert_eq!(john.dates, vec![Labeled::new(date(Some(1975), 6, 3), "anniversary", true)]);
    assert_eq!(john.relations, vec![Labeled::new("Jenny".to_owned(), "spouse", true)]);
    assert_eq!(john.ims, vec![Labeled::new(Im { service: "Skype".into(), handle: "johnny.doe".into() }, "home", true)]);
    assert_eq!(john.groups, ["Work", "Friends"]);
    assert!(matches!(&john.photo, Some(Photo::Embedded { media_type, data }) if media_type == "image/jpeg" && data.len() == 90));
    assert_eq!(john.custom, vec![CustomField { label: "Favorite color".into(), value: "blue".into() }]);
}

#[test]
fn apple_yearless_birthdays_and_custom_labels() {
    let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ana\r\nBDAY;X-APPLE-OMIT-YEAR=1604:1604-12-10\r\n\
item1.X-ABDATE;X-APPLE-OMIT-YEAR=1604:1604-03-01\r\nitem1.X-ABLabel:Name day\r\n\
item2.X-CUSTOM-THING:hello\r\nitem2.X-ABLabel:Shoe size\r\nEND:VCARD\r\n";
    let ana = only(text.as_bytes());
    assert_eq!(ana.birthday, Some(date(None, 12, 10)));
    assert_eq!(ana.dates, vec![labeled(date(None, 3, 1), "Name day")]);
    assert_eq!(ana.custom, vec![CustomField { label: "Shoe size".into(), value: "hello".into() }]);
}

#[test]
fn android_2_1_quoted_printable_and_its_custom_rows() {
    let text = "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;\r\n\
FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BCller\r\nTEL;CELL;PREF:+49 170 1234567\r\nTEL;HOME;FAX:030 1234567\r\n\
EMAIL;HOME:juergen@example.de\r\nADR;WORK:;;Hauptstr. 1;Berlin;;10115;Germany\r\n\
ADR;HOME;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:;;=C3=BC=C3=BC=FF;;;;\r\n\
X-ANDROID-CUSTOM:vnd.android.cursor.item/nickname;Jogi;1;;;;;;;;;;;;;\r\n\
X-ANDROID-CUSTOM:vnd.android.cursor.item/contact_event;2001-05-20;1;;;;;;;;;;;;;\r\n\
X-ANDROID-CUSTOM:vnd.android.cursor.item/relation;Petra;14;;;;;;;;;;;;;\r\n\
NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Erste Zeile=0A=\r\n=\r\nZweite mit =C3=\r\n=9F\r\nEND:VCARD\r\n";
    let (juergen, warnings) = contacts(text.as_bytes()).remove(0);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(juergen.display_name, "Jürgen Müller");
    assert_eq!(phones(&juergen), [("+49 170 1234567", "mobile"), ("030 1234567", "home fax")]);
    assert_eq!(juergen.addresses.len(), 2, "the good address and the garbled one both stay");
    assert_eq!(juergen.addresses[0].value.city, "Berlin");
    assert_eq!(juergen.nicknames, ["Jogi"]);
    assert_eq!(juergen.dates, vec![labeled(date(Some(2001), 5, 20), "anniversary")]);
    assert_eq!(juergen.relations, vec![labeled("Petra".to_owned(), "spouse")]);
    assert_eq!(juergen.notes, "Erste Zeile\nZweite mit ß");
}

#[test]
fn one_bad_email_no_longer_costs_the_card() {
    let text = "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Bo\r\nEMAIL;WORK:bo@work.example\r\nEMAIL;HOME:bo(at)home\r\nEND:VCARD\r\n";
    let (bo, warnings) = contacts(text.as_bytes()).remove(0);
    assert_eq!(emails(&bo), [("bo@work.example", "work", false)]);
    assert_eq!(bo.custom, vec![CustomField { label: "Email".into(), value: "bo(at)home".into() }]);
    assert_eq!(warnings, ["\"bo(at)home\" is not a valid email address; it was kept as the custom field \"Email\"."]);
}

#[test]
fn outlook_2_1_in_windows_1252_with_its_own_properties() {
    let bytes = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;LANGUAGE=de:M\xfcller;J\xfcrgen;;Herr\r\nFN:J\xfcrgen M\xfcller\r\n\
ORG:Gro\xdfhandel GmbH;Einkauf\r\nTITLE;CHARSET=ISO-8859-1:Gesch\xe4ftsf\xfchrer\r\nTEL;WORK;VOICE:+49 89 1234\r\n\
ADR;WORK;PREF:;B\xfcro 3;Hauptstr. 1;M\xfcnchen;;80331;Deutschland\r\nLABEL;WORK;PREF;ENCODING=QUOTED-PRINTABLE:Hauptstr. 1=0D=0A=\r\n80331 M=FCnchen\r\n\
X-MS-OL-DEFAULT-POSTAL-ADDRESS:2\r\nEMAIL;PREF;INTERNET:j.mueller@example.de\r\nBDAY:19650412\r\nX-MS-ANNIVERSARY:19900601\r\n\
X-MS-MANAGER:Frau Schmidt\r\nX-MS-IMADDRESS:jm@im.example\r\nROLE:Einkauf\r\n\
NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=Windows-1252:Caf=E9 =80 5\r\nREV:20121012T210525Z\r\nEND:VCARD\r\n";
    let records = read(TextEncoding::Windows1252, bytes, 5);
    assert_eq!(records.len(), 1);
    let juergen = only(bytes);
    assert_eq!(juergen.name.prefix, "Herr");
    assert_eq!(juergen.organizations[0].value, Organization { name: "Großhandel GmbH".into(), department: "Einkauf".into(), title: "Geschäftsführer".into() });
    let office = &juergen.addresses[0];
    assert_eq!((office.label.as_str(), office.preferred, office.value.extended.as_str()), ("work", true, "Büro 3"));
    assert_eq!(office.value.formatted, "Hauptstr. 1\r\n80331 München");
    assert_eq!(juergen.birthday, Some(date(Some(1965), 4, 12)));
    assert_eq!(juergen.dates, vec![labeled(date(Some(1990), 6, 1), "anniversary")]);
    assert_eq!(juergen.relations, vec![labeled("Frau Schmidt".to_owned(), "manager")]);
    assert_eq!(juergen.ims[0].value.handle, "jm@im.example");
    assert_eq!(juergen.notes, "Café € 5");
    assert_eq!(juergen.custom, vec![CustomField { label: "Role".into(), value: "Einkauf".into() }]);
}

#[test]
fn google_escapes_categories_and_its_own_labels() {
    let text = "BEGIN:VCARD\nVERSION:3.0\nFN:Ana Lima\nN:Lima;Ana;;;\nX-PHONETIC-FIRST-NAME:Ána\nEMAIL;TYPE=INTERNET;TYPE=WORK:ana@work.example\n\
item1.TEL:+55 11 91234-5678\nitem1.X-ABLabel:GRAND_CENTRAL\nORG:Acme\\, Inc.\nNOTE:Met at the conference\\nSecond line\\; with semicolon\\\\\n\
item2.URL:http\\://TheProfile.com\nitem2.X-ABLabel:PROFILE\nCATEGORIES:myContacts,starred,Vendors\nEND:VCARD\n";
    let ana = only(text.as_bytes());
    assert_eq!(ana.name.phonetic_given, "Ána");
    assert_eq!(phones(&ana), [("+55 11 91234-5678", "google voice")]);
    assert_eq!(ana.organization(), ("Acme, Inc.", ""));
    assert_eq!(ana.notes, "Met at the conference\nSecond line; with semicolon\\");
    assert_eq!(ana.websites, vec![labeled("http://TheProfile.com".to_owned(), "profile")]);
    assert_eq!(ana.groups, ["myContacts", "starred", "Vendors"]);
}

#[test]
fn the_preview_lists_every_kind_and_a_kind_can_be_left_out_or_kept_as_custom() {
    let text = "BEGIN:VCARD\nVERSION:3.0\nFN:A\nADR:;;1 Main St;;;;\nX-FOO:bar\nPRODID:x\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nFN:B\nADR:;;2 Main St;;;;\nEND:VCARD\n";
    let (sniffed, _) = records(text.as_bytes(), 3);
    assert_eq!(sniffed.headers, ["FN", "ADR", "PRODID", "X-FOO"]);
    assert_eq!(sniffed.header_counts, [2, 2, 1, 1]);
    assert_eq!(sniffed.sample_rows[0], ["A", ";;1 Main St;;;;", "x", "bar"]);
    let outcomes = outcomes_mapped(text.as_bytes(), |mapping| {
        mapping.columns[1] = Target::Custom;
        mapping.columns[3] = Target::Ignore;
    });
    let RowOutcome::Contact { row, .. } = &outcomes[0] else { panic!("{outcomes:?}") };
    assert!(row.contact.addresses.is_empty());
    assert_eq!(row.contact.custom, vec![CustomField { label: "Addresses".into(), value: ";;1 Main St;;;;".into() }]);
}

#[test]
fn broken_cards_are_row_errors_and_broken_lines_warnings() {
    let text = "BEGIN:VCARD\nVERSION:3.0\nFN:First\nEND:VCARD\n\
BEGIN:VCARD\nVERSION:3.0\nFN:No end\n\
BEGIN:VCARD\nVERSION:3.0\nFN:Third\nthis is not a property\nEND:VCARD\n\
BEGIN:VCARD\nFN:Fourth\nEND:VCARD\nBEGIN:VCARD\nFN:Cut short\n";
    let records = cards(text);
    let problems: Vec<(u64, Option<RecordProblem>, Vec<String>)> = records.iter().map(|r| (r.line, r.problem.clone(), r.warnings.clone())).collect();
    let broken = |reason: &str| Some(RecordProblem::BrokenCard { reason: reason.to_owned() });
    assert_eq!(
        problems,
        vec![
            (1, None, vec![]),
            (5, broken("The card has no END:VCARD."), vec![]),
            (8, None, vec!["Line 11 is not a vCard property; it was skipped.".to_owned()]),
            (13, None, vec![]),
            (16, broken("The card has no END:VCARD."), vec![]),
        ]
    );
    let built = outcomes(text.as_bytes());
    assert!(matches!(&built[1], RowOutcome::Rejected { line: 5, reason } if reason == "The card has no END:VCARD."));
    assert!(matches!(&built[2], RowOutcome::Contact { warnings, .. } if warnings.len() == 1));
}

#[test]
fn a_huge_photo_is_dropped_with_a_warning_in_bounded_memory() {
    let mut reader = VCardReader::new(TextEncoding::Utf8);
    let mut out = Vec::new();
    reader.feed(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Pic\r\nPHOTO;ENCODING=b:", false, &mut out);
    let block = [b'A'; 8192];
    for _ in 0..6400 {
        reader.feed(&block, false, &mut out);
        reader.feed(b"\r\n ", false, &mut out);
        assert!(reader.held_bytes() <= 2 * super::read::MAX_LINE_BYTES);
    }
    reader.feed(b"\r\nEMAIL:pic@example.com\r\nEND:VCARD\r\n", true, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].warnings, ["The card's photo is larger than 256 KB; it was not kept."]);
    assert_eq!(out[0].fields, ["FN:Pic", "EMAIL:pic@example.com"]);
}

#[test]
fn a_card_of_endless_lines_holds_its_caps_and_says_what_it_left() {
    // Issue 21: one 60 MB card of 3 million EMAIL lines held them all until END;
    // issue 23: a card of 10,000 addresses.
    let mut reader = VCardReader::new(TextEncoding::Utf8);
    let mut out = Vec::new();
    reader.feed(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Many\r\n", false, &mut out);
    let lines: String = (0..2000).map(|i| format!("ADR:;;{i} Long Street;Town;;{i};Country\r\n")).collect();
    let mut peak = 0;
    for _ in 0..5 {
        reader.feed(lines.as_bytes(), false, &mut out);
        peak = peak.max(reader.held_bytes());
    }
    reader.feed(b"NOTE:after\r\nEND:VCARD\r\n", true, &mut out);
    assert!(peak <= MAX_CARD_BYTES + MAX_FIELDS * 64, "held {peak} bytes for one card");
    assert_eq!(out[0].fields.len(), MAX_FIELDS);
    assert_eq!(out[0].warnings.len(), 1);
    assert!(out[0].warnings[0].ends_with("these lines were not kept: 8977 ADR, 1 NOTE."), "{:?}", out[0].warnings);
}

#[test]
fn a_too_long_value_or_a_nul_is_left_out_with_a_warning() {
    let text = format!("BEGIN:VCARD\nFN:Long\nNOTE:{}\nTITLE:a\0b\nEMAIL:l@x.io\nEND:VCARD\n", "x".repeat(70 * 1024));
    let records = cards(&text);
    assert_eq!(records[0].fields, ["FN:Long", "EMAIL:l@x.io"]);
    assert_eq!(
        records[0].warnings,
        ["The card's NOTE is longer than 64 KB; it was not kept.", "The card's TITLE holds a NUL byte, which is not allowed in text; it was not kept."]
    );
}

#[test]
fn utf16_and_bom_files() {
    let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Hélène\r\nEND:VCARD\r\n";
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    assert_eq!(read(TextEncoding::Utf16Le, &utf16, 3)[0].fields, ["FN:Hélène"]);
    let bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
    assert_eq!(read(TextEncoding::Utf8Bom, &bom, 1)[0].fields, ["FN:Hélène"]);
    assert_eq!(only(&utf16).display_name, "Hélène");
}

/// A contact with every field, each kind of label and preference.
pub fn full_contact() -> Contact {
    Contact {
        display_name: "Dr. Ana María Lima-Souza, PhD".into(),
        name: Name {
            prefix: "Dr.".into(),
            given: "Ana".into(),
            middle: "María".into(),
            family: "Lima-Souza".into(),
            suffix: "PhD".into(),
            phonetic_given: "A-na".into(),
            phonetic_middle: String::new(),
            phonetic_family: "Li-ma".into(),
        },
        nicknames: vec!["Aninha".into(), "A, L".into()],
        emails: vec![Labeled::new("ana@work.example".into(), "work", true), labeled("ana@home.example".into(), "home"), labeled("a@b.example".into(), "Bakery")],
        phones: vec![
            Labeled::new(Phone { raw: "+1 (555) 010-0199".into(), normalized: "+15550100199".into() }, "mobile", true),
            labeled(Phone { raw: "030 1234; ext 5".into(), normalized: "03012345".into() }, "work fax"),
            labeled(Phone { raw: "555 0100".into(), normalized: "5550100".into() }, "main"),
        ],
        addresses: vec![
            Labeled::new(
                Address {
                    street: "1 Main St\nApt 2".into(),
                    extended: "Suite 3".into(),
                    po_box: "PO 9".into(),
                    city: "Springfield".into(),
                    region: "IL".into(),
                    postal_code: "62701".into(),
                    country: "USA".into(),
                    formatted: "1 Main St, Apt 2\n\"Suite\" 3 ^ Springfield".into(),
                },
                "home",
                true,
            ),
            labeled(Address { city: "Lisboa; centro".into(), country: "Portugal".into(), ..Address::default() }, "Summer house"),
        ],
        websites: vec![labeled("https://example.com/ana?a=1,2".into(), "LinkedIn"), labeled("http://blog.example".into(), "blog")],
        ims: vec![Labeled::new(Im { service: "Skype".into(), handle: "ana.lima".into() }, "work", true), labeled(Im { service: String::new(), handle: "a:b".into() }, "")],
        organizations: vec![
            Labeled::new(Organization { name: "Acme; Inc".into(), department: "R&D, EMEA".into(), title: "CTO".into() }, "work", false),
            labeled(Organization { title: "Board member".into(), ..Organization::default() }, "Volunteer"),
        ],
        birthday: Some(date(None, 12, 10)),
        dates: vec![labeled(date(Some(2009), 8, 8), "anniversary"), Labeled::new(date(None, 3, 1), "Name day", true), labeled(date(Some(2009), 8, 8), "first met")],
        relations: vec![labeled("Bo Lima".into(), "spouse"), labeled("Cy".into(), "manager"), labeled("Di".into(), "")],
        notes: "Line one\nLine two; with, punctuation \\ and more".into(),
        groups: vec!["Friends".into(), "myContacts".into(), "A, B".into()],
        gender: "nonbinary".into(),
        photo: Some(Photo::Embedded { media_type: "image/jpeg".into(), data: (0..=255u8).cycle().take(3000).collect() }),
        custom: vec![CustomField { label: "Shoe size".into(), value: "EU 39".into() }, CustomField { label: "Home; note".into(), value: "a,b;c\nd".into() }],
    }
}

fn write(contacts: &[Contact], version: Version) -> String {
    let mut text = String::new();
    for contact in contacts {
        write_card(contact, version, &mut text);
    }
    text
}

#[test]
fn a_full_contact_survives_both_versions_exactly() {
    let mut with_link = full_contact();
    with_link.photo = Some(Photo::Url("https://lh3.googleusercontent.com/contacts/AG6tpz".into()));
    with_link.gender = "female".into();
    with_link.birthday = Some(date(Some(1980), 3, 10));
    for contact in [full_contact(), with_link] {
        for version in [Version::V4, Version::V3] {
            let text = write(std::slice::from_ref(&contact), version);
            assert!(text.lines().all(|line| line.len() <= 76), "folded at 75 octets");
            assert_eq!(only(text.as_bytes()), contact, "{version:?}:\n{text}");
        }
    }
}

#[test]
fn the_4_0_form_is_standard() {
    let text = write(&[full_contact()], Version::V4);
    for expected in [
        "BEGIN:VCARD\r\nVERSION:4.0\r\n",
        "N:Lima-Souza;Ana;María;Dr.;PhD\r\n",
        "EMAIL;PREF=1;TYPE=work:ana@work.example\r\n",
        "TEL;VALUE=text;PREF=1;TYPE=cell:+1 (555) 010-0199\r\n",
        "BDAY:--1210\r\n",
        "ANNIVERSARY:20090808\r\n",
        "RELATED;VALUE=text;TYPE=spouse:Bo Lima\r\n",
        "GENDER:O;nonbinary\r\n",
        "CATEGORIES:Friends,myContacts,A\\, B\r\n",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let text3 = write(&[full_contact()], Version::V3);
    assert!(text3.contains("BDAY;X-APPLE-OMIT-YEAR=1604:1604-12-10\r\n"), "{text3}");
    assert!(text3.contains("PHOTO;ENCODING=b;TYPE=JPEG:"), "{text3}");
}
