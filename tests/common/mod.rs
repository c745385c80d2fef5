//! The test harness: a real server on a random port over a fresh database, SQLite
//! or Postgres, and HTTP clients that talk to it as a browser or a script would.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod binary;

use intake::clock::{Clock, ManualClock, SystemClock};
use intake::config::Config;
use intake::model::{ImportView, StartedImport};
use intake::server::RunningServer;
use intake::services::Services;
use leptos::server_fn::ServerFn;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` once per backend, as `sqlite::NAME` and `postgres::NAME`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A fresh, empty database of the given backend. Postgres needs `TEST_DATABASE_URL`:
/// without it the test fails, since a skipped backend is a defect.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    _dir: tempfile::TempDir,
}

pub async fn test_database(backend: Backend) -> TestDatabase {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("intake.db").display()),
        Backend::Postgres => {
            let admin_url = std::env::var("TEST_DATABASE_URL")
                .expect("TEST_DATABASE_URL must name a Postgres server for the Postgres tests (scripts/test starts one)");
            return test_database_on(&admin_url).await;
        }
    };
    TestDatabase { url, backend, _dir: dir }
}

/// A fresh database on the Postgres server that `admin_url` names.
pub async fn test_database_on(admin_url: &str) -> TestDatabase {
    let name = format!("intake_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(admin_url).await.expect("connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create test database");
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').expect("TEST_DATABASE_URL has a database name");
    let url = format!("{base}/{name}");
    let dir = tempfile::tempdir().expect("temp dir");
    TestDatabase { url, backend: Backend::Postgres, _dir: dir }
}

pub struct AppOptions {
    pub clock: Option<ManualClock>,
    pub configure: Box<dyn Fn(&mut Config) + Send + Sync>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self { clock: None, configure: Box::new(|_| {}) }
    }
}

impl AppOptions {
    pub fn configured(configure: impl Fn(&mut Config) + Send + Sync + 'static) -> Self {
        Self { clock: None, configure: Box::new(configure) }
    }
}

pub struct TestApp {
    pub base: String,
    pub services: Services,
    pub database: Arc<TestDatabase>,
    server: Option<RunningServer>,
}

pub fn test_config(url: &str) -> Config {
    let mut config = Config::from_defaults(url);
    config.import_batch_rows = 100;
    // Every test's browsers sign up from 127.0.0.1; the limit's own test sets it low.
    config.sign_ups_per_client = 10_000;
    config
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, AppOptions::default()).await
}

pub async fn spawn_app_with(backend: Backend, options: AppOptions) -> TestApp {
    let database = Arc::new(test_database(backend).await);
    spawn_instance(database, &options).await
}

/// Another instance (own pool, own workers) on the same database.
pub async fn spawn_instance(database: Arc<TestDatabase>, options: &AppOptions) -> TestApp {
    let mut config = test_config(&database.url);
    (options.configure)(&mut config);
    let store = intake::store::connect_with(&database.url, &config.timeouts()).await.expect("open the test database");
    let clock: Arc<dyn Clock> = match &options.clock {
        Some(clock) => Arc::new(clock.clone()),
        None => Arc::new(SystemClock),
    };
    let services = Services::new(store, clock, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let leptos_options = intake::server::leptos_configuration().expect("leptos configuration").leptos_options;
    let server = RunningServer::start(services.clone(), leptos_options, listener).await.expect("start server");
    TestApp { base: format!("http://{}", server.addr), services, database, server: Some(server) }
}

impl TestApp {
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    /// A browser-like client: keeps cookies and sends this site's Origin.
    pub fn browser(&self) -> Client {
        Client::new(&self.base, None)
    }

    /// A script's client with a bearer token and no cookies.
    pub fn script(&self, token: &str) -> Client {
        Client::new(&self.base, Some(token))
    }

    /// A signed-in browser for a new account.
    pub async fn signed_in_browser(&self, email: &str) -> Client {
        let client = self.browser();
        let response = client.sign_up(email, PASSWORD).await;
        assert_eq!(response.status(), 200, "sign up {email}: {}", response.text().await.unwrap_or_default());
        client
    }

    /// A new account and a browser holding a session of it, sent by hand as a
    /// `Cookie` header so that clients of other instances can share it
    /// (`Client::with_session`): the server functions take a session, not a token.
    pub async fn browser_for_new_user(&self, email: &str) -> (i64, Client) {
        let user_id = intake::auth::create_account(&self.services, email, PASSWORD).await.expect("account");
        let secret = intake::auth::start_session(&self.services, user_id, None).await.expect("session");
        let cookie = format!("{}={secret}", intake::auth::session_cookie_name(&self.services));
        (user_id, Client::with_session(&self.base, &cookie))
    }

    /// A new account and a script client holding a token for it.
    pub async fn script_for_new_user(&self, email: &str) -> (i64, Client) {
        let user_id = intake::auth::create_account(&self.services, email, PASSWORD).await.expect("account");
        let token = intake::auth::create_token(&self.services, user_id, "test").await.expect("token");
        (user_id, self.script(&token.token))
    }
}

pub const PASSWORD: &str = "correct horse battery";

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    token: Option<String>,
    cookie: Option<String>,
}

impl Client {
    pub fn new(base: &str, token: Option<&str>) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::ORIGIN, base.parse().expect("origin"));
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(120));
        match token {
            Some(token) => {
                headers.remove(reqwest::header::ORIGIN);
                headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("header"));
            }
            None => builder = builder.cookie_store(true),
        }
        Self {
            http: builder.default_headers(headers).build().expect("client"),
            base: base.to_owned(),
            token: token.map(str::to_owned),
            cookie: None,
        }
    }

    /// A browser of `base` that sends `cookie` (`name=value`) and this site's Origin.
    pub fn with_session(base: &str, cookie: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::ORIGIN, base.parse().expect("origin"));
        headers.insert(reqwest::header::COOKIE, cookie.parse().expect("cookie"));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).default_headers(headers).build().expect("client");
        Self { http, base: base.to_owned(), token: None, cookie: Some(cookie.to_owned()) }
    }

    /// The same session, as a browser of another instance sharing the database sees it.
    pub fn at(&self, base: &str) -> Self {
        Self::with_session(base, self.cookie.as_deref().expect("a client with a session sent by hand"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post_form<T: serde::Serialize + ?Sized>(&self, path: &str, form: &T) -> reqwest::Response {
        self.http.post(self.url(path)).form(form).send().await.expect("POST form")
    }

    pub async fn post_json<T: serde::Serialize + ?Sized>(&self, path: &str, body: &T) -> reqwest::Response {
        self.http.post(self.url(path)).json(body).send().await.expect("POST json")
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_form(intake::api::accounts::SignUp::PATH, &[("email", email), ("password", password)]).await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_form(intake::api::accounts::SignIn::PATH, &[("email", email), ("password", password)]).await
    }

    fn file_form(file_name: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()).mime_str("text/csv").expect("mime");
        reqwest::multipart::Form::new().part("file", part)
    }

    /// The page's first step: upload for a preview.
    pub async fn upload_for_preview(&self, file_name: &str, bytes: Vec<u8>) -> reqwest::Response {
        let path = intake::api::imports::UploadFile::PATH;
        self.http.post(self.url(path)).multipart(Self::file_form(file_name, bytes)).send().await.expect("upload")
    }

    /// The page's second step: the guarded start.
    pub async fn start_import(&self, upload_id: &str, mapping: &intake::domain::mapping::Mapping) -> reqwest::Response {
        let path = intake::api::imports::StartImport::PATH;
        self.post_json(path, &serde_json::json!({ "upload_id": upload_id, "mapping": mapping })).await
    }

    /// The script's one step: `POST /api/imports`.
    pub async fn api_import(&self, file_name: &str, bytes: Vec<u8>) -> reqwest::Response {
        self.http.post(self.url("/api/imports")).multipart(Self::file_form(file_name, bytes)).send().await.expect("import")
    }

    /// `POST /api/imports?sheet=…`: a workbook's other sheet.
    pub async fn api_import_sheet(&self, file_name: &str, bytes: Vec<u8>, sheet: &str) -> reqwest::Response {
        let url = self.url("/api/imports");
        self.http.post(url).query(&[("sheet", sheet)]).multipart(Self::file_form(file_name, bytes)).send().await.expect("import")
    }

    /// Uploads through the API and expects 202.
    pub async fn api_import_started(&self, file_name: &str, bytes: Vec<u8>) -> StartedImport {
        let response = self.api_import(file_name, bytes).await;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 202, "POST /api/imports: {body}");
        serde_json::from_str(&body).expect("started import")
    }

    pub async fn import_view(&self, import_id: &str) -> ImportView {
        let response = self.get(&format!("/api/imports/{import_id}")).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("import view")
    }

    /// Polls until the import leaves the active states.
    pub async fn wait_finished(&self, import_id: &str) -> ImportView {
        wait_until(Duration::from_secs(120), || async {
            let view = self.import_view(import_id).await;
            (!view.status.is_active()).then_some(view)
        })
        .await
        .unwrap_or_else(|| panic!("import {import_id} did not finish"))
    }

    pub async fn contacts(&self, query: &str) -> intake::model::ContactsPage {
        let response = self.http.get(self.url("/api/contacts")).query(&[("q", query)]).send().await.expect("contacts");
        assert_eq!(response.status(), 200);
        response.json().await.expect("contacts page")
    }
}

/// Polls `probe` until it yields a value or `limit` passes.
pub async fn wait_until<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(value) = probe().await {
            return Some(value);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A contacts CSV with `rows` distinct people, CRLF line ends, header first.
pub fn people_csv(rows: usize) -> Vec<u8> {
    let mut csv = String::from("First Name,Last Name,Email,Phone,Company\r\n");
    for i in 0..rows {
        csv.push_str(&format!("Person{i},Tester,person{i}@example.com,+1 555 {i:06},Acme {}\r\n", i % 7));
    }
    csv.into_bytes()
}

/// `cards` distinct people as vCard 3.0, each with a work and a home email
/// (the preferred one second, so it must be put first) and a folded note.
pub fn people_vcf(cards: usize) -> Vec<u8> {
    let mut vcf = String::new();
    for i in 0..cards {
        vcf.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Tester;Person{i};;;\r\nFN:Person{i} Tester\r\n\
             EMAIL;TYPE=INTERNET,WORK:p{i}@work.example\r\nitem1.EMAIL;TYPE=INTERNET,pref:person{i}@example.com\r\n\
             TEL;TYPE=CELL:+1 555 {i:06}\r\nORG:Acme {}\r\nNOTE:card {i}\\, folded\r\n  over a line\r\nEND:VCARD\r\n",
            i % 7
        ));
    }
    vcf.into_bytes()
}

/// `rows` distinct people in an .xlsx sheet after a title row, phone numbers
/// stored as numbers; a second sheet, "Other", holds one more person.
pub fn people_xlsx(rows: usize) -> Vec<u8> {
    use intake::domain::workbook::fixture::{xlsx, Cell::*};
    let names: Vec<(String, String)> = (0..rows).map(|i| (format!("Person{i}"), format!("person{i}@example.com"))).collect();
    let mut sheet = vec![vec![Text("People export")], vec![Text("First Name"), Text("Last Name"), Text("Email"), Text("Phone")]];
    for (i, (name, email)) in names.iter().enumerate() {
        sheet.push(vec![Text(name), Text("Tester"), Text(email), Number(15550000000.0 + i as f64)]);
    }
    let other = vec![vec![Text("Name"), Text("E-mail")], vec![Text("Other Person"), Text("other@example.com")]];
    xlsx(&[("People", sheet), ("Other", other)])
}

impl Client {
    /// The bearer token this client sends, if it is a script's.
    pub fn http_token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// Runs one statement with one text parameter (`$1`) directly on the test database,
/// to break what the app stored as an operator or a fault would.
pub async fn execute(database: &TestDatabase, sql: &str, parameter: &str) {
    match database.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&database.url).await.expect("open SQLite");
            sqlx::query(sql).bind(parameter).execute(&pool).await.expect(sql);
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&database.url).await.expect("open Postgres");
            sqlx::query(sql).bind(parameter).execute(&pool).await.expect(sql);
            pool.close().await;
        }
    }
}

/// Moves an import's recorded times `seconds` into the past: that much time passes
/// for it by the database's clock, the one the guard judges staleness with.
pub async fn age_import(database: &TestDatabase, import_id: &str, seconds: i64) {
    let ago = match database.backend {
        Backend::Sqlite => format!("- {}", seconds * 1000),
        Backend::Postgres => format!("- make_interval(secs => {seconds})"),
    };
    let sql = format!(
        "UPDATE imports SET created_at = created_at {ago}, processing_started_at = processing_started_at {ago},
             last_progress_at = last_progress_at {ago} WHERE id = $1"
    );
    execute(database, &sql, import_id).await;
}

/// Reads one text value (`$1` bound) directly from the test database.
pub async fn scalar(database: &TestDatabase, sql: &str, parameter: &str) -> String {
    match database.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&database.url).await.expect("open SQLite");
            let value = sqlx::query_scalar(sql).bind(parameter).fetch_one(&pool).await.expect(sql);
            pool.close().await;
            value
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&database.url).await.expect("open Postgres");
            let value = sqlx::query_scalar(sql).bind(parameter).fetch_one(&pool).await.expect(sql);
            pool.close().await;
            value
        }
    }
}

/// Migrations up to, not including, `first_left_out`, on the test database.
pub async fn migrate_until(database: &TestDatabase, first_left_out: &str) {
    let folder = match database.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let dir = tempfile::tempdir().unwrap();
    let source = format!("{}/migrations/{folder}", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&source).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.as_str() < first_left_out {
            std::fs::copy(format!("{source}/{name}"), dir.path().join(&name)).unwrap();
        }
    }
    let earlier = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    match database.backend {
        Backend::Sqlite => {
            let options = database.url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap().create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            earlier.run(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
            earlier.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}
