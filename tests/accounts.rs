//! Accounts, sessions, tokens and authorisation, on SQLite and on Postgres.

mod common;

use common::*;
use intake::clock::ManualClock;
use leptos::server_fn::ServerFn;
use std::time::Duration;

on_both_backends!(
    sign_up_and_sign_in,
    sessions_rotate_end_and_expire,
    tokens_work_until_revoked,
    every_user_data_endpoint_needs_auth_and_hides_other_users,
    cross_origin_posts_are_refused,
    undecodable_arguments_are_a_400,
    failed_sign_ins_are_throttled_across_instances,
);

async fn me(client: &Client) -> Option<String> {
    let response = client.post_form(intake::api::accounts::CurrentAccount::PATH, &[("", "")][..0]).await;
    assert_eq!(response.status(), 200);
    let account: Option<intake::model::AccountView> = response.json().await.unwrap();
    account.map(|a| a.email)
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("intake_session="))
        .map(str::to_owned)
}

/// The session secret a response's cookie carries.
fn session_secret(response: &reqwest::Response) -> String {
    let cookie = session_cookie(response).expect("a session cookie");
    cookie.trim_start_matches("intake_session=").split(';').next().unwrap().to_owned()
}

/// The status of a user-data call made with nothing but this session secret.
async fn status_with_session(app: &TestApp, secret: &str) -> u16 {
    let client = Client::new(&app.base, None);
    let response = client
        .http
        .post(client.url(intake::api::imports::ListImports::PATH))
        .header("cookie", format!("intake_session={secret}"))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn sign_up_and_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.browser();
    let response = browser.sign_up("  Ada@Example.COM ", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let cookie = session_cookie(&response).expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");
    assert_eq!(me(&browser).await.as_deref(), Some("ada@example.com"));

    let again = app.browser().sign_up("ada@example.com", PASSWORD).await;
    assert_eq!(again.status(), 409);
    let error: serde_json::Value = again.json().await.unwrap();
    assert_eq!(error["error"], "email_taken");

    let short = app.browser().sign_up("bob@example.com", "short").await;
    assert_eq!(short.status(), 400);
    let long = app.browser().sign_up("bob@example.com", &"x".repeat(2000)).await;
    assert_eq!(long.status(), 400);

    let other = app.browser();
    let wrong = other.sign_in("ada@example.com", "wrong password").await;
    assert_eq!(wrong.status(), 401);
    let unknown = other.sign_in("nobody@example.com", "wrong password").await;
    assert_eq!(unknown.status(), 401);
    // The same answer whether or not the email exists.
    let wrong_body: serde_json::Value = wrong.json().await.unwrap();
    let unknown_body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(wrong_body, unknown_body);
    assert_eq!(me(&other).await, None);

    let right = other.sign_in("ADA@example.com", PASSWORD).await;
    assert_eq!(right.status(), 200);
    assert_eq!(me(&other).await.as_deref(), Some("ada@example.com"));
    app.stop().await;
}

async fn sessions_rotate_end_and_expire(backend: Backend) {
    let clock = ManualClock::new(chrono::Utc::now());
    let app = spawn_app_with(
        backend,
        AppOptions { clock: Some(clock.clone()), configure: Box::new(|c| c.session_idle = Duration::from_secs(3600)) },
    )
    .await;
    let browser = app.signed_in_browser("rotate@example.com").await;
    let first = browser.get("/").await;
    assert_eq!(first.status(), 200);

    // Signing in again issues a new session id and ends the old one.
    let old_secret = session_secret(&browser.sign_in("rotate@example.com", PASSWORD).await);
    let new_secret = session_secret(&browser.sign_in("rotate@example.com", PASSWORD).await);
    assert_ne!(old_secret, new_secret);
    assert_eq!(status_with_session(&app, &old_secret).await, 401, "the rotated-out session is dead");
    assert_eq!(status_with_session(&app, &new_secret).await, 200, "the new session works");

    // Idle sessions expire; use keeps them alive.
    clock.advance(chrono::Duration::minutes(50));
    assert!(me(&browser).await.is_some());
    clock.advance(chrono::Duration::minutes(50));
    assert!(me(&browser).await.is_some(), "used 50 minutes ago: alive");
    clock.advance(chrono::Duration::minutes(61));
    assert_eq!(me(&browser).await, None, "idle for over an hour: expired");

    // Sign-out deletes the session on the server, not just the cookie.
    let browser = app.signed_in_browser("signout@example.com").await;
    let secret = session_secret(&browser.sign_in("signout@example.com", PASSWORD).await);
    let response = browser.post_form(intake::api::accounts::SignOut::PATH, &[("", "")][..0]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(me(&browser).await, None);
    assert_eq!(status_with_session(&app, &secret).await, 401, "a replayed cookie after sign-out is refused");
    app.stop().await;
}

async fn tokens_work_until_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("tokens@example.com").await;
    let response = browser.post_form(intake::api::accounts::CreateToken::PATH, &[("name", "nightly")]).await;
    assert_eq!(response.status(), 200);
    let created: intake::model::NewToken = response.json().await.unwrap();
    assert!(created.token.starts_with("intake_"));

    let script = app.script(&created.token);
    assert_eq!(script.get("/api/contacts").await.status(), 200);
    let listed: Vec<intake::model::TokenView> =
        browser.post_form(intake::api::accounts::ListTokens::PATH, &[("", "")][..0]).await.json().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());

    let id = created.view.id.to_string();
    let response = browser.post_form(intake::api::accounts::RevokeToken::PATH, &[("token_id", id.as_str())]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(script.get("/api/contacts").await.status(), 401);
    assert_eq!(app.script("intake_not-a-token").get("/api/contacts").await.status(), 401);
    app.stop().await;
}

/// Every endpoint that touches user data, with how to call it for a given import id.
fn user_data_endpoints() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    use intake::api::{accounts, imports};
    let id = serde_json::json!("{id}");
    vec![
        ("GET", "/api/imports", serde_json::Value::Null),
        ("GET", "/api/imports/{id}", serde_json::Value::Null),
        ("GET", "/api/imports/{id}/errors", serde_json::Value::Null),
        ("GET", "/api/imports/{id}/errors.csv", serde_json::Value::Null),
        ("POST", "/api/imports/{id}/cancel", serde_json::Value::Null),
        ("POST", "/api/imports", serde_json::Value::Null),
        ("GET", "/api/contacts", serde_json::Value::Null),
        ("GET", "/api/contacts/{contact}", serde_json::Value::Null),
        ("GET", "/api/contacts/export.vcf", serde_json::Value::Null),
        ("GET", "/api/contacts/export.csv", serde_json::Value::Null),
        ("POST", "/api/imports/{id}/undo", serde_json::Value::Null),
        ("POST", "/api/history/{id}/undo", serde_json::Value::Null),
        ("GET", "/api/history", serde_json::Value::Null),
        ("POST", "/api/history/restore", serde_json::Value::Null),
        ("PATCH", "/api/contacts/{contact}", serde_json::json!({"display_name": "Not Yours"})),
        ("DELETE", "/api/contacts/{contact}", serde_json::Value::Null),
        ("POST", "/api/contacts/delete", serde_json::json!({"ids": ["{contact}"]})),
        ("SFN", imports::UploadFile::PATH, serde_json::Value::Null),
        ("SFN", imports::StartImport::PATH, serde_json::json!({"upload_id": "{id}", "mapping": {"columns": ["Email"]}})),
        ("SFN", imports::ChooseSheet::PATH, serde_json::json!({"upload_id": "{id}", "sheet": "Sheet1"})),
        ("SFN", imports::RunningImport::PATH, serde_json::json!({})),
        ("SFN", imports::ImportStatus::PATH, serde_json::json!({"import_id": id})),
        ("SFN", imports::ListImports::PATH, serde_json::json!({})),
        ("SFN", imports::ImportErrors::PATH, serde_json::json!({"import_id": id})),
        ("SFN", imports::CancelImport::PATH, serde_json::json!({"import_id": id})),
        ("SFN", imports::ListContacts::PATH, serde_json::json!({"query": "", "page": 0})),
        ("SFN", imports::GetContact::PATH, serde_json::json!({"id": "{contact}"})),
        ("SFN", imports::UndoOperation::PATH, serde_json::json!({"op_id": id})),
        ("SFN", imports::RestoreTo::PATH, serde_json::json!({"at": "not a time"})),
        ("SFN", imports::History::PATH, serde_json::json!({})),
        ("SFN", imports::ContactForEdit::PATH, serde_json::json!({"id": "{contact}"})),
        ("SFN", imports::EditContact::PATH, serde_json::json!({"id": "{contact}", "form": {"display_name": "Not Yours", "given": "", "family": "", "emails": [], "phones": [], "websites": [], "addresses": [], "organizations": [], "groups": "", "notes": ""}, "merge": false})),
        ("SFN", imports::DeleteContact::PATH, serde_json::json!({"id": "{contact}"})),
        ("SFN", imports::DeleteContacts::PATH, serde_json::json!({"request": {"ids": ["{contact}"]}, "confirm": null})),
        ("SFN", accounts::ListTokens::PATH, serde_json::json!({})),
        ("SFN", accounts::CreateToken::PATH, serde_json::json!({"name": "x"})),
        ("SFN", accounts::RevokeToken::PATH, serde_json::json!({"token_id": "{token}"})),
        // Last: they end the intruder's session (who signs in again after the first).
        ("SFN", accounts::SignOut::PATH, serde_json::json!({})),
        ("SFN", accounts::SignOutEverywhere::PATH, serde_json::json!({})),
    ]
}

