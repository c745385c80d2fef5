//! Nothing people import is lost: for exports of Google (current and legacy),
//! Outlook (English, German, French), LinkedIn, an iPhone (vCard 3.0), Android
//! (vCard 2.1) and Excel, every field of the file is found in the contact
//! (`GET /api/contacts/{id}`) and in every export; an export imported into a new
//! account exports the same again. On SQLite and on Postgres.
//!
//! What "every field of the file" is, the test reads from the file itself: each
//! non-empty cell (or vCard value), except what an exporter writes for "not set"
//! (Outlook's `Normal`, `SMTP`, `0/0/00`, …). Labels are looked for in their
//! canonical form, dates in the forms each format writes, emails in lower case.

mod common;

use common::*;
use intake::domain::dates::{DayOrder, PartialDate};
use intake::domain::format::TextEncoding;
use intake::domain::labels;
use intake::domain::records::RecordReader;
use intake::domain::vcard::card::Property;
use intake::domain::vcard::VCardReader;
use intake::model::ContactDetail;

on_both_backends!(
    google_current,
    google_legacy_in_utf16,
    outlook_english,
    outlook_german,
    outlook_french,
    linkedin,
    iphone_vcard_3_0_with_ios_5_line_ends,
    android_vcard_2_1,
    excel_workbook,
    two_rows_of_one_person_keep_every_value_and_the_results_count_them,
    search_finds_nicknames_cities_notes_groups_and_custom_values,
    an_export_filters_as_search_does_and_refuses_what_it_cannot_write,
    contacts_from_before_full_contacts_migrate_with_nothing_lost,
);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A value the file holds, and how to recognise it once imported.
#[derive(Debug, Clone)]
enum Expected {
    Text(String),
    /// A full name: a CSV of Google's layout carries it as its parts when they make it.
    Name(String),
    Email(String),
    Date(PartialDate),
    Label(String),
    Gender(String),
    /// An embedded image, as its bytes.
    Image(Vec<u8>),
}

/// One person of the file: the email that finds them, and what they hold.
#[derive(Debug)]
struct Person {
    email: String,
    values: Vec<Expected>,
}

/// What exporters write for "not set".
const SAYS_NOTHING: [&str; 9] = ["normal", "normale", "false", "faux", "aus", "smtp", "unspecified", "0/0/00", "keine angabe"];

/// The people of a table, from its header and rows, by what each header says.
fn table_people(headers: &[String], rows: &[Vec<String>], order: DayOrder) -> Vec<Person> {
    rows.iter()
        .map(|row| {
            let mut values = Vec::new();
            for (header, cell) in headers.iter().zip(row) {
                let header = header.to_lowercase();
                let cell = cell.trim();
                if cell.is_empty() || SAYS_NOTHING.contains(&cell.to_lowercase().as_str()) {
                    continue;
                }
                let label = header.ends_with("- label") || header.ends_with("- type");
                let email = !label && (header.contains("mail") || header.contains("messagerie"));
                if email && header.contains("display name") || header.contains("angezeigter name") || header.contains("nom complet de l'adresse") {
                    if !cell.contains('@') {
                        values.push(Expected::Text(cell.to_owned()));
                    }
                    continue;
                }
                if email && (header.contains("type") || header.contains("typ")) {
                    continue;
                }
                let groups = ["labels", "group membership", "categories", "kategorien", "catégories"].contains(&header.as_str());
                let parts: Vec<&str> = if groups {
                    cell.split(":::").flat_map(|p| p.split(';')).map(|p| p.trim().trim_start_matches("* ")).collect()
                } else if header.contains("custom field") || header.starts_with("notes") || header.contains("formatted") {
                    vec![cell]
                } else {
                    cell.split(":::").map(str::trim).collect()
                };
                for part in parts.into_iter().filter(|p| !p.is_empty()) {
                    let dated = ["birthday", "anniversary", "event", "connected on", "geburtstag", "jahrestag", "anniversaire"].iter().any(|w| header.contains(w));
                    values.push(if label {
                        Expected::Label(part.to_owned())
                    } else if email {
                        Expected::Email(part.to_owned())
                    } else if dated {
                        Expected::Date(PartialDate::parse(part, order).expect("a date").expect("not empty"))
                    } else if header == "name" {
                        Expected::Name(part.to_owned())
                    } else if ["gender", "geschlecht", "sexe"].contains(&header.as_str()) {
                        Expected::Gender(part.to_owned())
                    } else {
                        Expected::Text(part.to_owned())
                    });
                }
            }
            let email = values.iter().find_map(|v| if let Expected::Email(e) = v { Some(e.to_lowercase()) } else { None }).expect("an email");
            Person { email, values }
        })
        .collect()
}

