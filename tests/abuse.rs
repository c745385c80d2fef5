//! The abuse bounds of issue 10, on SQLite and on Postgres. Each bound is asserted
//! by counting (hashes computed, attempts checked, rows stored, statuses), never by timing.

mod common;

use common::*;
use futures::future::join_all;
use intake::clock::ManualClock;
use leptos::server_fn::ServerFn;
use std::collections::HashMap;
use std::time::Duration;

on_both_backends!(
    password_hashing_runs_at_most_n_at_once_and_refuses_past_the_queue,
    parallel_guesses_at_one_account_check_at_most_the_limit,
    each_client_address_has_its_own_limit,
    sign_in_emails_are_validated_before_anything_is_stored,
    the_sweep_deletes_expired_sessions_throttle_windows_and_stale_previews,
    sign_in_and_sign_up_need_our_own_origin,
    token_management_needs_a_browser_session,
    sessions_end_at_their_absolute_lifetime_and_everywhere_on_request,
    a_secure_session_cookie_has_the_host_prefix,
    a_body_whose_boundary_never_appears_is_refused_at_the_allowance,
    early_refusals_reach_a_client_that_keeps_sending,
    uploads_accept_only_the_file_part,
    text_postgres_cannot_hold_gets_the_same_answer_on_both_backends,
    each_user_has_a_cap_on_stored_upload_bytes,
    the_sweep_deletes_the_upload_of_any_ended_import,
    row_errors_are_kept_up_to_the_cap_and_counted_exactly,
    a_row_with_thousands_of_addresses_is_one_row_error,
);

/// The statuses of `responses`, counted.
fn tally(statuses: impl IntoIterator<Item = u16>) -> HashMap<u16, usize> {
    let mut counts = HashMap::new();
    for status in statuses {
        *counts.entry(status).or_insert(0) += 1;
    }
    counts
}

/// Rows in `table` of the app's database, read directly.
async fn count_rows(app: &TestApp, table: &str) -> i64 {
    query_scalar(app, &format!("SELECT COUNT(*) FROM {table}")).await
}

/// The one integer `sql` selects, run directly on the app's database.
async fn query_scalar(app: &TestApp, sql: &str) -> i64 {
    match app.database.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database.url).await.unwrap();
            let count = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            count
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database.url).await.unwrap();
            let count = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            count
        }
    }
}

async fn me(client: &Client) -> Option<String> {
    let response = client.post_form(intake::api::accounts::CurrentAccount::PATH, &[("", "")][..0]).await;
    assert_eq!(response.status(), 200);
    let account: Option<intake::model::AccountView> = response.json().await.unwrap();
    account.map(|a| a.email)
}

/// An app with `concurrency` hashing slots and `queue` places, and no per-client
/// limit in the way of a flood from one test client.
async fn app_hashing(backend: Backend, concurrency: usize, queue: usize) -> TestApp {
    let options = AppOptions::configured(move |c| {
        c.password_hash_concurrency = concurrency;
        c.password_hash_queue = queue;
        c.sign_in_max_failures_per_client = 1000;
    });
    spawn_app_with(backend, options).await
}

async fn password_hashing_runs_at_most_n_at_once_and_refuses_past_the_queue(backend: Backend) {
    let app = app_hashing(backend, 1, 1).await;
    let flood = 12;
    let responses = join_all((0..flood).map(|i| {
        let browser = app.browser();
        async move {
            let response = browser.sign_in(&format!("random{i}@example.com"), "some guess").await;
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, retry_after, body)
        }
    }))
    .await;
    let counts = tally(responses.iter().map(|(status, _, _)| *status));
    let checked = counts.get(&401).copied().unwrap_or(0);
    let refused = counts.get(&503).copied().unwrap_or(0);
    assert_eq!(checked + refused, flood, "{counts:?}");
    assert!(refused >= 1, "one slot and one queue place cannot take {flood} at once: {counts:?}");
    for (status, retry_after, body) in &responses {
        if *status == 503 {
            assert_eq!(body["error"], "password_check_busy");
            assert_eq!(body["concurrency"], 1);
            assert!(retry_after.is_some(), "a 503 says when to retry");
        }
    }
    let gate = &app.services.password_gate;
    assert_eq!(gate.computed(), checked as u64, "a refused sign-in computes no hash");
    assert_eq!(gate.peak_running(), 1, "never more than the configured hashes at once");
    app.stop().await;
}

