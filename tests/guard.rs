//! The start guard under real concurrency, stale takeover, fencing and resume,
//! on SQLite and on Postgres.

mod common;

use common::*;
use intake::domain::contact::{Contact, Labeled, Name};
use intake::domain::plan::RowContact;
use intake::error::ImportError;
use intake::model::{ImportStatus, UploadPreview};
use intake::store::{Claim, Failure, Fence};
use intake::worker::{commit_batch, Batch, BatchOutcome, CommitRules, Prefetched};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

on_both_backends!(
    exactly_one_of_200_concurrent_starts_wins_across_4_instances,
    exactly_one_of_200_concurrent_imports_and_undos_wins,
    different_users_start_at_once,
    a_healthy_long_import_is_never_taken_over,
    a_stalled_import_is_replaced_and_its_worker_fenced,
    an_orphaned_import_resumes_from_its_checkpoint,
    an_import_that_keeps_dying_at_one_batch_fails_naming_it,
    an_import_that_progresses_between_failures_never_fails,
    a_failure_reported_by_a_worker_names_its_batch_and_error,
    a_cancel_acknowledged_during_the_last_batch_ends_cancelled,
    a_cancel_after_the_finish_is_refused,
    a_cancelled_import_is_never_requeued,
    a_missing_upload_fails_the_import,
    a_short_upload_fails_the_import,
    an_unreadable_claim_fails_that_import,
    the_server_function_and_rest_answer_409_with_the_typed_body,
    owners_read_while_the_batch_before_commits_plan_as_if_read_after,
    writes_beside_an_import_committing_without_pause_get_their_turn,
    a_script_import_holds_the_slot_while_its_file_arrives,
    an_instance_that_was_away_requeues_lapsed_imports_without_a_failure,
);

/// An instance frozen while sending `COPY` data keeps its transaction open, and
/// Postgres ends a session idle in a transaction but not one in the middle of a
/// `COPY`: the transaction's lock on the import's row would keep the import from
/// every other instance until the frozen one woke. Recovery ends the sessions of
/// the instances it presumes dead. (SQLite: no sessions; see the chaos tests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_an_import_whose_owner_froze_inside_a_copy_is_recovered() {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    let app = spawn_app_with(Backend::Postgres, AppOptions::configured(web_only)).await;
    let (_user_id, _script, claimed) = claimed_import(&app, "frozen@example.com", 10).await;
    // The owner's session, as `Store::instance_id` names it.
    let options = sqlx::postgres::PgConnectOptions::from_str(&app.database.url).unwrap().application_name("intake test-worker");
    let mut owner = options.connect().await.unwrap();
    sqlx::query("BEGIN").execute(&mut owner).await.unwrap();
    sqlx::query("UPDATE imports SET attempt = attempt WHERE id = $1").bind(&claimed.import_id).execute(&mut owner).await.unwrap();
    let frozen = owner.copy_in_raw("COPY import_errors (import_id, line, reason) FROM STDIN").await.unwrap();

    // Only a transaction older than the lease is ended, once the owner's heartbeat lapsed.
    let (store, lease) = (&app.services.store, Duration::from_secs(1));
    let recovered = wait_until(Duration::from_secs(30), || async {
        let orphans = store.recover_orphans(lease, 3, true).await.unwrap();
        orphans.iter().any(|orphan| orphan.import_id == claimed.import_id).then_some(())
    })
    .await;
    assert!(recovered.is_some(), "the frozen session kept the import from recovery");
    assert!(frozen.finish().await.is_err(), "the frozen session was ended");
    app.stop().await;
}