/// Server functions anyone may call: the account entry points.
const PUBLIC_SERVER_FNS: [&str; 3] = [
    <intake::api::accounts::SignIn as ServerFn>::PATH,
    <intake::api::accounts::SignUp as ServerFn>::PATH,
    <intake::api::accounts::CurrentAccount as ServerFn>::PATH,
];

/// The owner's ids that other users must not reach.
struct OwnerIds {
    import_id: String,
    token_id: String,
    contact_id: String,
}

impl OwnerIds {
    fn fill(&self, text: &str) -> String {
        text.replace("{id}", &self.import_id).replace("{token}", &self.token_id).replace("{contact}", &self.contact_id)
    }

    fn named_in(text: &str) -> bool {
        text.contains("{id}") || text.contains("{token}") || text.contains("{contact}")
    }
}

/// JSON arguments with the owner's ids in place; a quoted id that is a number becomes one.
fn json_args(args: &serde_json::Value, ids: &OwnerIds) -> serde_json::Value {
    let filled = ids.fill(&args.to_string()).replace(&format!("\"{}\"", ids.contact_id), &ids.contact_id);
    serde_json::from_str(&filled).unwrap()
}

async fn call(client: &Client, method: &str, path: &str, args: &serde_json::Value, ids: &OwnerIds) -> reqwest::Response {
    let path = ids.fill(path);
    match method {
        "GET" => client.get(&path).await,
        "POST" | "PATCH" | "DELETE" if args.is_null() => {
            client.http.request(method.parse().unwrap(), client.url(&path)).send().await.unwrap()
        }
        "POST" | "PATCH" => {
            let body = json_args(args, ids);
            client.http.request(method.parse().unwrap(), client.url(&path)).json(&body).send().await.unwrap()
        }
        _ if path == intake::api::imports::UploadFile::PATH => {
            client.upload_for_preview("x.csv", b"Email\r\na@example.com\r\n".to_vec()).await
        }
        // The JSON-encoded server functions.
        _ if [
            intake::api::imports::StartImport::PATH,
            intake::api::imports::ChooseSheet::PATH,
            intake::api::imports::EditContact::PATH,
            intake::api::imports::DeleteContacts::PATH,
        ]
        .contains(&path.as_str()) =>
        {
            client.post_json(&path, &json_args(args, ids)).await
        }
        _ => {
            let form: Vec<(String, String)> = args
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(|s| ids.fill(s)).unwrap_or_else(|| v.to_string())))
                .collect();
            client.post_form(&path, &form).await
        }
    }
}

