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
    a_row_with_thousands_of_addresses_keeps_the_cap_and_says_so,
    a_head_sent_a_byte_at_a_time_is_looked_through_once,
    parallel_previews_share_the_quota,
    uploads_at_once_per_person_are_bounded,
    the_quota_never_masks_the_guard,
    a_card_of_endless_lines_keeps_its_caps_and_says_so,
    a_file_of_tiny_invalid_rows_is_parsed_a_slice_at_a_time,
    an_ipv4_client_behind_a_mapped_address_has_its_own_limit,
    sign_ups_per_client_are_limited_and_taken_emails_count,
    a_workbook_sheet_named_with_a_nul_is_stored_on_both_backends,
    an_end_that_cannot_be_recorded_fails_the_import_instead_of_holding_a_worker,
    an_active_session_renews_its_cookie_until_its_absolute_end,
    tokens_call_the_json_api_only,
    stored_reasons_are_capped_and_ended_imports_expire,
    uploads_are_inspected_off_the_async_runtime,
    a_refused_body_sent_slowly_is_drained_for_a_bounded_time,
    a_request_without_credentials_is_unauthorized_not_cross_origin,
    a_card_of_ten_thousand_addresses_imports_within_its_caps,
    a_row_of_a_thousand_custom_fields_keeps_the_cap_and_says_so,
    a_50_mb_photo_is_left_out_and_its_card_imports,
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
    assert_eq!(swept.pruned.throttle_windows, 3, "the email's and the client's sign-in windows, and the client's sign-up window");
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

/// An app on a clock the test moves, with sessions idle for `idle_days` and ending after `max_days`.
async fn app_with_session_limits(backend: Backend, idle_days: u64, max_days: u64) -> (ManualClock, TestApp) {
    let clock = ManualClock::new(chrono::Utc::now());
    let configure = move |c: &mut intake::config::Config| {
        c.session_idle = Duration::from_secs(idle_days * 86_400);
        c.session_max_age = Duration::from_secs(max_days * 86_400);
    };
    let app = spawn_app_with(backend, AppOptions { clock: Some(clock.clone()), configure: Box::new(configure) }).await;
    (clock, app)
}

async fn sessions_end_at_their_absolute_lifetime_and_everywhere_on_request(backend: Backend) {
    let (clock, app) = app_with_session_limits(backend, 7, 10).await;
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

/// A new account's session cookie (`name=value`), for clients that send headers by hand.
async fn session_cookie(app: &TestApp, email: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}{}", app.base, intake::api::accounts::SignUp::PATH))
        .header("origin", &app.base)
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

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
    // The page's server function takes a browser session, the JSON API the token.
    let session = ("Cookie", session_cookie(&app, "boundless-browser@example.com").await);
    let multipart = ("Content-Type", "multipart/form-data; boundary=B".to_owned());
    for (path, credential) in [("/api/imports", &auth), (intake::api::imports::UploadFile::PATH, &session)] {
        // 3 MiB with no boundary: refused once the 64 KiB allowance is read, the rest drained.
        let exchange = raw_post(&app, path, &[credential.clone(), multipart.clone()], b"", 3 * MIB, false).await;
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
    // Every other row has a name: it imports, its bad email kept as a custom
    // field with a warning. The rows without one are rejected.
    let mut csv = String::from("Name,Email\r\n");
    for i in 0..1000 {
        let name = if i % 2 == 0 { format!("Person {i}") } else { String::new() };
        csv.push_str(&format!("{name},not-an-email-{i}\r\n"));
    }
    let started = script.api_import_started("invalid.csv", csv.into_bytes()).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.counts.created, done.counts.warned, done.counts.rejected), (500, 500, 500), "the counts stay exact");
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
        assert!(page.errors.iter().all(|e| e.warning == (e.line % 2 == 0)), "{:?}", page.errors);
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(lines, (2..122).collect::<Vec<u64>>(), "the first 120 rows' lines, each once, in order");

    let report = script.get(&format!("/api/imports/{}/errors.csv", started.import_id)).await.text().await.unwrap();
    let report_lines: Vec<&str> = report.lines().collect();
    assert_eq!(report_lines.len(), 1 + 120 + 1, "header, the kept errors, and the count of the rest");
    assert_eq!(report_lines[0], "line,kind,reason");
    assert_eq!(report_lines[121], ",,\"and 880 more rows with errors or warnings, not listed\"");
    app.stop().await;
}