/// Issue 21: sixteen slow requests held every connection of the pool, the
/// heartbeat waited behind them past the lease, and another instance took this
/// healthy instance's imports. Heartbeats have connections of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_the_heartbeat_beats_while_requests_hold_every_connection() {
    let options = AppOptions::configured(|c| {
        c.instance_lease = Duration::from_secs(3);
        c.database_lock_timeout = Duration::from_secs(120);
        c.database_statement_timeout = Duration::from_secs(120);
    });
    let app = spawn_app_with(Backend::Postgres, options).await;
    let (_, script) = app.script_for_new_user("saturating@example.com").await;
    let script = Arc::new(script);
    let admin = sqlx::PgPool::connect(&app.database.url).await.unwrap();
    let mut locker = admin.begin().await.unwrap();
    sqlx::query("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE").execute(&mut *locker).await.unwrap();
    // More contact reads than the pool has connections: each waits on the lock, holding one.
    let blocked: Vec<_> = (0..20)
        .map(|_| {
            let script = script.clone();
            tokio::spawn(async move { script.get("/api/contacts").await.status() })
        })
        .collect();
    let waiting = wait_until(Duration::from_secs(30), || async {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_locks WHERE relation = 'contacts'::regclass AND NOT granted")
            .fetch_one(&admin)
            .await
            .unwrap();
        (count >= 15).then_some(())
    })
    .await;
    assert!(waiting.is_some(), "the requests hold the pool's connections");
    let instance = app.services.store.instance_id().to_owned();
    let beat_at = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>("SELECT heartbeat_at FROM instances WHERE id = $1")
            .bind(&instance)
            .fetch_one(&admin)
            .await
            .unwrap()
    };
    let before = beat_at().await;
    let beat = wait_until(Duration::from_secs(10), || async { (beat_at().await > before).then_some(()) }).await;
    assert!(beat.is_some(), "the heartbeat waited for a request's connection");
    assert!(blocked.iter().all(|request| !request.is_finished()), "the requests were still holding the pool");
    locker.rollback().await.unwrap();
    for request in blocked {
        assert_eq!(request.await.unwrap(), 200);
    }
    admin.close().await;
    app.stop().await;
}

