//! Contact identity end to end: which rows are one person, on SQLite and on Postgres.

mod common;

use common::*;
use intake::model::{ContactView, ImportStatus, ImportView};

on_both_backends!(
    a_contact_gains_an_email,
    a_secondary_email_matches,
    reordered_and_recased_emails_match,
    nfc_and_nfd_spellings_are_one_person,
    phone_formats_match_with_the_same_name,
    a_row_matching_two_contacts_merges_them_into_the_oldest,
    rows_sharing_identities_across_batches_become_one_contact,
    two_users_with_the_same_addresses_stay_separate,
    search_folds_case_beyond_ascii,
    api_pages_count_from_one,
    existing_contacts_gain_identities_and_merge_on_upgrade,
    deleting_a_user_deletes_their_contacts_identities,
    backslashes_in_identities_survive_the_bulk_write,
    a_batch_larger_than_one_bulk_message_is_written_whole,
    identities_stored_before_contacts_listed_them_are_listed_on_upgrade,
    each_kind_of_identity_is_held_as_listed_and_goes_with_its_contact,
);

const HEADER: &str = "Name,Email,Phone\r\n";

async fn app_with_a_user(backend: Backend) -> (TestApp, Client) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("owner@example.com").await;
    (app, script)
}

/// Imports `rows` (after `HEADER`) and expects it to succeed at the first
/// attempt: a batch that broke the identities' unique key would be retried, and
/// could then succeed.
async fn import(script: &Client, rows: &str) -> ImportView {
    let started = script.api_import_started("contacts.csv", format!("{HEADER}{rows}").into_bytes()).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.status, done.attempt), (ImportStatus::Succeeded, 1), "{done:?}");
    done
}

/// (created, updated, unchanged, merged)
type Counted = (u64, u64, u64, u64);

fn counts(view: &ImportView) -> Counted {
    (view.counts.created, view.counts.updated, view.counts.unchanged, view.counts.merged)
}

/// Imports each file in turn, expecting its counts.
async fn imports_count(script: &Client, files: &[(&str, Counted)]) {
    for (rows, expected) in files {
        assert_eq!(counts(&import(script, rows).await), *expected, "importing {rows:?}");
    }
}

async fn the_only_contact(script: &Client) -> ContactView {
    let [only] = everyone(script).await.try_into().expect("one contact");
    only
}

async fn everyone(script: &Client) -> Vec<ContactView> {
    let page = script.contacts("").await;
    assert_eq!(page.total as usize, page.contacts.len());
    page.contacts
}

async fn a_contact_gains_an_email(backend: Backend) {
    let (app, script) = app_with_a_user(backend).await;
    let gains = "ana,ana@example.com,+1 555 010 0100\r\n";
    // The same row again changes nothing.
    imports_count(&script, &[("Ana,,+1 555 010 0100\r\n", (1, 0, 0, 0)), (gains, (0, 1, 0, 0)), (gains, (0, 0, 1, 0))]).await;
    let ana = the_only_contact(&script).await;
    assert_eq!((ana.name.as_str(), ana.emails.as_slice()), ("Ana", ["ana@example.com".to_owned()].as_slice()));
    assert_eq!(ana.phones, ["+1 555 010 0100"]);
    app.stop().await;
}

async fn a_secondary_email_matches(backend: Backend) {
    let (app, script) = app_with_a_user(backend).await;
    let files = [
        ("Bo,bo@work.example ::: bo@home.example,\r\n", (1, 0, 0, 0)),
        ("Bo,bo@home.example,\r\n", (0, 0, 1, 0)),
        // A new phone under the secondary address updates the same contact.
        ("Bo,bo@home.example,030 1234\r\n", (0, 1, 0, 0)),
    ];
    imports_count(&script, &files).await;
    let bo = the_only_contact(&script).await;
    assert_eq!(bo.emails, ["bo@work.example", "bo@home.example"]);
    assert_eq!(bo.phones, ["030 1234"]);
    app.stop().await;
}

