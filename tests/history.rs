//! The change journal and undo, over HTTP on both backends: an undo puts the
//! contacts and their identities back exactly as they were, whatever merged,
//! was edited or deleted since, and asks first what it covers.

mod common;

use common::*;
use intake::error::ImportError;
use intake::model::{HistoryView, ImportStatus, ImportView, StartedImport};
use std::time::Duration;

on_both_backends!(
    undoing_a_merging_import_brings_both_contacts_back_exactly,
    an_undo_names_what_it_also_undoes_and_asks_again_when_that_changed,
    edits_follow_identities_and_are_undone_exactly,
    deletions_one_and_many_are_undone_exactly,
    every_identity_goes_with_its_contact_however_many_it_holds,
    a_large_run_leaves_planner_statistics_behind_where_the_backend_keeps_them,
    edits_deletions_and_undos_wait_for_a_running_import,
    random_sequences_undo_back_to_any_point_exactly,
    restoring_to_a_moment_undoes_everything_since,
    the_journal_is_swept_whole_operations_at_a_time_and_says_how_far_back_it_reaches,
    deleting_an_account_deletes_its_contacts_identities_and_history,
    an_account_deleted_while_its_import_writes_leaves_nothing_behind,
);

/// The user's contacts and identities as stored, one text: equal texts are equal states.
async fn snapshot(database: &TestDatabase, user_id: i64) -> String {
    let sql = match database.backend {
        Backend::Sqlite => {
            "SELECT COALESCE((SELECT group_concat(x, char(10)) FROM (SELECT id || '|' || display_name || '|' || card || '|' || COALESCE(photo, '') || '|' || created_at AS x
                 FROM contacts WHERE user_id = CAST($1 AS INTEGER) ORDER BY id)), '')
             || '#' || COALESCE((SELECT group_concat(y, char(10)) FROM (SELECT contact_id || '|' || kind || '|' || value AS y
                 FROM contact_identities WHERE user_id = CAST($1 AS INTEGER) ORDER BY kind, value)), '')"
        }
        Backend::Postgres => {
            "SELECT COALESCE((SELECT string_agg(id || '|' || display_name || '|' || card::text || '|' || COALESCE(photo::text, '') || '|' || created_at::text, E'\\n' ORDER BY id)
                 FROM contacts WHERE user_id = $1::bigint), '')
             || '#' || COALESCE((SELECT string_agg(contact_id || '|' || key, E'\\n' ORDER BY key)
                 FROM contact_identities WHERE user_id = $1::bigint), '')"
        }
    };
    scalar(database, sql, &user_id.to_string()).await
}

