//! The real `intake` binary as operators run it: killed, paused, resumed, driven
//! from its CLI, on SQLite and on Postgres.

mod common;

use common::binary::*;
use common::*;
use intake::model::ImportStatus;
use std::time::Duration;

on_both_backends!(
    a_killed_server_resumes_the_import_exactly,
    a_killed_server_resumes_a_merging_import_exactly,
    a_killed_server_resumes_a_vcard_import_exactly,
    a_killed_server_resumes_a_workbook_import_exactly,
    a_paused_worker_is_replaced_and_writes_nothing_after,
    the_cli_creates_accounts_and_tokens_for_scripts,
    secrets_never_reach_the_logs,
    sigterm_stops_the_server_gracefully,
    sigterm_hands_running_imports_back_without_counting_a_failure,
    a_panicking_import_is_requeued_and_the_slot_keeps_serving,
    a_batch_that_always_panics_fails_the_import_naming_it,
    skewed_clocks_neither_steal_healthy_work_nor_keep_dead_work,
    metrics_count_a_guarded_race_a_takeover_and_the_rows,
);

async fn a_killed_server_resumes_the_import_exactly(backend: Backend) {
    killed_and_resumed_exactly(backend, "people.csv", people_csv(3000)).await;
}

async fn a_killed_server_resumes_a_vcard_import_exactly(backend: Backend) {
    let (_database, _server, script) = killed_and_resumed_exactly(backend, "people.vcf", people_vcf(3000)).await;
    let last = script.contacts("p2999@work.example").await;
    assert_eq!(last.contacts[0].emails, ["person2999@example.com", "p2999@work.example"]);
}

async fn a_killed_server_resumes_a_workbook_import_exactly(backend: Backend) {
    killed_and_resumed_exactly(backend, "people.xlsx", people_xlsx(3000)).await;
}

/// Imports a file of 3000 distinct people through a server killed midway and
/// checks that every row counted once; the server that finished it serves on.
async fn killed_and_resumed_exactly(backend: Backend, file_name: &str, bytes: Vec<u8>) -> (TestDatabase, Server, Client) {
    let database = test_database(backend).await;
    let settings = [("IMPORT_BATCH_ROWS", "100"), ("IMPORT_BATCH_PAUSE", "40ms"), ("INSTANCE_LEASE", "2s")];
    let first = launch(&database, &settings).await;
    let script = cli_user(&database, &first, "crash@example.com").await;
    let started = script.api_import_started(file_name, bytes).await;
    let (second, script, done) = kill_mid_import_and_resume(&database, &settings, first, &script, &started.import_id).await;
    assert_eq!(done.rows_done, 3000);
    // Every row counted once: a row processed twice would show up as unchanged.
    assert_eq!((done.counts.created, done.counts.updated, done.counts.unchanged), (3000, 0, 0));
    assert_eq!(script.contacts("").await.total, 3000);
    (database, second, script)
}

/// SIGKILLs `first` once the import has committed 300 rows, starts a second
/// server, and waits for it to resume and finish the import on its second attempt.
async fn kill_mid_import_and_resume(
    database: &TestDatabase,
    settings: &[(&str, &str)],
    mut first: Server,
    script: &Client,
    import_id: &str,
) -> (Server, Client, intake::model::ImportView) {
    wait_until(Duration::from_secs(60), || async { (script.import_view(import_id).await.rows_done >= 300).then_some(()) })
        .await
        .expect("progress before the crash");
    first.child.start_kill().unwrap(); // SIGKILL: no shutdown, no goodbye
    first.child.wait().await.unwrap();

    let second = launch(database, settings).await;
    let script = Client::new(&second.base, script.http_token());
    let done = script.wait_finished(import_id).await;
    assert_eq!(done.status, ImportStatus::Succeeded, "{done:?}");
    assert_eq!(done.attempt, 2);
    assert!(second.logs().contains("resuming an import whose instance stopped"), "{}", second.logs());
    (second, script, done)
}