async fn a_row_with_thousands_of_addresses_keeps_the_cap_and_says_so(backend: Backend) {
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
    assert_eq!((done.counts.created, done.counts.rejected, done.counts.warned), (2, 0, 1), "{done:?}");
    let errors: intake::model::RowErrorsPage =
        script.get(&format!("/api/imports/{}/errors", started.import_id)).await.json().await.unwrap();
    assert_eq!((errors.errors[0].line, errors.errors[0].warning), (2, true));
    assert_eq!(errors.errors[0].reason, "Wide Person: 19950 email addresses past the limit of 50 per contact were not kept.");
    let wide = script.contacts("wide person").await;
    assert_eq!(wide.contacts[0].emails.len(), 50);
    app.stop().await;
}

// Issue 21: the holes in the abuse bounds. Each test below failed before its fix.

/// Sends `body` as a chunked POST whose chunks are `chunk` bytes each (hyper
/// hands each chunk to the app as its own piece of body), and reads the answer.
async fn raw_post_in_pieces(app: &TestApp, path: &str, headers: &[(&str, String)], body: &[u8], chunk: usize) -> RawExchange {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut framed = format!("POST {path} HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\n").into_bytes();
    for (name, value) in headers {
        framed.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    framed.extend_from_slice(b"\r\n");
    for piece in body.chunks(chunk) {
        framed.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        framed.extend_from_slice(piece);
        framed.extend_from_slice(b"\r\n");
    }
    framed.extend_from_slice(b"0\r\n\r\n");
    let sending = tokio::spawn(async move {
        let _ = writer.write_all(&framed).await;
        writer
    });
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut response)).await;
    drop(sending.await);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    RawExchange { status, written: body.len() as u64, body }
}

async fn a_head_sent_a_byte_at_a_time_is_looked_through_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("trickle@example.com").await;
    let auth = ("Authorization", format!("Bearer {}", script.http_token().unwrap()));
    let multipart = ("Content-Type", "multipart/form-data; boundary=B".to_owned());
    let connection = ("Connection", "close".to_owned());
    // The probe of issue 21: a 60 KB head without a part start, one byte per chunk.
    let exchange = raw_post_in_pieces(&app, "/api/imports", &[auth, multipart, connection], &vec![b'-'; 60_000], 1).await;
    assert_eq!(exchange.status, 400, "{}", exchange.body);
    let counters = &app.services.body_counters;
    let scanned = counters.peak_head_bytes.load(std::sync::atomic::Ordering::Relaxed);
    let comparisons = counters.head_comparisons.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(scanned, 60_000, "the guard looked through the whole head");
    assert!(comparisons <= 2 * scanned, "{comparisons} comparisons for {scanned} bytes: not linear");
    app.stop().await;
}

async fn parallel_previews_share_the_quota(backend: Backend) {
    let quota = 3 * MIB;
    let app = spawn_app_with(
        backend,
        AppOptions::configured(move |c| {
            c.import_max_stored_bytes_per_user = quota;
            c.import_max_concurrent_uploads_per_user = 100;
        }),
    )
    .await;
    let browser = app.signed_in_browser("parallel@example.com").await;
    let file = people_csv(20_000);
    assert!(file.len() as u64 > MIB, "{}", file.len());
    // Ten at once, each alone within the quota, together over three times it.
    let statuses = join_all((0..10).map(|i| {
        let (browser, file) = (&browser, file.clone());
        async move { browser.upload_for_preview(&format!("p{i}.csv"), file).await.status().as_u16() }
    }))
    .await;
    let counts = tally(statuses);
    assert_eq!(counts.keys().copied().filter(|s| ![200, 413].contains(s)).count(), 0, "{counts:?}");
    assert!(counts.get(&200).copied().unwrap_or(0) >= 1, "{counts:?}");
    let stored = query_scalar(&app, "SELECT CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT) FROM upload_chunks").await;
    assert!(stored as u64 <= quota, "{stored} bytes stored against a quota of {quota}: {counts:?}");
    app.stop().await;
}