async fn parallel_guesses_at_one_account_check_at_most_the_limit(backend: Backend) {
    let app = app_hashing(backend, 2, 200).await;
    intake::auth::create_account(&app.services, "victim@example.com", PASSWORD).await.unwrap();
    let before = app.services.password_gate.computed();
    let guesses = 40;
    let statuses = join_all((0..guesses).map(|i| {
        let browser = app.browser();
        async move { browser.sign_in("victim@example.com", &format!("guess number {i}")).await.status().as_u16() }
    }))
    .await;
    let counts = tally(statuses);
    assert_eq!(counts.get(&401), Some(&5), "the configured 5 failures are checked: {counts:?}");
    assert_eq!(counts.get(&429), Some(&(guesses - 5)), "{counts:?}");
    assert_eq!(app.services.password_gate.computed() - before, 5, "5 hashes checked, no more");
    app.stop().await;
}

async fn each_client_address_has_its_own_limit(backend: Backend) {
    // Without the operator's opt-in, a forwarded-for header is ignored: one socket, one client.
    let app = spawn_app_with(backend, AppOptions::configured(|c| c.sign_in_max_failures_per_client = 3)).await;
    let browser = app.browser();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let response = browser
            .http
            .post(browser.url(intake::api::accounts::SignIn::PATH))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .form(&[("email", format!("spray{i}@example.com")), ("password", "guess".to_owned())])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if i == 4 {
            let error: serde_json::Value = response.json().await.unwrap();
            assert_eq!(error["error"], "too_many_attempts_from_client");
            assert_eq!(error["limit"], 3);
        }
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    app.stop().await;

    // With it, the header's rightmost address is the client.
    let app = spawn_app_with(
        backend,
        AppOptions::configured(|c| {
            c.sign_in_max_failures_per_client = 3;
            c.client_address_header = Some("x-forwarded-for".to_owned());
        }),
    )
    .await;
    let browser = app.browser();
    let attempt = |forwarded: &'static str, n: usize| {
        let request = browser
            .http
            .post(browser.url(intake::api::accounts::SignIn::PATH))
            .header("x-forwarded-for", forwarded)
            .form(&[("email", format!("spray{n}@example.com")), ("password", "guess".to_owned())]);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let mut first = Vec::new();
    for n in 0..4 {
        first.push(attempt("10.0.0.1, 203.0.113.9", n).await);
    }
    assert_eq!(first, [401, 401, 401, 429]);
    assert_eq!(attempt("203.0.113.10", 9).await, 401, "another client has its own count");
    app.stop().await;
}

async fn sign_in_emails_are_validated_before_anything_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.browser();
    for email in ["x".repeat(100_000), "no-at-sign".to_owned(), format!("{}@example.com", "a".repeat(300))] {
        let response = browser.sign_in(&email, "guess").await;
        assert_eq!(response.status(), 400);
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_email");
    }
    assert_eq!(count_rows(&app, "sign_in_throttle").await, 0);
    assert_eq!(app.services.password_gate.computed(), 0);
    app.stop().await;
}

async fn the_sweep_deletes_expired_sessions_throttle_windows_and_stale_previews(backend: Backend) {
    let clock = ManualClock::new(chrono::Utc::now());
    let app = spawn_app_with(backend, AppOptions { clock: Some(clock.clone()), ..AppOptions::default() }).await;
    let browser = app.signed_in_browser("sweep@example.com").await;
    assert_eq!(browser.sign_in("sweep@example.com", "wrong guess").await.status(), 401);
    let response = browser.upload_for_preview("p.csv", people_csv(3)).await;
    assert_eq!(response.status(), 200);
    assert_eq!((count_rows(&app, "sessions").await, count_rows(&app, "uploads").await), (1, 1));

    // Nothing is due yet.
    let swept = intake::sweeper::sweep(&app.services).await.unwrap();
    assert_eq!(swept, intake::sweeper::Swept::default());

    clock.advance(chrono::Duration::days(31));
    let swept = intake::sweeper::sweep(&app.services).await.unwrap();
    assert_eq!(swept.pruned.sessions, 1);
    assert_eq!(swept.pruned.throttle_windows, 2, "the email's window and the client's");
    assert_eq!(swept.uploads, 1, "a preview never started");
    for table in ["sessions", "sign_in_throttle", "uploads", "upload_chunks"] {
        assert_eq!(count_rows(&app, table).await, 0, "{table}");
    }
    app.stop().await;
}