async fn history(client: &Client) -> HistoryView {
    let response = client.get("/api/history").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// POSTs `path` as a script would: first without `confirm`, which must answer
/// `confirmation_needed`, then with its count. The finished job.
async fn confirmed(client: &Client, path: &str, body: Option<serde_json::Value>) -> (u64, ImportView) {
    let send = |confirm: Option<u64>| {
        let separator = if path.contains('?') { '&' } else { '?' };
        let url = match confirm {
            Some(n) => client.url(&format!("{path}{separator}confirm={n}")),
            None => client.url(path),
        };
        let request = client.http.post(url);
        let request = match &body {
            Some(body) => request.json(body),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    let asked = send(None).await;
    assert_eq!(asked.status(), 409, "{path} without confirm");
    let error: ImportError = asked.json().await.unwrap();
    let ImportError::ConfirmationNeeded { confirm, .. } = error else { panic!("{path}: {error:?}") };
    let started = send(Some(confirm)).await;
    let status = started.status();
    let text = started.text().await.unwrap();
    assert_eq!(status, 202, "{path}?confirm={confirm}: {text}");
    let started: StartedImport = serde_json::from_str(&text).unwrap();
    let view = client.wait_finished(&started.import_id).await;
    assert_eq!(view.status, ImportStatus::Succeeded, "{view:?}");
    (confirm, view)
}

async fn imported(client: &Client, name: &str, csv: &str) -> ImportView {
    let started = client.api_import_started(name, csv.as_bytes().to_vec()).await;
    let view = client.wait_finished(&started.import_id).await;
    assert_eq!(view.status, ImportStatus::Succeeded, "{view:?}");
    view
}

async fn contact_json(client: &Client, id: i64) -> serde_json::Value {
    let response = client.get(&format!("/api/contacts/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn id_of(client: &Client, query: &str) -> i64 {
    let found = client.contacts(query).await;
    assert_eq!(found.total, 1, "one contact for {query}");
    found.contacts[0].id
}

async fn patch(client: &Client, id: i64, contact: &serde_json::Value, merge: bool) -> reqwest::Response {
    let url = client.url(&format!("/api/contacts/{id}?merge={merge}"));
    client.http.patch(url).json(contact).send().await.unwrap()
}

const BASE: &str = "Name,Email,Phone,Title\r\nAna Lima,ana@example.com,+1 555 000 0001,Engineer\r\nBo Berg,bo@example.com,+1 555 000 0002,Designer\r\n";

async fn undoing_a_merging_import_brings_both_contacts_back_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, script) = app.script_for_new_user("undo@example.com").await;
    imported(&script, "base.csv", BASE).await;
    let before = snapshot(&app.database, user_id).await;
    // One row names both people: they are one, and merge. Another row is new.
    let merging = "Name,Email,Title\r\nAna Lima,ana@example.com ::: bo@example.com,Director\r\nCy Cole,cy@example.com,Chef\r\n";
    let merge = imported(&script, "merge.csv", merging).await;
    assert_eq!(merge.counts.merged, 1, "{merge:?}");
    assert_eq!(script.contacts("").await.total, 2);

    let path = format!("/api/imports/{}/undo", merge.import_id);
    let wrong = script.http.post(script.url(&format!("{path}?confirm=999"))).send().await.unwrap();
    assert_eq!(wrong.status(), 409);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "confirmation_needed");
    assert_eq!(body["covers"], serde_json::json!({"imports": 0, "undos": 0, "edits": 0, "deletions": 0}));
    let (changes, undo) = confirmed(&script, &path, None).await;
    assert_eq!(changes, 3, "the survivor, the merged-away contact and the new one");
    assert_eq!((undo.reversal.restored, undo.reversal.reverted, undo.reversal.removed), (1, 1, 1), "{undo:?}");
    assert_eq!(snapshot(&app.database, user_id).await, before, "both contacts back as they were, identities included");

    let undone = script.import_view(&merge.import_id).await;
    assert_eq!(undone.status, ImportStatus::Undone);
    assert_eq!(undone.undone_by.as_deref(), Some(undo.import_id.as_str()));
    let again = script.http.post(script.url(&format!("{path}?confirm=3"))).send().await.unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<serde_json::Value>().await.unwrap()["error"], "already_undone");

    // Redone by importing the file again; an undo of the undo redoes it too.
    imported(&script, "merge.csv", merging).await;
    assert_ne!(snapshot(&app.database, user_id).await, before, "the import is redone");
    assert_eq!(script.contacts("").await.total, 2);
    let history = history(&script).await;
    assert_eq!(history.operations.len(), 4, "{history:?}");
    assert!(history.reaches_back_to.is_some());
    let undo_op = history.operations.iter().find(|op| op.op_id == undo.import_id).expect("the undo is in the history");
    assert!(undo_op.undone_by.is_none());
    app.stop().await;
}

async fn an_undo_names_what_it_also_undoes_and_asks_again_when_that_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, script) = app.script_for_new_user("covers@example.com").await;
    let empty = snapshot(&app.database, user_id).await;
    let first = imported(&script, "first.csv", BASE).await;
    imported(&script, "second.csv", "Name,Email\r\nCy Cole,cy@example.com\r\n").await;
    let ana = id_of(&script, "ana@example.com").await;
    let mut edited = contact_json(&script, ana).await["contact"].clone();
    edited["notes"] = "met at the fair".into();
    assert_eq!(patch(&script, ana, &edited, false).await.status(), 200);

    let path = format!("/api/imports/{}/undo", first.import_id);
    let asked = script.http.post(script.url(&path)).send().await.unwrap();
    assert_eq!(asked.status(), 409);
    let body: serde_json::Value = asked.json().await.unwrap();
    assert_eq!(body["confirm"], 4, "{body}");
    assert_eq!(body["covers"]["imports"], 1);
    assert_eq!(body["covers"]["edits"], 1);
    let error: ImportError = serde_json::from_value(body).unwrap();
    assert!(error.to_string().contains("1 import and 1 edit"), "{error}");

    // Another change before the confirmation: the old count no longer holds.
    edited["notes"] = "met at the fair, twice".into();
    assert_eq!(patch(&script, ana, &edited, false).await.status(), 200);
    let stale = script.http.post(script.url(&format!("{path}?confirm=4"))).send().await.unwrap();
    assert_eq!(stale.status(), 409);
    assert_eq!(stale.json::<serde_json::Value>().await.unwrap()["confirm"], 5);
    confirmed(&script, &path, None).await;
    assert_eq!(snapshot(&app.database, user_id).await, empty);
    let ops = history(&script).await.operations;
    assert_eq!(ops.iter().filter(|op| op.undone_by.is_some()).count(), 4, "{ops:?}");
    app.stop().await;
}