/// A delimited file's header and rows, as a spreadsheet would read them.
fn csv_people(bytes: &[u8], order: DayOrder) -> Vec<Person> {
    let sniffed = intake::domain::sniff::sniff(bytes, true).unwrap();
    let mut reader = RecordReader::new(sniffed.encoding, sniffed.delimiter, 1 << 20);
    let mut records = Vec::new();
    reader.feed(bytes, true, &mut records);
    let rows: Vec<Vec<String>> = records.iter().filter(|r| r.index > sniffed.header_index && r.fields.iter().any(|f| !f.is_empty())).map(|r| r.fields.clone()).collect();
    table_people(&sniffed.headers, &rows, order)
}

/// Splits at each unescaped `separator`, unescaping the parts.
fn split_unescaped(value: &str, separators: &[char]) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n' | 'N') => parts.last_mut().unwrap().push('\n'),
                Some(other) => parts.last_mut().unwrap().push(other),
                None => {}
            },
            c if separators.contains(&c) => parts.push(String::new()),
            c => parts.last_mut().unwrap().push(c),
        }
    }
    parts.into_iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect()
}

/// The people of a vCard file: every value of every property, its labels, its photo.
fn vcard_people(bytes: &[u8], encoding: TextEncoding) -> Vec<Person> {
    let mut reader = VCardReader::new(encoding);
    let mut cards = Vec::new();
    reader.feed(bytes, true, &mut cards);
    cards
        .iter()
        .map(|card| {
            let mut values = Vec::new();
            for line in &card.fields {
                let property = Property::parse(line).unwrap();
                let (label, _) = labels::from_vcard_types(property.params.iter().filter(|(n, _)| n == "TYPE").flat_map(|(_, v)| v.split(',')));
                if !label.is_empty() {
                    values.push(Expected::Label(label));
                }
                match property.name.as_str() {
                    "PRODID" | "REV" | "UID" | "X-ABUID" | "X-ABADR" => {}
                    "X-ABLABEL" => values.push(Expected::Label(property.value.to_owned())),
                    "EMAIL" => values.push(Expected::Email(property.value.to_owned())),
                    "BDAY" | "ANNIVERSARY" | "X-ABDATE" => {
                        let mut date = PartialDate::parse(property.value, DayOrder::DayFirst).unwrap().unwrap();
                        if property.params.iter().any(|(n, _)| n == "X-APPLE-OMIT-YEAR") {
                            date.year = None;
                        }
                        values.push(Expected::Date(date));
                    }
                    "PHOTO" => {
                        let text: String = property.value.chars().filter(|c| !c.is_whitespace()).collect();
                        values.push(Expected::Image(base64_decode(&text)));
                    }
                    "IMPP" => values.push(Expected::Text(property.value.split_once(':').unwrap().1.to_owned())),
                    "FN" => values.push(Expected::Name(property.value.to_owned())),
                    "X-ANDROID-CUSTOM" => {
                        let slots = split_unescaped(property.value, &[';']);
                        values.push(if slots[0].ends_with("contact_event") {
                            Expected::Date(PartialDate::parse(&slots[1], DayOrder::DayFirst).unwrap().unwrap())
                        } else {
                            Expected::Text(slots[1].clone())
                        });
                    }
                    _ => values.extend(split_unescaped(property.value, &[';', ',']).into_iter().map(Expected::Text)),
                }
            }
            let email = values.iter().find_map(|v| if let Expected::Email(e) = v { Some(e.to_lowercase()) } else { None }).expect("an email");
            Person { email, values }
        })
        .collect()
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Where a person's values must be found: their contact and each export of them.
struct Found {
    detail: String,
    vcard4: String,
    vcard3: String,
    csv: String,
}

/// Every string a contact's JSON holds, lower-cased, one per line.
fn strings_of(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(text) => {
            out.push_str(&text.to_lowercase());
            out.push('\n');
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| strings_of(item, out)),
        serde_json::Value::Object(fields) => fields.values().for_each(|item| strings_of(item, out)),
        _ => {}
    }
}

