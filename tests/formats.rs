//! vCards and Excel workbooks through the page's steps and the REST API, on
//! SQLite and on Postgres: the same preview, mapping, dedupe and row errors as CSV.

mod common;

use common::*;
use intake::model::{ImportStatus, UploadPreview};
use leptos::server_fn::ServerFn;

on_both_backends!(
    a_vcard_file_is_previewed_and_imported_by_the_page,
    vcards_from_the_api_merge_with_csv_contacts,
    a_workbook_is_previewed_and_its_other_sheet_imported,
    a_workbook_sheet_is_chosen_through_the_api,
    unreadable_workbooks_get_clear_refusals,
);

async fn preview_of(browser: &Client, name: &str, bytes: Vec<u8>) -> UploadPreview {
    let response = browser.upload_for_preview(name, bytes).await;
    assert_eq!(response.status(), 200, "{name}");
    response.json().await.unwrap()
}

async fn a_vcard_file_is_previewed_and_imported_by_the_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("vcard@example.com").await;
    let mut vcf = people_vcf(40);
    // A broken card between good ones, and an Android 2.1 card in QUOTED-PRINTABLE.
    vcf.extend_from_slice(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Broken\r\nnot a property\r\nEND:VCARD\r\n");
    vcf.extend_from_slice(
        b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;\r\nTEL;CELL:+49 170 1234567\r\nEND:VCARD\r\n",
    );
    // Named .txt on purpose: the content says what it is.
    let preview = preview_of(&browser, "contacts.txt", vcf).await;
    assert_eq!(preview.format, "vCard 3.0");
    assert!(preview.is_vcard);
    assert_eq!(preview.data_rows, 42);
    assert_eq!(preview.preset, "vCard properties");
    // A line per kind of property, with how many cards hold it and two of its values.
    assert_eq!(preview.headers, ["FN", "N", "EMAIL", "TEL", "ORG", "NOTE"]);
    let cards: Vec<Option<u64>> = preview.columns.iter().map(|c| c.cards).collect();
    assert_eq!(cards, [Some(41), Some(41), Some(40), Some(41), Some(40), Some(40)]);
    assert_eq!(preview.columns[2].samples, ["p0@work.example", "person0@example.com"]);
    assert_eq!(preview.columns[5].samples, ["card 0, folded over a line", "card 1, folded over a line"]);
    assert_eq!(preview.columns[4].goes_to, "Organizations");
    assert_eq!(preview.summary.sentence(), "6 properties will be imported, 0 kept as custom fields, 0 ignored.");

    let response = browser.start_import(&preview.upload_id, &preview.mapping).await;
    assert_eq!(response.status(), 200);
    let started: intake::model::StartedImport = response.json().await.unwrap();
    let done = browser.wait_finished(&started.import_id).await;
    assert_eq!(done.status, ImportStatus::Succeeded, "{done:?}");
    // The broken line costs nothing but itself: its card imports, with a warning.
    assert_eq!((done.rows_done, done.counts.created, done.counts.rejected, done.counts.warned), (42, 42, 0, 1));
    let errors: intake::model::RowErrorsPage = browser.get(&format!("/api/imports/{}/errors", started.import_id)).await.json().await.unwrap();
    assert_eq!((errors.errors[0].line, errors.errors[0].warning), (441, true));
    assert_eq!(errors.errors[0].reason, "Line 444 is not a vCard property; it was skipped.");

    let seven = browser.contacts("p7@work.example").await;
    assert_eq!(seven.total, 1);
    assert_eq!(seven.contacts[0].emails, ["person7@example.com", "p7@work.example"]);
    assert_eq!(seven.contacts[0].organization, "Acme 0");
    assert_eq!(browser.contacts("Jürgen Müller").await.total, 1);
    app.stop().await;
}

async fn vcards_from_the_api_merge_with_csv_contacts(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("vcard-api@example.com").await;
    let csv = script.api_import_started("people.csv", people_csv(30)).await;
    assert_eq!(script.wait_finished(&csv.import_id).await.counts.created, 30);
    // The same people as vCards: each brings a second email, merged, none doubled.
    let vcf = script.api_import_started("people.vcf", people_vcf(30)).await;
    let done = script.wait_finished(&vcf.import_id).await;
    assert_eq!(done.status, ImportStatus::Succeeded, "{done:?}");
    assert_eq!((done.counts.created, done.counts.updated), (0, 30));
    assert_eq!(script.contacts("").await.total, 30);
    let again = script.api_import_started("people.vcf", people_vcf(30)).await;
    assert_eq!(script.wait_finished(&again.import_id).await.counts.unchanged, 30);
    app.stop().await;
}