async fn edits_follow_identities_and_are_undone_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, script) = app.script_for_new_user("edit@example.com").await;
    imported(&script, "base.csv", BASE).await;
    let before = snapshot(&app.database, user_id).await;
    let (ana, bo) = (id_of(&script, "ana@example.com").await, id_of(&script, "bo@example.com").await);

    let mut edited = contact_json(&script, ana).await["contact"].clone();
    edited["phones"][0]["label"] = "work".into();
    let response = patch(&script, ana, &edited, false).await;
    assert_eq!(response.status(), 200);
    let shown: serde_json::Value = response.json().await.unwrap();
    assert_eq!(shown["contact"]["phones"][0]["label"], "work");
    let bad: serde_json::Value = serde_json::json!({"display_name": "X", "emails": [{"value": "not an address"}]});
    let refused = patch(&script, ana, &bad, false).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["error"], "invalid_contact");

    // Bo's address on Ana: refused, naming Bo; merged when asked.
    edited["emails"].as_array_mut().unwrap().push(serde_json::json!({"value": "BO@example.com", "label": "other"}));
    let taken = patch(&script, ana, &edited, false).await;
    assert_eq!(taken.status(), 409);
    let error: serde_json::Value = taken.json().await.unwrap();
    assert_eq!((error["error"].as_str(), error["contact_id"].as_i64(), error["name"].as_str()), (Some("identity_taken"), Some(bo), Some("Bo Berg")));
    assert_eq!(script.contacts("").await.total, 2, "a refused edit changes nothing");
    let merged = patch(&script, ana, &edited, true).await;
    assert_eq!(merged.status(), 200);
    let merged: serde_json::Value = merged.json().await.unwrap();
    assert!(merged["contact"]["organizations"].to_string().contains("Designer"), "Bo's values reach Ana: {merged}");
    assert_eq!(script.contacts("").await.total, 1);
    assert_eq!(id_of(&script, "bo@example.com").await, ana, "Bo's address finds Ana now");
    // A later import with Bo's address updates Ana rather than making Bo again.
    imported(&script, "bo.csv", "Name,Email\r\nBo Berg,bo@example.com\r\n").await;
    assert_eq!(script.contacts("").await.total, 1);

    let ops = history(&script).await.operations;
    let first_edit = ops.iter().rev().find(|op| op.label.starts_with("Edit of")).expect("the edit is in the history");
    confirmed(&script, &format!("/api/history/{}/undo", first_edit.op_id), None).await;
    assert_eq!(snapshot(&app.database, user_id).await, before, "Ana and Bo back as imported");
    assert_eq!(script.get(&format!("/api/contacts/{}", i64::MAX)).await.status(), 404);
    // An edit's body is capped like a form's (INTAKE_MAX_FORM_BODY_BYTES), not by the framework's default.
    let huge = serde_json::json!({"display_name": "Ana", "notes": "x".repeat(300 * 1024)});
    let refused = patch(&script, ana, &huge, false).await;
    assert_eq!(refused.status(), 413);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["error"], "request_too_large");
    assert_eq!(snapshot(&app.database, user_id).await, before, "a refused edit changes nothing");
    assert_eq!(patch(&script, i64::MAX, &edited, false).await.status(), 404);
    app.stop().await;
}