/// No workers, and no lease expiry: the test drives every claim and batch itself.
fn web_only(config: &mut intake::config::Config) {
    config.import_workers = 0;
    config.instance_lease = Duration::from_secs(100 * 24 * 3600);
    // No grace at all: a run the test drives must still go to its end, since no stop was asked for.
    config.shutdown_timeout = Duration::ZERO;
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
    let (_, browser) = instances[0].browser_for_new_user("racer@example.com").await;
    let clients: Vec<Arc<Client>> = instances.iter().map(|i| Arc::new(browser.at(&i.base))).collect();

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

/// Imports and undos hold the same slot: of 200 starts of both kinds at once,
/// across 4 instances, one wins and every other is `AlreadyRunning`.
async fn exactly_one_of_200_concurrent_imports_and_undos_wins(backend: Backend) {
    let worker = spawn_app(backend).await;
    let (_, browser) = worker.browser_for_new_user("undo-racer@example.com").await;
    let done = browser.api_import_started("first.csv", people_csv(5)).await;
    assert_eq!(browser.wait_finished(&done.import_id).await.status, ImportStatus::Succeeded);
    let database = worker.database.clone();
    // No workers from here on: a winner stays queued while the others try.
    worker.stop().await;
    let options = AppOptions::configured(web_only);
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(spawn_instance(database.clone(), &options).await);
    }
    let clients: Vec<Arc<Client>> = instances.iter().map(|i| Arc::new(browser.at(&i.base))).collect();
    let undo_path = format!("/api/imports/{}/undo", done.import_id);
    let asked: serde_json::Value = clients[0].http.post(clients[0].url(&undo_path)).send().await.unwrap().json().await.unwrap();
    assert_eq!(asked["error"], "confirmation_needed", "{asked}");
    let confirmed_path = format!("{undo_path}?confirm={}", asked["confirm"]);

    for round in 0..5 {
        let preview = upload(&clients[round % 4], 3).await;
        let mut attempts = tokio::task::JoinSet::new();
        for attempt in 0..200 {
            let client = clients[attempt % 4].clone();
            let (upload_id, mapping, undo) = (preview.upload_id.clone(), preview.mapping.clone(), confirmed_path.clone());
            attempts.spawn(async move {
                let response = if attempt % 2 == 0 {
                    client.start_import(&upload_id, &mapping).await
                } else {
                    client.http.post(client.url(&undo)).send().await.unwrap()
                };
                (response.status().as_u16(), response.text().await.unwrap())
            });
        }
        let (mut started, mut refused) = (Vec::new(), 0);
        while let Some(result) = attempts.join_next().await {
            let (status, body) = result.unwrap();
            match status {
                200 | 202 => started.push(serde_json::from_str::<intake::model::StartedImport>(&body).unwrap()),
                409 => {
                    let error: ImportError = serde_json::from_str(&body).unwrap();
                    assert!(matches!(error, ImportError::AlreadyRunning { .. }), "round {round}: {body}");
                    refused += 1;
                }
                other => panic!("round {round}: unexpected {other}: {body}"),
            }
        }
        assert_eq!(started.len(), 1, "round {round}: exactly one start");
        assert_eq!(refused, 199, "round {round}");
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
        clients.push(Arc::new(app.browser_for_new_user(&format!("user{user}@example.com")).await.1));
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
    person(&format!("Person {n}"), &[&format!("p{n}@example.com")])
}

fn row(contact: Contact) -> RowContact {
    RowContact::new(0, contact)
}

fn rules() -> CommitRules {
    CommitRules { source: "test.csv".into(), max_values: 50, max_stored_problems: 10_000, stored_problems: Default::default() }
}

/// Queues an import for a new user and claims it as a worker would.
async fn claimed_import(app: &TestApp, email: &str, rows: usize) -> (i64, Client, intake::store::ClaimedImport) {
    let (user_id, script) = app.browser_for_new_user(email).await;
    let preview = upload(&script, rows).await;
    let started: intake::model::StartedImport = script.start_import(&preview.upload_id, &preview.mapping).await.json().await.unwrap();
    let claimed = claim(app, "test-worker").await;
    assert_eq!(claimed.import_id, started.import_id);
    (user_id, script, claimed)
}

/// Claims the next queued import, which must be readable.
async fn claim(app: &TestApp, worker: &str) -> intake::store::ClaimedImport {
    match app.services.store.claim_next(worker).await.unwrap().expect("claimable") {
        Claim::Ready(claimed) => claimed,
        unreadable => panic!("{unreadable:?}"),
    }
}

async fn commit(app: &TestApp, fence: &Fence, user_id: i64, contacts: Vec<Contact>, rows_done: u64) -> BatchOutcome {
    let batch = Batch { user_id, contacts: contacts.into_iter().map(row).collect(), rows_done, ..Batch::default() };
    commit_batch(app.services.store.as_ref(), fence, batch, app.services.now(), &rules()).await.unwrap()
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
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (user_id, script, claimed) = claimed_import(&app, "healthy@example.com", 40).await;
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    // 40 minutes by the database's clock, one batch a minute: far past the 15-minute threshold.
    for minute in 1..=40u64 {
        age_import(&app.database, &claimed.import_id, 60).await;
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
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (user_id, script, claimed) = claimed_import(&app, "stalled@example.com", 10).await;
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    age_import(&app.database, &claimed.import_id, 3 * 60).await;
    assert!(matches!(commit(&app, &fence, user_id, vec![contact(1)], 1).await, BatchOutcome::Committed { .. }));

    // 14:30 after the last progress, by the database's clock: still fresh. (The
    // boundary to the second is domain::guard's unit tests'.)
    age_import(&app.database, &claimed.import_id, 14 * 60 + 30).await;
    assert!(matches!(start_error(&script, 1).await, Some(ImportError::AlreadyRunning { elapsed_minutes: 17, .. })));
    // 15 minutes without progress: stale, so the new import takes the slot.
    age_import(&app.database, &claimed.import_id, 30).await;
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
    assert_eq!(app.services.store.finish_import(&fence, ImportStatus::Succeeded, None, app.services.now()).await.unwrap(), None);
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
            name: Name { given: format!("Person{i}"), family: "Tester".into(), ..Name::default() },
            ..person(&format!("Person{i} Tester"), &[&format!("person{i}@example.com")])
        })
        .collect();
    assert!(matches!(commit(&app, &fence, user_id, first_rows, 120).await, BatchOutcome::Committed { .. }));
    // "test-worker" never beat a heartbeat: its lease is not held.
    let orphans = app.services.store.recover_orphans(LEASE, 3, true).await.unwrap();
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0].status, ImportStatus::Queued);

    let again = claim(&app, "live-worker").await;
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