async fn uploads_at_once_per_person_are_bounded(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|c| c.import_max_concurrent_uploads_per_user = 1)).await;
    let browser = app.signed_in_browser("eager@example.com").await;
    // One upload held open: its first part arrives, the rest never does.
    let head = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nName,Email\r\n".to_vec();
    let url = browser.url(intake::api::imports::UploadFile::PATH);
    let (sender, receiver) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    sender.unbounded_send(Ok(head)).unwrap();
    let body = reqwest::Body::wrap_stream(receiver);
    let held = tokio::spawn(browser.http.post(url).header("content-type", "multipart/form-data; boundary=B").body(body).send());
    let receiving = wait_until(Duration::from_secs(30), || async { (count_rows(&app, "uploads").await == 1).then_some(()) }).await;
    assert!(receiving.is_some(), "the held upload is being received");
    let slots = browser.upload_for_preview("b.csv", people_csv(3)).await;
    assert_eq!(slots.status(), 429);
    assert!(slots.headers().get("retry-after").is_some());
    let error: serde_json::Value = slots.json().await.unwrap();
    assert_eq!(error["error"], "too_many_uploads");
    drop(sender);
    let _ = held.await;
    let after = wait_until(Duration::from_secs(30), || async {
        let status = browser.upload_for_preview("c.csv", people_csv(3)).await.status();
        (status == 200).then_some(())
    })
    .await;
    assert!(after.is_some(), "the place comes back when the upload ends");
    app.stop().await;
}

async fn the_quota_never_masks_the_guard(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|c| c.import_max_stored_bytes_per_user = 3 * MIB)).await;
    let (_, script) = app.script_for_new_user("racing-script@example.com").await;
    let file = people_csv(20_000);
    // Twenty scripts' starts at once, each file a third of the quota or more.
    let answers = join_all((0..20).map(|_| {
        let (script, file) = (&script, file.clone());
        async move {
            let response = script.api_import("race.csv", file).await;
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    }))
    .await;
    let counts = tally(answers.iter().map(|(status, _)| *status));
    assert_eq!(counts.get(&202), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&409), Some(&19), "every other start is told an import is running, never 413: {counts:?}");
    for (status, body) in &answers {
        if *status == 409 {
            assert_eq!(body["error"], "already_running", "{body}");
        }
    }
    let uploads = count_rows(&app, "uploads").await;
    assert!(uploads <= 1, "only the winner's file was stored: {uploads} uploads");
    app.stop().await;
}

/// One vCard of `lines` EMAIL lines.
fn endless_card(lines: usize) -> Vec<u8> {
    let mut vcf = String::from("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Endless\r\n");
    for i in 0..lines {
        vcf.push_str(&format!("EMAIL:p{i}@example.com\r\n"));
    }
    vcf.push_str("END:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:After\r\nEMAIL:after@example.com\r\nEND:VCARD\r\n");
    vcf.into_bytes()
}

async fn a_card_of_endless_lines_keeps_its_caps_and_says_so(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("endless-card@example.com").await;
    let started = script.api_import_started("endless.vcf", endless_card(150_000)).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.counts.created, done.counts.rejected, done.counts.warned), (2, 0, 1), "{done:?}");
    let errors: intake::model::RowErrorsPage =
        script.get(&format!("/api/imports/{}/errors", started.import_id)).await.json().await.unwrap();
    let reason = &errors.errors[0].reason;
    assert!(reason.contains("148977 EMAIL") && reason.contains("past the limit of 50 per contact"), "{reason}");
    app.stop().await;
}