async fn a_workbook_is_previewed_and_its_other_sheet_imported(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("xlsx@example.com").await;
    let preview = preview_of(&browser, "people.bin", people_xlsx(25)).await;
    assert_eq!(preview.format, "Excel workbook (.xlsx)");
    assert_eq!((preview.encoding.as_str(), preview.delimiter.as_str()), ("", ""));
    assert_eq!(preview.sheets, ["People", "Other"]);
    assert_eq!(preview.sheet.as_deref(), Some("People"));
    assert_eq!((preview.header_line, preview.data_rows), (2, 25));
    assert_eq!(preview.sample_rows[0], ["Person0", "Tester", "person0@example.com", "15550000000"]);

    let path = intake::api::imports::ChooseSheet::PATH;
    let response = browser.post_json(path, &serde_json::json!({ "upload_id": preview.upload_id, "sheet": "Other" })).await;
    assert_eq!(response.status(), 200);
    let other: UploadPreview = response.json().await.unwrap();
    assert_eq!((other.upload_id.as_str(), other.sheet.as_deref(), other.data_rows), (preview.upload_id.as_str(), Some("Other"), 1));
    assert_eq!(other.headers, ["Name", "E-mail"]);
    let response = browser.post_json(path, &serde_json::json!({ "upload_id": preview.upload_id, "sheet": "Missing" })).await;
    assert_eq!(response.status(), 422);

    let response = browser.start_import(&other.upload_id, &other.mapping).await;
    assert_eq!(response.status(), 200);
    let started: intake::model::StartedImport = response.json().await.unwrap();
    let done = browser.wait_finished(&started.import_id).await;
    assert_eq!((done.status, done.counts.created), (ImportStatus::Succeeded, 1), "{done:?}");
    assert_eq!(browser.contacts("").await.contacts[0].emails, ["other@example.com"]);
    app.stop().await;
}

async fn a_workbook_sheet_is_chosen_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("xlsx-api@example.com").await;
    let first = script.api_import_started("people.xlsx", people_xlsx(120)).await;
    let done = script.wait_finished(&first.import_id).await;
    assert_eq!((done.status, done.rows_done, done.counts.created), (ImportStatus::Succeeded, 120, 120), "{done:?}");
    let five = script.contacts("person5@example.com").await;
    assert_eq!(five.contacts[0].phones, ["15550000005"]);

    let response = script.api_import_sheet("people.xlsx", people_xlsx(120), "Other").await;
    assert_eq!(response.status(), 202);
    let other: intake::model::StartedImport = response.json().await.unwrap();
    assert_eq!(script.wait_finished(&other.import_id).await.counts.created, 1);
    assert_eq!(script.contacts("").await.total, 121);
    app.stop().await;
}

async fn unreadable_workbooks_get_clear_refusals(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("bad-xlsx@example.com").await;
    let mut ods = b"PK\x03\x04\x14\x00\x00\x00\x00\x00mimetypeapplication/vnd.oasis.opendocument.spreadsheet".to_vec();
    ods.resize(200, 0);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("sheet.ods", ods, "OpenDocument (.ods) files cannot be read yet; save the sheet as .xlsx or CSV."),
        ("old.xls", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0".to_vec(), "Excel 97-2003 (.xls) files cannot be read yet; save the sheet as .xlsx or CSV."),
    ];
    for (name, bytes, message) in cases {
        let response = browser.upload_for_preview(name, bytes).await;
        assert_eq!(response.status(), 422, "{name}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["reason"], message);
    }
    let response = browser.upload_for_preview("cut.xlsx", b"PK\x03\x04 a zip cut short".to_vec()).await;
    assert_eq!(response.status(), 422);
    let error: serde_json::Value = response.json().await.unwrap();
    assert!(error["reason"].as_str().unwrap().starts_with("This workbook could not be read"), "{error}");
    app.stop().await;
}