/// A lease no test waits out; "test-worker" never beats, so its claims are orphans at once.
const LEASE: Duration = Duration::from_secs(60);

async fn an_import_that_keeps_dying_at_one_batch_fails_naming_it(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (user_id, script, mut claimed) = claimed_import(&app, "dying@example.com", 5).await;
    let store = &app.services.store;
    for attempt in 1..=3 {
        assert_eq!((claimed.attempt, claimed.rows_done), (attempt, 0));
        // Its instance stops beating; recovery requeues it, or gives up at the third failure.
        let orphans = store.recover_orphans(LEASE, 3, true).await.unwrap();
        assert_eq!(orphans.len(), 1);
        if attempt < 3 {
            assert_eq!(orphans[0].status, ImportStatus::Queued);
            claimed = claim(&app, "test-worker").await;
        } else {
            assert_eq!(orphans[0].status, ImportStatus::Failed);
        }
    }
    let view = script.import_view(&claimed.import_id).await;
    assert_eq!(view.status, ImportStatus::Failed);
    assert_eq!(view.failure_reason.as_deref(), Some("Failed 3 times at the first batch: its instance stopped responding"));
    // A failed import frees the slot.
    assert_eq!(start_error(&script, 1).await, None);
    assert_eq!(store.list_imports(user_id, 10).await.unwrap().len(), 2);
    app.stop().await;
}

async fn an_import_that_progresses_between_failures_never_fails(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (user_id, script, mut claimed) = claimed_import(&app, "progress@example.com", 10).await;
    let store = &app.services.store;
    // Eight crashes, each after one more committed row: far past the limit of 3.
    for row in 1..=8u64 {
        let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
        let batch = Batch { user_id, contacts: vec![self::row(contact(row as usize))], rows_done: row, last_line: row + 1, ..Batch::default() };
        assert!(matches!(commit_batch(store.as_ref(), &fence, batch, app.services.now(), &rules()).await.unwrap(), BatchOutcome::Committed { .. }));
        let orphans = store.recover_orphans(LEASE, 3, true).await.unwrap();
        assert_eq!(orphans[0].status, ImportStatus::Queued, "crash after row {row}");
        claimed = claim(&app, "test-worker").await;
        assert_eq!((claimed.attempt, claimed.rows_done), (row as i32 + 1, row));
    }
    // Then it stops moving: the crash after the last progress counted once, two more end it.
    assert_eq!(store.recover_orphans(LEASE, 3, true).await.unwrap()[0].status, ImportStatus::Queued);
    claimed = claim(&app, "test-worker").await;
    assert_eq!(store.recover_orphans(LEASE, 3, true).await.unwrap()[0].status, ImportStatus::Failed);
    let view = script.import_view(&claimed.import_id).await;
    assert_eq!(
        view.failure_reason.as_deref(),
        Some("Failed 3 times at the batch after line 9: its instance stopped responding")
    );
    assert_eq!((view.rows_done, view.counts.created), (8, 8));
    app.stop().await;
}