async fn deletions_one_and_many_are_undone_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, script) = app.script_for_new_user("delete@example.com").await;
    imported(&script, "people.csv", std::str::from_utf8(&people_csv(250)).unwrap()).await;
    let before = snapshot(&app.database, user_id).await;
    let one = id_of(&script, "person7@example.com").await;
    let deleted = script.http.delete(script.url(&format!("/api/contacts/{one}"))).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    let deleted: serde_json::Value = deleted.json().await.unwrap();
    assert_eq!(script.contacts("person7@example.com").await.total, 0);
    assert_eq!(script.http.delete(script.url(&format!("/api/contacts/{one}"))).send().await.unwrap().status(), 404);
    confirmed(&script, deleted["undo_url"].as_str().unwrap(), None).await;
    assert_eq!(snapshot(&app.database, user_id).await, before);

    // Some by id (no confirmation: the ids are the choice), then all that a search finds.
    let ids: Vec<i64> = script.contacts("person1").await.contacts.iter().map(|c| c.id).collect();
    let by_ids = script.post_json("/api/contacts/delete", &serde_json::json!({"ids": ids})).await;
    assert_eq!(by_ids.status(), 202);
    let started: StartedImport = by_ids.json().await.unwrap();
    assert_eq!(script.wait_finished(&started.import_id).await.reversal.removed, ids.len() as u64);
    let (count, all) = confirmed(&script, "/api/contacts/delete", Some(serde_json::json!({"query": ""}))).await;
    assert_eq!(count, 250 - ids.len() as u64);
    assert_eq!(all.reversal.removed, count);
    assert_eq!(script.contacts("").await.total, 0);
    let ops = history(&script).await.operations;
    let by_ids_op = ops.iter().find(|op| op.op_id == started.import_id).unwrap();
    confirmed(&script, &format!("/api/history/{}/undo", by_ids_op.op_id), None).await;
    assert_eq!(snapshot(&app.database, user_id).await, before, "every contact back, under its own id");
    app.stop().await;
}

async fn every_identity_goes_with_its_contact_however_many_it_holds(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, script) = app.script_for_new_user("many@example.com").await;
    let empty = snapshot(&app.database, user_id).await;
    // Five identities on one contact: the deletion takes a contact's first
    // two by their place in its list and the rest another way (SQLite).
    let csv = "Name,Email,Phone\r\nMany Ways,a1@example.com ::: a2@example.com ::: a3@example.com,+1 555 010 0001 ::: +1 555 010 0002\r\nBo Berg,bo@example.com,\r\n";
    let import = imported(&script, "many.csv", csv).await;
    let full = snapshot(&app.database, user_id).await;
    let identities = |state: &str| state.split_once('#').unwrap().1.lines().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(identities(&full).len(), 6, "{full}");
    let many = id_of(&script, "a2@example.com").await;
    let bo = id_of(&script, "bo@example.com").await;

    let deleted = script.http.delete(script.url(&format!("/api/contacts/{many}"))).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    let deleted: serde_json::Value = deleted.json().await.unwrap();
    // Postgres keys an identity by one text, its kind's letter before the value.
    let bo_identity = match backend {
        Backend::Sqlite => format!("{bo}|email|bo@example.com"),
        Backend::Postgres => format!("{bo}|ebo@example.com"),
    };
    assert_eq!(identities(&snapshot(&app.database, user_id).await), [bo_identity]);
    confirmed(&script, deleted["undo_url"].as_str().unwrap(), None).await;
    assert_eq!(snapshot(&app.database, user_id).await, full);

    // The undo of the import removes what it created inside the database.
    confirmed(&script, &format!("/api/imports/{}/undo", import.import_id), None).await;
    assert_eq!(snapshot(&app.database, user_id).await, empty);
    app.stop().await;
}

