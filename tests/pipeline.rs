//! The import pipeline end to end over HTTP, on SQLite and on Postgres.

mod common;

use common::*;
use leptos::server_fn::ServerFn;
use intake::model::{ImportStatus, UploadPreview};
use std::time::Duration;

on_both_backends!(
    a_file_becomes_exact_contacts,
    reimporting_creates_nothing_new_and_changes_merge,
    the_preview_mapping_is_what_gets_imported,
    cancel_leaves_consistent_state,
    an_oversize_upload_is_refused_and_leaves_nothing,
    malformed_uploads_get_400,
    hostile_files_get_clear_refusals,
    row_errors_are_listed_and_reported,
    health_needs_the_database,
    windows_1252_past_the_sniffed_start_is_decoded_right,
    contacts_are_listed_by_name_and_searched_on_every_field,
    awkward_characters_are_stored_exactly,
);

async fn a_file_becomes_exact_contacts(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("pipeline@example.com").await;
    let mut csv = String::from_utf8(people_csv(250)).unwrap();
    // In-file duplicates merge: same email in other case, with a second phone.
    csv.push_str("Person7,Tester,PERSON7@EXAMPLE.COM,+1 555 999999,Acme 0\r\n");
    csv.push_str("Person8,Tester,person8@example.com,+1 555 000008,Acme 1\r\n");
    csv.push_str(",,,,\r\n");
    csv.push_str(",,not-an-email,,\r\n");
    let started = script.api_import_started("people.csv", csv.into_bytes()).await;
    assert_eq!(started.status_url, format!("/api/imports/{}", started.import_id));

    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.status, ImportStatus::Succeeded, "{done:?}");
    assert_eq!(done.rows_total, Some(254));
    assert_eq!(done.rows_done, 254);
    assert_eq!(done.counts.created, 250);
    assert_eq!(done.counts.updated, 1, "the second phone merged into person7");
    assert_eq!(done.counts.unchanged, 1);
    assert_eq!(done.counts.skipped, 1);
    assert_eq!(done.counts.rejected, 1);

    let all = script.contacts("").await;
    assert_eq!(all.total, 250);
    let seven = script.contacts("person7@example.com").await;
    assert_eq!(seven.total, 1);
    assert_eq!(seven.contacts[0].name, "Person7 Tester");
    assert_eq!(seven.contacts[0].phones, vec!["+1 555 000007".to_owned(), "+1 555 999999".to_owned()]);

    // The REST status document has the documented shape.
    let raw: serde_json::Value = script.get(&started.status_url).await.json().await.unwrap();
    assert_eq!(raw["status"], "succeeded");
    assert_eq!(raw["rows_done"], 254);
    assert_eq!(raw["rows_total"], 254);
    assert_eq!(raw["counts"]["created"], 250);
    app.stop().await;
}

async fn reimporting_creates_nothing_new_and_changes_merge(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("again@example.com").await;
    let first = script.api_import_started("a.csv", people_csv(300)).await;
    assert_eq!(script.wait_finished(&first.import_id).await.counts.created, 300);
    let second = script.api_import_started("a.csv", people_csv(300)).await;
    let done = script.wait_finished(&second.import_id).await;
    assert_eq!(done.status, ImportStatus::Succeeded);
    assert_eq!(done.counts.created, 0);
    assert_eq!(done.counts.unchanged, 300);
    assert_eq!(script.contacts("").await.total, 300);

    // A later export with a new phone and a new person updates one and creates one.
    let csv = "First Name,Last Name,Email,Phone,Company\r\n\
               Person5,Tester,person5@example.com,+1 555 777777,Acme 5\r\n\
               New,Person,new@example.com,,\r\n";
    let third = script.api_import_started("b.csv", csv.as_bytes().to_vec()).await;
    let done = script.wait_finished(&third.import_id).await;
    assert_eq!((done.counts.created, done.counts.updated, done.counts.unchanged), (1, 1, 0));
    assert_eq!(script.contacts("person5@").await.contacts[0].phones, ["+1 555 000005", "+1 555 777777"]);
    assert_eq!(script.contacts("").await.total, 301);
    app.stop().await;
}