/// A vCard export as text to search: unfolded, unescaped, lower-cased.
fn vcard_text(export: &str) -> String {
    export
        .replace("\r\n ", "")
        .replace("\\n", "\n")
        .replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\\\", "\\")
        .replace("^n", "\n")
        .replace("^'", "\"")
        .replace("^^", "^")
        .to_lowercase()
}

impl Found {
    async fn of(script: &Client, email: &str) -> Found {
        let listed = script.contacts(email).await;
        assert_eq!(listed.total, 1, "one contact has {email}");
        let detail: serde_json::Value = script.get(&format!("/api/contacts/{}", listed.contacts[0].id)).await.json().await.unwrap();
        let mut strings = String::new();
        strings_of(&detail, &mut strings);
        let export = |path: String| async move {
            let response = script.get(&path).await;
            assert_eq!(response.status(), 200, "{path}");
            response.text().await.unwrap()
        };
        let q = email.replace('+', "%2B");
        Found {
            detail: strings,
            vcard4: vcard_text(&export(format!("/api/contacts/export.vcf?q={q}")).await),
            vcard3: vcard_text(&export(format!("/api/contacts/export.vcf?version=3.0&q={q}")).await),
            csv: export(format!("/api/contacts/export.csv?q={q}")).await.replace("\"\"", "\"").to_lowercase(),
        }
    }

    /// Whether each of the person's values is in each place, naming those that are not.
    fn missing(&self, person: &Person) -> Vec<String> {
        let places = [("contact", &self.detail), ("vCard 4.0", &self.vcard4), ("vCard 3.0", &self.vcard3), ("Google CSV", &self.csv)];
        let mut missing = Vec::new();
        for value in &person.values {
            let forms: Vec<String> = match value {
                Expected::Text(text) => text.lines().map(|l| l.trim().to_lowercase()).filter(|l| !l.is_empty()).collect(),
                Expected::Email(email) => vec![email.trim_start_matches("mailto:").to_lowercase()],
                Expected::Label(label) => vec![labels::google_label(label).0.to_lowercase()].into_iter().filter(|l| !l.is_empty()).collect(),
                Expected::Gender(text) => vec![intake::domain::draft::gender_word(text)],
                Expected::Name(_) | Expected::Date(_) | Expected::Image(_) => vec![],
            };
            for (place, text) in places {
                let vcard = place.starts_with("vCard");
                let found = match value {
                    // A label vCard has words for goes as its TYPEs.
                    Expected::Label(label) if vcard => {
                        let label = labels::google_label(label).0;
                        let types = labels::to_vcard_types(&label).filter(|t| !t.is_empty()).map(|t| format!("type={}", t.join(",")));
                        text.contains(&label.to_lowercase()) || types.is_some_and(|t| text.contains(&t))
                    }
                    // vCard 4.0 writes a gender as its letter.
                    Expected::Gender(word) if place == "vCard 4.0" => {
                        let word = intake::domain::draft::gender_word(word);
                        let letter = match word.as_str() {
                            "female" => "gender:f".to_owned(),
                            "male" => "gender:m".to_owned(),
                            other => format!("gender:o;{other}"),
                        };
                        text.contains(&letter)
                    }
                    Expected::Name(name) => {
                        let name = name.to_lowercase();
                        text.contains(&name) || name.split_whitespace().all(|word| text.contains(word))
                    }
                    Expected::Date(date) => {
                        let apple = PartialDate { year: Some(1604), ..*date };
                        [date.iso(), date.basic(), apple.iso()].iter().any(|form| text.contains(form.as_str()))
                    }
                    Expected::Image(bytes) => {
                        let encoded = base64_encode(bytes).to_lowercase();
                        text.replace(['\r', '\n', ' '], "").contains(&encoded)
                    }
                    _ => forms.iter().all(|form| text.contains(form.as_str())),
                };
                if !found {
                    missing.push(format!("{value:?} in {place}"));
                }
            }
        }
        missing
    }
}