async fn a_file_of_tiny_invalid_rows_is_parsed_a_slice_at_a_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("tiny-rows@example.com").await;
    // Issue 21's 4 MB file of 2,000,000 invalid rows, at a tenth of its size: a
    // stored megabyte held half a million records at once.
    let mut csv = b"Email\n".to_vec();
    csv.extend(std::iter::repeat_n(*b"@\n", 200_000).flatten());
    let started = script.api_import_started("tiny.csv", csv).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.counts.rejected, 200_000, "{done:?}");
    let most = intake::test_hooks::MOST_RECORDS_PARSED_AT_ONCE.load(std::sync::atomic::Ordering::Relaxed);
    let bound = intake::domain::format::FEED_SLICE_BYTES as u64 / 2 + 1;
    assert!(most <= bound, "{most} records parsed at once");
    app.stop().await;
}

async fn an_ipv4_client_behind_a_mapped_address_has_its_own_limit(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions::configured(|c| {
            c.client_address_header = Some("x-forwarded-for".to_owned());
            c.sign_in_max_failures_per_client = 3;
            c.sign_in_max_failures = 1000;
        }),
    )
    .await;
    let attempt = |forwarded: &'static str, n: usize| {
        let request = reqwest::Client::new()
            .post(format!("{}{}", app.base, intake::api::accounts::SignIn::PATH))
            .header("origin", &app.base)
            .header("x-forwarded-for", forwarded)
            .form(&[("email", format!("mapped{n}@example.com")), ("password", "guess".to_owned())]);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let mut first = Vec::new();
    for n in 0..4 {
        first.push(attempt("::ffff:198.51.100.1", n).await);
    }
    assert_eq!(first, [401, 401, 401, 429]);
    assert_eq!(attempt("::ffff:198.51.100.2", 9).await, 401, "another IPv4 client, written as IPv6, has its own count");
    assert_eq!(attempt("198.51.100.1", 10).await, 429, "the same client, written as IPv4, is the same client");
    app.stop().await;
}

async fn sign_ups_per_client_are_limited_and_taken_emails_count(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions::configured(|c| {
            c.client_address_header = Some("x-forwarded-for".to_owned());
            c.sign_ups_per_client = 3;
        }),
    )
    .await;
    let sign_up = |client: &'static str, email: &'static str| {
        let request = reqwest::Client::new()
            .post(format!("{}{}", app.base, intake::api::accounts::SignUp::PATH))
            .header("origin", &app.base)
            .header("x-forwarded-for", client)
            .form(&[("email", email), ("password", PASSWORD)]);
        async move {
            let response = request.send().await.unwrap();
            let retry_after = response.headers().get("retry-after").is_some();
            (response.status().as_u16(), retry_after)
        }
    };
    assert_eq!(sign_up("203.0.113.5", "first@example.com").await.0, 200);
    assert_eq!(sign_up("203.0.113.5", "first@example.com").await.0, 409, "a taken email");
    assert_eq!(sign_up("203.0.113.5", "second@example.com").await.0, 200);
    // The taken email counted: the client's three are used.
    assert_eq!(sign_up("203.0.113.5", "third@example.com").await, (429, true));
    assert_eq!(sign_up("203.0.113.5", "first@example.com").await.0, 429, "nor can it ask whether an email is taken");
    assert_eq!(sign_up("203.0.113.6", "third@example.com").await.0, 200, "another client has its own count");
    assert_eq!(count_rows(&app, "users").await, 3);
    // 200 from one client: three at most get through.
    let app = spawn_app_with(backend, AppOptions::configured(|c| c.sign_ups_per_client = 3)).await;
    let browser = app.browser();
    let statuses = join_all((0..200).map(|i| {
        let browser = &browser;
        async move { browser.sign_up(&format!("flood{i}@example.com"), PASSWORD).await.status().as_u16() }
    }))
    .await;
    let counts = tally(statuses);
    assert!(counts.get(&200).copied().unwrap_or(0) <= 3, "{counts:?}");
    assert!(count_rows(&app, "users").await <= 3);
    app.stop().await;
}