async fn a_failure_reported_by_a_worker_names_its_batch_and_error(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (_, script, mut claimed) = claimed_import(&app, "poison@example.com", 5).await;
    let store = &app.services.store;
    let failure = Failure { batch: "the batch starting at line 2".into(), error: "boom".into() };
    let fence = |claimed: &intake::store::ClaimedImport| Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    assert_eq!(store.release_import(&fence(&claimed), Some(&failure), 2).await.unwrap(), Some(ImportStatus::Queued));
    // Hand-backs (graceful stops) count nothing, however many.
    for _ in 0..3 {
        claimed = claim(&app, "test-worker").await;
        assert_eq!(store.release_import(&fence(&claimed), None, 2).await.unwrap(), Some(ImportStatus::Queued));
    }
    claimed = claim(&app, "test-worker").await;
    assert_eq!(store.release_import(&fence(&claimed), Some(&failure), 2).await.unwrap(), Some(ImportStatus::Failed));
    // The fence still holds: the old attempt's hand-back changes nothing.
    let stale = Fence { import_id: claimed.import_id.clone(), attempt: 1 };
    assert_eq!(store.release_import(&stale, None, 2).await.unwrap(), None);
    let view = script.import_view(&claimed.import_id).await;
    assert_eq!(view.failure_reason.as_deref(), Some("Failed 2 times at the batch starting at line 2: boom"));
    app.stop().await;
}

async fn a_cancel_acknowledged_during_the_last_batch_ends_cancelled(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (user_id, script, claimed) = claimed_import(&app, "late-cancel@example.com", 3).await;
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    // The last batch commits before the cancel: the worker did not see it.
    let outcome = commit(&app, &fence, user_id, vec![contact(1)], 3).await;
    assert!(matches!(outcome, BatchOutcome::Committed { cancel_requested: false, .. }));
    let cancel = script.http.post(script.url(&format!("/api/imports/{}/cancel", claimed.import_id))).send().await.unwrap();
    assert_eq!(cancel.status(), 200, "the cancel is acknowledged");
    let ended = app.services.store.finish_import(&fence, ImportStatus::Succeeded, None, app.services.now()).await.unwrap();
    assert_eq!(ended, Some(ImportStatus::Cancelled));
    assert_eq!(script.import_view(&claimed.import_id).await.status, ImportStatus::Cancelled);
    app.stop().await;
}

async fn a_cancel_after_the_finish_is_refused(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (_, script, claimed) = claimed_import(&app, "too-late@example.com", 3).await;
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    let ended = app.services.store.finish_import(&fence, ImportStatus::Succeeded, None, app.services.now()).await.unwrap();
    assert_eq!(ended, Some(ImportStatus::Succeeded));
    let cancel = script.http.post(script.url(&format!("/api/imports/{}/cancel", claimed.import_id))).send().await.unwrap();
    assert_eq!(cancel.status(), 409);
    assert_eq!(cancel.json::<ImportError>().await.unwrap(), ImportError::AlreadyFinished);
    app.stop().await;
}

async fn a_cancelled_import_is_never_requeued(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (user_id, script, claimed) = claimed_import(&app, "cancel-crash@example.com", 3).await;
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    let cancel = script.http.post(script.url(&format!("/api/imports/{}/cancel", claimed.import_id))).send().await.unwrap();
    assert_eq!(cancel.status(), 200);
    // Its instance dies before the next batch: recovery ends it instead of requeueing it.
    let orphans = app.services.store.recover_orphans(LEASE, 3, true).await.unwrap();
    assert_eq!(orphans[0].status, ImportStatus::Cancelled);
    assert!(app.services.store.claim_next("test-worker").await.unwrap().is_none());
    assert_eq!(commit(&app, &fence, user_id, vec![contact(1)], 1).await, BatchOutcome::Replaced);
    let view = script.import_view(&claimed.import_id).await;
    assert_eq!((view.status, view.rows_done, view.counts.created), (ImportStatus::Cancelled, 0, 0));
    app.stop().await;
}