/// The account's whole export in one format.
async fn export(script: &Client, path: &str) -> String {
    let response = script.get(path).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

const EXPORTS: [(&str, &str); 3] = [
    ("/api/contacts/export.vcf", "export.vcf"),
    ("/api/contacts/export.vcf?version=3.0", "export3.vcf"),
    ("/api/contacts/export.csv", "export.csv"),
];

/// Imports `bytes`; every field of every person is in their contact and in
/// every export; and each export, imported into a new account, exports the same.
async fn nothing_is_lost(backend: Backend, file_name: &str, bytes: Vec<u8>, people: Vec<Person>) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user(&format!("owner-{file_name}@example.com")).await;
    let started = script.api_import_started(file_name, bytes).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.counts.rejected, done.counts.warned), (0, 0), "{done:?}");
    assert_eq!(done.counts.created as usize, people.len(), "{done:?}");
    for person in &people {
        let found = Found::of(&script, &person.email).await;
        let missing = found.missing(person);
        assert!(missing.is_empty(), "{file_name}, {}: missing {missing:#?}\ncontact: {}\nvCard: {}\nCSV: {}", person.email, found.detail, found.vcard4, found.csv);
    }
    for (n, (path, name)) in EXPORTS.iter().enumerate() {
        let first = export(&script, path).await;
        let (_, again) = app.script_for_new_user(&format!("again-{n}-{file_name}@example.com")).await;
        let started = again.api_import_started(name, first.clone().into_bytes()).await;
        let done = again.wait_finished(&started.import_id).await;
        assert_eq!((done.counts.created as usize, done.counts.rejected, done.counts.warned), (people.len(), 0, 0), "{path}: {done:?}");
        assert_eq!(export(&again, path).await, first, "{path} of {file_name}, imported again and exported");
    }
    app.stop().await;
}

async fn google_current(backend: Backend) {
    let bytes = fixture("google-contacts.csv");
    let people = csv_people(&bytes, DayOrder::DayFirst);
    assert!(people[0].values.len() > 50, "{:?}", people[0]);
    nothing_is_lost(backend, "google-contacts.csv", bytes, people).await;
}

async fn google_legacy_in_utf16(backend: Backend) {
    let bytes = fixture("google-legacy-utf16.csv");
    nothing_is_lost(backend, "google-legacy.csv", bytes.clone(), csv_people(&bytes, DayOrder::DayFirst)).await;
}

async fn outlook_english(backend: Backend) {
    let bytes = fixture("outlook-en.csv");
    nothing_is_lost(backend, "outlook-en.csv", bytes.clone(), csv_people(&bytes, DayOrder::MonthFirst)).await;
}

async fn outlook_german(backend: Backend) {
    let bytes = fixture("outlook-de.csv");
    nothing_is_lost(backend, "outlook-de.csv", bytes.clone(), csv_people(&bytes, DayOrder::DayFirst)).await;
}

async fn outlook_french(backend: Backend) {
    let bytes = fixture("outlook-fr.csv");
    nothing_is_lost(backend, "outlook-fr.csv", bytes.clone(), csv_people(&bytes, DayOrder::DayFirst)).await;
}

async fn linkedin(backend: Backend) {
    let bytes = fixture("linkedin-connections.csv");
    nothing_is_lost(backend, "Connections.csv", bytes.clone(), csv_people(&bytes, DayOrder::DayFirst)).await;
}

async fn iphone_vcard_3_0_with_ios_5_line_ends(backend: Backend) {
    let bytes = fixture("iphone-ios5.vcf");
    let people = vcard_people(&bytes, TextEncoding::Utf8);
    assert!(people[0].values.iter().any(|v| matches!(v, Expected::Image(_))));
    nothing_is_lost(backend, "iphone.vcf", bytes, people).await;
}

async fn android_vcard_2_1(backend: Backend) {
    let bytes = fixture("android-2.1.vcf");
    nothing_is_lost(backend, "android.vcf", bytes.clone(), vcard_people(&bytes, TextEncoding::Utf8)).await;
}