async fn sign_in_and_sign_up_need_our_own_origin(backend: Backend) {
    let app = spawn_app(backend).await;
    intake::auth::create_account(&app.services, "login-csrf@example.com", PASSWORD).await.unwrap();
    let form = [("email", "login-csrf@example.com"), ("password", PASSWORD)];
    let plain = reqwest::Client::new();
    for path in [intake::api::accounts::SignIn::PATH, intake::api::accounts::SignUp::PATH] {
        let url = format!("{}{path}", app.base);
        let cross_site = plain.post(&url).header("origin", "http://evil.example").form(&form).send().await.unwrap();
        assert_eq!(cross_site.status(), 403, "{path}");
        assert!(cross_site.headers().get("set-cookie").is_none());
        let error: serde_json::Value = cross_site.json().await.unwrap();
        assert_eq!(error["error"], "cross_origin");
        let no_origin = plain.post(&url).form(&form).send().await.unwrap();
        assert_eq!(no_origin.status(), 403, "{path} without Origin or Referer");
    }
    let referer = plain
        .post(format!("{}{}", app.base, intake::api::accounts::SignIn::PATH))
        .header("referer", format!("{}/sign-in", app.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(referer.status(), 200, "our own page's Referer is enough");
    assert_eq!(app.services.password_gate.computed(), 2, "the account's hash and one check; refusals hash nothing");
    app.stop().await;
}

async fn token_management_needs_a_browser_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("leaked@example.com").await;
    use intake::api::accounts::{CreateToken, ListTokens, RevokeToken, SignOutEverywhere};
    for (path, form) in [
        (CreateToken::PATH, vec![("name", "minted")]),
        (ListTokens::PATH, vec![]),
        (RevokeToken::PATH, vec![("token_id", "1")]),
        (SignOutEverywhere::PATH, vec![]),
    ] {
        let response = script.post_form(path, &form).await;
        assert_eq!(response.status(), 403, "{path}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], "browser_session_required", "{path}");
    }
    assert_eq!(count_rows(&app, "api_tokens").await, 1, "no token was minted");
    assert_eq!(script.get("/api/contacts").await.status(), 200, "the token itself still works for the API");
    app.stop().await;
}

async fn sessions_end_at_their_absolute_lifetime_and_everywhere_on_request(backend: Backend) {
    let clock = ManualClock::new(chrono::Utc::now());
    let app = spawn_app_with(
        backend,
        AppOptions {
            clock: Some(clock.clone()),
            configure: Box::new(|c| {
                c.session_idle = Duration::from_secs(7 * 86_400);
                c.session_max_age = Duration::from_secs(10 * 86_400);
            }),
        },
    )
    .await;
    let browser = app.signed_in_browser("lifetime@example.com").await;
    clock.advance(chrono::Duration::days(6));
    assert!(me(&browser).await.is_some(), "6 days in, used: alive");
    clock.advance(chrono::Duration::days(5));
    assert_eq!(me(&browser).await, None, "used 5 days ago but started 11 days ago: over the 10-day lifetime");

    let laptop = app.browser();
    assert_eq!(laptop.sign_in("lifetime@example.com", PASSWORD).await.status(), 200);
    let phone = app.browser();
    assert_eq!(phone.sign_in("lifetime@example.com", PASSWORD).await.status(), 200);
    let response = laptop.post_form(intake::api::accounts::SignOutEverywhere::PATH, &[("", "")][..0]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(me(&laptop).await, None);
    assert_eq!(me(&phone).await, None, "the other device is signed out too");
    assert_eq!(count_rows(&app, "sessions").await, 0, "every session of the account is deleted, the expired one too");
    app.stop().await;
}

async fn a_secure_session_cookie_has_the_host_prefix(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|c| c.cookie_secure = true)).await;
    // Secure origins are https; this test server speaks http, so the origin is set by hand.
    let origin = app.base.replacen("http://", "https://", 1);
    let response = reqwest::Client::new()
        .post(format!("{}{}", app.base, intake::api::accounts::SignUp::PATH))
        .header("origin", &origin)
        .form(&[("email", "secure@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-intake_session="), "{cookie}");
    assert!(cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
    let secret = cookie.trim_start_matches("__Host-intake_session=").split(';').next().unwrap().to_owned();
    let with = |name: &str| {
        reqwest::Client::new()
            .post(format!("{}{}", app.base, intake::api::accounts::CurrentAccount::PATH))
            .header("origin", &origin)
            .header("cookie", format!("{name}={secret}"))
            .send()
    };
    let named: Option<intake::model::AccountView> = with("__Host-intake_session").await.unwrap().json().await.unwrap();
    assert!(named.is_some());
    let unprefixed: Option<intake::model::AccountView> = with("intake_session").await.unwrap().json().await.unwrap();
    assert!(unprefixed.is_none(), "without the prefix the cookie is not a session");
    app.stop().await;
}

const MIB: u64 = 1024 * 1024;

/// What a raw HTTP/1.1 client saw: the status, the body, and how many body bytes it wrote.
struct RawExchange {
    status: u16,
    body: String,
    written: u64,
}

/// Sends a POST whose body is `body_len` bytes of `filler` after `prefix`, in
/// 16 KiB chunked-encoding chunks (or with `Content-Length`), while reading the
/// answer, the way a client that keeps sending behaves.
async fn raw_post(app: &TestApp, path: &str, headers: &[(&str, String)], prefix: &[u8], body_len: u64, content_length: bool) -> RawExchange {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {address}\r\nOrigin: {}\r\n", app.base);
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&if content_length { format!("Content-Length: {body_len}\r\n\r\n") } else { "Transfer-Encoding: chunked\r\n\r\n".to_owned() });
    let prefix = prefix.to_vec();
    let sending = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await.unwrap();
        let mut written = 0u64;
        while written < body_len {
            let size = (16 * 1024).min(body_len - written) as usize;
            let mut chunk = vec![b'x'; size];
            if let Some(rest) = prefix.get(written as usize..) {
                let from_prefix = rest.len().min(size);
                chunk[..from_prefix].copy_from_slice(&rest[..from_prefix]);
            }
            let framed = if content_length { chunk } else { [format!("{size:x}\r\n").into_bytes(), chunk, b"\r\n".to_vec()].concat() };
            if writer.write_all(&framed).await.is_err() {
                return written;
            }
            written += size as u64;
        }
        if !content_length {
            let _ = writer.write_all(b"0\r\n\r\n").await;
        }
        written
    });
    let mut response = Vec::new();
    let mut buffer = [0u8; 8192];
    let (status, body) = loop {
        let read = reader.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the connection closed before a whole answer: {}", String::from_utf8_lossy(&response));
        response.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&response).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
        let length: usize = head
            .lines()
            .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .expect("a content-length");
        if body.len() >= length {
            break (head[9..12].parse().unwrap(), body[..length].to_owned());
        }
    };
    drop(reader);
    let written = sending.await.unwrap();
    RawExchange { status, body, written }
}