async fn the_preview_mapping_is_what_gets_imported(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("preview@example.com").await;
    let csv = "Who;Mail;Ignored\r\nAda Lovelace;ada@example.com;x\r\nAlan Turing;alan@example.com;y\r\n";
    let response = browser.upload_for_preview("semi.csv", csv.as_bytes().to_vec()).await;
    assert_eq!(response.status(), 200);
    let preview: UploadPreview = response.json().await.unwrap();
    assert_eq!(preview.delimiter, "semicolon");
    assert_eq!(preview.headers, vec!["Who", "Mail", "Ignored"]);
    assert_eq!(preview.data_rows, 2);
    assert_eq!(preview.sample_rows.len(), 2);

    // The user maps the third column to the title field.
    let mut mapping = preview.mapping.clone();
    use intake::domain::mapping::{Field, Target};
    mapping.columns[0] = Target::field(Field::FullName);
    mapping.columns[1] = Target::field(Field::Email);
    mapping.columns[2] = Target::field(Field::Title);
    let response = browser.start_import(&preview.upload_id, &mapping).await;
    assert_eq!(response.status(), 200);
    let started: intake::model::StartedImport = response.json().await.unwrap();
    let done = browser.wait_finished(&started.import_id).await;
    assert_eq!(done.counts.created, 2);
    let ada = browser.contacts("ada@").await;
    assert_eq!(ada.contacts[0].title, "x");
    assert_eq!(ada.contacts[0].name, "Ada Lovelace");
    app.stop().await;
}

async fn cancel_leaves_consistent_state(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions::configured(|c| {
            c.import_batch_rows = 50;
            c.import_batch_pause = Duration::from_millis(40);
        }),
    )
    .await;
    let (_, script) = app.script_for_new_user("cancel@example.com").await;
    let started = script.api_import_started("big.csv", people_csv(5000)).await;
    wait_until(Duration::from_secs(60), || async {
        (script.import_view(&started.import_id).await.rows_done >= 100).then_some(())
    })
    .await
    .expect("the import made progress");
    let response = script.http.post(script.url(&format!("/api/imports/{}/cancel", started.import_id))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.status, ImportStatus::Cancelled);
    assert!(done.rows_done < 5000, "cancelled before the end: {done:?}");
    // What was committed is exactly what the counters say.
    assert_eq!(done.counts.created + done.counts.updated + done.counts.unchanged, done.rows_done);
    assert_eq!(script.contacts("").await.total, done.counts.created);
    // The slot is free again.
    let next = script.api_import_started("small.csv", people_csv(3)).await;
    assert_eq!(script.wait_finished(&next.import_id).await.status, ImportStatus::Succeeded);
    app.stop().await;
}

async fn an_oversize_upload_is_refused_and_leaves_nothing(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|c| c.import_max_upload_bytes = 64 * 1024)).await;
    let (user_id, script) = app.script_for_new_user("big@example.com").await;
    let response = script.api_import("huge.csv", people_csv(5000)).await;
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "too_large");
    let browser = app.signed_in_browser("big2@example.com").await;
    let response = browser.upload_for_preview("huge.csv", people_csv(5000)).await;
    assert_eq!(response.status(), 413);
    assert_eq!(stored_upload_bytes(&app).await, 0, "no chunks left behind");
    assert!(app.services.store.list_imports(user_id, 10).await.unwrap().is_empty());
    app.stop().await;
}

/// Bytes of upload chunks in the database, whatever the backend.
async fn stored_upload_bytes(app: &TestApp) -> i64 {
    match app.database.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database.url).await.unwrap();
            sqlx::query_scalar("SELECT COALESCE(SUM(length(data)), 0) FROM upload_chunks").fetch_one(&pool).await.unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database.url).await.unwrap();
            sqlx::query_scalar("SELECT COALESCE(SUM(length(data)), 0)::BIGINT FROM upload_chunks").fetch_one(&pool).await.unwrap()
        }
    }
}