async fn a_killed_server_resumes_a_merging_import_exactly(backend: Backend) {
    let database = test_database(backend).await;
    let settings = [("IMPORT_BATCH_ROWS", "100"), ("IMPORT_BATCH_PAUSE", "40ms"), ("INSTANCE_LEASE", "2s")];
    let first = launch(&database, &settings).await;
    let script = cli_user(&database, &first, "merge-crash@example.com").await;
    let people: u64 = 1500;
    // Everyone twice: by a work address, and by a home address with a phone.
    let mut twice = String::from("Name,Email,Phone\r\n");
    for i in 0..people {
        twice.push_str(&format!("Person {i},p{i}@work.example,\r\nPerson {i} at home,p{i}@home.example,+1 555 {i:06}\r\n"));
    }
    let base = script.api_import_started("twice.csv", twice.into_bytes()).await;
    assert_eq!(script.wait_finished(&base.import_id).await.counts.created, 2 * people);
    // Each row shows that two contacts are one person.
    let mut links = String::from("Name,Email,Phone\r\n");
    for i in 0..people {
        links.push_str(&format!("Person {i},p{i}@home.example ::: p{i}@work.example,\r\n"));
    }
    let started = script.api_import_started("links.csv", links.into_bytes()).await;
    let (_second, script, done) = kill_mid_import_and_resume(&database, &settings, first, &script, &started.import_id).await;
    assert_eq!(done.rows_done, people);
    // A row replayed after the crash would count as unchanged and merge nothing.
    let counts = (done.counts.created, done.counts.updated, done.counts.unchanged, done.counts.merged);
    assert_eq!(counts, (0, people, 0, people));
    assert_eq!(script.contacts("").await.total, people);
    let merged = script.contacts("p7@home.example").await;
    assert_eq!(merged.contacts[0].emails, ["p7@work.example", "p7@home.example"]);
}

/// Pauses the server between batches: never while it holds a transaction, which
/// would block everyone else until it wakes.
async fn pause_between_batches(server: &Server, database: &TestDatabase) {
    for _ in 0..50 {
        server.signal("-STOP");
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !holds_a_transaction(database).await {
            return;
        }
        server.signal("-CONT");
        tokio::time::sleep(Duration::from_millis(17)).await;
    }
    panic!("could not pause the server between batches");
}

async fn holds_a_transaction(database: &TestDatabase) -> bool {
    match database.backend {
        Backend::Sqlite => {
            let options = database.url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap().busy_timeout(Duration::from_millis(200));
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            let mut connection = pool.acquire().await.unwrap();
            let free = sqlx::query("BEGIN IMMEDIATE").execute(&mut *connection).await.is_ok();
            if free {
                sqlx::query("ROLLBACK").execute(&mut *connection).await.unwrap();
            }
            !free
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
            let busy: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()
                 AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            busy > 0
        }
    }
}