async fn a_missing_upload_fails_the_import(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (_, script, claimed) = claimed_import(&app, "missing@example.com", 5).await;
    app.services.store.delete_upload(&claimed.upload_id).await.unwrap();
    let (_, running) = tokio::sync::watch::channel(false);
    let end = intake::worker::run_import(&app.services, claimed.clone(), &running).await;
    assert_eq!(end, intake::worker::RunEnd::Finished(ImportStatus::Failed));
    let view = script.import_view(&claimed.import_id).await;
    assert_eq!((view.rows_done, view.failure_reason.as_deref()), (0, Some("The uploaded file is missing.")));
    app.stop().await;
}

async fn a_short_upload_fails_the_import(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    // Over 1 MiB: two stored chunks, of which the second goes missing.
    let (_, script, claimed) = claimed_import(&app, "short@example.com", 20_000).await;
    execute(&app.database, "DELETE FROM upload_chunks WHERE upload_id = $1 AND seq = 1", &claimed.upload_id).await;
    let (_, running) = tokio::sync::watch::channel(false);
    let end = intake::worker::run_import(&app.services, claimed.clone(), &running).await;
    assert_eq!(end, intake::worker::RunEnd::Finished(ImportStatus::Failed));
    let view = script.import_view(&claimed.import_id).await;
    assert_eq!(view.status, ImportStatus::Failed);
    let reason = view.failure_reason.unwrap();
    assert!(reason.starts_with("The uploaded file ends after ") && reason.ends_with(" of its 20000 rows."), "{reason}");
    app.stop().await;
}

async fn an_unreadable_claim_fails_that_import(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (_, script) = app.browser_for_new_user("unreadable@example.com").await;
    let preview = upload(&script, 3).await;
    let started: intake::model::StartedImport = script.start_import(&preview.upload_id, &preview.mapping).await.json().await.unwrap();
    execute(&app.database, "UPDATE imports SET mapping = '{\"columns\": 5}' WHERE id = $1", &started.import_id).await;
    // An instance with a worker claims it, cannot read it, and fails it instead of looping.
    let worker = spawn_instance(app.database.clone(), &AppOptions::configured(|config| config.import_workers = 1)).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.status, ImportStatus::Failed, "{done:?}");
    assert_eq!(done.failure_reason.as_deref(), Some("The import's stored settings could not be read."));
    worker.stop().await;
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

fn person(name: &str, emails: &[&str]) -> Contact {
    let emails = emails.iter().map(|e| Labeled::new(e.to_string(), "", false)).collect();
    Contact { display_name: name.into(), emails, ..Contact::default() }
}