async fn malformed_uploads_get_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("malformed@example.com").await;
    let browser = app.signed_in_browser("malformed2@example.com").await;
    let upload_fn = intake::api::imports::UploadFile::PATH;
    let cases: Vec<(&str, Option<&str>, &[u8])> = vec![
        ("/api/imports", None, b"whatever"),
        ("/api/imports", Some("multipart/form-data"), b"no boundary"),
        ("/api/imports", Some("text/csv"), b"a,b\n1,2\n"),
        ("/api/imports", Some("multipart/form-data; boundary=XYZ"), b"--XYZ\r\ngarbage without headers"),
        ("/api/imports", Some("multipart/form-data; boundary=XYZ"), b"--XYZ--\r\n"),
        (upload_fn, None, b"whatever"),
        (upload_fn, Some("multipart/form-data"), b"no boundary"),
        (upload_fn, Some("multipart/form-data; boundary=\"unterminated"), b"x"),
    ];
    for (path, content_type, body) in cases {
        let client = if path == "/api/imports" { &script } else { &browser };
        let mut request = client.http.post(client.url(path)).body(body.to_vec());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{path} with {content_type:?}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], "malformed_upload", "{path} with {content_type:?}");
    }
    // The server is still up.
    assert_eq!(script.get("/healthz").await.status(), 200);
    app.stop().await;
}

async fn hostile_files_get_clear_refusals(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("hostile@example.com").await;
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10".to_vec();
    png.extend((0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.csv", Vec::new(), "This file is empty."),
        ("image.csv", png, "This does not look like a CSV or text export."),
    ];
    for (name, bytes, message) in cases {
        let response = browser.upload_for_preview(name, bytes).await;
        assert_eq!(response.status(), 422, "{name}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], "not_csv");
        assert_eq!(error["reason"], message);
    }
    // A huge field and a NUL byte are row errors, not failures.
    let mut csv = b"Name,Email\r\nAda,ada@example.com\r\n".to_vec();
    csv.extend(b"Huge,");
    csv.extend(std::iter::repeat_n(b'x', 200 * 1024));
    csv.extend(b"\r\nNul\0,nul@example.com\r\nBob,bob@example.com\r\n");
    let (_, script) = app.script_for_new_user("hostile2@example.com").await;
    let started = script.api_import_started("odd.csv", csv).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.status, ImportStatus::Succeeded);
    assert_eq!((done.counts.created, done.counts.rejected), (2, 2));
    app.stop().await;
}

async fn row_errors_are_listed_and_reported(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("errors@example.com").await;
    // Lines 3 and 5 import with their bad email kept as a custom field; line 6 identifies nobody.
    let csv = "Name,Email\r\nAda,ada@example.com\r\nBad,=cmd|' /C calc'!A0\r\n,\r\nNo Mail,@nope\r\n,only@\r\n";
    let started = script.api_import_started("bad.csv", csv.as_bytes().to_vec()).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.counts.created, done.counts.warned, done.counts.rejected, done.counts.skipped), (3, 2, 1, 1));
    let errors: serde_json::Value = script.get(&format!("/api/imports/{}/errors", started.import_id)).await.json().await.unwrap();
    assert_eq!(errors["total"], 3);
    let listed: Vec<(u64, bool)> = (0..3).map(|i| (errors["errors"][i]["line"].as_u64().unwrap(), errors["errors"][i]["warning"].as_bool().unwrap())).collect();
    assert_eq!(listed, [(3, true), (5, true), (6, false)]);
    assert!(errors["errors"][0]["reason"].as_str().unwrap().contains("not a valid email"));
    assert_eq!(errors["errors"][2]["reason"], "\"only@\" is not a valid email address.");
    let report = script.get(&format!("/api/imports/{}/errors.csv", started.import_id)).await;
    assert_eq!(report.headers()["content-type"], "text/csv; charset=utf-8");
    let report = report.text().await.unwrap();
    assert!(report.starts_with("line,kind,reason\n3,warning,"), "{report}");
    assert!(report.contains("\n6,error,"), "{report}");
    app.stop().await;
}

async fn health_needs_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.browser();
    let healthy = client.get("/healthz").await;
    assert_eq!((healthy.status().as_u16(), healthy.text().await.unwrap()), (200, "ok".to_owned()));
    lose_the_database(&app).await;
    let response = client.get("/healthz").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.text().await.unwrap(), "database unavailable");
    app.stop().await;
}