async fn a_paused_worker_is_replaced_and_writes_nothing_after(backend: Backend) {
    let database = test_database(backend).await;
    let worker = launch(&database, &[("IMPORT_BATCH_ROWS", "100"), ("IMPORT_BATCH_PAUSE", "60ms"), ("INSTANCE_LEASE", "1h")]).await;
    let web = launch(&database, &[("IMPORT_STALE_AFTER", "2s"), ("IMPORT_WORKERS", "0"), ("INSTANCE_LEASE", "1h")]).await;
    let script = cli_user(&database, &worker, "paused@example.com").await;
    let started = script.api_import_started("people.csv", people_csv(4000)).await;
    wait_until(Duration::from_secs(60), || async { (script.import_view(&started.import_id).await.rows_done >= 300).then_some(()) })
        .await
        .expect("progress before the pause");

    pause_between_batches(&worker, &database).await;
    let web_script = Client::new(&web.base, script.http_token());
    let before = web_script.import_view(&started.import_id).await;
    assert_eq!(before.status, ImportStatus::Processing);
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Past the threshold without progress: a new import replaces it.
    let mut others = String::from("Name,Email\r\n");
    for i in 0..20 {
        others.push_str(&format!("Other {i},other{i}@example.com\r\n"));
    }
    let replacement = web_script.api_import_started("others.csv", others.into_bytes()).await;
    let replaced = web_script.import_view(&started.import_id).await;
    assert_eq!(replaced.status, ImportStatus::Abandoned);
    assert!(web.logs().contains("replacing an import that made no progress"), "{}", web.logs());

    worker.signal("-CONT");
    wait_until(Duration::from_secs(30), || async { worker.logs().contains("this attempt was replaced").then_some(()) })
        .await
        .unwrap_or_else(|| panic!("the woken worker noticed it was fenced: {}", worker.logs()));
    let after = web_script.import_view(&started.import_id).await;
    assert_eq!((after.status, after.rows_done, after.counts), (ImportStatus::Abandoned, before.rows_done, before.counts));
    assert_eq!(web_script.contacts("person").await.total, before.counts.created, "the woken worker wrote no contact");
    // The replacement runs normally (the woken instance's other worker may take it).
    let done = web_script.wait_finished(&replacement.import_id).await;
    assert_eq!((done.status, done.counts.created), (ImportStatus::Succeeded, 20));
}

async fn the_cli_creates_accounts_and_tokens_for_scripts(backend: Backend) {
    let database = test_database(backend).await;
    let server = launch(&database, &[]).await;
    let script = cli_user(&database, &server, "Operator@Example.com").await;
    let started = script.api_import_started("p.csv", people_csv(10)).await;
    assert_eq!(script.wait_finished(&started.import_id).await.counts.created, 10);
    // The CLI-made account signs in with the password given on stdin.
    let browser = Client::new(&server.base, None);
    assert_eq!(browser.sign_in("operator@example.com", PASSWORD).await.status(), 200);
}