/// The worker reads a batch's stored owners while the batch before it commits.
/// Here the read is taken before that commit lands, which then updates a contact
/// the read saw, absorbs another it saw, and creates one it missed: the next
/// batch must still match all three, exactly as if it had read after.
async fn owners_read_while_the_batch_before_commits_plan_as_if_read_after(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(web_only)).await;
    let (user_id, script, claimed) = claimed_import(&app, "prefetch@example.com", 10).await;
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    let store = &app.services.store;
    let first = vec![person("Ana", &["a@x.io"]), person("Dee", &["d@x.io"])];
    assert!(matches!(commit(&app, &fence, user_id, first, 2).await, BatchOutcome::Committed { .. }));

    let third: Vec<_> = [person("", &["b@x.io"]), person("", &["d@x.io"]), person("", &["c@x.io"])].map(row).to_vec();
    let read_early = intake::worker::prefetch_owners(store.as_ref(), user_id, &third, None).await.unwrap();
    assert_eq!(read_early.len(), 1, "the early read sees Dee only: {read_early:?}");

    // Ana gains b@x.io and absorbs Dee; Cy is new.
    let second = vec![person("Ana", &["a@x.io", "b@x.io", "d@x.io"]), person("Cy", &["c@x.io"])];
    let BatchOutcome::Committed { touched, .. } = commit(&app, &fence, user_id, second, 4).await else { panic!("fenced") };
    let batch = Batch {
        user_id,
        contacts: third,
        rows_done: 7,
        prefetched: Some(Prefetched { contacts: read_early, stale: touched }),
        ..Batch::default()
    };
    let outcome = commit_batch(store.as_ref(), &fence, batch, app.services.now(), &rules()).await.unwrap();
    let BatchOutcome::Committed { counts, .. } = outcome else { panic!("fenced") };
    assert_eq!((counts.created, counts.updated, counts.unchanged, counts.merged), (0, 0, 3, 0));

    let contacts = script.contacts("").await.contacts;
    let emails: Vec<Vec<String>> = contacts.iter().map(|c| c.emails.clone()).collect();
    assert_eq!(emails, [vec!["a@x.io", "d@x.io", "b@x.io"], vec!["c@x.io"]], "{contacts:?}");
    app.stop().await;
}

/// SQLite runs one writer at a time, and a writer that waits in its busy handler
/// sleeps between tries: an import committing batch after batch took the lock
/// again before the others woke, for longer than their timeout. Each write
/// beside such an import must get its turn within a timeout of a few batches.
async fn writes_beside_an_import_committing_without_pause_get_their_turn(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions::configured(|config| {
            web_only(config);
            config.database_busy_timeout = Duration::from_secs(2);
        }),
    )
    .await;
    let (user_id, _script, claimed) = claimed_import(&app, "busy@example.com", 10).await;
    let fence = Fence { import_id: claimed.import_id.clone(), attempt: claimed.attempt };
    let batches: Vec<Batch> = (0..80)
        .map(|b| Batch {
            user_id,
            contacts: (b * 500..(b + 1) * 500).map(|n| row(contact(n))).collect(),
            ..Batch::default()
        })
        .collect();
    let (store, now) = (app.services.store.clone(), app.services.now());
    let busy = tokio::spawn(async move {
        for batch in batches {
            assert!(matches!(commit_batch(store.as_ref(), &fence, batch, now, &rules()).await.unwrap(), BatchOutcome::Committed { .. }));
        }
    });
    for n in 0..10 {
        let created = app.services.store.create_user(&format!("other{n}@example.com"), "not a hash", now).await;
        assert!(matches!(created, Ok(Some(_))), "write {n} beside the import: {created:?}");
    }
    assert!(!busy.is_finished(), "the writes ran beside the import, not after it");
    busy.await.unwrap();
    app.stop().await;
}

/// `POST /api/imports` takes the person's slot before its file arrives: the
/// import waits in the queue, unclaimed, and any other start is refused.
async fn a_script_import_holds_the_slot_while_its_file_arrives(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, script) = app.script_for_new_user("arriving@example.com").await;
    let (sender, receiver) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    let head = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n";
    sender.unbounded_send(Ok([head.as_slice(), &people_csv(3)].concat())).unwrap();
    let request = script
        .http
        .post(script.url("/api/imports"))
        .header("content-type", "multipart/form-data; boundary=B")
        .body(reqwest::Body::wrap_stream(receiver))
        .send();
    let arriving = tokio::spawn(request);
    let holder = wait_until(Duration::from_secs(30), || async { app.services.store.slot_holder(user_id).await.unwrap() }).await;
    let holder = holder.expect("the script's import holds the slot");
    // Another start is refused while the file arrives, and nothing claims the import.
    let other = app.browser();
    assert_eq!(other.sign_in("arriving@example.com", PASSWORD).await.status(), 200);
    let preview = upload(&other, 2).await;
    let refused = other.start_import(&preview.upload_id, &preview.mapping).await;
    assert_eq!(refused.status(), 409);
    let error: ImportError = refused.json().await.unwrap();
    assert!(matches!(error, ImportError::AlreadyRunning { ref import_id, .. } if *import_id == holder.import_id));
    assert_eq!(app.services.store.queued_imports().await.unwrap(), 0, "a receiving import is not claimable");
    sender.unbounded_send(Ok(b"\r\n--B--\r\n".to_vec())).unwrap();
    drop(sender);
    let response = arriving.await.unwrap().unwrap();
    assert_eq!(response.status(), 202);
    let started: intake::model::StartedImport = response.json().await.unwrap();
    assert_eq!(started.import_id, holder.import_id);
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.status, done.counts.created), (ImportStatus::Succeeded, 3), "{done:?}");
    app.stop().await;
}