/// An undo right after a large first import walks a journal that Postgres
/// has no statistics for yet, and planned as a read and sort of all of it:
/// the end of a run of more than a thousand rows analyzes what it filled.
/// SQLite keeps no statistics, and plans the same walk by its key either way.
async fn a_large_run_leaves_planner_statistics_behind_where_the_backend_keeps_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("statistics@example.com").await;
    imported(&script, "people.csv", std::str::from_utf8(&people_csv(1500)).unwrap()).await;
    match backend {
        Backend::Postgres => {
            let analyzed = wait_until(Duration::from_secs(60), || async {
                let sql = "SELECT CAST(COUNT(*) AS TEXT) FROM pg_stat_user_tables
                           WHERE last_analyze IS NOT NULL AND relname = ANY(string_to_array($1, ','))";
                let count = scalar(&app.database, sql, "contacts,contact_identities,contact_changes").await;
                (count == "3").then_some(())
            })
            .await;
            assert!(analyzed.is_some(), "each contact table analyzed after the import");
        }
        Backend::Sqlite => {
            let sql = "SELECT CAST(COUNT(*) AS TEXT) FROM sqlite_master WHERE name LIKE $1";
            assert_eq!(scalar(&app.database, sql, "sqlite_stat%").await, "0", "no statistics kept");
        }
    }
    app.stop().await;
}

async fn edits_deletions_and_undos_wait_for_a_running_import(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions::configured(|config| {
            config.import_batch_rows = 10;
            config.import_batch_pause = Duration::from_millis(300);
        }),
    )
    .await;
    let (_, script) = app.script_for_new_user("busy@example.com").await;
    let first = imported(&script, "base.csv", BASE).await;
    let ana = id_of(&script, "ana@example.com").await;
    let edited = contact_json(&script, ana).await["contact"].clone();
    let running = script.api_import_started("people.csv", people_csv(200)).await;
    wait_until(Duration::from_secs(60), || async { (script.import_view(&running.import_id).await.rows_done > 0).then_some(()) }).await;

    let typed = |status: u16, body: serde_json::Value, what: &str| {
        assert_eq!(status, 409, "{what}: {body}");
        assert_eq!(body["error"], "already_running", "{what}: {body}");
        assert_eq!(body["import_id"], running.import_id.as_str(), "{what}");
    };
    let response = patch(&script, ana, &edited, false).await;
    typed(response.status().as_u16(), response.json().await.unwrap(), "an edit");
    let response = script.http.delete(script.url(&format!("/api/contacts/{ana}"))).send().await.unwrap();
    typed(response.status().as_u16(), response.json().await.unwrap(), "a deletion");
    let response = script.post_json("/api/contacts/delete", &serde_json::json!({"ids": [ana]})).await;
    typed(response.status().as_u16(), response.json().await.unwrap(), "a deletion of many");
    let response = script.http.post(script.url(&format!("/api/imports/{}/undo", first.import_id))).send().await.unwrap();
    typed(response.status().as_u16(), response.json().await.unwrap(), "an undo, before it asks to confirm");
    let response = script.http.post(script.url(&format!("/api/imports/{}/undo?confirm=2", first.import_id))).send().await.unwrap();
    typed(response.status().as_u16(), response.json().await.unwrap(), "a confirmed undo");
    assert_eq!(script.import_view(&running.import_id).await.status, ImportStatus::Processing);
    script.wait_finished(&running.import_id).await;
    assert_eq!(patch(&script, ana, &edited, false).await.status(), 200, "after the import, the edit goes through");

    // And an import started while an undo runs is refused as well.
    let (_, undo) = {
        let path = format!("/api/imports/{}/undo", running.import_id);
        let asked: serde_json::Value = script.http.post(script.url(&path)).send().await.unwrap().json().await.unwrap();
        let response = script.http.post(script.url(&format!("{path}?confirm={}", asked["confirm"]))).send().await.unwrap();
        assert_eq!(response.status(), 202);
        ((), response.json::<StartedImport>().await.unwrap())
    };
    let refused = script.api_import("late.csv", people_csv(3)).await;
    assert_eq!(refused.status(), 409);
    let error: ImportError = refused.json().await.unwrap();
    assert!(matches!(error, ImportError::AlreadyRunning { ref import_id, .. } if *import_id == undo.import_id), "{error:?}");
    script.wait_finished(&undo.import_id).await;
    app.stop().await;
}