async fn secrets_never_reach_the_logs(backend: Backend) {
    let database = test_database(backend).await;
    let server = launch(&database, &[("INTAKE_LOG", "trace")]).await;
    let script = cli_user(&database, &server, "cli-secret@example.com").await;
    let token = script.http_token().unwrap().to_owned();
    script.api_import_started("p.csv", people_csv(3)).await;

    let browser = Client::new(&server.base, None);
    let password = "a very secret password 123";
    assert_eq!(browser.sign_up("logs@example.com", password).await.status(), 200);
    assert_eq!(browser.sign_in("logs@example.com", "wrong secret password").await.status(), 401);
    let signed_in = browser.sign_in("logs@example.com", password).await;
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = cookie.trim_start_matches("intake_session=").split(';').next().unwrap().to_owned();
    let created: intake::model::NewToken = browser
        .post_form(<intake::api::accounts::CreateToken as leptos::server_fn::ServerFn>::PATH, &[("name", "x")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(Client::new(&server.base, Some(&created.token)).get("/api/contacts").await.status(), 200);

    let logs = server.logs();
    assert!(logs.contains("session started"), "the logs were captured: {logs}");
    for secret in [PASSWORD, password, "wrong secret password", &token, &created.token, &session] {
        assert!(!logs.contains(secret), "a secret reached the logs: {secret}");
    }
}

async fn sigterm_stops_the_server_gracefully(backend: Backend) {
    let database = test_database(backend).await;
    let mut server = launch(&database, &[]).await;
    server.signal("-TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), server.child.wait()).await.expect("stopped in time").unwrap();
    assert!(status.success(), "exit status {status:?}: {}", server.logs());
    assert!(server.logs().contains("shutting down"));
}

async fn wait_for_rows(script: &Client, import_id: &str, rows: u64) {
    wait_until(Duration::from_secs(120), || async { (script.import_view(import_id).await.rows_done >= rows).then_some(()) })
        .await
        .unwrap_or_else(|| panic!("import {import_id} reached {rows} rows"));
}

async fn sigterm_hands_running_imports_back_without_counting_a_failure(backend: Backend) {
    let database = test_database(backend).await;
    // One failure without progress would end the import: hand-backs must count none.
    let settings = [("IMPORT_BATCH_ROWS", "100"), ("IMPORT_BATCH_PAUSE", "40ms"), ("IMPORT_MAX_ATTEMPTS", "1")];
    let mut server = launch(&database, &settings).await;
    let script = cli_user(&database, &server, "rolling@example.com").await;
    let started = script.api_import_started("people.csv", people_csv(3000)).await;
    for round in 1..=3u64 {
        let script = Client::new(&server.base, script.http_token());
        wait_for_rows(&script, &started.import_id, round * 400).await;
        server.signal("-TERM");
        let status = tokio::time::timeout(Duration::from_secs(60), server.child.wait()).await.expect("stopped").unwrap();
        assert!(status.success(), "round {round}: {status:?}: {}", server.logs());
        assert!(server.logs().contains("import handed back to the queue"), "round {round}: {}", server.logs());
        let view = common::scalar(&database, "SELECT status FROM imports WHERE id = $1", &started.import_id).await;
        assert_eq!(view, "queued", "round {round}: back in the queue at once, not left to the lease");
        let failures = common::scalar(&database, "SELECT CAST(failures AS TEXT) FROM imports WHERE id = $1", &started.import_id).await;
        assert_eq!(failures, "0", "round {round}");
        server = launch(&database, &settings).await;
    }
    let script = Client::new(&server.base, script.http_token());
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.status, ImportStatus::Succeeded, "{done:?}");
    assert_eq!(done.attempt, 4);
    assert_eq!((done.rows_done, done.counts.created, done.counts.updated, done.counts.unchanged), (3000, 3000, 0, 0));
    assert_eq!(script.contacts("").await.total, 3000);
}

async fn a_panicking_import_is_requeued_and_the_slot_keeps_serving(backend: Backend) {
    let database = test_database(backend).await;
    // One worker slot: if the panic killed it, nothing after would run.
    let settings = [("IMPORT_WORKERS", "1"), ("IMPORT_BATCH_ROWS", "100"), ("INTAKE_TEST_PANIC_AT_LINE", "250")];
    let server = launch(&database, &settings).await;
    let script = cli_user(&database, &server, "panic@example.com").await;
    let started = script.api_import_started("people.csv", people_csv(1000)).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.status, ImportStatus::Succeeded, "{done:?}: {}", server.logs());
    assert_eq!(done.attempt, 2, "requeued once after the panic");
    assert_eq!((done.rows_done, done.counts.created, done.counts.updated, done.counts.unchanged), (1000, 1000, 0, 0));
    assert!(server.logs().contains("the import panicked"), "{}", server.logs());
    let next = script.api_import_started("more.csv", people_csv(300)).await;
    let done = script.wait_finished(&next.import_id).await;
    assert_eq!((done.status, done.attempt, done.counts.unchanged), (ImportStatus::Succeeded, 1, 300));
}

async fn a_batch_that_always_panics_fails_the_import_naming_it(backend: Backend) {
    let database = test_database(backend).await;
    let settings = [
        ("IMPORT_BATCH_ROWS", "100"),
        ("IMPORT_MAX_ATTEMPTS", "3"),
        ("INTAKE_TEST_PANIC_AT_LINE", "250"),
        ("INTAKE_TEST_PANIC_TIMES", "1000"),
    ];
    let server = launch(&database, &settings).await;
    let script = cli_user(&database, &server, "poison@example.com").await;
    let started = script.api_import_started("people.csv", people_csv(1000)).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.status, ImportStatus::Failed, "{done:?}");
    assert_eq!(
        done.failure_reason.as_deref(),
        Some("Failed 3 times at the batch starting at line 202: internal error: test hook: injected panic at line 250")
    );
    // Rows before the poison batch stay committed, once.
    assert_eq!((done.rows_done, done.counts.created), (200, 200));
    // The instance still serves: another user's import runs.
    let other = cli_user(&database, &server, "after-poison@example.com").await;
    let next = other.api_import_started("other.csv", people_csv(100)).await;
    assert_eq!(other.wait_finished(&next.import_id).await.status, ImportStatus::Succeeded);
}