/// Sends a chunked POST of `body_len` filler bytes without reading the answer;
/// returns the body bytes written before the server closed the connection.
async fn raw_send(app: &TestApp, path: &str, headers: &[(&str, String)], body_len: u64) -> u64 {
    use tokio::io::AsyncWriteExt;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {address}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = [format!("{:x}\r\n", 16 * 1024).into_bytes(), vec![b'x'; 16 * 1024], b"\r\n".to_vec()].concat();
    let mut written = 0;
    while written < body_len && stream.write_all(&chunk).await.is_ok() {
        written += 16 * 1024;
    }
    written
}

async fn a_body_whose_boundary_never_appears_is_refused_at_the_allowance(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions::configured(|c| {
            c.import_max_upload_bytes = MIB;
            c.import_multipart_allowance_bytes = 64 * 1024;
            c.refused_body_drain_bytes = 4 * MIB;
        }),
    )
    .await;
    let (_, script) = app.script_for_new_user("boundless@example.com").await;
    let auth = ("Authorization", format!("Bearer {}", script.http_token().unwrap()));
    let multipart = ("Content-Type", "multipart/form-data; boundary=B".to_owned());
    for path in ["/api/imports", intake::api::imports::UploadFile::PATH] {
        // 3 MiB with no boundary: refused once the 64 KiB allowance is read, the rest drained.
        let exchange = raw_post(&app, path, &[auth.clone(), multipart.clone()], b"", 3 * MIB, false).await;
        assert_eq!(exchange.status, 400, "{path}: {}", exchange.body);
        assert!(exchange.body.contains("IMPORT_MULTIPART_ALLOWANCE_BYTES"), "{}", exchange.body);
        assert_eq!(exchange.written, 3 * MIB, "the client could send it all and still read the answer");
        let peak = app.services.body_counters.peak_head_bytes.load(std::sync::atomic::Ordering::Relaxed);
        assert!(peak <= 64 * 1024 + 16 * 1024, "at most the allowance and one chunk held: {peak}");
    }
    // A declared length over the limit is refused before a byte of the body is read.
    let exchange = raw_post(&app, "/api/imports", &[auth.clone(), multipart.clone()], b"", MIB + 65 * 1024, true).await;
    assert_eq!(exchange.status, 413, "{}", exchange.body);
    let error: intake::error::ImportError = serde_json::from_str(&exchange.body).unwrap();
    assert_eq!(error, intake::error::ImportError::TooLarge { limit_bytes: MIB });
    assert!(error.to_string().contains("IMPORT_MAX_UPLOAD_BYTES"), "the message names the limit: {error}");
    // A streamed body over the limit is cut at the limit.
    let head = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nEmail\n";
    let exchange = raw_post(&app, "/api/imports", &[auth, multipart], head, 2 * MIB, false).await;
    assert_eq!(exchange.status, 413, "{}", exchange.body);
    assert_eq!(count_rows(&app, "uploads").await, 0, "a refused upload leaves nothing");
    app.stop().await;

    // Past the drain budget the server stops reading: 40 MiB sent with no boundary
    // cost the allowance plus the 1 MiB budget (and a chunk of each), however long
    // the client goes on. Whether it still reads the answer then is up to its socket.
    let app = spawn_app_with(
        backend,
        AppOptions::configured(|c| {
            c.import_multipart_allowance_bytes = 64 * 1024;
            c.refused_body_drain_bytes = MIB;
        }),
    )
    .await;
    let (_, script) = app.script_for_new_user("endless@example.com").await;
    let auth = ("Authorization", format!("Bearer {}", script.http_token().unwrap()));
    let written = raw_send(&app, "/api/imports", &[auth, ("Content-Type", "multipart/form-data; boundary=B".to_owned())], 40 * MIB).await;
    let received = app.services.body_counters.received.load(std::sync::atomic::Ordering::Relaxed);
    assert!(received <= 64 * 1024 + MIB + 2 * 16 * 1024, "read {received} of the {written} bytes sent");
    assert!(written < 40 * MIB, "the server closed the connection; the client could not send it all");
    app.stop().await;
}