/// A small deterministic generator: each seed is one replayable sequence.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A row from a small pool of people, emails and phones, so that rows merge.
fn random_rows(dice: &mut Dice, rows: usize) -> String {
    const NAMES: [&str; 5] = ["Ana Lima", "Bo Berg", "Cy Cole", "Di Dunn", "Ed Eno"];
    const TITLES: [&str; 3] = ["Engineer", "Chef", "Pilot"];
    let mut csv = String::from("Name,Email,Phone,Title,Notes\r\n");
    for _ in 0..rows {
        let name = NAMES[dice.below(5) as usize];
        let email = match dice.below(4) {
            0 => String::new(),
            _ => format!("p{}@example.com", dice.below(7)),
        };
        let phone = match dice.below(3) {
            0 => String::new(),
            _ => format!("+1 555 010 000{}", dice.below(4)),
        };
        let title = TITLES[dice.below(3) as usize];
        csv.push_str(&format!("{name},{email},{phone},{title},note {}\r\n", dice.below(100)));
    }
    csv
}

async fn random_sequences_undo_back_to_any_point_exactly(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|config| config.import_batch_rows = 3)).await;
    for seed in [0x9e37_79b9_7f4a_7c15_u64, 0x2545_f491_4f6c_dd1d, 0x1234_5678_9abc_def1] {
        println!("history seed {seed:#x}");
        let mut dice = Dice(seed);
        let (user_id, script) = app.script_for_new_user(&format!("seq{seed:x}@example.com")).await;
        // The state before each operation, by the operation's id.
        let mut points: Vec<(String, String)> = Vec::new();
        for step in 0..10 {
            let before = snapshot(&app.database, user_id).await;
            let known = history(&script).await.operations.len();
            let contacts = script.contacts("").await.contacts;
            match dice.below(10) {
                0..=3 => {
                    let rows = 1 + dice.below(8) as usize;
                    imported(&script, &format!("step{step}.csv"), &random_rows(&mut dice, rows)).await;
                }
                4 | 5 if !contacts.is_empty() => {
                    let id = contacts[dice.below(contacts.len() as u64) as usize].id;
                    let mut edited = contact_json(&script, id).await["contact"].clone();
                    edited["notes"] = format!("edited at step {step}").into();
                    if dice.below(2) == 0 {
                        let email = format!("p{}@example.com", dice.below(7));
                        edited["emails"] = serde_json::json!([{"value": email, "label": "work"}]);
                    }
                    let merge = dice.below(2) == 0;
                    let status = patch(&script, id, &edited, merge).await.status().as_u16();
                    assert!(status == 200 || (status == 409 && !merge), "seed {seed:#x} step {step}: edit {status}");
                }
                6 if !contacts.is_empty() => {
                    let id = contacts[dice.below(contacts.len() as u64) as usize].id;
                    assert_eq!(script.http.delete(script.url(&format!("/api/contacts/{id}"))).send().await.unwrap().status(), 200);
                }
                7 if !points.is_empty() => {
                    let ops = history(&script).await.operations;
                    let open: Vec<_> = ops.iter().filter(|op| op.undone_by.is_none()).collect();
                    if let Some(op) = open.get(dice.below(open.len().max(1) as u64) as usize) {
                        let (_, id) = points.iter().find(|(_, id)| *id == op.op_id).cloned().expect("a known operation");
                        confirmed(&script, &format!("/api/history/{id}/undo"), None).await;
                        let (state, _) = points.iter().find(|(_, point)| *point == id).unwrap();
                        assert_eq!(&snapshot(&app.database, user_id).await, state, "seed {seed:#x} step {step}: undo of {id}");
                    }
                }
                _ => {
                    imported(&script, &format!("step{step}.csv"), &random_rows(&mut dice, 2)).await;
                }
            }
            let ops = history(&script).await.operations;
            if ops.len() > known {
                points.push((before, ops[0].op_id.clone()));
            }
        }
        // Back to each point, newest first: each undo lands exactly on its state.
        let ops = history(&script).await.operations;
        let mut open: Vec<&(String, String)> =
            points.iter().filter(|(_, id)| ops.iter().any(|op| op.op_id == *id && op.undone_by.is_none())).collect();
        open.reverse();
        for (state, id) in open.into_iter().step_by(2) {
            if history(&script).await.operations.iter().any(|op| op.op_id == *id && op.undone_by.is_some()) {
                continue;
            }
            confirmed(&script, &format!("/api/history/{id}/undo"), None).await;
            assert_eq!(&snapshot(&app.database, user_id).await, state, "seed {seed:#x}: back to before {id}");
        }
    }
    app.stop().await;
}