async fn reordered_and_recased_emails_match(backend: Backend) {
    let (app, script) = app_with_a_user(backend).await;
    let files = [
        ("Bo,bo@work.example ::: bo@home.example,\r\n", (1, 0, 0, 0)),
        ("Bo,BO@WORK.EXAMPLE,\r\n", (0, 0, 1, 0)),
        ("Bo,bo@home.example ::: bo@work.example,\r\n", (0, 0, 1, 0)),
    ];
    imports_count(&script, &files).await;
    let bo = the_only_contact(&script).await;
    assert_eq!(bo.emails, ["bo@work.example", "bo@home.example"], "the primary stays first");
    app.stop().await;
}

async fn nfc_and_nfd_spellings_are_one_person(backend: Backend) {
    let (app, script) = app_with_a_user(backend).await;
    let (nfc, nfd) = ("Zo\u{eb}", "Zoe\u{308}");
    let files = [
        (format!("{nfc},{nfc}@example.com,\r\n"), (1, 0, 0, 0)),
        (format!("{nfd},{}@EXAMPLE.com,\r\n", nfd.to_uppercase()), (0, 0, 1, 0)),
        // The name with a phone matches across spellings too.
        (format!("{nfc} Adams,,+44 20 7946 0018\r\n"), (1, 0, 0, 0)),
        ("ZOE\u{308}  ADAMS,,+442079460018\r\n".to_owned(), (0, 0, 1, 0)),
        // An internationalised domain in Unicode and in its ASCII form is one address.
        ("Jürgen,juergen@müller.example,\r\n".to_owned(), (1, 0, 0, 0)),
        ("Jürgen,Juergen@xn--mller-kva.example,\r\n".to_owned(), (0, 0, 1, 0)),
    ];
    imports_count(&script, &files.iter().map(|(rows, counted)| (rows.as_str(), *counted)).collect::<Vec<_>>()).await;
    assert_eq!(everyone(&script).await.len(), 3);
    app.stop().await;
}

async fn phone_formats_match_with_the_same_name(backend: Backend) {
    let (app, script) = app_with_a_user(backend).await;
    let files = [
        ("Cy,cy@one.example,+1 (555) 010-0200\r\n", (1, 0, 0, 0)),
        ("cy,cy@two.example,+15550100200\r\n", (0, 1, 0, 0)),
        // The same phone under another name is another person.
        ("Dee,,+1.555.010.0200\r\n", (1, 0, 0, 0)),
    ];
    imports_count(&script, &files).await;
    let people = everyone(&script).await;
    assert_eq!(people.len(), 2);
    assert_eq!(people[0].emails, ["cy@one.example", "cy@two.example"]);
    assert_eq!(people[0].phones, ["+1 (555) 010-0200"]);
    app.stop().await;
}

async fn a_row_matching_two_contacts_merges_them_into_the_oldest(backend: Backend) {
    let (app, script) = app_with_a_user(backend).await;
    assert_eq!(counts(&import(&script, "Ana,ana@work.example,\r\nAna Lima,ana@home.example,+1 555 0101\r\n").await).0, 2);
    let done = import(&script, "Ana L.,ana@home.example ::: ana@work.example,\r\n").await;
    assert_eq!(counts(&done), (0, 1, 0, 1));
    let ana = the_only_contact(&script).await;
    assert_eq!(ana.name, "Ana", "the oldest contact survives");
    assert_eq!(ana.emails, ["ana@work.example", "ana@home.example"]);
    assert_eq!(ana.phones, ["+1 555 0101"]);
    // Both addresses and the younger contact's name and phone find her now.
    assert_eq!(counts(&import(&script, "Ana Lima,,+1 555 0101\r\nAna,ana@home.example,\r\n").await), (0, 0, 2, 0));
    let raw: serde_json::Value = script.get(&format!("/api/imports/{}", done.import_id)).await.json().await.unwrap();
    assert_eq!(raw["counts"]["merged"], 1);
    // The younger contact's identities went with it and were stored again for Ana.
    assert_eq!(identities_off_their_listing(&app.database).await, 0);
    assert_eq!(operator_sql(&app.database, &[], "SELECT COUNT(*) FROM contact_identities").await, 4);
    app.stop().await;
}

