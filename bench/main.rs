//! `intake-bench`: Intake's end-to-end import rate beside the fastest bulk loads a
//! user could run by hand, measured in the same run on the same file, plus the
//! server's peak memory, the start guard's latency and the client's size.
//!
//! It drives the release binary as an operator would: separate processes, HTTP
//! uploads, the CLI for accounts. `--smoke` checks correctness and nothing else.

use clap::Parser;
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

#[derive(Parser, Debug)]
#[command(about = "Benchmarks Intake against sqlite3 .import and psql \\copy")]
struct Args {
    /// Rows in the generated contacts file.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// A second, smaller file whose peak memory is compared with the large one's (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    small_rows: usize,
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Concurrent users for the start-guard latency (0 skips it).
    #[arg(long, default_value_t = 200)]
    guard_users: usize,
    /// The server binary to measure.
    #[arg(long, default_value = "target/release/intake")]
    intake: PathBuf,
    /// An earlier build of the server to measure side by side with `--intake`: their
    /// imports alternate on each backend, and the table adds a row with the ratio.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Where the built client lives, for its size.
    #[arg(long, default_value = "target/site/pkg")]
    pkg: PathBuf,
    /// A Postgres server this run may create databases on.
    #[arg(long, env = "TEST_DATABASE_URL")]
    postgres: String,
    /// Check every count instead of caring about speed.
    #[arg(long)]
    smoke: bool,
    /// Also measure the change journal: its size after a first import of the
    /// file and after a re-import that changes 10 % of `--small-rows` contacts,
    /// and the undo of the first import against the import's own time.
    #[arg(long)]
    history: bool,
    /// Many people at once on one Postgres: `--scale-users` import `--scale-rows`
    /// rows each at the same moment, through 1, 2 and 4 instances, against as
    /// many parallel `\copy` sessions of the same files.
    #[arg(long)]
    scale_out: bool,
    #[arg(long, default_value_t = 8)]
    scale_users: usize,
    #[arg(long, default_value_t = 200_000)]
    scale_rows: usize,
    /// The file: the 8-column contacts file, or Google Contacts' full layout (40 columns).
    #[arg(long, value_enum, default_value_t = Layout::Eight)]
    layout: Layout,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Eight,
    Google,
}

/// What the generated file must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expected {
    rows: u64,
    created: u64,
    unchanged: u64,
    /// Rows whose only email is not one: rejected before full contacts, since
    /// imported with a warning (the name identifies them).
    invalid: u64,
    /// Columns of the file, for the baselines' bare tables.
    columns: usize,
    /// The 0-based column of the first email, which the Postgres baseline indexes.
    email_column: usize,
}

const FIRST: [&str; 12] = ["Anna", "Jürgen", "Hélène", "Marco", "Aiko", "Olu", "Sofia", "Liam", "Zoë", "Mateo", "Priya", "Noah"];
const LAST: [&str; 10] = ["Müller", "Smith", "García", "Rossi", "Tanaka", "Okafor", "Dubois", "Nowak", "Jensen", "Silva"];
const COMPANIES: [&str; 6] = ["Acme GmbH", "Globex, Inc.", "Initech", "Umbrella SA", "Stark Industries", "Wayne & Co"];
const TITLES: [&str; 5] = ["Engineer", "Sales Lead", "CTO", "Designer", "Account Manager"];
const CITIES: [&str; 5] = ["Berlin", "Lyon", "Osaka", "Lagos", "São Paulo"];

/// Writes the file `layout` names with `rows` rows.
fn generate(path: &Path, rows: usize, layout: Layout) -> std::io::Result<Expected> {
    match layout {
        Layout::Eight => generate_eight(path, rows),
        Layout::Google => generate_google(path, rows),
    }
}

/// Which row of the file a row is: 3 % repeat a row 97 before exactly (always
/// a valid one), and `invalid` of every 100 have no email.
fn row_kind(i: usize, invalid: bool) -> (usize, char) {
    match i % 100 {
        7 | 57 if invalid => (i, 'x'),
        13 | 43 | 83 if i >= 100 => (i - 97, 'd'),
        _ => (i, 'v'),
    }
}

fn count(expected: &mut Expected, kind: char) {
    match kind {
        'x' => expected.invalid += 1,
        'd' => expected.unchanged += 1,
        _ => expected.created += 1,
    }
}

/// Writes a realistic contacts CSV (about 100 bytes a row): 3 % of rows repeat an
/// earlier row exactly, 2 % have an email that is not one.
fn generate_eight(path: &Path, rows: usize) -> std::io::Result<Expected> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "First Name,Last Name,E-mail Address,Mobile Phone,Company,Job Title,City,Notes")?;
    let mut expected = Expected { rows: rows as u64, created: 0, unchanged: 0, invalid: 0, columns: 8, email_column: 2 };
    let mut line = String::with_capacity(256);
    for i in 0..rows {
        line.clear();
        let (person, kind) = row_kind(i, true);
        let (first, last) = (FIRST[person % FIRST.len()], LAST[person % LAST.len()]);
        let email = match kind {
            'x' => format!("{}.{}{}@@example", first.to_lowercase(), last.to_lowercase(), person),
            _ => format!("{}.{}{}@example.com", ascii(first), ascii(last), person),
        };
        let company = COMPANIES[person % COMPANIES.len()];
        let notes = if person % 4 == 0 { format!("\"Met at conference {}, \"\"{}\"\"\"", person % 50, CITIES[person % 5]) } else { String::new() };
        let _ = write!(
            line,
            "{first},{last},{email},+49 30 {person:07},\"{company}\",{},{},{notes}",
            TITLES[person % TITLES.len()],
            CITIES[person % CITIES.len()]
        );
        writeln!(out, "{line}")?;
        count(&mut expected, kind);
    }
    out.flush()?;
    Ok(expected)
}

/// Google Contacts' current layout, as a large real export writes it: 40
/// columns, two labelled emails and phones, a structured and formatted
/// address, a website, a relation, an event, a custom field, labels and notes.
/// 3 % of rows repeat an earlier row exactly.
fn generate_google(path: &Path, rows: usize) -> std::io::Result<Expected> {
    const HEADER: &str = "First Name,Middle Name,Last Name,Phonetic First Name,Name Prefix,Name Suffix,Nickname,File As,\
Organization Name,Organization Title,Organization Department,Birthday,Notes,Photo,Labels,\
E-mail 1 - Label,E-mail 1 - Value,E-mail 2 - Label,E-mail 2 - Value,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,Phone 2 - Value,\
Address 1 - Label,Address 1 - Formatted,Address 1 - Street,Address 1 - City,Address 1 - PO Box,Address 1 - Region,\
Address 1 - Postal Code,Address 1 - Country,Address 1 - Extended Address,Website 1 - Label,Website 1 - Value,\
Relation 1 - Label,Relation 1 - Value,Event 1 - Label,Event 1 - Value,Custom Field 1 - Label,Custom Field 1 - Value";
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "{HEADER}")?;
    let columns = HEADER.split(',').count();
    let mut expected = Expected { rows: rows as u64, created: 0, unchanged: 0, invalid: 0, columns, email_column: 16 };
    let mut line = String::with_capacity(1024);
    for i in 0..rows {
        line.clear();
        let (p, kind) = row_kind(i, false);
        let (first, last) = (FIRST[p % FIRST.len()], LAST[p % LAST.len()]);
        let (company, city) = (COMPANIES[p % COMPANIES.len()], CITIES[p % CITIES.len()]);
        let street = format!("{} Hauptstraße", p % 400 + 1);
        let postal = format!("{:05}", p % 99_999);
        let notes = if p % 3 == 0 { format!("\"Met at conference {}, \"\"{city}\"\"\nFollow up in spring.\"", p % 50) } else { String::new() };
        let _ = write!(
            line,
            "{first},{},{last},,{},,{},,\"{company}\",{},Sales,{}-{:02}-{:02},{notes},,* myContacts ::: {},\
* Work,{}.{}{p}@example.com,Home,{}{p}@mail.example,Mobile,+49 151 {p:08},Work,+49 30 {p:07},\
Work,\"{street}\n{postal} {city}\nGermany\",{street},{city},,,{postal},Germany,Floor {},Work,https://example.com/{p},\
Spouse,{} {last},Anniversary,20{:02}-{:02}-{:02},Customer ID,C-{p}",
            if p % 5 == 0 { "M." } else { "" },
            if p % 7 == 0 { "Dr." } else { "" },
            if p % 11 == 0 { first.chars().take(3).collect::<String>() } else { String::new() },
            TITLES[p % TITLES.len()],
            1950 + p % 50,
            p % 12 + 1,
            p % 28 + 1,
            ["Friends", "Clients", "Family"][p % 3],
            ascii(first),
            ascii(last),
            ascii(first),
            p % 9,
            FIRST[(p + 3) % FIRST.len()],
            p % 24,
            p % 12 + 1,
            p % 28 + 1,
        );
        writeln!(out, "{line}")?;
        count(&mut expected, kind);
    }
    out.flush()?;
    Ok(expected)
}