async fn early_refusals_reach_a_client_that_keeps_sending(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|c| c.refused_body_drain_bytes = 4 * MIB)).await;
    let multipart = ("Content-Type", "multipart/form-data; boundary=B".to_owned());
    let head = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nEmail\n";
    // 401: no credentials; the handler never reads the body.
    let exchange = raw_post(&app, "/api/imports", std::slice::from_ref(&multipart), head, 3 * MIB, false).await;
    assert_eq!(exchange.status, 401, "{}", exchange.body);
    assert_eq!(exchange.written, 3 * MIB);

    // 409: an import is already running.
    let (_, script) = app.script_for_new_user("busy@example.com").await;
    let started = script.api_import_started("first.csv", people_csv(3000)).await;
    let auth = ("Authorization", format!("Bearer {}", script.http_token().unwrap()));
    if script.import_view(&started.import_id).await.status.is_active() {
        let exchange = raw_post(&app, "/api/imports", &[auth.clone(), multipart.clone()], head, 3 * MIB, false).await;
        assert_eq!(exchange.status, 409, "{}", exchange.body);
        assert!(exchange.body.contains("already_running"));
        assert_eq!(exchange.written, 3 * MIB);
    }
    script.wait_finished(&started.import_id).await;

    // With Expect: 100-continue and an early refusal, no body is wanted, so none is read.
    let before = app.services.body_counters.received.load(std::sync::atomic::Ordering::Relaxed);
    let response = reqwest::Client::new()
        .post(format!("{}/api/imports", app.base))
        .header("content-type", "multipart/form-data; boundary=B")
        .header("expect", "100-continue")
        .header("origin", &app.base)
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(app.services.body_counters.received.load(std::sync::atomic::Ordering::Relaxed), before);
    app.stop().await;
}