async fn rows_sharing_identities_across_batches_become_one_contact(backend: Backend) {
    // The test config commits 100 rows per batch.
    let (app, script) = app_with_a_user(backend).await;
    let mut rows = String::new();
    for i in 0..250 {
        match i {
            10 => rows.push_str("Pat,pat@one.example,\r\n"),
            120 => rows.push_str("Pat,pat@two.example,\r\n"),
            // Links the two above, from a later batch.
            230 => rows.push_str("Pat,pat@two.example ::: pat@one.example,\r\n"),
            // Within one batch, a link before the rows it links.
            20 => rows.push_str("Lee,lee@one.example ::: lee@two.example,\r\n"),
            30 => rows.push_str("Lee,lee@two.example,+49 30 1\r\n"),
            40 => rows.push_str("Lee,,+49301\r\n"),
            _ => rows.push_str(&format!("Person {i},p{i}@example.com,\r\n")),
        }
    }
    let done = import(&script, &rows).await;
    // Pat: two contacts in two batches, merged by the third; Lee: one contact.
    assert_eq!(counts(&done), (244 + 2 + 1, 2, 1, 1));
    assert_eq!(everyone_count(&script).await, 246);
    let pat = script.contacts("pat@").await;
    assert_eq!(pat.contacts.len(), 1);
    assert_eq!(pat.contacts[0].emails, ["pat@one.example", "pat@two.example"]);
    let lee = script.contacts("lee@").await;
    assert_eq!(lee.contacts.len(), 1);
    assert_eq!(lee.contacts[0].phones, ["+49 30 1"]);
    assert_eq!(identities_off_their_listing(&app.database).await, 0);
    app.stop().await;
}

async fn everyone_count(script: &Client) -> u64 {
    script.contacts("").await.total
}

async fn two_users_with_the_same_addresses_stay_separate(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = app.script_for_new_user("first@example.com").await;
    let (_, second) = app.script_for_new_user("second@example.com").await;
    let rows = "Ana,ana@example.com,+1 555 0100\r\nBo,bo@example.com,\r\n";
    assert_eq!(counts(&import(&first, rows).await), (2, 0, 0, 0));
    assert_eq!(counts(&import(&second, rows).await), (2, 0, 0, 0), "the second user's rows match nothing of the first's");
    assert_eq!(counts(&import(&second, "Ana,ana@example.com ::: bo@example.com,\r\n").await), (0, 1, 0, 1));
    assert_eq!(everyone_count(&first).await, 2, "a merge for one user leaves the other's contacts alone");
    assert_eq!(everyone_count(&second).await, 1);
    app.stop().await;
}

async fn search_folds_case_beyond_ascii(backend: Backend) {
    let (app, script) = app_with_a_user(backend).await;
    import(
        &script,
        "Zoë Adams,zoe@example.com ::: zoe.adams@work.example,+44 20 7946 0018 ::: 030 5555\r\n\
         Hauptstraße GmbH,info@haupt.example,\r\n\
         Ωmega Σ,omega@example.com,\r\n",
    )
    .await;
    let names = |page: intake::model::ContactsPage| page.contacts.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(names(script.contacts("ZOË").await), ["Zoë Adams"]);
    assert_eq!(names(script.contacts("ZOE\u{308}").await), ["Zoë Adams"], "an NFD query");
    assert_eq!(names(script.contacts("STRASSE").await), ["Hauptstraße GmbH"]);
    assert_eq!(names(script.contacts("ωMEGA σ").await), ["Ωmega Σ"]);
    assert_eq!(names(script.contacts("ADAMS@WORK").await), ["Zoë Adams"], "the second email");
    assert_eq!(names(script.contacts("0305555").await), ["Zoë Adams"], "the second phone");
    let [zoe] = script.contacts("zoë").await.contacts.try_into().expect("one");
    assert_eq!(zoe.emails, ["zoe@example.com", "zoe.adams@work.example"]);
    assert_eq!(zoe.phones, ["+44 20 7946 0018", "030 5555"]);
    app.stop().await;
}

async fn api_pages_count_from_one(backend: Backend) {
    let (app, script) = app_with_a_user(backend).await;
    let rows: String = (0..60).map(|i| format!("Person {i:02},p{i}@example.com,\r\n")).collect();
    import(&script, &rows).await;
    let page = |n: &'static str| {
        let script = &script;
        async move {
            let response = script.http.get(script.url("/api/contacts")).query(&[("page", n)]).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<intake::model::ContactsPage>().await.unwrap()
        }
    };
    let first = page("1").await;
    assert_eq!((first.page, first.contacts.len(), first.contacts[0].name.as_str()), (1, 50, "Person 00"));
    let second = page("2").await;
    assert_eq!((second.page, second.contacts.len(), second.contacts[0].name.as_str()), (2, 10, "Person 50"));
    assert_eq!(page("0").await.contacts, first.contacts, "0 is the first page too");
    assert_eq!(script.contacts("").await.contacts, first.contacts, "no page is the first page");
    app.stop().await;
}