fn ascii(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'ü' => 'u',
            'é' | 'ë' => 'e',
            'í' => 'i',
            'ã' => 'a',
            c => c,
        })
        .collect::<String>()
        .to_lowercase()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// One running `intake` process.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(intake: &Path, database_url: &str, settings: &[(&str, &str)]) -> Server {
        let base = format!("http://127.0.0.1:{}", free_port());
        let child = Command::new(intake)
            .env("DATABASE_URL", database_url)
            .env("INTAKE_ADDR", base.trim_start_matches("http://"))
            .env("INTAKE_LOG", "warn")
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start intake");
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
                if response.status().is_success() {
                    return Server { child, base };
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("intake at {base} did not become healthy");
    }

    /// CPU seconds the server process has used so far, all threads, user and system.
    fn cpu_seconds(&self) -> f64 {
        let fields = process_stat(self.child.id().expect("running")).unwrap_or_default();
        cpu_ticks(&fields, STAT_UTIME..=STAT_STIME) as f64 / clock_ticks_per_second()
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The fields of `/proc/PID/stat` after the parenthesised command name, which
/// may hold spaces: the state first, then the parent's id.
fn process_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.split_whitespace().map(str::to_owned).collect())
}

const STAT_PARENT: usize = 1;
/// User and system time of the process; then those of its children it waited for.
const STAT_UTIME: usize = 11;
const STAT_STIME: usize = 12;
const STAT_CSTIME: usize = 14;

fn cpu_ticks(fields: &[String], range: std::ops::RangeInclusive<usize>) -> u64 {
    fields.get(range).unwrap_or_default().iter().filter_map(|v| v.parse::<u64>().ok()).sum()
}

/// CPU seconds the Postgres server behind `admin` has used so far: its
/// postmaster, the children it has waited for, and those still running. A child
/// that ends between the reads is counted once or not at all: close enough for a
/// split of the time. `None` when the server's processes are not on this machine.
fn postgres_cpu_seconds(admin: &str) -> Option<f64> {
    // Only a superuser (or pg_read_all_settings) may read it: anyone else gets no split.
    let shown = StdCommand::new("psql").args([admin, "-X", "-q", "-t", "-A", "-c", "SHOW data_directory"]).output().ok()?;
    let data_directory = Some(String::from_utf8_lossy(&shown.stdout).trim().to_owned()).filter(|dir| !dir.is_empty())?;
    let pid_file = std::fs::read_to_string(Path::new(&data_directory).join("postmaster.pid")).ok()?;
    let postmaster: u32 = pid_file.lines().next()?.trim().parse().ok()?;
    let mut ticks = cpu_ticks(&process_stat(postmaster)?, STAT_UTIME..=STAT_CSTIME);
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        if let Some(fields) = process_stat(pid) {
            if fields.get(STAT_PARENT).is_some_and(|parent| *parent == postmaster.to_string()) {
                ticks += cpu_ticks(&fields, STAT_UTIME..=STAT_STIME);
            }
        }
    }
    Some(ticks as f64 / clock_ticks_per_second())
}

/// CPU seconds of this process's children that have ended and been waited for.
fn ended_children_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given, which lives on this stack.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn clock_ticks_per_second() -> f64 {
    let output = StdCommand::new("getconf").arg("CLK_TCK").output().expect("getconf CLK_TCK");
    String::from_utf8_lossy(&output.stdout).trim().parse().expect("CLK_TCK is a number")
}

fn cli(intake: &Path, database_url: &str, args: &[&str], stdin: &str) -> String {
    let mut child = StdCommand::new(intake)
        .env("DATABASE_URL", database_url)
        .env("INTAKE_LOG", "warn")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run intake cli");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let output = child.wait_with_output().expect("cli output");
    assert!(output.status.success(), "intake {args:?} failed");
    String::from_utf8(output.stdout).expect("utf-8")
}

fn token_for(intake: &Path, database_url: &str, email: &str) -> String {
    cli(intake, database_url, &["users", "add", email], "benchmark password\n");
    cli(intake, database_url, &["tokens", "add", email], "").trim().to_owned()
}

/// A browser's session of a new account on the server at `base`: the server
/// functions (the page's upload and start) take a session, not a token.
async fn browser_for(intake: &Path, database_url: &str, base: &str, email: &str) -> reqwest::Client {
    cli(intake, database_url, &["users", "add", email], "benchmark password\n");
    let sign_in = <intake::api::accounts::SignIn as leptos::server_fn::ServerFn>::PATH;
    let response = reqwest::Client::new()
        .post(format!("{base}{sign_in}"))
        .header(reqwest::header::ORIGIN, base)
        .form(&[("email", email), ("password", "benchmark password")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), 200, "sign in");
    let cookie = response.headers().get(reqwest::header::SET_COOKIE).expect("a session cookie").to_str().expect("ascii");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.split(';').next().expect("name=value").parse().expect("header"));
    headers.insert(reqwest::header::ORIGIN, base.parse().expect("origin"));
    reqwest::Client::builder().default_headers(headers).timeout(Duration::from_secs(3600)).build().expect("client")
}

fn client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("header"));
    reqwest::Client::builder().default_headers(headers).timeout(Duration::from_secs(3600)).build().expect("client")
}

async fn file_part(path: &Path) -> reqwest::multipart::Part {
    let file = tokio::fs::File::open(path).await.expect("open csv");
    let length = file.metadata().await.expect("metadata").len();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), length)
        .file_name("contacts.csv")
        .mime_str("text/csv")
        .expect("mime")
}

/// One Intake import, timed from the first byte uploaded to the import's end.
struct ImportRun {
    seconds: f64,
    /// The server's CPU time over the same span (on Postgres the database's is extra).
    cpu_seconds: f64,
    peak: Peak,
    counts: Value,
}