async fn excel_workbook(backend: Backend) {
    use intake::domain::workbook::fixture::{xlsx, Cell::*};
    let headers = ["First Name", "Last Name", "E-mail 1 - Label", "E-mail 1 - Value", "Phone 1 - Label", "Phone 1 - Value", "Address 1 - Label",
        "Address 1 - Street", "Address 1 - City", "Address 1 - Postal Code", "Birthday", "Labels", "Custom Field 1 - Label", "Custom Field 1 - Value", "Notes"];
    let rows = [
        ["Aisha", "Bello", "Work", "aisha@bello.example", "Mobile", "+234 803 555 0101", "Home", "12 Marina Rd", "Lagos", "101241", "1990-05-04", "Friends ::: Lagos", "Shoe size", "41", "Loves jollof."],
        ["Björn", "Eriksson", "Home", "bjorn@eriksson.example", "Work", "+46 31 555 0101", "Work", "Avenyn 3", "Göteborg", "411 36", "--02-29", "Sailing", "Boat", "Albin Vega", "Two lines\nof notes"],
    ];
    let mut sheet = vec![headers.iter().map(|h| Text(h)).collect::<Vec<_>>()];
    sheet.extend(rows.iter().map(|row| row.iter().map(|cell| Text(cell)).collect::<Vec<_>>()));
    let bytes = xlsx(&[("Contacts", sheet)]);
    let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let rows: Vec<Vec<String>> = rows.iter().map(|row| row.iter().map(|c| (*c).to_owned()).collect()).collect();
    nothing_is_lost(backend, "contacts.xlsx", bytes, table_people(&headers, &rows, DayOrder::DayFirst)).await;
}

async fn two_rows_of_one_person_keep_every_value_and_the_results_count_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("merge@example.com").await;
    let csv = "Name,Email,Company,Title,Birthday,Notes,Phone\r\n\
Ana Lima,ana@x.example,Acme,CEO,1980-03-10,Likes tea,+1 555 0100\r\n\
Ana M. Lima,ANA@x.example,Acme,CTO,1981-03-10,Prefers email,+1 555 0199\r\n";
    let started = script.api_import_started("merge.csv", csv.as_bytes().to_vec()).await;
    let done = script.wait_finished(&started.import_id).await;
    // The second row's name, title (a second organization entry), birthday and notes are kept beside.
    assert_eq!((done.counts.created, done.counts.updated, done.counts.kept_beside), (1, 1, 4), "{done:?}");
    let id = script.contacts("ana@x.example").await.contacts[0].id;
    let detail: ContactDetail = script.get(&format!("/api/contacts/{id}")).await.json().await.unwrap();
    let c = &detail.contact;
    assert_eq!(c.display_name, "Ana Lima");
    let titles: Vec<&str> = c.organizations.iter().map(|o| o.value.title.as_str()).collect();
    assert_eq!(titles, ["CEO", "CTO"]);
    assert_eq!(c.birthday, PartialDate::new(Some(1980), 3, 10));
    assert_eq!(c.notes, "Likes tea\n\n[merge.csv] Prefers email");
    let custom: Vec<(&str, &str)> = c.custom.iter().map(|f| (f.label.as_str(), f.value.as_str())).collect();
    assert_eq!(custom, [("Name (from merge.csv)", "Ana M. Lima"), ("Birthday (from merge.csv)", "1981-03-10")]);
    assert_eq!(c.phones.len(), 2);
    // Importing the same file again changes nothing and keeps nothing twice.
    let started = script.api_import_started("merge.csv", csv.as_bytes().to_vec()).await;
    let again = script.wait_finished(&started.import_id).await;
    assert_eq!((again.counts.unchanged, again.counts.kept_beside), (2, 0), "{again:?}");
    app.stop().await;
}

async fn search_finds_nicknames_cities_notes_groups_and_custom_values(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("search@example.com").await;
    script.wait_finished(&script.api_import_started("google.csv", fixture("google-contacts.csv")).await.import_id).await;
    for query in ["Mari", "porto", "PEANUTS", "book club", "aia-77120", "Quintero Arquitectos", "Design", "tomás rivera"] {
        let found = script.contacts(query).await;
        assert_eq!(found.total, 1, "{query}");
        assert_eq!(found.contacts[0].emails[0], "marisol@quintero-arq.example", "{query}");
    }
    assert_eq!(script.contacts("nothing like this").await.total, 0);
    app.stop().await;
}