async fn uploads_accept_only_the_file_part(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("parts@example.com").await;
    let form = reqwest::multipart::Form::new()
        .text("note", "hello")
        .part("file", reqwest::multipart::Part::bytes(people_csv(2)).file_name("p.csv"));
    let response = script.http.post(script.url("/api/imports")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert!(error["reason"].as_str().unwrap().contains("only one part"), "{error}");
    let browser = app.signed_in_browser("parts2@example.com").await;
    let form = reqwest::multipart::Form::new().text("other", "x");
    let response = browser.http.post(browser.url(intake::api::imports::UploadFile::PATH)).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(count_rows(&app, "uploads").await, 0);
    app.stop().await;
}

async fn text_postgres_cannot_hold_gets_the_same_answer_on_both_backends(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("nul@example.com").await;
    // A NUL in a header cell of a 500-row file: stripped from the header; rows with one are row errors.
    let mut csv = String::from("Na\0me,Email\r\n");
    for i in 0..500 {
        csv.push_str(&format!("Person {i},p{i}@example.com\r\n"));
    }
    csv.push_str("Bad\0Row,bad@example.com\r\n");
    let started = script.api_import_started("nul.csv", csv.into_bytes()).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.status, intake::model::ImportStatus::Succeeded, "{done:?}");
    assert_eq!((done.counts.created, done.counts.rejected), (500, 1));

    let response = script.http.get(script.url("/api/contacts")).query(&[("q", "\0")]).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_search");
    let long = "x".repeat(201);
    let response = script.http.get(script.url("/api/contacts")).query(&[("q", long.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 422);

    // Sign-up and sign-in with a NUL in the email: a 400, stored nowhere.
    let browser = app.browser();
    assert_eq!(browser.sign_up("a\0b@example.com", PASSWORD).await.status(), 400);
    assert_eq!(browser.sign_in("a\0b@example.com", PASSWORD).await.status(), 400);
    app.stop().await;
}

async fn each_user_has_a_cap_on_stored_upload_bytes(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|c| c.import_max_stored_bytes_per_user = 100_000)).await;
    let browser = app.signed_in_browser("hoarder@example.com").await;
    let file = people_csv(1000);
    assert!(file.len() > 50_000 && file.len() < 100_000, "{}", file.len());
    assert_eq!(browser.upload_for_preview("one.csv", file.clone()).await.status(), 200);
    let response = browser.upload_for_preview("two.csv", file.clone()).await;
    assert_eq!(response.status(), 413);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "upload_quota_reached");
    assert_eq!(error["limit_bytes"], 100_000);
    assert_eq!(count_rows(&app, "uploads").await, 1, "the refused upload left nothing");
    // Another person has their own room.
    let other = app.signed_in_browser("other@example.com").await;
    assert_eq!(other.upload_for_preview("one.csv", file).await.status(), 200);
    app.stop().await;
}