async fn skewed_clocks_neither_steal_healthy_work_nor_keep_dead_work(backend: Backend) {
    let database = test_database(backend).await;
    let lease = ("INSTANCE_LEASE", "2s");
    // Staleness after 2 minutes: less than the 10 minutes between the two clocks.
    let slow = [("IMPORT_BATCH_ROWS", "100"), ("IMPORT_BATCH_PAUSE", "100ms"), ("IMPORT_STALE_AFTER", "2m"), lease];
    let behind = [&slow[..], &[("INTAKE_TEST_CLOCK_OFFSET", "-300"), ("IMPORT_WORKERS", "1")]].concat();
    let ahead = [&slow[..], &[("INTAKE_TEST_CLOCK_OFFSET", "300"), ("IMPORT_WORKERS", "0")]].concat();
    let mut worker = launch(&database, &behind).await;
    let watcher = launch(&database, &ahead).await;
    let script = cli_user(&database, &worker, "skew@example.com").await;

    // Many leases long, on the instance whose clock is 10 minutes behind its peer's.
    let healthy = script.api_import_started("people.csv", people_csv(4000)).await;
    // A start through the instance 10 minutes ahead meets a healthy import, not a stale one.
    wait_for_rows(&script, &healthy.import_id, 300).await;
    let ahead_script = Client::new(&watcher.base, script.http_token());
    let refused = ahead_script.api_import("more.csv", people_csv(10)).await;
    assert_eq!(refused.status(), 409, "{}", refused.text().await.unwrap_or_default());
    let done = script.wait_finished(&healthy.import_id).await;
    assert_eq!((done.status, done.attempt, done.counts.created), (ImportStatus::Succeeded, 1, 4000), "{done:?}");
    assert!(!watcher.logs().contains("resuming an import"), "{}", watcher.logs());
    assert!(!watcher.logs().contains("replacing an import"), "{}", watcher.logs());

    // The worker dies mid-import; an instance 5 minutes ahead resumes its work.
    let other = cli_user(&database, &worker, "skew2@example.com").await;
    let orphaned = other.api_import_started("people.csv", people_csv(4000)).await;
    wait_for_rows(&other, &orphaned.import_id, 300).await;
    worker.child.start_kill().unwrap();
    worker.child.wait().await.unwrap();
    let rescuer = launch(&database, &[&slow[..], &[("INTAKE_TEST_CLOCK_OFFSET", "300"), ("IMPORT_BATCH_PAUSE", "0s")]].concat()).await;
    let other = Client::new(&rescuer.base, other.http_token());
    let done = other.wait_finished(&orphaned.import_id).await;
    assert_eq!((done.status, done.attempt), (ImportStatus::Succeeded, 2), "{done:?}");
    assert_eq!((done.rows_done, done.counts.created, done.counts.updated, done.counts.unchanged), (4000, 4000, 0, 0));
}

/// The sum of the samples of `metric` whose labels include each of `labels`
/// (`name="value"`), in a Prometheus text page. Panics when there is none.
fn sample(page: &str, metric: &str, labels: &[&str]) -> f64 {
    let values: Vec<f64> = page
        .lines()
        .filter(|line| line.strip_prefix(metric).is_some_and(|rest| rest.starts_with([' ', '{'])))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(!values.is_empty(), "no {metric} {labels:?} in:\n{page}");
    values.iter().sum()
}