async fn a_workbook_sheet_named_with_a_nul_is_stored_on_both_backends(backend: Backend) {
    use intake::domain::workbook::fixture::{xlsx, Cell::*};
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("nul-sheet@example.com").await;
    let book = xlsx(&[("Con\u{0}tacts", vec![vec![Text("Name"), Text("Email")], vec![Text("Ana"), Text("ana@example.com")]])]);
    let response = browser.upload_for_preview("nul.xlsx", book).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let preview: intake::model::UploadPreview = response.json().await.unwrap();
    assert_eq!(preview.sheets, ["Contacts"]);
    let started = browser.start_import(&preview.upload_id, &preview.mapping).await;
    assert_eq!(started.status(), 200);
    let started: intake::model::StartedImport = started.json().await.unwrap();
    let done = browser.wait_finished(&started.import_id).await;
    assert_eq!(done.counts.created, 1, "{done:?}");
    app.stop().await;
}

/// Makes every attempt to end an import `succeeded` fail with a permanent error.
async fn refuse_success(app: &TestApp) {
    let sql = match app.database.backend {
        Backend::Sqlite => "CREATE TRIGGER refuse_success BEFORE UPDATE OF status ON imports WHEN NEW.status = 'succeeded'
                            BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            .to_owned(),
        Backend::Postgres => "CREATE FUNCTION refuse_success() RETURNS trigger LANGUAGE plpgsql AS
                              $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
                              CREATE TRIGGER refuse_success BEFORE UPDATE OF status ON imports
                              FOR EACH ROW WHEN (NEW.status = 'succeeded') EXECUTE FUNCTION refuse_success()"
            .to_owned(),
    };
    match app.database.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.database.url).await.unwrap();
            sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.database.url).await.unwrap();
            sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

async fn an_end_that_cannot_be_recorded_fails_the_import_instead_of_holding_a_worker(backend: Backend) {
    let app = spawn_app(backend).await;
    refuse_success(&app).await;
    let (_, script) = app.script_for_new_user("unrecordable@example.com").await;
    let started = script.api_import_started("a.csv", people_csv(5)).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!(done.status, intake::model::ImportStatus::Failed, "{done:?}");
    let reason = done.failure_reason.unwrap_or_default();
    assert!(reason.contains("the end of the import") && reason.contains("refused by the test"), "{reason}");
    app.stop().await;
}

async fn an_active_session_renews_its_cookie_until_its_absolute_end(backend: Backend) {
    let (clock, app) = app_with_session_limits(backend, 7, 30).await;
    let browser = app.signed_in_browser("daily@example.com").await;
    let max_age = |response: &reqwest::Response| -> Option<u64> {
        let cookie = response.headers().get("set-cookie")?.to_str().ok()?;
        cookie.split("; ").find_map(|part| part.strip_prefix("Max-Age=")).and_then(|v| v.parse().ok())
    };
    let mut seen = Vec::new();
    for _ in 0..4 {
        clock.advance(chrono::Duration::days(6));
        let response = browser.post_form(intake::api::accounts::CurrentAccount::PATH, &[("", "")][..0]).await;
        assert_eq!(response.status(), 200);
        seen.push(max_age(&response));
    }
    // Used every 6 days: the cookie is renewed for the idle limit, and at last
    // for what is left of the 30 days (6 days left on day 24).
    assert_eq!(seen, [Some(7 * 86_400), Some(7 * 86_400), Some(7 * 86_400), Some(6 * 86_400)]);
    app.stop().await;
}

async fn tokens_call_the_json_api_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("api-only@example.com").await;
    use intake::api::imports::{ListContacts, ListImports};
    for (path, form) in [(ListImports::PATH, vec![]), (ListContacts::PATH, vec![("query", ""), ("page", "1")])] {
        let response = script.post_form(path, &form).await;
        assert_eq!(response.status(), 403, "{path}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], "browser_session_required", "{path}");
    }
    assert_eq!(script.get("/api/imports").await.status(), 200, "the JSON API takes the token");
    app.stop().await;
}