/// Takes the database away under a running app.
async fn lose_the_database(app: &TestApp) {
    match app.database.backend {
        // An embedded file cannot vanish from under open connections; a closed pool
        // is the nearest thing.
        Backend::Sqlite => app.services.store.close().await,
        Backend::Postgres => {
            let admin = sqlx::PgPool::connect(&std::env::var("TEST_DATABASE_URL").unwrap()).await.unwrap();
            let name = app.database.url.rsplit('/').next().unwrap();
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await.unwrap();
        }
    }
}

async fn windows_1252_past_the_sniffed_start_is_decoded_right(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("late-umlaut@example.com").await;
    // Over 64 KiB of plain ASCII, then one Windows-1252 row: "Jürgen Müller".
    let mut csv = people_csv(2000);
    assert!(csv.len() > 64 * 1024);
    csv.extend(b"J\xfcrgen,M\xfcller,juergen@example.com,,\r\n");
    let started = script.api_import_started("outlook.csv", csv).await;
    assert_eq!(script.wait_finished(&started.import_id).await.counts.created, 2001);
    let found = script.contacts("juergen@").await;
    assert_eq!(found.contacts[0].name, "Jürgen Müller");
    app.stop().await;
}

async fn contacts_are_listed_by_name_and_searched_on_every_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("search@example.com").await;
    let csv = "Name,Email,Phone,Company,Job Title\r\n\
               zoë Adams,zoe@example.com,+44 20 7946 0018,Globex,Engineer\r\n\
               Bob Brown,bob@brown.example,,Initech,100% Sales\r\n\
               alice Cole,,+1 (555) 010-2030,Acme,CTO\r\n";
    let started = script.api_import_started("people.csv", csv.as_bytes().to_vec()).await;
    assert_eq!(script.wait_finished(&started.import_id).await.counts.created, 3);

    let names = |page: intake::model::ContactsPage| page.contacts.into_iter().map(|c| c.name).collect::<Vec<_>>();
    // Sorted by name without regard to case.
    assert_eq!(names(script.contacts("").await), ["alice Cole", "Bob Brown", "zoë Adams"]);
    assert_eq!(names(script.contacts("BROWN").await), ["Bob Brown"], "name, any case");
    assert_eq!(names(script.contacts("zoe@").await), ["zoë Adams"], "email");
    assert_eq!(names(script.contacts("5550102030").await), ["alice Cole"], "phone digits");
    assert_eq!(names(script.contacts("initech").await), ["Bob Brown"], "organization");
    assert_eq!(names(script.contacts("cto").await), ["alice Cole"], "title");
    assert_eq!(names(script.contacts("100%").await), ["Bob Brown"], "% is a literal");
    assert_eq!(names(script.contacts("0%").await), ["Bob Brown"]);
    assert_eq!(script.contacts("nobody").await.total, 0);
    app.stop().await;
}

async fn awkward_characters_are_stored_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("awkward@example.com").await;
    // Backslashes, COPY's NULL marker, tabs and line breaks inside quoted fields.
    let organization = "Back\\slash \\N";
    let notes = "Tab\there\r\nnew line \\N \\t end";
    let csv = format!("Name,Email,Company,Notes\r\nAda,ada@example.com,\"{organization}\",\"{notes}\"\r\n");
    let started = script.api_import_started("awkward.csv", csv.into_bytes()).await;
    assert_eq!(script.wait_finished(&started.import_id).await.counts.created, 1);
    assert_eq!(script.contacts("ada").await.contacts[0].organization, organization);
    let card: String = match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database.url).await.unwrap();
            sqlx::query_scalar("SELECT card FROM contacts").fetch_one(&pool).await.unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database.url).await.unwrap();
            sqlx::query_scalar("SELECT card FROM contacts").fetch_one(&pool).await.unwrap()
        }
    };
    let stored: intake::domain::contact::Contact = serde_json::from_str(&card).unwrap();
    assert_eq!(stored.notes, notes);
    app.stop().await;
}