/// Holds the database's write lock (SQLite) or the lease table's (Postgres) for
/// `hold`: every instance's heartbeat waits, as in an outage.
async fn hold_the_leases(database: &TestDatabase, hold: Duration) {
    match database.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&database.url).await.unwrap();
            let mut held = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("UPDATE instances SET id = id").execute(&mut *held).await.unwrap();
            tokio::time::sleep(hold).await;
            held.rollback().await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
            let mut held = pool.begin().await.unwrap();
            sqlx::query("LOCK TABLE instances IN ACCESS EXCLUSIVE MODE").execute(&mut *held).await.unwrap();
            tokio::time::sleep(hold).await;
            held.rollback().await.unwrap();
            pool.close().await;
        }
    }
}

/// Issue 21: a requeue after an outage counted a failure, as a crash does. An
/// instance whose own lease could not be renewed for longer than a lease was
/// away too, and requeues the lapsed imports without one; a crash seen by an
/// instance that was up still counts one. The test beats as the heartbeat loop does.
async fn an_instance_that_was_away_requeues_lapsed_imports_without_a_failure(backend: Backend) {
    let options = AppOptions::configured(|c| {
        web_only(c);
        c.instance_lease = Duration::from_secs(1);
        c.database_busy_timeout = Duration::from_secs(30);
        c.database_lock_timeout = Duration::from_secs(30);
    });
    let app = spawn_app_with(backend, options).await;
    let (_, browser) = app.browser_for_new_user("outage@example.com").await;
    let preview = upload(&browser, 3).await;
    let started: intake::model::StartedImport = browser.start_import(&preview.upload_id, &preview.mapping).await.json().await.unwrap();
    let failures = || async { scalar(&app.database, "SELECT CAST(failures AS TEXT) FROM imports WHERE id = $1", &started.import_id).await };
    let (services, instance) = (&app.services, app.services.store.instance_id().to_owned());
    let last_beat = intake::worker::beat(services, &instance, None).await.unwrap();
    // Another instance claims it, then goes while every lease waits on the database.
    services.store.heartbeat("ghost").await.unwrap();
    assert!(matches!(services.store.claim_next("ghost").await.unwrap(), Some(Claim::Ready(_))));
    tokio::join!(hold_the_leases(&app.database, Duration::from_secs(3)), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        intake::worker::beat(services, &instance, Some(last_beat)).await.unwrap()
    });
    assert_eq!(browser.import_view(&started.import_id).await.status, ImportStatus::Queued);
    assert_eq!(failures().await, "0", "requeued after an outage: no failure");
    // The same loss while this instance was up: a crash, counted once.
    services.store.heartbeat("ghost-2").await.unwrap();
    assert!(matches!(services.store.claim_next("ghost-2").await.unwrap(), Some(Claim::Ready(_))));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    intake::worker::beat(services, &instance, Some(tokio::time::Instant::now())).await.unwrap();
    assert_eq!(browser.import_view(&started.import_id).await.status, ImportStatus::Queued);
    assert_eq!(failures().await, "1", "requeued after a crash: one failure");
    app.stop().await;
}