/// A moment strictly after every change so far and before any change made after it returns.
async fn moment_between_changes() -> chrono::DateTime<chrono::Utc> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let moment = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    moment
}

fn restore_path(at: chrono::DateTime<chrono::Utc>) -> String {
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    format!("/api/history/restore?at={}", at.replace('+', "%2B"))
}

async fn restoring_to_a_moment_undoes_everything_since(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, script) = app.script_for_new_user("moment@example.com").await;
    imported(&script, "base.csv", BASE).await;
    let state = snapshot(&app.database, user_id).await;
    let moment = moment_between_changes().await;
    imported(&script, "more.csv", "Name,Email\r\nCy Cole,cy@example.com\r\nAna Lima,ana@example.com\r\n").await;
    let bo = id_of(&script, "bo@example.com").await;
    assert_eq!(script.http.delete(script.url(&format!("/api/contacts/{bo}"))).send().await.unwrap().status(), 200);
    confirmed(&script, &restore_path(moment), None).await;
    assert_eq!(snapshot(&app.database, user_id).await, state);
    let long_ago = (chrono::Utc::now() - chrono::Duration::days(31)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let expired = script.http.post(script.url(&format!("/api/history/restore?at={long_ago}"))).send().await.unwrap();
    assert_eq!(expired.status(), 410);
    app.stop().await;
}

async fn the_journal_is_swept_whole_operations_at_a_time_and_says_how_far_back_it_reaches(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|config| config.history_max_changes_per_user = 5)).await;
    let (user_id, script) = app.script_for_new_user("sweep@example.com").await;
    let first = imported(&script, "first.csv", std::str::from_utf8(&people_csv(3)).unwrap()).await;
    let after_first = snapshot(&app.database, user_id).await;
    moment_between_changes().await;
    let second = imported(&script, "second.csv", "Name,Email\r\nA,a@example.com\r\nB,b@example.com\r\nC,c@example.com\r\n").await;
    let before = history(&script).await;
    let (reach, first_started) = (before.reaches_back_to, before.operations.last().unwrap().started_at);
    let swept = intake::sweeper::sweep(&app.services).await.unwrap();
    assert_eq!(swept.history_changes, 3, "the oldest operation, whole");
    let after = history(&script).await;
    assert!(after.reaches_back_to > reach, "the page says undo reaches less far back");
    assert_eq!(after.operations.len(), 1);
    let gone = script.http.post(script.url(&format!("/api/imports/{}/undo", first.import_id))).send().await.unwrap();
    assert_eq!(gone.status(), 410);
    // Well inside the retention, but the swept import started at or after these
    // moments (to the millisecond, as SQLite keeps times): a restore would keep
    // its contacts, so it is refused.
    let same_millisecond = chrono::SubsecRound::trunc_subsecs(first_started, 3) + chrono::Duration::microseconds(999);
    for at in [first_started - chrono::Duration::seconds(1), first_started, same_millisecond] {
        let inexact = script.http.post(script.url(&restore_path(at))).send().await.unwrap();
        assert_eq!(inexact.status(), 410, "a restore to {at}, the swept import started at {first_started}");
        assert_eq!(inexact.json::<serde_json::Value>().await.unwrap()["error"], "history_expired");
    }
    // The newest operation is never swept, whatever the cap; the refusal stays.
    assert_eq!(intake::sweeper::sweep(&app.services).await.unwrap().history_changes, 0);
    assert_eq!(script.http.post(script.url(&restore_path(first_started))).send().await.unwrap().status(), 410);
    // A millisecond after the swept import started, every later change is
    // kept: that restore is exact, the same as undoing the second import.
    let (undone, _) = confirmed(&script, &restore_path(first_started + chrono::Duration::milliseconds(1)), None).await;
    assert_eq!(undone, 3, "the second import's changes");
    assert_eq!(snapshot(&app.database, user_id).await, after_first);
    assert!(history(&script).await.operations.iter().any(|op| op.op_id == second.import_id && op.undone_by.is_some()));
    app.stop().await;
}