/// The server's memory at its highest during one import, and where the import was then.
#[derive(Clone, Copy, Default)]
struct Peak {
    /// Resident memory above the idle server's.
    above_idle_kib: u64,
    /// Of all resident memory, as `/proc/PID/status` splits it: anonymous memory
    /// (the heap, stacks), mapped files (the binary, SQLite's WAL index), and
    /// shared anonymous memory.
    anon_kib: u64,
    file_kib: u64,
    shmem_kib: u64,
    at_seconds: f64,
    /// Rows the import had committed then; `None` while the file was still uploading.
    rows_done: Option<u64>,
}

impl Peak {
    fn describe(&self, seconds: f64) -> String {
        let when = match self.rows_done {
            Some(rows) => format!("{rows} rows done"),
            None => "uploading".into(),
        };
        format!(
            "{:.1} MiB at {:.1} of {seconds:.1} s ({when}); resident: heap {:.1}, files {:.1}, shared {:.1} MiB",
            mib(self.above_idle_kib),
            self.at_seconds,
            mib(self.anon_kib),
            mib(self.file_kib),
            mib(self.shmem_kib)
        )
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `VmRSS`, `RssAnon`, `RssFile` and `RssShmem` of a process, in KiB.
fn resident_kib(pid: u32) -> [u64; 4] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    ["VmRSS:", "RssAnon:", "RssFile:", "RssShmem:"].map(|field| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    })
}

/// Rows done as the sampler reads it: `UPLOADING` until the upload is answered.
const UPLOADING: u64 = u64::MAX;