async fn every_user_data_endpoint_needs_auth_and_hides_other_users(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner_id, owner) = app.script_for_new_user("owner@example.com").await;
    let started = owner.api_import_started("mine.csv", people_csv(5)).await;
    owner.wait_finished(&started.import_id).await;
    let token_id = app.services.store.list_tokens(owner_id).await.unwrap()[0].id.to_string();
    let contact_id = owner.contacts("").await.contacts[0].id.to_string();
    let ids = OwnerIds { import_id: started.import_id.clone(), token_id, contact_id };

    // A new server function must be listed above, so it cannot dodge this test.
    let listed: Vec<&str> = user_data_endpoints().iter().map(|(_, path, _)| *path).collect();
    for (path, _) in leptos::server_fn::axum::server_fn_paths() {
        assert!(listed.contains(&path) || PUBLIC_SERVER_FNS.contains(&path), "server function {path} is not in the auth table");
    }

    let anonymous = app.browser();
    let intruder = app.signed_in_browser("intruder@example.com").await;
    for (method, path, args) in user_data_endpoints() {
        let response = call(&anonymous, method, path, &args, &ids).await;
        assert_eq!(response.status(), 401, "{method} {path} without auth");
        let response = call(&intruder, method, path, &args, &ids).await;
        let status = response.status().as_u16();
        if OwnerIds::named_in(path) || OwnerIds::named_in(&args.to_string()) {
            assert_eq!(status, 404, "{method} {path} with another user's import id");
        } else {
            // Their own (empty) data, or a refusal of the empty request itself.
            assert!(status < 401 || status == 422, "{method} {path} as intruder: {status}");
            let body = response.text().await.unwrap();
            assert!(!body.contains("person1@example.com"), "{method} {path} leaked another user's data");
        }
        if path == intake::api::accounts::SignOut::PATH {
            assert_eq!(intruder.sign_in("intruder@example.com", PASSWORD).await.status(), 200);
        }
    }
    // The owner still has everything.
    assert_eq!(owner.contacts("").await.total, 5);
    assert_eq!(app.services.store.list_tokens(owner_id).await.unwrap().len(), 1);
    app.stop().await;
}