async fn scrape(metrics_addr: &str) -> String {
    let response = reqwest::get(format!("http://{metrics_addr}/metrics")).await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn metrics_count_a_guarded_race_a_takeover_and_the_rows(backend: Backend) {
    let database = test_database(backend).await;
    let web_metrics = format!("127.0.0.1:{}", free_port());
    // Web-only, so the race's winner stays queued and every other start meets it.
    let web = launch(&database, &[("IMPORT_WORKERS", "0"), ("INTAKE_METRICS_ADDR", &web_metrics)]).await;
    let script = cli_user(&database, &web, "metrics@example.com").await;
    let racers = 6;
    let answers = futures::future::join_all((0..racers).map(|_| script.api_import("people.csv", people_csv(300)))).await;
    let mut winners = Vec::new();
    for answer in answers {
        match answer.status().as_u16() {
            202 => winners.push(answer.json::<intake::model::StartedImport>().await.unwrap().import_id),
            409 => {}
            other => panic!("unexpected {other}: {}", answer.text().await.unwrap_or_default()),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one start wins");

    // The winner made no progress for an hour, by the database's record: a new start replaces it.
    age_import(&database, &winners[0], 3600).await;
    let replacement = script.api_import_started("people.csv", people_csv(300)).await;
    assert_eq!(script.import_view(&winners[0]).await.status, ImportStatus::Abandoned);

    let page = scrape(&web_metrics).await;
    let refused = (racers - 1) as f64;
    assert_eq!(sample(&page, "intake_already_running_total", &[]), refused);
    assert_eq!(sample(&page, "intake_stale_takeovers_total", &[]), 1.0);
    assert_eq!(sample(&page, "intake_imports_started_total", &[]), 2.0);
    assert_eq!(sample(&page, "intake_imports_finished_total", &[r#"kind="import""#, r#"outcome="abandoned""#]), 1.0);
    let imports_route = [r#"method="POST""#, r#"route="/api/imports""#];
    assert_eq!(sample(&page, "intake_http_requests_total", &[&imports_route[..], &[r#"status="409""#]].concat()), refused);
    assert_eq!(sample(&page, "intake_http_requests_total", &[&imports_route[..], &[r#"status="202""#]].concat()), 2.0);
    assert_eq!(sample(&page, "intake_http_request_duration_seconds_count", &imports_route), refused + 2.0);
    sample(&page, "intake_queue_depth", &[]);

    // A worker instance processes the replacement: 300 rows in batches of 100.
    let worker_metrics = format!("127.0.0.1:{}", free_port());
    let _worker = launch(&database, &[("IMPORT_BATCH_ROWS", "100"), ("INTAKE_METRICS_ADDR", &worker_metrics)]).await;
    let done = script.wait_finished(&replacement.import_id).await;
    assert_eq!((done.status, done.rows_done), (ImportStatus::Succeeded, 300));
    let page = scrape(&worker_metrics).await;
    assert_eq!(sample(&page, "intake_rows_processed_total", &[]), 300.0);
    assert_eq!(sample(&page, "intake_batch_commit_seconds_count", &[]), 3.0);
    assert_eq!(sample(&page, "intake_imports_finished_total", &[r#"outcome="succeeded""#]), 1.0);

    // An undo is a job in the same queue, counted as what it is.
    let path = format!("/api/imports/{}/undo?confirm=300", replacement.import_id);
    let undo = script.http.post(script.url(&path)).send().await.unwrap();
    assert_eq!(undo.status(), 202);
    let undo: intake::model::StartedImport = undo.json().await.unwrap();
    assert_eq!(script.wait_finished(&undo.import_id).await.status, ImportStatus::Succeeded);
    let page = scrape(&web_metrics).await;
    assert_eq!(sample(&page, "intake_imports_started_total", &[r#"kind="import""#]), 2.0);
    assert_eq!(sample(&page, "intake_imports_started_total", &[r#"kind="undo""#]), 1.0);
    // Its end pairs with its start: a dashboard's "started minus finished" of a kind is what runs.
    let page = scrape(&worker_metrics).await;
    assert_eq!(sample(&page, "intake_imports_finished_total", &[r#"kind="import""#, r#"outcome="succeeded""#]), 1.0);
    assert_eq!(sample(&page, "intake_imports_finished_total", &[r#"kind="undo""#, r#"outcome="succeeded""#]), 1.0);
}