/// A database as the release before identities left it, with contacts that are
/// one person by the new rules, is migrated and merged when the server starts.
async fn existing_contacts_gain_identities_and_merge_on_upgrade(backend: Backend) {
    let database = test_database(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    for name in ["20261128000001_init.sql", "20261128000002_lean_contacts.sql"] {
        let source = format!("{}/migrations/{folder}/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::copy(source, dir.path().join(name)).unwrap();
    }
    let old_release = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    // Bo twice (secondary address, upper case), Cy twice (phone formats), Ana once.
    let contacts = [
        ("email:bo@work.example", "Bo", r#"["bo@work.example","bo@home.example"]"#, "[]"),
        ("email:bo@home.example", "Bo", r#"["bo@home.example"]"#, r#"[{"raw":"030 1","normalized":"0301"}]"#),
        ("name_phone:cy|+15550100200", "Cy", "[]", r#"[{"raw":"+1 (555) 010-0200","normalized":"+15550100200"}]"#),
        ("email:cy@x.example", "CY", r#"["cy@x.example"]"#, r#"[{"raw":"+15550100200","normalized":"+15550100200"}]"#),
        ("email:ana@x.example", "Ana", r#"["ana@x.example"]"#, "[]"),
    ];
    let insert_user = "INSERT INTO users (email, password_hash, created_at) VALUES ('old@example.com', 'x', 0)";
    match backend {
        Backend::Sqlite => {
            let options = database.url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap().create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            old_release.run(&pool).await.unwrap();
            sqlx::query(insert_user).execute(&pool).await.unwrap();
            for (key, name, emails, phones) in contacts {
                sqlx::query(
                    "INSERT INTO contacts (user_id, match_key, display_name, given_name, family_name, emails, phones,
                         organization, title, notes, created_at, updated_at)
                     VALUES (1, ?, ?, '', '', ?, ?, '', '', '', 0, 0)",
                )
                .bind(key)
                .bind(name)
                .bind(emails)
                .bind(phones)
                .execute(&pool)
                .await
                .unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
            old_release.run(&pool).await.unwrap();
            sqlx::query(&insert_user.replace(", 0)", ", now())")).execute(&pool).await.unwrap();
            for (key, name, emails, phones) in contacts {
                sqlx::query(
                    "INSERT INTO contacts (user_id, match_key, display_name, given_name, family_name, emails, phones,
                         organization, title, notes, created_at, updated_at)
                     VALUES (1, $1, $2, '', '', $3::jsonb, $4::jsonb, '', '', '', now(), now())",
                )
                .bind(key)
                .bind(name)
                .bind(emails)
                .bind(phones)
                .execute(&pool)
                .await
                .unwrap();
            }
            pool.close().await;
        }
    }

    let database = std::sync::Arc::new(database);
    let app = spawn_instance(database, &AppOptions::default()).await;
    let token = intake::auth::create_token(&app.services, 1, "test").await.expect("token");
    let script = app.script(&token.token);
    let people = everyone(&script).await;
    let summary: Vec<(&str, &[String])> = people.iter().map(|c| (c.name.as_str(), c.emails.as_slice())).collect();
    assert_eq!(
        summary,
        [
            ("Ana", ["ana@x.example".to_owned()].as_slice()),
            ("Bo", ["bo@work.example".to_owned(), "bo@home.example".to_owned()].as_slice()),
            ("Cy", ["cy@x.example".to_owned()].as_slice()),
        ]
    );
    assert_eq!(people[1].phones, ["030 1"]);
    // The migrated contacts are found by their identities and their folded text.
    assert_eq!(counts(&import(&script, "bo,BO@HOME.EXAMPLE,\r\ncy,,+1 555 010 0200\r\n").await), (0, 0, 2, 0));
    assert_eq!(identities_off_their_listing(&app.database).await, 0);
    assert_eq!(script.contacts("ANA@X").await.total, 1);
    app.stop().await;
}

/// Runs `statements` on the test database as an operator would, then returns
/// the count that `count` selects.
async fn operator_sql(database: &TestDatabase, statements: &[&str], count: &str) -> i64 {
    match database.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&database.url).await.unwrap();
            for statement in statements {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
            sqlx::query_scalar(count).fetch_one(&pool).await.unwrap()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
            for statement in statements {
                sqlx::query(statement).execute(&pool).await.unwrap();
            }
            sqlx::query_scalar(count).fetch_one(&pool).await.unwrap()
        }
    }
}

/// Identity rows and the lists on their contacts that disagree, counted both
/// ways: listed on a contact but not held by it, and held but not listed.
async fn identities_off_their_listing(database: &TestDatabase) -> i64 {
    let (listed, matched) = match database.backend {
        Backend::Sqlite => (
            "SELECT COUNT(*) FROM contacts c, json_each(c.identities) l",
            "SELECT COUNT(*) FROM contacts c, json_each(c.identities) l WHERE EXISTS (SELECT 1 FROM contact_identities i
                 WHERE i.user_id = c.user_id AND i.kind = json_extract(l.value, '$[0]')
                   AND i.value = json_extract(l.value, '$[1]') AND i.contact_id = c.id)",
        ),
        Backend::Postgres => (
            "SELECT COUNT(*) FROM contacts c, json_array_elements(c.identities::json) l",
            "SELECT COUNT(*) FROM contacts c, json_array_elements(c.identities::json) l WHERE EXISTS (SELECT 1 FROM contact_identities i
                 WHERE i.user_id = c.user_id AND i.key = identity_key(l->>0, l->>1) AND i.contact_id = c.id)",
        ),
    };
    let held = operator_sql(database, &[], "SELECT COUNT(*) FROM contact_identities").await;
    let (listed, matched) = (operator_sql(database, &[], listed).await, operator_sql(database, &[], matched).await);
    (listed - matched) + (held - matched)
}

/// Contacts stored while identities lived only in their own table gain their
/// list from it on upgrade, and then match, merge and go by it.
async fn identities_stored_before_contacts_listed_them_are_listed_on_upgrade(backend: Backend) {
    let database = test_database(backend).await;
    migrate_until(&database, "20261130000007").await;
    let now = match backend {
        Backend::Sqlite => "0",
        Backend::Postgres => "now()",
    };
    let mut setup = vec![
        format!("INSERT INTO users (email, password_hash, created_at) VALUES ('old@example.com', 'x', {now})"),
        format!(
            "INSERT INTO contacts (id, user_id, display_name, given_name, family_name, emails, phones,
                 organization, title, notes, search_text, created_at, updated_at)
             VALUES (1, 1, 'Ana', '', '', '[\"ana@x.example\"]', '[]', '', '', '', 'ana\nana@x.example', {now}, {now}),
                    (2, 1, 'Bo', '', '', '[\"bo@x.example\"]', '[]', '', '', '', 'bo\nbo@x.example', {now}, {now})"
        ),
        "INSERT INTO contact_identities (user_id, kind, value, contact_id)
         VALUES (1, 'email', 'ana@x.example', 1), (1, 'email', 'bo@x.example', 2)"
            .to_owned(),
    ];
    if backend == Backend::Postgres {
        setup.push("SELECT setval('contacts_id_seq', 2)".to_owned());
    }
    let setup: Vec<&str> = setup.iter().map(String::as_str).collect();
    assert_eq!(operator_sql(&database, &setup, "SELECT COUNT(*) FROM contact_identities").await, 2);

    let database = std::sync::Arc::new(database);
    let app = spawn_instance(database, &AppOptions::default()).await;
    assert_eq!(identities_off_their_listing(&app.database).await, 0, "listed on upgrade");
    let token = intake::auth::create_token(&app.services, 1, "test").await.expect("token");
    let script = app.script(&token.token);
    imports_count(&script, &[("Ana,ana@x.example ::: bo@x.example,\r\n", (0, 1, 0, 1)), ("Bo,bo@x.example,\r\n", (0, 0, 1, 0))]).await;
    assert_eq!(the_only_contact(&script).await.emails, ["ana@x.example", "bo@x.example"]);
    assert_eq!(identities_off_their_listing(&app.database).await, 0);
    let identities = "SELECT COUNT(*) FROM contact_identities";
    assert_eq!(operator_sql(&app.database, &["DELETE FROM users WHERE id = 1"], identities).await, 0);
    app.stop().await;
}

/// Identities hold no foreign key (it cost a lookup per identity written); a
/// trigger deletes them with their contact, so a user deleted by an operator
/// leaves none behind to match a later user's rows.
async fn deleting_a_user_deletes_their_contacts_identities(backend: Backend) {
    let app = spawn_app(backend).await;
    let (leaving, first) = app.script_for_new_user("leaving@example.com").await;
    let (_, second) = app.script_for_new_user("staying@example.com").await;
    for script in [&first, &second] {
        import(script, "Ana,ana@x.example,+1 555 0100\r\nBo,bo@x.example,\r\n").await;
    }
    let identities = "SELECT COUNT(*) FROM contact_identities";
    assert_eq!(operator_sql(&app.database, &[], identities).await, 6);
    let delete = format!("DELETE FROM users WHERE id = {leaving}");
    let remaining = operator_sql(&app.database, &[&delete], identities).await;
    assert_eq!(remaining, 3, "the staying user's identities only");
    assert_eq!(everyone(&second).await.len(), 2);
    app.stop().await;
}

/// Postgres sends a batch's new contacts in `COPY` messages of 250 rows; here one
/// batch of 700 rows spans three, with rows that `COPY` must escape in each.
async fn a_batch_larger_than_one_bulk_message_is_written_whole(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|config| config.import_batch_rows = 1000)).await;
    let (_, script) = app.script_for_new_user("owner@example.com").await;
    let rows: String = (0..700)
        .map(|i| match i {
            10 | 260 | 510 => format!("Back\\slash\\t{i},b{i}@example.com,+1 555 {i:04}\r\n"),
            _ => format!("Person {i},p{i}@example.com,+1 555 {i:04}\r\n"),
        })
        .collect();
    imports_count(&script, &[(&rows, (700, 0, 0, 0)), (&rows, (0, 0, 700, 0))]).await;
    let escaped = script.contacts("back").await.contacts;
    let names: Vec<&str> = escaped.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [r"Back\slash\t10", r"Back\slash\t260", r"Back\slash\t510"]);
    assert_eq!(operator_sql(&app.database, &[], "SELECT COUNT(*) FROM contact_identities").await, 1400);
    assert_eq!(identities_off_their_listing(&app.database).await, 0);
    app.stop().await;
}

