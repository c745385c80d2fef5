//! Chaos: three real `intake` processes share one database and one long import,
//! while instances are killed, restarted, frozen, and the database goes away.
//! Every run must end `succeeded` with each row counted exactly once.
//!
//! Postgres runs every scenario; SQLite runs those that apply to one file on one
//! machine (a frozen SQLite writer holds the file's only write lock, and there is
//! no server to stop).

mod common;

use common::binary::*;
use common::*;
use intake::model::{ImportStatus, ImportView};
use std::time::Duration;

const ROWS: u64 = 200_000;

/// Short leases and timeouts, so that each fault is noticed within seconds.
const SETTINGS: &[(&str, &str)] = &[
    ("INSTANCE_LEASE", "2s"),
    ("INTAKE_SHUTDOWN_TIMEOUT", "10s"),
    ("DATABASE_LOCK_TIMEOUT", "2s"),
    ("DATABASE_STATEMENT_TIMEOUT", "10s"),
    ("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT", "2s"),
];

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn random_kill_9() {
        super::random_kill_9(super::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rolling_sigterm_restarts() {
        super::rolling_sigterm_restarts(super::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn kill_9_during_an_undo() {
        super::kill_9_during_an_undo(super::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn random_kill_9() {
        super::random_kill_9(super::Backend::Postgres).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rolling_sigterm_restarts() {
        super::rolling_sigterm_restarts(super::Backend::Postgres).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn kill_9_during_an_undo() {
        super::kill_9_during_an_undo(super::Backend::Postgres).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sigstop_past_the_lease_then_sigcont() {
        super::sigstop_past_the_lease_then_sigcont().await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_crashes_and_starts_again() {
        super::postgres_crashes_and_starts_again().await
    }
}

/// Three instances and one import of `ROWS` rows in progress.
struct Cluster {
    database: TestDatabase,
    servers: Vec<Server>,
    token: String,
    import_id: String,
}

impl Cluster {
    async fn start(database: TestDatabase) -> Self {
        let mut servers = Vec::new();
        for _ in 0..3 {
            servers.push(launch(&database, SETTINGS).await);
        }
        let script = cli_user(&database, &servers[0], "chaos@example.com").await;
        let token = script.http_token().unwrap().to_owned();
        let started = script.api_import_started("people.csv", people_csv(ROWS as usize)).await;
        Self { database, servers, token, import_id: started.import_id }
    }

    /// A client of the first instance still serving.
    fn script(&mut self) -> Client {
        let server = self.servers.iter_mut().find_map(|server| server.is_running().then_some(&server.base));
        Client::new(server.expect("an instance serving"), Some(&self.token))
    }

    async fn view(&mut self) -> ImportView {
        self.script().import_view(&self.import_id).await
    }

    /// Waits until the import committed `rows`, or ended.
    async fn progress_to(&mut self, rows: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        loop {
            let view = self.view().await;
            if view.rows_done >= rows || !view.status.is_active() {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "no progress to {rows} rows: {view:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn replace(&mut self, index: usize) {
        self.servers[index] = launch(&self.database, SETTINGS).await;
    }

    /// The import ended `succeeded`, every row counted once, no instance exited on its own.
    async fn finishes_exactly(mut self) {
        self.progress_to(u64::MAX).await;
        let view = self.view().await;
        assert_eq!(view.status, ImportStatus::Succeeded, "{view:?}");
        let counts = view.counts;
        assert_eq!(
            (view.rows_done, counts.created, counts.updated, counts.unchanged, counts.rejected, counts.skipped),
            (ROWS, ROWS, 0, 0, 0, 0),
            "{view:?}"
        );
        let script = self.script();
        assert_eq!(script.contacts("").await.total, ROWS);
        assert_eq!(script.contacts("person0@example.com").await.total, 1);
        assert_eq!(script.contacts(&format!("person{}@example.com", ROWS - 1)).await.total, 1);
        for server in &mut self.servers {
            assert!(server.is_running(), "an instance exited: {}", server.logs());
        }
    }
}

/// A small deterministic generator: the seed is printed, so a failing run can be replayed.
struct Dice(u64);

impl Dice {
    fn new() -> Self {
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
        println!("chaos seed {seed}");
        Self(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn random_kill_9(backend: Backend) {
    let mut cluster = Cluster::start(test_database(backend).await).await;
    let mut dice = Dice::new();
    for kill in 1..=6 {
        cluster.progress_to(kill * ROWS / 8).await;
        let victim = dice.below(3) as usize;
        let server = &mut cluster.servers[victim];
        server.child.start_kill().unwrap(); // SIGKILL
        server.child.wait().await.unwrap();
        cluster.replace(victim).await;
    }
    cluster.finishes_exactly().await;
}

/// An undo killed mid-way resumes from its last committed batch on another
/// instance, and ends with the contacts exactly as before the import, each
/// change undone (and journaled) once.
async fn kill_9_during_an_undo(backend: Backend) {
    const UNDO_ROWS: u64 = 20_000;
    let database = test_database(backend).await;
    let mut first = launch(&database, SETTINGS).await;
    let script = cli_user(&database, &first, "undo-chaos@example.com").await;
    let token = script.http_token().unwrap().to_owned();
    let started = script.api_import_started("people.csv", people_csv(UNDO_ROWS as usize)).await;
    assert_eq!(script.wait_finished(&started.import_id).await.status, ImportStatus::Succeeded);
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();

    // Small, paused batches: the kill lands in the middle.
    let slow: Vec<(&str, &str)> = SETTINGS.iter().copied().chain([("IMPORT_BATCH_ROWS", "125"), ("IMPORT_BATCH_PAUSE", "200ms")]).collect();
    let mut victim = launch(&database, &slow).await;
    let script = Client::new(&victim.base, Some(&token));
    let path = format!("/api/imports/{}/undo", started.import_id);
    let asked: serde_json::Value = script.http.post(script.url(&path)).send().await.unwrap().json().await.unwrap();
    assert_eq!(asked["confirm"], UNDO_ROWS, "{asked}");
    let undo = script.http.post(script.url(&format!("{path}?confirm={UNDO_ROWS}"))).send().await.unwrap();
    assert_eq!(undo.status(), 202);
    let undo: intake::model::StartedImport = undo.json().await.unwrap();
    wait_until(Duration::from_secs(120), || async { (script.import_view(&undo.import_id).await.rows_done >= 2_000).then_some(()) })
        .await
        .expect("the undo made progress");
    victim.child.start_kill().unwrap(); // SIGKILL
    victim.child.wait().await.unwrap();

    let survivor = launch(&database, SETTINGS).await;
    let script = Client::new(&survivor.base, Some(&token));
    let view = script.wait_finished(&undo.import_id).await;
    assert_eq!(view.status, ImportStatus::Succeeded, "{view:?}");
    assert_eq!(view.rows_done, UNDO_ROWS, "each change undone once: {view:?}");
    assert_eq!(view.reversal.removed, UNDO_ROWS, "{view:?}");
    assert!(view.attempt >= 2, "it was resumed: {view:?}");
    assert_eq!(script.contacts("").await.total, 0);
    let history: intake::model::HistoryView = script.get("/api/history").await.json().await.unwrap();
    let undo_op = history.operations.iter().find(|op| op.op_id == undo.import_id).expect("the undo's operation");
    assert_eq!(undo_op.changes, UNDO_ROWS, "its own journal holds each change once");
    // And undoing the undo brings all of them back.
    let asked: serde_json::Value =
        script.http.post(script.url(&format!("/api/history/{}/undo", undo.import_id))).send().await.unwrap().json().await.unwrap();
    let redo = script
        .http
        .post(script.url(&format!("/api/history/{}/undo?confirm={}", undo.import_id, asked["confirm"])))
        .send()
        .await
        .unwrap();
    assert_eq!(redo.status(), 202);
    let redo: intake::model::StartedImport = redo.json().await.unwrap();
    assert_eq!(script.wait_finished(&redo.import_id).await.status, ImportStatus::Succeeded);
    assert_eq!(script.contacts("").await.total, UNDO_ROWS);
}

async fn rolling_sigterm_restarts(backend: Backend) {
    let mut cluster = Cluster::start(test_database(backend).await).await;
    let mut step = 0;
    for _round in 0..3 {
        for index in 0..3 {
            step += 1;
            cluster.progress_to(step * ROWS / 12).await;
            let server = &mut cluster.servers[index];
            server.signal("-TERM");
            let status = tokio::time::timeout(Duration::from_secs(60), server.child.wait()).await.expect("stopped").unwrap();
            assert!(status.success(), "{status:?}: {}", server.logs());
            cluster.replace(index).await;
        }
    }
    cluster.finishes_exactly().await;
}

async fn sigstop_past_the_lease_then_sigcont() {
    let mut cluster = Cluster::start(test_database(Backend::Postgres).await).await;
    cluster.progress_to(ROWS / 4).await;
    let ids: Vec<String> = cluster.servers.iter().map(Server::instance_id).collect();
    let (database, import_id) = (&cluster.database, &cluster.import_id);
    let owner = wait_until(Duration::from_secs(60), || async {
        let owner = scalar(database, "SELECT COALESCE(owner, '') FROM imports WHERE id = $1", import_id).await;
        ids.iter().position(|id| *id == owner)
    })
    .await
    .expect("one of the instances owns the import");
    let before = cluster.view().await;
    // Frozen wherever it is, even inside a batch's transaction.
    cluster.servers[owner].signal("-STOP");
    let others: Vec<usize> = (0..3).filter(|&index| index != owner).collect();
    let script = Client::new(&cluster.servers[others[0]].base, Some(&cluster.token));
    let resumed = wait_until(Duration::from_secs(120), || async {
        let view = script.import_view(&cluster.import_id).await;
        (view.attempt > before.attempt && (view.rows_done > before.rows_done + 10_000 || !view.status.is_active())).then_some(view)
    })
    .await;
    if resumed.is_none() {
        let tail = |index: usize| {
            let logs = cluster.servers[index].logs();
            logs.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        let (first, second) = (tail(others[0]), tail(others[1]));
        let view = script.import_view(&cluster.import_id).await;
        let owner_now = scalar(&cluster.database, "SELECT COALESCE(owner, '') FROM imports WHERE id = $1", &cluster.import_id).await;
        panic!("no other instance resumed the import: {view:?}, owner {owner_now:?} (frozen: {:?}); before {before:?}\n{first}\n---\n{second}", ids[owner]);
    }
    cluster.servers[owner].signal("-CONT");
    let woken = &cluster.servers[owner];
    wait_until(Duration::from_secs(60), || async { woken.logs().contains("replaced").then_some(()) })
        .await
        .unwrap_or_else(|| panic!("the woken instance noticed it was fenced: {}", woken.logs()));
    cluster.finishes_exactly().await;
}

/// Postgres crashes mid-import (an immediate stop: no shutdown checkpoint, and
/// commits that did not wait for the disk may be lost) and comes back: every
/// instance answers 503 meanwhile, and the import ends exactly once, a batch
/// whose commit was lost redone from the checkpoint before it.
async fn postgres_crashes_and_starts_again() {
    let server = OwnPostgres::create().await;
    let mut cluster = Cluster::start(server.database().await).await;
    cluster.progress_to(ROWS / 4).await;
    server.crash();
    for instance in &cluster.servers {
        let health = wait_until(Duration::from_secs(30), || async {
            let response = reqwest::get(format!("{}/healthz", instance.base)).await.ok()?;
            (response.status() == 503).then_some(())
        })
        .await;
        assert!(health.is_some(), "/healthz answers 503 during the outage");
        let script = Client::new(&instance.base, Some(&cluster.token));
        let response = script.get(&format!("/api/imports/{}", cluster.import_id)).await;
        assert_eq!(response.status(), 503);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unavailable", "{body}");
    }
    // An outage of some seconds, as a failover or a restart takes.
    tokio::time::sleep(Duration::from_secs(10)).await;
    server.start();
    for instance in &cluster.servers {
        let health = wait_until(Duration::from_secs(60), || async {
            let response = reqwest::get(format!("{}/healthz", instance.base)).await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
        assert!(health.is_some(), "/healthz answers 200 after the outage: {}", instance.logs());
    }
    let import_id = cluster.import_id.clone();
    let url = cluster.database.url.clone();
    cluster.finishes_exactly().await;
    // Every instance was away longer than its lease, so the imports requeued afterwards count no failure.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let failures: i32 = sqlx::query_scalar("SELECT failures FROM imports WHERE id = $1").bind(&import_id).fetch_one(&pool).await.unwrap();
    pool.close().await;
    assert_eq!(failures, 0, "an outage counted as failures");
}

/// A Postgres cluster of this test's own, which it may stop and start.
struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl OwnPostgres {
    async fn create() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's PostgreSQL server binaries")
            .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
            .max()
            .expect("a PostgreSQL version");
        let dir = tempfile::tempdir().unwrap();
        let cluster = Self { dir, bin, port: free_port() };
        cluster.chown();
        cluster.run("initdb", &["-D", &cluster.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8"]);
        cluster.start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// initdb refuses root: as root, the cluster belongs to the `postgres` user.
    fn as_root() -> bool {
        std::process::Command::new("id").arg("-u").output().map(|out| out.stdout.starts_with(b"0")).unwrap_or(false)
    }

    fn chown(&self) {
        if Self::as_root() {
            let status = std::process::Command::new("chown").args(["postgres", &self.dir.path().display().to_string()]).status().unwrap();
            assert!(status.success());
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool).display().to_string();
        let mut command = if Self::as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--", &program]);
            command
        } else {
            std::process::Command::new(&program)
        };
        let output = command.args(args).output().unwrap();
        assert!(output.status.success(), "{tool}: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "start", "-o", &options]);
    }

    fn crash(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-w", "stop", "-m", "immediate"]);
    }

    async fn database(&self) -> TestDatabase {
        test_database_on(&format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)).await
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.run("pg_ctl", &["-D", &self.data(), "stop", "-m", "immediate"]));
    }
}