async fn cross_origin_posts_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("csrf@example.com").await;
    let path = intake::api::accounts::CreateToken::PATH;
    let evil = browser.http.post(browser.url(path)).header("origin", "http://evil.example").form(&[("name", "x")]).send().await.unwrap();
    assert_eq!(evil.status(), 403);
    let error: serde_json::Value = evil.json().await.unwrap();
    assert_eq!(error["error"], "cross_origin");
    let rest = browser
        .http
        .post(browser.url("/api/imports"))
        .header("origin", "http://evil.example")
        .multipart(reqwest::multipart::Form::new().text("file", "Email\na@b.co\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 403);
    // With a token, Origin does not matter: browsers never attach tokens by themselves.
    let (_, script) = app.script_for_new_user("csrf2@example.com").await;
    let ok = script
        .http
        .get(script.url("/api/contacts"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    app.stop().await;
}

async fn undecodable_arguments_are_a_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = app.signed_in_browser("args@example.com").await;
    let response = browser
        .post_json(intake::api::imports::StartImport::PATH, &serde_json::json!({"upload_id": 5, "mapping": "nope"}))
        .await;
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_request");
    let response = browser.post_form(intake::api::accounts::RevokeToken::PATH, &[("token_id", "not a number")]).await;
    assert_eq!(response.status(), 400);
    app.stop().await;
}

async fn failed_sign_ins_are_throttled_across_instances(backend: Backend) {
    let clock = ManualClock::new(chrono::Utc::now());
    let first = spawn_app_with(backend, AppOptions { clock: Some(clock.clone()), ..AppOptions::default() }).await;
    let second = spawn_instance(first.database.clone(), &AppOptions { clock: Some(clock.clone()), ..AppOptions::default() }).await;
    intake::auth::create_account(&first.services, "brute@example.com", PASSWORD).await.unwrap();
    for attempt in 0..5 {
        let instance = if attempt % 2 == 0 { &first } else { &second };
        let response = instance.browser().sign_in("brute@example.com", "guess").await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    // Even the right password waits now, on either instance.
    let response = second.browser().sign_in("brute@example.com", PASSWORD).await;
    assert_eq!(response.status(), 429);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "too_many_attempts");
    assert_eq!(error["retry_after_minutes"], 15);
    assert_eq!(first.browser().sign_in("brute@example.com", PASSWORD).await.status(), 429);
    clock.advance(chrono::Duration::minutes(16));
    assert_eq!(first.browser().sign_in("brute@example.com", PASSWORD).await.status(), 200);
    second.stop().await;
    first.stop().await;
}

/// Route-list generation renders the app, and with it the account resource, with
/// request parts but without the app's state; leptos's flag that stops resources
/// loading there is process-wide, so another instance can clear it mid-render.
#[tokio::test]
async fn the_account_resource_outside_a_request_is_signed_out_not_a_panic() {
    use leptos::prelude::{provide_context, Owner};
    let owner = Owner::new();
    owner.set();
    assert_eq!(intake::api::accounts::current_account().await, Ok(None));
    provide_context(http::Request::builder().uri("/").body(()).unwrap().into_parts().0);
    assert_eq!(intake::api::accounts::current_account().await, Ok(None));
}