/// Postgres writes contacts and identities with COPY, whose text format gives
/// `\\`, `\N` and `\t` meanings: a name holding them must be stored as written,
/// and its name-and-phone identity must match the same row again.
async fn backslashes_in_identities_survive_the_bulk_write(backend: Backend) {
    let (app, script) = app_with_a_user(backend).await;
    let row = "Back\\slash \\N \\t,,+1 555 0199\r\n";
    imports_count(&script, &[(row, (1, 0, 0, 0)), (row, (0, 0, 1, 0))]).await;
    assert_eq!(the_only_contact(&script).await.name, r"Back\slash \N \t");
    app.stop().await;
}

/// An email, a name with a phone, a name alone: each is held under the key its
/// contact's listing gives it (on Postgres the store and the database each make
/// that key), and is found again by a second import and freed by a deletion.
async fn each_kind_of_identity_is_held_as_listed_and_goes_with_its_contact(backend: Backend) {
    let (app, script) = app_with_a_user(backend).await;
    let rows = "Ana Alves,ana@x.example,\r\nBo Berg,,+1 555 0100\r\nCy Cole,,\r\n";
    import(&script, rows).await;
    let identities = "SELECT COUNT(*) FROM contact_identities";
    assert_eq!(operator_sql(&app.database, &[], identities).await, 3);
    assert_eq!(identities_off_their_listing(&app.database).await, 0);
    import(&script, rows).await;
    assert_eq!(everyone(&script).await.len(), 3, "each row found its contact again");
    for contact in everyone(&script).await {
        let deleted = script.http.delete(script.url(&format!("/api/contacts/{}", contact.id))).send().await.unwrap();
        assert_eq!(deleted.status(), 200);
    }
    assert_eq!(operator_sql(&app.database, &[], identities).await, 0, "each freed with its contact");
    app.stop().await;
}