async fn the_sweep_deletes_the_upload_of_any_ended_import(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("ended@example.com").await;
    let (_, script) = app.script_for_new_user("ended-script@example.com").await;
    let started = script.api_import_started("a.csv", people_csv(5)).await;
    script.wait_finished(&started.import_id).await;
    assert_eq!(count_rows(&app, "uploads").await, 0, "a finished import's upload is gone");

    // An import that ended without its worker dropping the upload (failed after
    // too many attempts by another instance's recovery): the sweep deletes it.
    let preview: intake::model::UploadPreview = browser.upload_for_preview("b.csv", people_csv(5)).await.json().await.unwrap();
    let failed = query_scalar(
        &app,
        &format!(
            "UPDATE imports SET upload_id = '{}', status = 'failed' WHERE id = '{}' RETURNING CAST(1 AS BIGINT)",
            preview.upload_id, started.import_id
        ),
    )
    .await;
    assert_eq!(failed, 1);
    let swept = intake::sweeper::sweep(&app.services).await.unwrap();
    assert_eq!(swept.uploads, 1);
    assert_eq!((count_rows(&app, "uploads").await, count_rows(&app, "upload_chunks").await), (0, 0));
    app.stop().await;
}

async fn row_errors_are_kept_up_to_the_cap_and_counted_exactly(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|c| c.import_max_stored_row_errors = 120)).await;
    let (_, script) = app.script_for_new_user("invalid@example.com").await;
    let mut csv = String::from("Name,Email\r\n");
    for i in 0..1000 {
        csv.push_str(&format!("Person {i},not-an-email-{i}\r\n"));
    }
    let started = script.api_import_started("invalid.csv", csv.into_bytes()).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.counts.rejected, 1000, "the count stays exact");
    assert_eq!(count_rows(&app, "import_errors").await, 120, "only the first 120 are stored");

    // Pages are read by key, 50 at a time, and say how many were not kept.
    let mut lines = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let path = match after {
            Some(after) => format!("/api/imports/{}/errors?after={after}", started.import_id),
            None => format!("/api/imports/{}/errors", started.import_id),
        };
        let page: intake::model::RowErrorsPage = script.get(&path).await.json().await.unwrap();
        assert_eq!((page.total, page.stored, page.not_stored()), (1000, 120, 880));
        lines.extend(page.errors.iter().map(|e| e.line));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(lines, (2..122).collect::<Vec<u64>>(), "the first 120 rows' lines, each once, in order");

    let report = script.get(&format!("/api/imports/{}/errors.csv", started.import_id)).await.text().await.unwrap();
    let report_lines: Vec<&str> = report.lines().collect();
    assert_eq!(report_lines.len(), 1 + 120 + 1, "header, the kept errors, and the count of the rest");
    assert_eq!(report_lines[0], "line,reason");
    assert_eq!(report_lines[121], ",\"and 880 more rejected rows, not listed\"");
    app.stop().await;
}

async fn a_row_with_thousands_of_addresses_is_one_row_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("wide@example.com").await;
    // One row, 200 email columns of 100 distinct addresses each (20,000 in all).
    let columns = 200;
    let header: Vec<String> = std::iter::once("Name".to_owned()).chain((1..=columns).map(|i| format!("Email {i}"))).collect();
    let mut row = vec!["Wide Person".to_owned()];
    for column in 0..columns {
        row.push((0..100).map(|n| format!("c{column}n{n}@example.com")).collect::<Vec<_>>().join(" ::: "));
    }
    let csv = format!("{}\r\n{}\r\nNarrow Person,narrow@example.com\r\n", header.join(","), row.join(","));
    let started = script.api_import_started("wide.csv", csv.into_bytes()).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.counts.created, done.counts.rejected), (1, 1), "{done:?}");
    let errors: intake::model::RowErrorsPage =
        script.get(&format!("/api/imports/{}/errors", started.import_id)).await.json().await.unwrap();
    assert_eq!(errors.errors[0].line, 2);
    assert_eq!(errors.errors[0].reason, "The row has more than 50 email addresses.");
    app.stop().await;
}