async fn stored_reasons_are_capped_and_ended_imports_expire(backend: Backend) {
    let clock = ManualClock::new(chrono::Utc::now());
    let app = spawn_app_with(backend, AppOptions { clock: Some(clock.clone()), ..AppOptions::default() }).await;
    let (_, script) = app.script_for_new_user("history@example.com").await;
    let csv = format!("Name,Email\r\nAna,{}\r\nBo,bo@example.com\r\n", "x".repeat(60_000));
    let started = script.api_import_started("long.csv", csv.into_bytes()).await;
    script.wait_finished(&started.import_id).await;
    let errors: intake::model::RowErrorsPage =
        script.get(&format!("/api/imports/{}/errors", started.import_id)).await.json().await.unwrap();
    let reason = &errors.errors[0].reason;
    assert!(reason.len() <= intake::domain::report::MAX_REASON_BYTES, "{} bytes", reason.len());
    assert_eq!(intake::sweeper::sweep(&app.services).await.unwrap().imports, 0, "kept while within IMPORT_RETENTION");
    // The retention is judged by the instance's clock against the import's end.
    clock.advance(chrono::Duration::days(91));
    assert_eq!(intake::sweeper::sweep(&app.services).await.unwrap().imports, 1);
    assert_eq!((count_rows(&app, "imports").await, count_rows(&app, "import_errors").await), (0, 0));
    app.stop().await;
}

async fn uploads_are_inspected_off_the_async_runtime(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("inspected@example.com").await;
    assert_eq!(browser.upload_for_preview("big.csv", people_csv(30_000)).await.status(), 200);
    assert_eq!(browser.upload_for_preview("cards.vcf", people_vcf(500)).await.status(), 200);
    let on_runtime = intake::test_hooks::UPLOAD_BYTES_INSPECTED_ON_THE_RUNTIME.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(on_runtime, 0, "upload bytes parsed on a thread that serves requests");
    app.stop().await;
}

async fn a_refused_body_sent_slowly_is_drained_for_a_bounded_time(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::configured(|c| c.refused_body_drain_timeout = Duration::from_secs(1))).await;
    use tokio::io::AsyncWriteExt;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/imports HTTP/1.1\r\nHost: {address}\r\nContent-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // A byte every 100 ms for 30 s: the refusal (401) comes at once, the drain must not wait it out.
    let sender = tokio::spawn(async move {
        for _ in 0..300 {
            if stream.write_all(b"1\r\nx\r\n").await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        true
    });
    let counters = app.services.body_counters.clone();
    let draining = || counters.draining.load(std::sync::atomic::Ordering::Relaxed);
    let started = wait_until(Duration::from_secs(10), || async { (draining() == 1).then_some(()) }).await;
    assert!(started.is_some(), "the refused body is being drained");
    let ended = wait_until(Duration::from_secs(10), || async { (draining() == 0).then_some(()) }).await;
    assert!(ended.is_some(), "the drain stopped");
    assert!(!sender.is_finished(), "it stopped while the client was still sending");
    sender.abort();
    app.stop().await;
}