async fn intake_import(intake: &Path, database_url: &str, csv: &Path) -> ImportRun {
    let server = Server::start(intake, database_url, &[]).await;
    let http = client(&token_for(intake, database_url, "bench@example.com"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.child.id().expect("running");
    let idle = resident_kib(pid)[0];
    let rows_done = Arc::new(AtomicU64::new(UPLOADING));
    let sampling = Arc::new(AtomicBool::new(true));
    let start = Instant::now();
    let sampler = {
        let (rows_done, sampling) = (rows_done.clone(), sampling.clone());
        tokio::spawn(async move {
            let mut peak = Peak::default();
            let mut highest = 0;
            while sampling.load(Ordering::Relaxed) {
                let [rss, anon, file, shmem] = resident_kib(pid);
                if rss > highest {
                    highest = rss;
                    let done = rows_done.load(Ordering::Relaxed);
                    peak = Peak {
                        above_idle_kib: rss.saturating_sub(idle),
                        anon_kib: anon,
                        file_kib: file,
                        shmem_kib: shmem,
                        at_seconds: start.elapsed().as_secs_f64(),
                        rows_done: (done != UPLOADING).then_some(done),
                    };
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let cpu_at_start = server.cpu_seconds();
    let form = reqwest::multipart::Form::new().part("file", file_part(csv).await);
    let response = http.post(format!("{}/api/imports", server.base)).multipart(form).send().await.expect("upload");
    assert_eq!(response.status(), 202, "upload: {}", response.text().await.unwrap_or_default());
    rows_done.store(0, Ordering::Relaxed);
    let started: Value = response.json().await.expect("json");
    let status_url = format!("{}{}", server.base, started["status_url"].as_str().expect("status_url"));
    let view = loop {
        let view: Value = http.get(&status_url).send().await.expect("status").json().await.expect("json");
        rows_done.store(view["rows_done"].as_u64().unwrap_or(0), Ordering::Relaxed);
        if !matches!(view["status"].as_str(), Some("queued" | "processing")) {
            break view;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = server.cpu_seconds() - cpu_at_start;
    sampling.store(false, Ordering::Relaxed);
    let peak = sampler.await.expect("sampler");
    assert_eq!(view["status"], "succeeded", "{view}");
    server.stop().await;
    ImportRun { seconds, cpu_seconds, peak, counts: view["counts"].clone() }
}

/// The counts `expected` makes, by a build from before full contacts (the
/// invalid rows rejected) or after (imported with a warning).
fn check_counts(label: &str, counts: &Value, expected: Expected) -> Result<(), String> {
    let got = |k: &str| counts[k].as_u64().unwrap_or(u64::MAX);
    let before = got("created") == expected.created && got("rejected") == expected.invalid;
    let after = got("created") == expected.created + expected.invalid && got("rejected") == 0 && got("warned") == expected.invalid;
    let ok = (before || after) && got("unchanged") == expected.unchanged && got("updated") == 0 && got("skipped") == 0;
    if ok { Ok(()) } else { Err(format!("{label}: counts {counts} but expected {expected:?}")) }
}

fn timed(program: &str, args: &[&str]) -> f64 {
    let start = Instant::now();
    let status = StdCommand::new(program).args(args).stdout(Stdio::null()).status().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed");
    start.elapsed().as_secs_f64()
}

/// The file's columns as a bare table's: `c1 text, c2 text, …`.
fn bare_columns(expected: Expected) -> String {
    (1..=expected.columns).map(|c| format!("c{c} text")).collect::<Vec<_>>().join(", ")
}

fn sqlite_import(dir: &Path, csv: &Path, run: usize, expected: Expected) -> (f64, u64) {
    let db = dir.join(format!("baseline-{run}.db"));
    let db = db.to_str().expect("path");
    let status = StdCommand::new("sqlite3").arg(db).arg(format!("CREATE TABLE bare ({});", bare_columns(expected))).status().expect("sqlite3");
    assert!(status.success());
    let seconds = timed("sqlite3", &[db, "-cmd", ".mode csv", &format!(".import --skip 1 {} bare", csv.display())]);
    let count = StdCommand::new("sqlite3").args([db, "SELECT count(*) FROM bare"]).output().expect("sqlite3");
    (seconds, String::from_utf8_lossy(&count.stdout).trim().parse().unwrap_or(0))
}

fn psql(url: &str, sql: &str) -> String {
    let output = StdCommand::new("psql").args([url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql]).output().expect("psql");
    assert!(output.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `\copy` into `table` after `setup`; returns seconds and rows loaded.
fn postgres_copy(url: &str, setup: &str, csv: &Path, expected: Expected) -> (f64, u64) {
    psql(url, "DROP TABLE IF EXISTS baseline");
    psql(url, setup);
    let names: Vec<String> = (1..=expected.columns).map(|c| format!("c{c}")).collect();
    let copy = format!("\\copy baseline ({}) FROM '{}' WITH (FORMAT csv, HEADER true)", names.join(", "), csv.display());
    let seconds = timed("psql", &[url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &copy]);
    (seconds, psql(url, "SELECT count(*) FROM baseline").parse().unwrap_or(0))
}

async fn new_postgres_database(admin: &str, name: &str) -> String {
    psql(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    psql(admin, &format!("CREATE DATABASE {name}"));
    let (base, _) = admin.rsplit_once('/').expect("database in url");
    format!("{base}/{name}")
}

/// A server build under measurement, and how its rows are labelled.
struct Build {
    binary: PathBuf,
    label: String,
}

fn measured_builds(args: &Args) -> Vec<Build> {
    let mut builds = vec![Build { binary: args.intake.clone(), label: String::new() }];
    if let Some(earlier) = &args.compare {
        builds.push(Build { binary: earlier.clone(), label: format!(", {}", earlier.display()) });
    }
    builds
}

#[derive(Default)]
struct Times {
    seconds: Vec<f64>,
    cpu_seconds: Vec<f64>,
    peaks: Vec<Peak>,
}

impl Times {
    /// The median peak, and the highest when the runs differ.
    fn peak_cell(&self) -> String {
        let kib: Vec<f64> = self.peaks.iter().map(|peak| peak.above_idle_kib as f64).collect();
        let (median_kib, highest) = (median(kib.clone()), kib.iter().copied().fold(0.0, f64::max));
        match highest > median_kib {
            true => format!("{:.1} MiB (highest {:.1})", median_kib / 1024.0, highest / 1024.0),
            false => format!("{:.1} MiB", median_kib / 1024.0),
        }
    }
}

#[derive(Clone, Copy)]
enum Backend<'a> {
    Sqlite(&'a Path),
    Postgres,
}

/// `--repeat` imports of `csv` by each build on a new database each time; the builds
/// take turns, and which goes first alternates, so drift on a shared machine hits both.
async fn intake_runs(args: &Args, builds: &[Build], backend: Backend<'_>, csv: &Path, expected: Expected, report: &mut Report) -> Vec<Times> {
    let mut times: Vec<Times> = builds.iter().map(|_| Times::default()).collect();
    for run in 0..args.repeat {
        for turn in 0..builds.len() {
            let index = (turn + run) % builds.len();
            let name = format!("intake_bench_{run}_{index}");
            let url = match backend {
                Backend::Sqlite(dir) => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
                Backend::Postgres => new_postgres_database(&args.postgres, &name).await,
            };
            let result = intake_import(&builds[index].binary, &url, csv).await;
            let label = format!("Intake{} on {}", builds[index].label, if matches!(backend, Backend::Sqlite(_)) { "SQLite" } else { "Postgres" });
            if let Err(problem) = check_counts(&label, &result.counts, expected) {
                report.problems.push(problem);
            }
            match backend {
                Backend::Sqlite(dir) => {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(dir.join(format!("{name}.db{suffix}")));
                    }
                }
                Backend::Postgres => {
                    psql(&args.postgres, &format!("DROP DATABASE {name} WITH (FORCE)"));
                }
            }
            let measured = &mut times[index];
            measured.seconds.push(result.seconds);
            measured.cpu_seconds.push(result.cpu_seconds);
            measured.peaks.push(result.peak);
        }
    }
    times
}

/// `file` with every tenth data row's job title changed (the 8-column layout).
fn changed_tenth(file: &Path, out: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(file)?;
    let mut changed = String::with_capacity(text.len() + text.len() / 50);
    for (i, line) in text.lines().enumerate() {
        let mut line = line.to_owned();
        if i > 0 && i % 10 == 0 {
            if let Some(title) = TITLES.iter().find(|t| line.contains(&format!("\",{t},"))) {
                line = line.replacen(&format!("\",{title},"), &format!("\",{title} II,"), 1);
            }
        }
        changed.push_str(&line);
        changed.push('\n');
    }
    std::fs::write(out, changed)
}

/// A running server with one user: imports and undoes as a script would.
struct Scripted {
    server: Server,
    http: reqwest::Client,
}

impl Scripted {
    async fn start(intake: &Path, url: &str) -> Self {
        let server = Server::start(intake, url, &[]).await;
        let http = client(&token_for(intake, url, "history@example.com"));
        Self { server, http }
    }

    /// Posts and polls until the job ends: its view and the seconds it took.
    async fn until_done(&self, response: reqwest::Response, start: Instant) -> (Value, f64) {
        assert_eq!(response.status(), 202, "start: {}", response.text().await.unwrap_or_default());
        let started: Value = response.json().await.expect("json");
        let status_url = format!("{}{}", self.server.base, started["status_url"].as_str().expect("status_url"));
        loop {
            let view: Value = self.http.get(&status_url).send().await.expect("status").json().await.expect("json");
            if !matches!(view["status"].as_str(), Some("queued" | "processing")) {
                assert_eq!(view["status"], "succeeded", "{view}");
                return (view, start.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn import(&self, csv: &Path) -> (Value, f64) {
        let start = Instant::now();
        let form = reqwest::multipart::Form::new().part("file", file_part(csv).await);
        let response = self.http.post(format!("{}/api/imports", self.server.base)).multipart(form).send().await.expect("upload");
        self.until_done(response, start).await
    }

    /// The undo of `import_id`, confirmed with the count it asks for.
    async fn undo(&self, import_id: &str) -> (Value, f64) {
        let url = format!("{}/api/imports/{import_id}/undo", self.server.base);
        let asked: Value = self.http.post(&url).send().await.expect("undo").json().await.expect("json");
        let start = Instant::now();
        let response = self.http.post(format!("{url}?confirm={}", asked["confirm"])).send().await.expect("undo");
        self.until_done(response, start).await
    }

    /// Changes the newest operation made.
    async fn newest_changes(&self) -> u64 {
        let history: Value = self.http.get(format!("{}/api/history", self.server.base)).send().await.expect("history").json().await.expect("json");
        history["operations"][0]["changes"].as_u64().expect("changes")
    }
}

/// The journal's size on disk: its table and indexes.
fn journal_bytes(backend: &Backend<'_>, url: &str) -> u64 {
    let answer = match backend {
        Backend::Sqlite(_) => {
            let path = url.trim_start_matches("sqlite://");
            let output = std::process::Command::new("sqlite3")
                .args([path, "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = 'contact_changes'"])
                .output()
                .expect("sqlite3");
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        Backend::Postgres => psql(url, "SELECT pg_total_relation_size('contact_changes')"),
    };
    answer.trim().parse().unwrap_or_else(|_| panic!("journal size: {answer}"))
}

/// The journal's cost on one backend, for the current build: rows of the report.
async fn history_costs(args: &Args, backend: Backend<'_>, csv: &Path, small: &Path, changed: &Path, rows: u64, small_rows: u64) -> Vec<Vec<String>> {
    let name = if matches!(backend, Backend::Sqlite(_)) { "SQLite" } else { "Postgres" };
    let url = |db: &'static str| async move {
        match backend {
            Backend::Sqlite(dir) => format!("sqlite://{}", dir.join(format!("{db}.db")).display()),
            Backend::Postgres => new_postgres_database(&args.postgres, db).await,
        }
    };
    let first_url = url("intake_history_first").await;
    let scripted = Scripted::start(&args.intake, &first_url).await;
    let (view, import_s) = scripted.import(csv).await;
    let first_entries = scripted.newest_changes().await;
    let first_bytes = journal_bytes(&backend, &first_url);
    let (undo_view, undo_s) = scripted.undo(view["import_id"].as_str().expect("import_id")).await;
    scripted.server.stop().await;

    let again_url = url("intake_history_again").await;
    let scripted = Scripted::start(&args.intake, &again_url).await;
    scripted.import(small).await;
    let before = journal_bytes(&backend, &again_url);
    scripted.import(changed).await;
    let again_entries = scripted.newest_changes().await;
    let again_bytes = journal_bytes(&backend, &again_url) - before;
    scripted.server.stop().await;
    if let Backend::Postgres = backend {
        psql(&args.postgres, "DROP DATABASE intake_history_first WITH (FORCE)");
        psql(&args.postgres, "DROP DATABASE intake_history_again WITH (FORCE)");
    }
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0));
    vec![
        vec![format!("{name}: first import of {rows} rows"), format!("{import_s:.2} s"), format!("{first_entries} entries"), mib(first_bytes)],
        vec![
            format!("{name}: its undo ({} removed)", undo_view["reversal"]["removed"]),
            format!("{undo_s:.2} s ({:.2} × the import)", undo_s / import_s),
            "".into(),
            "".into(),
        ],
        vec![format!("{name}: re-import of {small_rows} rows, every 10th changed"), "".into(), format!("{again_entries} entries"), mib(again_bytes)],
    ]
}

/// One run of many people at once: seconds until the last import finished, and
/// where the CPU went meanwhile.
struct ScaleOutRun {
    seconds: f64,
    /// The longest any import waited in the queue.
    longest_wait: f64,
    /// The Intake instances' CPU seconds (for `\copy`, the `psql` clients').
    client_cpu: f64,
    postgres_cpu: Option<f64>,
}

/// `users` people import `csv` at the same moment through `instances` servers
/// of `intake` on one new Postgres database.
async fn scale_out_run(args: &Args, intake: &Path, csv: &Path, users: usize, instances: usize) -> ScaleOutRun {
    let url = new_postgres_database(&args.postgres, "intake_scale").await;
    let mut servers = Vec::new();
    for _ in 0..instances {
        servers.push(Server::start(intake, &url, &[]).await);
    }
    let mut people = Vec::new();
    for user in 0..users {
        // This run's build makes the accounts: another's migrations would change the schema under it.
        let http = client(&token_for(intake, &url, &format!("scale{user}@example.com")));
        people.push((http, servers[user % instances].base.clone()));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(users));
    let instances_cpu = |servers: &[Server]| servers.iter().map(Server::cpu_seconds).sum::<f64>();
    let (client_cpu_at_start, postgres_cpu_at_start) = (instances_cpu(&servers), postgres_cpu_seconds(&args.postgres));
    let start = Instant::now();
    let mut imports = tokio::task::JoinSet::new();
    for (http, base) in people {
        let (barrier, csv) = (barrier.clone(), csv.to_owned());
        imports.spawn(async move {
            let form = reqwest::multipart::Form::new().part("file", file_part(&csv).await);
            barrier.wait().await;
            let response = http.post(format!("{base}/api/imports")).multipart(form).send().await.expect("upload");
            assert_eq!(response.status(), 202, "upload");
            let started: Value = response.json().await.expect("json");
            let status_url = format!("{base}{}", started["status_url"].as_str().expect("status_url"));
            let (mut queued_since, mut waited) = (Some(Instant::now()), 0.0_f64);
            loop {
                let view: Value = http.get(&status_url).send().await.expect("status").json().await.expect("json");
                match view["status"].as_str() {
                    Some("queued") => {}
                    Some("processing") => {
                        if let Some(since) = queued_since.take() {
                            waited = since.elapsed().as_secs_f64();
                        }
                    }
                    _ => {
                        assert_eq!(view["status"], "succeeded", "{view}");
                        return waited;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    let mut longest_wait = 0.0_f64;
    while let Some(waited) = imports.join_next().await {
        longest_wait = longest_wait.max(waited.expect("import"));
    }
    let seconds = start.elapsed().as_secs_f64();
    let client_cpu = instances_cpu(&servers) - client_cpu_at_start;
    let postgres_cpu = postgres_cpu_seconds(&args.postgres).zip(postgres_cpu_at_start).map(|(end, start)| end - start);
    for server in servers {
        server.stop().await;
    }
    psql(&args.postgres, "DROP DATABASE intake_scale WITH (FORCE)");
    ScaleOutRun { seconds, longest_wait, client_cpu, postgres_cpu }
}

/// `sessions` parallel `\copy` of `csv`, each into its own logged table with a
/// primary key and a `lower(email)` index.
async fn parallel_copies(args: &Args, csv: &Path, expected: Expected, sessions: usize) -> ScaleOutRun {
    let url = new_postgres_database(&args.postgres, "intake_scale_copy").await;
    let names: Vec<String> = (1..=expected.columns).map(|c| format!("c{c}")).collect();
    for session in 0..sessions {
        psql(&url, &format!(
            "CREATE TABLE copy{session} (id bigserial PRIMARY KEY, {}); CREATE INDEX ON copy{session} (lower(c{}))",
            bare_columns(expected),
            expected.email_column + 1
        ));
    }
    let (client_cpu_at_start, postgres_cpu_at_start) = (ended_children_cpu_seconds(), postgres_cpu_seconds(&args.postgres));
    let start = Instant::now();
    let children: Vec<_> = (0..sessions)
        .map(|session| {
            let copy = format!("\\copy copy{session} ({}) FROM '{}' WITH (FORMAT csv, HEADER true)", names.join(", "), csv.display());
            StdCommand::new("psql").args([url.as_str(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &copy]).stdout(Stdio::null()).spawn().expect("psql")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("psql").success(), "parallel \\copy failed");
    }
    let seconds = start.elapsed().as_secs_f64();
    let client_cpu = ended_children_cpu_seconds() - client_cpu_at_start;
    let postgres_cpu = postgres_cpu_seconds(&args.postgres).zip(postgres_cpu_at_start).map(|(end, start)| end - start);
    psql(&args.postgres, "DROP DATABASE intake_scale_copy WITH (FORCE)");
    ScaleOutRun { seconds, longest_wait: 0.0, client_cpu, postgres_cpu }
}

/// The people of the 8-column file (`staging`, columns c1–c8), one per
/// distinct row, as the set-based SQL below reads them. Exact repeats collapse,
/// as Intake counts them `unchanged`.
/// `row` is the staging table's row number.
fn same_work_people(row: &str) -> String {
    format!(
        "SELECT MIN({row}) AS r, c1, c2, lower(c3) AS email, c4, replace(replace(c4, ' ', ''), '-', '') AS phone, c5, c6, c7, c8
         FROM staging GROUP BY lower(c3), c1, c2, c4, c5, c6, c7, c8"
    )
}

/// Runs `script` through `program`'s standard input: seconds, and its error output.
fn timed_script(program: &str, args: &[&str], script: &str) -> (f64, String) {
    let start = Instant::now();
    let mut child = StdCommand::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child.stdin.take().expect("stdin").write_all(script.as_bytes()).expect("script");
    let output = child.wait_with_output().expect(program);
    let errors = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success() && errors.trim().is_empty(), "{program}: {errors}");
    (start.elapsed().as_secs_f64(), errors)
}

/// The row of the same work done by SQL alone (`load`, then set-based inserts),
/// timed by `runs` (seconds, contacts made) against the backend's baseline; a
/// run that made other than the contacts Intake makes of the file (a row with
/// an invalid email too, by its name) is a problem.
fn same_work_row(report: &mut Report, load: &str, runs: &[(f64, u64)], baseline_s: f64, expected: Expected) {
    let contacts = expected.created + expected.invalid;
    for (_, made) in runs.iter().filter(|(_, made)| *made != contacts) {
        report.problems.push(format!("the same work by SQL alone after {load} made {made} contacts, not {contacts}"));
    }
    let same_s = median(runs.iter().map(|r| r.0).collect());
    report.row(&[
        format!("the same work by SQL alone: {load}, then set-based inserts of {contacts} contacts, identities, journal"),
        format!("{same_s:.2}"),
        rate(expected.rows, same_s),
        format!("{:.2}", baseline_s / same_s),
        "".into(),
        "".into(),
    ]);
}

/// The work an import does, by SQL alone on SQLite: `.import` into a staging
/// table, then set-based inserts of the contacts (document, search text,
/// listed identities), their identities and a journal entry each, into
/// Intake's own schema (migrated by `intake users add`). Seconds, rows loaded.
fn same_work_sqlite(intake: &Path, dir: &Path, csv: &Path, run: usize) -> (f64, u64) {
    let db = dir.join(format!("same-work-{run}.db"));
    let url = format!("sqlite://{}", db.display());
    token_for(intake, &url, "same@example.com");
    let db = db.to_str().expect("path");
    let script = format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
CREATE TEMP TABLE staging (c1, c2, c3, c4, c5, c6, c7, c8);
.import --csv --skip 1 {file} staging
         BEGIN;
         CREATE TEMP TABLE people AS {people};
         INSERT INTO contacts (id, user_id, display_name, card, photo, search_text, identities, created_at, updated_at)
           SELECT r, 1, c1 || ' ' || c2,
             json_object('display_name', c1 || ' ' || c2, 'name', json_object('given', c1, 'family', c2),
               'emails', json_array(json_object('value', email)),
               'phones', json_array(json_object('value', json_object('raw', c4, 'normalized', phone))),
               'addresses', json_array(json_object('value', json_object('city', c7))),
               'organizations', json_array(json_object('value', json_object('name', c5, 'title', c6))), 'notes', c8),
             NULL, lower(c1 || ' ' || c2 || char(10) || email || char(10) || c4 || char(10) || c5 || char(10) || c6 || char(10) || c7 || char(10) || c8),
             json_array(json_array('email', email), json_array('name_phone', lower(c1 || ' ' || c2) || '|' || phone)),
             unixepoch() * 1000, unixepoch() * 1000
           FROM people;
         INSERT INTO contact_identities (user_id, kind, value, contact_id) SELECT 1, 'email', email, r FROM people;
         INSERT INTO contact_identities (user_id, kind, value, contact_id)
           SELECT 1, 'name_phone', lower(c1 || ' ' || c2) || '|' || phone, r FROM people WHERE true
           ON CONFLICT DO NOTHING;
         INSERT INTO contact_changes (user_id, id, contact_id, action, at) SELECT 1, r, r, 'c', unixepoch() * 1000 FROM people;
         COMMIT;",
        file = csv.display(),
        people = same_work_people("rowid")
    );
    let (seconds, _) = timed_script("sqlite3", &[db], &script);
    let count = StdCommand::new("sqlite3").args([db, "SELECT count(*) FROM contacts"]).output().expect("sqlite3");
    (seconds, String::from_utf8_lossy(&count.stdout).trim().parse().unwrap_or(0))
}

/// The same on Postgres: `\copy` into a staging table, then the same
/// set-based inserts, in one transaction. Seconds, rows loaded.
async fn same_work_postgres(args: &Args, csv: &Path) -> (f64, u64) {
    let url = new_postgres_database(&args.postgres, "intake_same_work").await;
    token_for(&args.intake, &url, "same@example.com");
    let user: String = psql(&url, "SELECT id FROM users");
    let people = same_work_people("n");
    let script = format!(
        "CREATE TEMP TABLE staging (c1 text, c2 text, c3 text, c4 text, c5 text, c6 text, c7 text, c8 text);
         \\copy staging FROM '{file}' WITH (FORMAT csv, HEADER true)
         BEGIN;
         ALTER TABLE staging ADD COLUMN n bigserial;
         CREATE TEMP TABLE people AS {people};
         INSERT INTO contacts (id, user_id, display_name, card, photo, search_text, identities, created_at, updated_at)
           SELECT r, {user}, c1 || ' ' || c2,
             jsonb_build_object('display_name', c1 || ' ' || c2, 'name', jsonb_build_object('given', c1, 'family', c2),
               'emails', jsonb_build_array(jsonb_build_object('value', email)),
               'phones', jsonb_build_array(jsonb_build_object('value', jsonb_build_object('raw', c4, 'normalized', phone))),
               'addresses', jsonb_build_array(jsonb_build_object('value', jsonb_build_object('city', c7))),
               'organizations', jsonb_build_array(jsonb_build_object('value', jsonb_build_object('name', c5, 'title', c6))),
               'notes', c8)::text,
             NULL, lower(concat_ws(chr(10), c1 || ' ' || c2, email, c4, c5, c6, c7, c8)),
             jsonb_build_array(jsonb_build_array('email', email), jsonb_build_array('name_phone', lower(c1 || ' ' || c2) || '|' || phone))::text,
             now(), now()
           FROM people;
         INSERT INTO contact_identities (user_id, key, contact_id) SELECT {user}, 'e' || email, r FROM people;
         INSERT INTO contact_identities (user_id, key, contact_id)
           SELECT {user}, 'p' || lower(c1 || ' ' || c2) || '|' || phone, r FROM people ON CONFLICT DO NOTHING;
         INSERT INTO contact_changes (user_id, contact_id, action, at) SELECT {user}, r, 'c', now() FROM people;
         COMMIT;",
        file = csv.display()
    );
    let (seconds, _) = timed_script("psql", &[url.as_str(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"], &script);
    let loaded = psql(&url, "SELECT count(*) FROM contacts").parse().unwrap_or(0);
    psql(&args.postgres, "DROP DATABASE intake_same_work WITH (FORCE)");
    (seconds, loaded)
}

/// The run of median duration, with the CPU split it had.
fn median_run(mut runs: Vec<ScaleOutRun>) -> ScaleOutRun {
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let middle = runs.len() / 2;
    runs.swap_remove(middle)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() % 2 {
        0 => (values[middle - 1] + values[middle]) / 2.0,
        _ => values[middle],
    }
}

/// Latencies of one burst, in milliseconds.
struct Latencies {
    p50: f64,
    p99: f64,
}

impl Latencies {
    fn of(mut millis: Vec<f64>) -> Self {
        millis.sort_by(f64::total_cmp);
        let at = |q: f64| millis[((millis.len() as f64 * q).ceil() as usize).clamp(1, millis.len()) - 1];
        Latencies { p50: at(0.50), p99: at(0.99) }
    }
}

/// Every user starts an import and reads their contacts at the same moment:
/// the guarded start's latencies, and the authenticated read's in the same burst.
async fn guard_latency(args: &Args, intake: &Path, database_url: &str, instances: usize) -> (Latencies, Latencies) {
    let settings = [("IMPORT_WORKERS", "0")];
    let mut servers = Vec::new();
    for _ in 0..instances {
        servers.push(Server::start(intake, database_url, &settings).await);
    }
    let start_path = <intake::api::imports::StartImport as leptos::server_fn::ServerFn>::PATH;
    let upload_path = <intake::api::imports::UploadFile as leptos::server_fn::ServerFn>::PATH;
    let mut prepared = Vec::new();
    for user in 0..args.guard_users {
        let email = format!("guard{user}@example.com");
        let base = servers[user % instances].base.clone();
        let http = browser_for(intake, database_url, &base, &email).await;
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(format!("Name,Email\r\nA,{email}\r\n").into_bytes()).file_name("a.csv"),
        );
        let response = http.post(format!("{base}{upload_path}")).multipart(form).send().await.expect("upload");
        // The path's hash is this bench's build's: a build made in another directory may hash it differently.
        assert_eq!(response.status(), 200, "{} has no {upload_path}: build it in the directory this bench was built in", intake.display());
        let preview: Value = response.json().await.expect("preview");
        prepared.push((http, base, preview));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(prepared.len() * 2));
    let mut calls = tokio::task::JoinSet::new();
    for (http, base, preview) in prepared {
        let (start_barrier, read_barrier) = (barrier.clone(), barrier.clone());
        let (reader, read_base) = (http.clone(), base.clone());
        calls.spawn(async move {
            let body = serde_json::json!({"upload_id": preview["upload_id"], "mapping": preview["mapping"]});
            start_barrier.wait().await;
            let start = Instant::now();
            let response = http.post(format!("{base}{start_path}")).json(&body).send().await.expect("start");
            let status = response.status();
            let _ = response.bytes().await;
            assert_eq!(status, 200, "start_import");
            (true, start.elapsed().as_secs_f64() * 1000.0)
        });
        calls.spawn(async move {
            read_barrier.wait().await;
            let start = Instant::now();
            let response = reader.get(format!("{read_base}/api/contacts")).send().await.expect("read");
            let status = response.status();
            let _ = response.bytes().await;
            assert_eq!(status, 200, "an authenticated read");
            (false, start.elapsed().as_secs_f64() * 1000.0)
        });
    }
    let (mut starts, mut reads) = (Vec::new(), Vec::new());
    while let Some(call) = calls.join_next().await {
        let (is_start, ms) = call.expect("call");
        if is_start { starts.push(ms) } else { reads.push(ms) }
    }
    for server in servers {
        server.stop().await;
    }
    (Latencies::of(starts), Latencies::of(reads))
}

#[derive(Default)]
struct ClientSizes {
    raw: u64,
    gzip: u64,
    brotli: u64,
}

/// The client as the server sends it: the hashed `intake.*.wasm` and `intake.*.js`,
/// and the `.gz` and `.br` copies that `cargo leptos build --release --precompress` wrote.
fn client_sizes(pkg: &Path) -> Result<ClientSizes, String> {
    let size = |path: &Path| std::fs::metadata(path).map(|meta| meta.len()).map_err(|_| format!("no {} to measure", path.display()));
    let entries = std::fs::read_dir(pkg).map_err(|error| format!("no client in {}: {error}", pkg.display()))?;
    let mut sizes = ClientSizes::default();
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("intake") && (name.ends_with(".wasm") || name.ends_with(".js")) {
            let path = entry.path();
            sizes.raw += size(&path)?;
            sizes.gzip += size(&pkg.join(format!("{name}.gz")))?;
            sizes.brotli += size(&pkg.join(format!("{name}.br")))?;
            found.push(name);
        }
    }
    match found.len() {
        2 => Ok(sizes),
        _ => Err(format!("expected one WASM and one JS file in {}, found {found:?}", pkg.display())),
    }
}

struct Report {
    table: String,
    problems: Vec<String>,
}

impl Report {
    fn row(&mut self, cells: &[String]) {
        let _ = writeln!(self.table, "| {} |", cells.join(" | "));
    }
}

fn rate(rows: u64, seconds: f64) -> String {
    format!("{:.0}", rows as f64 / seconds)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("contacts.csv");
    let expected = generate(&csv, args.rows, args.layout).expect("generate csv");
    let size_mb = std::fs::metadata(&csv).expect("csv").len() as f64 / 1e6;
    println!(
        "file: {} rows, {:.1} MB, {} columns ({:?}); {} in-file duplicates, {} with an invalid email",
        args.rows, size_mb, expected.columns, args.layout, expected.unchanged, expected.invalid
    );

    let mut report = Report { table: String::new(), problems: Vec::new() };
    report.row(&["what".into(), "seconds".into(), "rows/s".into(), "ratio".into(), "server CPU s".into(), "peak RSS above idle".into()]);
    report.row(&["---".into(), "---:".into(), "---:".into(), "---:".into(), "---:".into(), "---:".into()]);

    let builds = measured_builds(&args);
    let intake_row = |report: &mut Report, backend: &str, build: &Build, times: &Times, baseline_s: f64| {
        let (seconds, cpu) = (median(times.seconds.clone()), median(times.cpu_seconds.clone()));
        report.row(&[
            format!("Intake on {backend}{} (upload → done)", build.label),
            format!("{seconds:.2}"),
            rate(expected.rows, seconds),
            format!("{:.2} × baseline", baseline_s / seconds),
            format!("{cpu:.1}"),
            times.peak_cell(),
        ]);
    };

    // SQLite: Intake, then the bare .import baseline.
    let sqlite_times = intake_runs(&args, &builds, Backend::Sqlite(dir.path()), &csv, expected, &mut report).await;
    let mut sqlite_baseline = Vec::new();
    for run in 0..args.repeat.max(3) {
        let (seconds, loaded) = sqlite_import(dir.path(), &csv, run, expected);
        if loaded != expected.rows {
            report.problems.push(format!("sqlite3 .import loaded {loaded} rows, not {}", expected.rows));
        }
        sqlite_baseline.push(seconds);
    }
    let base_s = median(sqlite_baseline);
    for (build, times) in builds.iter().zip(&sqlite_times) {
        intake_row(&mut report, "SQLite", build, times, base_s);
    }
    report.row(&["`sqlite3 .import` into a bare table (SQLite baseline)".into(), format!("{base_s:.2}"), rate(expected.rows, base_s), "1.00".into(), "".into(), "".into()]);
    if args.layout == Layout::Eight {
        let runs: Vec<(f64, u64)> = (0..args.repeat.max(3)).map(|run| same_work_sqlite(&args.intake, dir.path(), &csv, run)).collect();
        same_work_row(&mut report, "`.import`", &runs, base_s, expected);
    }

    // Postgres: Intake, the indexed \copy baseline and the unlogged limit.
    let pg_times = intake_runs(&args, &builds, Backend::Postgres, &csv, expected, &mut report).await;
    let baseline_url = new_postgres_database(&args.postgres, "intake_bench_baseline").await;
    // Unique would refuse the file's in-file duplicates; the same b-tree without the check costs the same to maintain.
    let indexed = format!(
        "CREATE TABLE baseline (id bigserial PRIMARY KEY, {}); CREATE INDEX ON baseline (lower(c{}))",
        bare_columns(expected),
        expected.email_column + 1
    );
    let unlogged = format!("CREATE UNLOGGED TABLE baseline ({})", bare_columns(expected));
    let mut copy_indexed = Vec::new();
    let mut copy_unlogged = Vec::new();
    for _ in 0..args.repeat.max(3) {
        for (setup, times) in [(&indexed, &mut copy_indexed), (&unlogged, &mut copy_unlogged)] {
            let (seconds, loaded) = postgres_copy(&baseline_url, setup, &csv, expected);
            if loaded != expected.rows {
                report.problems.push(format!("\\copy loaded {loaded} rows, not {}", expected.rows));
            }
            times.push(seconds);
        }
    }
    psql(&args.postgres, "DROP DATABASE intake_bench_baseline WITH (FORCE)");
    let (indexed_s, unlogged_s) = (median(copy_indexed), median(copy_unlogged));
    for (build, times) in builds.iter().zip(&pg_times) {
        intake_row(&mut report, "Postgres", build, times, indexed_s);
    }
    report.row(&["`psql \\copy` into a logged table, PK + index on lower(email) (Postgres baseline)".into(), format!("{indexed_s:.2}"), rate(expected.rows, indexed_s), "1.00".into(), "".into(), "".into()]);
    if args.layout == Layout::Eight {
        let mut runs = Vec::new();
        for _ in 0..args.repeat.max(3) {
            runs.push(same_work_postgres(&args, &csv).await);
        }
        same_work_row(&mut report, "`\\copy`", &runs, indexed_s, expected);
    }
    report.row(&["`psql \\copy` into a bare unlogged table (the limit)".into(), format!("{unlogged_s:.2}"), rate(expected.rows, unlogged_s), format!("{:.2}", indexed_s / unlogged_s), "".into(), "".into()]);

    // Memory must not grow with the file: the same import at a tenth of the size.
    if args.small_rows > 0 {
        let small = dir.path().join("small.csv");
        let small_expected = generate(&small, args.small_rows, args.layout).expect("generate small csv");
        let url = format!("sqlite://{}", dir.path().join("intake-small.db").display());
        let result = intake_import(&args.intake, &url, &small).await;
        if let Err(problem) = check_counts("Intake on SQLite (small file)", &result.counts, small_expected) {
            report.problems.push(problem);
        }
        report.row(&[format!("Intake on SQLite, {} rows", args.small_rows), format!("{:.2}", result.seconds), rate(small_expected.rows, result.seconds), "".into(), format!("{:.1}", result.cpu_seconds), format!("{:.1} MiB", mib(result.peak.above_idle_kib))]);
    }
    println!("\n{}", report.table);
    println!("Each import's peak memory above idle, and where the import was then:");
    for (backend, runs) in [("SQLite", &sqlite_times), ("Postgres", &pg_times)] {
        for (build, times) in builds.iter().zip(runs) {
            for (run, (peak, seconds)) in times.peaks.iter().zip(&times.seconds).enumerate() {
                println!("- {backend}{}, run {}: {}", build.label, run + 1, peak.describe(*seconds));
            }
        }
    }
    println!();
    if builds.len() == 2 {
        for (backend, times) in [("SQLite", &sqlite_times), ("Postgres", &pg_times)] {
            let change = |pick: fn(&Times) -> Vec<f64>| (median(pick(&times[0])) / median(pick(&times[1])) - 1.0) * 100.0;
            println!(
                "{backend}: this build against the compared one: {:+.1} % wall time, {:+.1} % server CPU",
                change(|t| t.seconds.clone()),
                change(|t| t.cpu_seconds.clone())
            );
        }
    }

    if args.scale_out {
        let file = dir.path().join("scale.csv");
        let scale_expected = generate(&file, args.scale_rows, args.layout).expect("generate scale csv");
        let total = (args.scale_users * args.scale_rows) as u64;
        let mut copies = Vec::new();
        for _ in 0..args.repeat.max(1) {
            copies.push(parallel_copies(&args, &file, scale_expected, args.scale_users).await);
        }
        let copy = median_run(copies);
        println!(
            "| {} people × {} rows at once, Postgres | seconds | rows/s | ratio | longest queue wait s | client CPU s | Postgres CPU s | cores busy |",
            args.scale_users, args.scale_rows
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        let scale_row = |what: String, run: &ScaleOutRun, ratio: String, wait: String| {
            let postgres_cpu = run.postgres_cpu.map_or("?".into(), |cpu| format!("{cpu:.1}"));
            let busy = run.postgres_cpu.map_or("?".into(), |cpu| format!("{:.2}", (run.client_cpu + cpu) / run.seconds));
            println!("| {what} | {:.2} | {} | {ratio} | {wait} | {:.1} | {postgres_cpu} | {busy} |", run.seconds, rate(total, run.seconds), run.client_cpu);
        };
        for instances in [1, 2, 4] {
            let mut runs: Vec<Vec<ScaleOutRun>> = builds.iter().map(|_| Vec::new()).collect();
            for repeat in 0..args.repeat.max(1) {
                for turn in 0..builds.len() {
                    let index = (turn + repeat) % builds.len();
                    runs[index].push(scale_out_run(&args, &builds[index].binary, &file, args.scale_users, instances).await);
                }
            }
            for (build, runs) in builds.iter().zip(runs) {
                let run = median_run(runs);
                let ratio = format!("{:.2} × baseline", copy.seconds / run.seconds);
                scale_row(format!("Intake, {instances} instance(s){}", build.label), &run, ratio, format!("{:.1}", run.longest_wait));
            }
        }
        scale_row(format!("{} parallel `psql \\copy`, PK + lower(email) index (baseline)", args.scale_users), &copy, "1.00".into(), "".into());
        println!();
    }

    if args.history {
        let small = dir.path().join("history-small.csv");
        generate(&small, args.small_rows, Layout::Eight).expect("generate small csv");
        let changed = dir.path().join("history-changed.csv");
        changed_tenth(&small, &changed).expect("changed csv");
        println!("| the change journal (this build) | time | journal entries | journal on disk |");
        println!("| --- | ---: | ---: | ---: |");
        let (rows, small_rows) = (expected.rows, args.small_rows as u64);
        for backend in [Backend::Sqlite(dir.path()), Backend::Postgres] {
            for row in history_costs(&args, backend, &csv, &small, &changed, rows, small_rows).await {
                println!("| {} |", row.join(" | "));
            }
        }
        println!();
    }

    if args.guard_users > 0 {
        let bursts = match args.repeat {
            1 => "one burst".to_owned(),
            n => format!("medians of {n} bursts"),
        };
        println!("| {} users at once: each starts an import and reads their contacts; {bursts} | start p50 ms | start p99 ms | read p99 ms | start p99 / read p99 | each burst's ratio |", args.guard_users);
        println!("| --- | ---: | ---: | ---: | ---: | --- |");
        for (name, instances) in [("SQLite, 1 instance", 1), ("Postgres, 4 instances", 4)] {
            let mut bursts: Vec<Vec<(Latencies, Latencies)>> = builds.iter().map(|_| Vec::new()).collect();
            for run in 0..args.repeat {
                for turn in 0..builds.len() {
                    let index = (turn + run) % builds.len();
                    let burst = if instances == 1 {
                        let path = dir.path().join(format!("guard_{run}_{index}.db"));
                        let burst = guard_latency(&args, &builds[index].binary, &format!("sqlite://{}", path.display()), instances).await;
                        for suffix in ["", "-wal", "-shm"] {
                            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                        }
                        burst
                    } else {
                        let url = new_postgres_database(&args.postgres, "intake_bench_guard").await;
                        let burst = guard_latency(&args, &builds[index].binary, &url, instances).await;
                        psql(&args.postgres, "DROP DATABASE intake_bench_guard WITH (FORCE)");
                        burst
                    };
                    bursts[index].push(burst);
                }
            }
            for (build, bursts) in builds.iter().zip(bursts) {
                let of = |pick: fn(&(Latencies, Latencies)) -> f64| median(bursts.iter().map(pick).collect());
                let ratios: Vec<String> = bursts.iter().map(|(start, read)| format!("{:.2}", start.p99 / read.p99)).collect();
                println!(
                    "| {name}{}: `start_import` against `GET /api/contacts` | {:.1} | {:.1} | {:.1} | {:.2} | {} |",
                    build.label,
                    of(|(start, _)| start.p50),
                    of(|(start, _)| start.p99),
                    of(|(_, read)| read.p99),
                    of(|(start, read)| start.p99 / read.p99),
                    ratios.join(", ")
                );
            }
        }
    }

    match client_sizes(&args.pkg) {
        Ok(sizes) => println!(
            "\n| client (WASM + JS) | raw KB | gzip KB | Brotli KB |\n| --- | ---: | ---: | ---: |\n| {} | {:.0} | {:.0} | {:.0} |",
            args.pkg.display(),
            sizes.raw as f64 / 1000.0,
            sizes.gzip as f64 / 1000.0,
            sizes.brotli as f64 / 1000.0
        ),
        Err(problem) => report.problems.push(problem),
    }

    if !report.problems.is_empty() {
        for problem in &report.problems {
            eprintln!("bench: {problem}");
        }
        std::process::exit(1);
    }
    if args.smoke {
        println!("\nbench: 1 passed, 0 failed");
    }
}