async fn deleting_an_account_deletes_its_contacts_identities_and_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, script) = app.script_for_new_user("leaving@example.com").await;
    let (other_id, other) = app.script_for_new_user("staying@example.com").await;
    imported(&script, "base.csv", BASE).await;
    imported(&other, "base.csv", BASE).await;
    let kept = snapshot(&app.database, other_id).await;
    common::binary::cli(&app.database, &["users", "delete", "Leaving@example.com"], "").await;
    assert_eq!(script.get("/api/contacts").await.status(), 401, "its tokens are gone");
    for table in USER_TABLES {
        assert_eq!(rows_of_user(&app.database, table, user_id).await, 0, "{table}");
    }
    assert_eq!(snapshot(&app.database, other_id).await, kept, "another person's data stays");
    assert_eq!(history(&other).await.operations.len(), 1);
    app.stop().await;
}

/// Postgres keeps no foreign key from contacts to users: a batch in flight
/// must still either commit before the deletion, which then takes its rows,
/// or lose its fence and write nothing.
async fn an_account_deleted_while_its_import_writes_leaves_nothing_behind(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, script) = app.script_for_new_user("midway@example.com").await;
    let started = script.api_import_started("many.csv", people_csv(40_000)).await;
    wait_until(Duration::from_secs(60), || async { (script.import_view(&started.import_id).await.rows_done > 0).then_some(()) })
        .await
        .expect("the import writes its first batch");
    common::binary::cli(&app.database, &["users", "delete", "midway@example.com"], "").await;
    for table in USER_TABLES {
        assert_eq!(rows_of_user(&app.database, table, user_id).await, 0, "{table}, right after the deletion");
    }
    // Once the worker has stopped, nothing of a batch it still held may have landed.
    let database = app.database.clone();
    app.stop().await;
    for table in USER_TABLES {
        assert_eq!(rows_of_user(&database, table, user_id).await, 0, "{table}, after the worker stopped");
    }
}

/// A batch on Postgres locks its import's row and never its user's, which an
/// account deletion takes last: so a deletion can wait for a batch, but a batch
/// never waits for a deletion, and the two cannot deadlock, whenever the import
/// began. (SQLite runs one writer at a time: nothing to lock in between.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_an_import_runs_to_its_end_while_its_users_row_is_locked() {
    let options = AppOptions::configured(|config| {
        config.import_batch_rows = 500;
        // Batches left to commit once the lock is taken, however fast the machine.
        config.import_batch_pause = Duration::from_millis(50);
    });
    let app = spawn_app_with(Backend::Postgres, options).await;
    let (user_id, script) = app.script_for_new_user("locked@example.com").await;
    let admin = sqlx::PgPool::connect(&app.database.url).await.unwrap();
    let started = script.api_import_started("many.csv", people_csv(10_000)).await;
    let mut deletion = admin.begin().await.unwrap();
    // The lock a deletion of the user takes on its row.
    sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE").bind(user_id).execute(&mut *deletion).await.unwrap();
    let rows_done_then = script.import_view(&started.import_id).await.rows_done;
    assert!(rows_done_then < 10_000, "the import still had batches to write when the row was locked");
    let ended = wait_until(Duration::from_secs(60), || async {
        let view = script.import_view(&started.import_id).await;
        (!view.status.is_active()).then_some(view)
    })
    .await;
    let waiting: Vec<String> =
        sqlx::query_scalar("SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
            .fetch_all(&admin)
            .await
            .unwrap();
    deletion.rollback().await.unwrap();
    let ended = ended.unwrap_or_else(|| panic!("the import stopped at a lock, from {rows_done_then} rows: {waiting:?}"));
    assert_eq!(ended.status, ImportStatus::Succeeded);
    assert!(rows_done_then < ended.rows_done, "batches committed while the row was locked");
    app.stop().await;
}

const USER_TABLES: [&str; 5] = ["contacts", "contact_identities", "contact_changes", "history_ops", "imports"];

async fn rows_of_user(database: &TestDatabase, table: &str, user_id: i64) -> u64 {
    let sql = match database.backend {
        Backend::Sqlite => format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table} WHERE user_id = CAST($1 AS INTEGER)"),
        Backend::Postgres => format!("SELECT COUNT(*)::text FROM {table} WHERE user_id = $1::bigint"),
    };
    scalar(database, &sql, &user_id.to_string()).await.parse().expect("a count")
}