async fn an_export_filters_as_search_does_and_refuses_what_it_cannot_write(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("exports@example.com").await;
    script.wait_finished(&script.api_import_started("people.csv", people_csv(1200)).await.import_id).await;
    let all = export(&script, "/api/contacts/export.vcf").await;
    assert_eq!(all.matches("BEGIN:VCARD").count(), 1200, "pages of an export join up");
    let some = export(&script, "/api/contacts/export.csv?q=acme%203").await;
    assert_eq!(some.lines().count(), 1 + 171, "the header and the 171 contacts of Acme 3");
    let response = script.get("/api/contacts/export.vcf?version=2.1").await;
    assert_eq!(response.status(), 400);
    let response = script.get("/api/contacts/export.csv?q=%00").await;
    assert_eq!(response.status(), 422, "as search answers");
    let csv = script.get("/api/contacts/export.csv").await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(csv.headers()["content-disposition"], "attachment; filename=\"contacts.csv\"");
    app.stop().await;
}

/// Contacts stored before full contacts (their fields in columns) keep every
/// field through the migration, are searchable by their notes, and match again.
async fn contacts_from_before_full_contacts_migrate_with_nothing_lost(backend: Backend) {
    let database = test_database(backend).await;
    migrate_until(&database, "20261207000001").await;
    let now = match backend {
        Backend::Sqlite => "0",
        Backend::Postgres => "now()",
    };
    let setup = [
        format!("INSERT INTO users (email, password_hash, created_at) VALUES ('old@example.com', 'x', {now})"),
        format!(
            "INSERT INTO contacts (id, user_id, display_name, given_name, family_name, emails, phones, organization, title, notes, search_text, identities, created_at, updated_at)
             VALUES (1, 1, 'Ana Lima', 'Ana', 'Lima', '[\"ana@x.example\",\"ana@home.example\"]',
                     '[{{\"raw\":\"+1 (555) 010-0199\",\"normalized\":\"+15550100199\"}}]', 'Acme', 'CTO', 'Met in Lisbon', 'ana lima\nana@x.example\n',
                     '[[\"email\",\"ana@x.example\"],[\"email\",\"ana@home.example\"]]', {now}, {now})"
        ),
        "INSERT INTO contact_identities (user_id, kind, value, contact_id) VALUES (1, 'email', 'ana@x.example', 1), (1, 'email', 'ana@home.example', 1)".to_owned(),
    ];
    let mut setup: Vec<String> = setup.to_vec();
    if backend == Backend::Postgres {
        setup.push("SELECT setval('contacts_id_seq', 1)".to_owned());
    }
    run_sql(&database, &setup).await;
    let database = std::sync::Arc::new(database);
    let app = spawn_instance(database, &AppOptions::default()).await;
    let token = intake::auth::create_token(&app.services, 1, "test").await.expect("token");
    let script = app.script(&token.token);
    let detail: ContactDetail = script.get("/api/contacts/1").await.json().await.unwrap();
    let c = &detail.contact;
    assert_eq!((c.display_name.as_str(), c.name.given.as_str(), c.name.family.as_str()), ("Ana Lima", "Ana", "Lima"));
    let emails: Vec<&str> = c.emails.iter().map(|e| e.value.as_str()).collect();
    assert_eq!(emails, ["ana@x.example", "ana@home.example"]);
    assert_eq!((c.phones[0].value.raw.as_str(), c.phones[0].value.normalized.as_str()), ("+1 (555) 010-0199", "+15550100199"));
    assert_eq!(c.organization(), ("Acme", "CTO"));
    assert_eq!(c.notes, "Met in Lisbon");
    assert_eq!(script.contacts("lisbon").await.total, 1, "notes are searchable after the migration");
    let started = script.api_import_started("again.csv", b"Name,Email,City\r\nAna Lima,ANA@home.example,Lisbon\r\n".to_vec()).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.counts.created, done.counts.updated), (0, 1), "the migrated contact matches: {done:?}");
    let c: ContactDetail = script.get("/api/contacts/1").await.json().await.unwrap();
    assert_eq!(c.contact.addresses[0].value.city, "Lisbon");
    app.stop().await;
}

async fn run_sql(database: &TestDatabase, statements: &[String]) {
    match database.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&database.url).await.unwrap();
            for statement in statements {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
            for statement in statements {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
    }
}
