//! The start guard under real concurrency, stale takeover, fencing and resume,
//! on SQLite and on Postgres.

mod common;

use common::*;
use intake::clock::ManualClock;
use intake::domain::contact::Contact;
use intake::error::ImportError;
use intake::model::{ImportStatus, UploadPreview};
use intake::store::{Batch, BatchOutcome, Fence};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

on_both_backends!(
    exactly_one_of_200_concurrent_starts_wins_across_4_instances,
    different_users_start_at_once,
    a_healthy_long_import_is_never_taken_over,
    a_stalled_import_is_replaced_and_its_worker_fenced,
    an_orphaned_import_resumes_from_its_checkpoint,
    an_import_that_keeps_dying_fails_after_its_attempts,
    the_server_function_and_rest_answer_409_with_the_typed_body,
);

/// No workers, and no lease expiry: the test drives every claim and batch itself.
fn web_only(config: &mut intake::config::Config) {
    config.import_workers = 0;
    config.instance_lease = Duration::from_secs(100 * 24 * 3600);
}

async fn upload(client: &Client, rows: usize) -> UploadPreview {
    let response = client.upload_for_preview("people.csv", people_csv(rows)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn exactly_one_of_200_concurrent_starts_wins_across_4_instances(backend: Backend) {
    let options = AppOptions::configured(web_only);
    let first = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let mut instances = vec![first];
    for _ in 1..4 {
        instances.push(spawn_instance(instances[0].database.clone(), &options).await);
    }
    let user_id = intake::auth::create_account(&instances[0].services, "racer@example.com", PASSWORD).await.unwrap();
    let token = intake::auth::create_token(&instances[0].services, user_id, "race").await.unwrap().token;
    let clients: Vec<Arc<Client>> = instances.iter().map(|i| Arc::new(i.script(&token))).collect();

    for round in 0..20 {
        let preview = upload(&clients[round % 4], 3).await;
        let mut attempts = tokio::task::JoinSet::new();
        for attempt in 0..200 {
            let client = clients[attempt % 4].clone();
            let (upload_id, mapping) = (preview.upload_id.clone(), preview.mapping.clone());
            attempts.spawn(async move {
                let response = client.start_import(&upload_id, &mapping).await;
                (response.status().as_u16(), response.text().await.unwrap())
            });
        }
        let mut started = Vec::new();
        let mut refused = 0;
        while let Some(result) = attempts.join_next().await {
            let (status, body) = result.unwrap();
            match status {
                200 => started.push(serde_json::from_str::<intake::model::StartedImport>(&body).unwrap()),
                409 => {
                    let error: ImportError = serde_json::from_str(&body).unwrap();
                    assert!(matches!(error, ImportError::AlreadyRunning { elapsed_minutes: 0, .. }), "{body}");
                    refused += 1;
                }
                other => panic!("round {round}: unexpected {other}: {body}"),
            }
        }
        assert_eq!(started.len(), 1, "round {round}: exactly one start");
        assert_eq!(refused, 199, "round {round}: every other attempt is AlreadyRunning");
        let cancel = clients[0].http.post(clients[0].url(&format!("/api/imports/{}/cancel", started[0].import_id))).send().await.unwrap();
        assert_eq!(cancel.status(), 200, "round {round}");
    }
    for instance in instances {
        instance.stop().await;
    }
}

async fn different_users_start_at_once(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let mut clients = Vec::new();
    for user in 0..40 {
        clients.push(Arc::new(app.script_for_new_user(&format!("user{user}@example.com")).await.1));
    }
    let mut starts = tokio::task::JoinSet::new();
    for client in clients {
        starts.spawn(async move { client.api_import("p.csv", people_csv(2)).await.status().as_u16() });
    }
    while let Some(status) = starts.join_next().await {
        assert_eq!(status.unwrap(), 202);
    }
    app.stop().await;
}

fn contact(n: usize) -> Contact {
    Contact {
        display_name: format!("Person {n}"),
        emails: vec![format!("p{n}@example.com")],
        ..Contact::default()
    }
}

/// Queues an import for a new user and claims it as a worker would.
async fn claimed_import(app: &TestApp, email: &str, rows: usize) -> (i64, Client, intake::store::ClaimedImport) {
    let (user_id, script) = app.script_for_new_user(email).await;
    let preview = upload(&script, rows).await;
    let started: intake::model::StartedImport = script.start_import(&preview.upload_id, &preview.mapping).await.json().await.unwrap();
    let claimed = app.services.store.claim_next("test-worker", app.services.now()).await.unwrap().expect("claimable");
    assert_eq!(claimed.import_id, started.import_id);
    (user_id, script, claimed)
}

async fn commit(app: &TestApp, fence: &Fence, user_id: i64, contacts: Vec<Contact>, rows_done: u64) -> BatchOutcome {
    let batch = Batch { user_id, contacts, rows_done, ..Batch::default() };
    app.services.store.commit_batch(fence, batch, app.services.now()).await.unwrap()
}

async fn start_error(script: &Client, rows: usize) -> Option<ImportError> {
    let preview = upload(script, rows).await;
    let response = script.start_import(&preview.upload_id, &preview.mapping).await;
    match response.status().as_u16() {
        200 => None,
        409 => Some(response.json().await.unwrap()),
        other => panic!("unexpected {other}"),
    }
}

async fn a_healthy_long_import_is_never_taken_over(backend: Backend) {
    let clock = ManualClock::new(chrono::Utc::now());
    let app = spawn_app_with(backend, AppOptions { clock: Some(clock.clone()), configure: Box::new(web_only) }).await;
    let (user_id, script, claimed) = claimed_import(&app, "healthy@example.com", 40).await;
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    // 40 minutes of scaled time, one batch a minute: far past the 15-minute threshold.
    for minute in 1..=40u64 {
        clock.advance(chrono::Duration::minutes(1));
        let outcome = commit(&app, &fence, user_id, vec![contact(minute as usize)], minute).await;
        assert!(matches!(outcome, BatchOutcome::Committed { .. }), "minute {minute}");
        match start_error(&script, 1).await {
            Some(ImportError::AlreadyRunning { elapsed_minutes, import_id }) => {
                assert_eq!(elapsed_minutes, minute as i64);
                assert_eq!(import_id, claimed.import_id);
            }
            other => panic!("minute {minute}: a healthy import must not be replaced, got {other:?}"),
        }
    }
    let view = app.services.store.get_import(user_id, &claimed.import_id).await.unwrap().unwrap();
    assert_eq!(view.status, ImportStatus::Processing);
    assert_eq!(view.counts.created, 40);
    app.stop().await;
}

/// Captures this test binary's logs, so a test can look for its own lines.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter("info")
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        logs
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn a_stalled_import_is_replaced_and_its_worker_fenced(backend: Backend) {
    let logs = captured_logs();
    let clock = ManualClock::new(chrono::Utc::now());
    let app = spawn_app_with(backend, AppOptions { clock: Some(clock.clone()), configure: Box::new(web_only) }).await;
    let (user_id, script, claimed) = claimed_import(&app, "stalled@example.com", 10).await;
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    clock.advance(chrono::Duration::minutes(3));
    assert!(matches!(commit(&app, &fence, user_id, vec![contact(1)], 1).await, BatchOutcome::Committed { .. }));

    // 14:59 after the last progress: still fresh.
    clock.advance(chrono::Duration::minutes(15) - chrono::Duration::seconds(1));
    assert!(matches!(start_error(&script, 1).await, Some(ImportError::AlreadyRunning { elapsed_minutes: 17, .. })));
    // Exactly 15 minutes without progress: stale, so the new import takes the slot.
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(start_error(&script, 2).await, None);

    let old = app.services.store.get_import(user_id, &claimed.import_id).await.unwrap().unwrap();
    assert_eq!(old.status, ImportStatus::Abandoned);
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let warning = text
        .lines()
        .find(|line| line.contains("replacing an import that made no progress") && line.contains(&claimed.import_id))
        .expect("a WARN line names the replaced import");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains(&format!("user_id={user_id}")) && warning.contains("attempt=1") && warning.contains("idle_minutes=15"), "{warning}");

    // The old worker wakes up: none of its writes land.
    assert_eq!(commit(&app, &fence, user_id, vec![contact(2), contact(3)], 3).await, BatchOutcome::Replaced);
    assert!(!app.services.store.finish_import(&fence, ImportStatus::Succeeded, None, app.services.now()).await.unwrap());
    let after = app.services.store.get_import(user_id, &claimed.import_id).await.unwrap().unwrap();
    assert_eq!((after.status, after.rows_done, after.counts), (ImportStatus::Abandoned, 1, old.counts));
    assert_eq!(script.contacts("").await.total, 1, "only the committed batch's contact exists");
    app.stop().await;
}

async fn an_orphaned_import_resumes_from_its_checkpoint(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (user_id, script, claimed) = claimed_import(&app, "orphan@example.com", 500).await;
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    // The first attempt committed rows 0..120 (as the file has them), then its instance died.
    let first_rows: Vec<Contact> = (0..120)
        .map(|i| Contact {
            display_name: format!("Person{i} Tester"),
            given_name: format!("Person{i}"),
            family_name: "Tester".into(),
            emails: vec![format!("person{i}@example.com")],
            ..Contact::default()
        })
        .collect();
    assert!(matches!(commit(&app, &fence, user_id, first_rows, 120).await, BatchOutcome::Committed { .. }));
    app.services.store.heartbeat("test-worker", app.services.now() - chrono::Duration::hours(1)).await.unwrap();
    let orphans = app.services.store.recover_orphans(app.services.now() - chrono::Duration::minutes(1), 3, app.services.now()).await.unwrap();
    assert_eq!(orphans.len(), 1);
    assert!(orphans[0].requeued);

    let again = app.services.store.claim_next("live-worker", app.services.now()).await.unwrap().unwrap();
    assert_eq!((again.attempt, again.rows_done), (2, 120));
    let (_, stopped) = tokio::sync::watch::channel(false);
    let end = intake::worker::run_import(&app.services, again, &stopped).await;
    assert_eq!(end, intake::worker::RunEnd::Finished(ImportStatus::Succeeded));
    let done = script.import_view(&claimed.import_id).await;
    assert_eq!(done.rows_done, 500);
    // Rows 0..120 were not processed twice: the resumed attempt only saw the rest.
    assert_eq!((done.counts.created, done.counts.updated, done.counts.unchanged), (500, 0, 0));
    assert_eq!(script.contacts("").await.total, 500);
    app.stop().await;
}

async fn an_import_that_keeps_dying_fails_after_its_attempts(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (user_id, script, mut claimed) = claimed_import(&app, "dying@example.com", 5).await;
    let store = &app.services.store;
    for attempt in 1..=3 {
        assert_eq!(claimed.attempt, attempt);
        // Its instance stops beating; recovery requeues it, or gives up after the third attempt.
        let later = app.services.now() + chrono::Duration::hours(attempt as i64);
        let orphans = store.recover_orphans(later - chrono::Duration::minutes(1), 3, later).await.unwrap();
        assert_eq!(orphans.len(), 1);
        if attempt < 3 {
            assert!(orphans[0].requeued);
            claimed = store.claim_next("test-worker", app.services.now()).await.unwrap().unwrap();
        } else {
            assert!(!orphans[0].requeued);
        }
    }
    let view = script.import_view(&claimed.import_id).await;
    assert_eq!(view.status, ImportStatus::Failed);
    assert_eq!(view.failure_reason.as_deref(), Some("The import stopped 3 times without finishing."));
    // A failed import frees the slot.
    assert_eq!(start_error(&script, 1).await, None);
    assert_eq!(store.list_imports(user_id, 10).await.unwrap().len(), 2);
    app.stop().await;
}

async fn the_server_function_and_rest_answer_409_with_the_typed_body(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let browser = app.signed_in_browser("typed@example.com").await;
    let first = upload(&browser, 2).await;
    let second = upload(&browser, 2).await;
    let started: intake::model::StartedImport = browser.start_import(&first.upload_id, &first.mapping).await.json().await.unwrap();

    let response = browser.start_import(&second.upload_id, &second.mapping).await;
    assert_eq!(response.status(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"error": "already_running", "elapsed_minutes": 0, "import_id": started.import_id}));

    let (user_id, script) = app.script_for_new_user("typed2@example.com").await;
    let rest_first = script.api_import_started("a.csv", people_csv(2)).await;
    let response = script.api_import("b.csv", people_csv(2)).await;
    assert_eq!(response.status(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"error": "already_running", "elapsed_minutes": 0, "import_id": rest_first.import_id}));
    assert_eq!(app.services.store.list_imports(user_id, 10).await.unwrap().len(), 1);
    app.stop().await;
}