async fn a_request_without_credentials_is_unauthorized_not_cross_origin(backend: Backend) {
    let app = spawn_app(backend).await;
    let plain = reqwest::Client::new();
    let part = reqwest::multipart::Part::bytes(people_csv(2)).file_name("p.csv");
    let response = plain.post(format!("{}/api/imports", app.base)).multipart(reqwest::multipart::Form::new().part("file", part)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "unauthorized");
    // With the session cookie, a state change still needs our own origin.
    let planted = reqwest::Client::new()
        .post(format!("{}/api/imports/x/cancel", app.base))
        .header("cookie", "intake_session=whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(planted.status(), 403, "a cookie-borne change from elsewhere is cross-origin");
    app.stop().await;
}

// Issue 23: full contacts bring new fields; each has its cap.

async fn a_card_of_ten_thousand_addresses_imports_within_its_caps(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("addresses@example.com").await;
    let mut vcf = String::from("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Many Places\r\nEMAIL:places@example.com\r\n");
    for i in 0..10_000 {
        vcf.push_str(&format!("ADR;TYPE=HOME:;;{i} Long Street;Town {i};;{i:05};Country\r\n"));
    }
    vcf.push_str("END:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:Neighbour\r\nEMAIL:neighbour@example.com\r\nEND:VCARD\r\n");
    let started = script.api_import_started("places.vcf", vcf.into_bytes()).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.counts.created, done.counts.rejected, done.counts.warned), (2, 0, 1), "{done:?}");
    let errors: intake::model::RowErrorsPage =
        script.get(&format!("/api/imports/{}/errors", started.import_id)).await.json().await.unwrap();
    let reason = &errors.errors[0].reason;
    assert!(reason.contains("8978 ADR") && reason.contains("Many Places: 972 addresses past the limit of 50"), "{reason}");
    let id = script.contacts("places@example.com").await.contacts[0].id;
    let detail: intake::model::ContactDetail = script.get(&format!("/api/contacts/{id}")).await.json().await.unwrap();
    assert_eq!(detail.contact.addresses.len(), 50);
    app.stop().await;
}

async fn a_row_of_a_thousand_custom_fields_keeps_the_cap_and_says_so(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("wide-custom@example.com").await;
    let header: Vec<String> = ["Name".to_owned(), "Email".to_owned()].into_iter().chain((0..1000).map(|i| format!("Extra {i}"))).collect();
    let row: Vec<String> = ["Wide Row".to_owned(), "wide@example.com".to_owned()].into_iter().chain((0..1000).map(|i| format!("value {i}"))).collect();
    let csv = format!("{}\r\n{}\r\n", header.join(","), row.join(","));
    let browser = app.signed_in_browser("wide-preview@example.com").await;
    let preview: intake::model::UploadPreview = browser.upload_for_preview("wide.csv", csv.clone().into_bytes()).await.json().await.unwrap();
    assert_eq!(preview.summary.sentence(), "2 columns will be imported, 1000 kept as custom fields, 0 ignored.");
    assert!(preview.columns.iter().all(|c| c.choices.is_empty()), "a column's own choices stay few; the shared ones come once");
    let started = script.api_import_started("wide.csv", csv.into_bytes()).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.counts.created, done.counts.warned), (1, 1), "{done:?}");
    let errors: intake::model::RowErrorsPage =
        script.get(&format!("/api/imports/{}/errors", started.import_id)).await.json().await.unwrap();
    assert_eq!(errors.errors[0].reason, "Wide Row: 950 custom fields past the limit of 50 per contact were not kept.");
    app.stop().await;
}

async fn a_50_mb_photo_is_left_out_and_its_card_imports(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, script) = app.script_for_new_user("big-photo@example.com").await;
    let mut vcf = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Big Photo\r\nPHOTO;ENCODING=b;TYPE=JPEG:".to_vec();
    let line = [b'A'; 76];
    for _ in 0..(50 * 1024 * 1024 / 79) {
        vcf.extend_from_slice(&line);
        vcf.extend_from_slice(b"\r\n ");
    }
    vcf.extend_from_slice(b"AAAA\r\nEMAIL:big.photo@example.com\r\nEND:VCARD\r\n");
    let started = script.api_import_started("photo.vcf", vcf).await;
    let done = script.wait_finished(&started.import_id).await;
    assert_eq!((done.counts.created, done.counts.warned), (1, 1), "{done:?}");
    let errors: intake::model::RowErrorsPage =
        script.get(&format!("/api/imports/{}/errors", started.import_id)).await.json().await.unwrap();
    assert_eq!(errors.errors[0].reason, "The card's photo is larger than 256 KB; it was not kept.");
    let id = script.contacts("big.photo@example.com").await.contacts[0].id;
    let detail: intake::model::ContactDetail = script.get(&format!("/api/contacts/{id}")).await.json().await.unwrap();
    assert_eq!(detail.photo, None);
    app.stop().await;
}
