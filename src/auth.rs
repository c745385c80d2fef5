//! Passwords, sessions, API tokens, the same-origin check and the sign-in throttle.
//!
//! Secrets never reach storage or logs: sessions and tokens are random 256-bit
//! values kept only as SHA-256 hashes, and passwords only as argon2id hashes.

use crate::error::AccountError;
use crate::services::{chrono_duration, Services};
use crate::store::StoreError;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, REFERER};
use http::request::Parts;
use http::Method;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

pub const SESSION_COOKIE: &str = "intake_session";
pub use crate::model::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
const TOKEN_PREFIX: &str = "intake_";

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        error!(%error, "storage failed");
        if error.is_transient() { AccountError::Unavailable } else { AccountError::Internal }
    }
}

/// Who is calling, and how they proved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user_id: i64,
    pub via: Credential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session,
    Token,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    CrossOrigin,
    Storage,
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        && email.len() <= 254 && !email.chars().any(char::is_whitespace)
}

pub fn check_password_rules(password: &str) -> Result<(), AccountError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::PasswordTooLong { max: MAX_PASSWORD_BYTES });
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::PasswordTooShort { min: MIN_PASSWORD_CHARS });
    }
    Ok(())
}

async fn hash_password(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string())
    })
    .await
    .map_err(|_| AccountError::Internal)?
    .map_err(|_| AccountError::Internal)
}

async fn verify_password(password: String, stored_hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored_hash)
            .map(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash to verify against when the email is unknown, so both paths cost the same.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(b"decoy password", &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates an account; the email must be new.
pub async fn create_account(services: &Services, email: &str, password: &str) -> Result<i64, AccountError> {
    let email = normalize_email(email);
    if !plausible_email(&email) {
        return Err(AccountError::InvalidEmail);
    }
    check_password_rules(password)?;
    let hash = hash_password(password.to_owned()).await?;
    let user_id = services
        .store
        .create_user(&email, &hash, services.now())
        .await?
        .ok_or(AccountError::EmailTaken)?;
    info!(user_id, "account created");
    Ok(user_id)
}

/// Checks a password, throttled per email across all instances.
pub async fn verify_sign_in(services: &Services, email: &str, password: &str) -> Result<i64, AccountError> {
    let email = normalize_email(email);
    let now = services.now();
    let window = chrono_duration(services.config.sign_in_window);
    let (failures, oldest) = services.store.sign_in_failures(&email, now - window).await?;
    if failures >= services.config.sign_in_max_failures {
        let frees_at = oldest.unwrap_or(now) + window;
        let minutes = ((frees_at - now).num_seconds() + 59) / 60;
        warn!(failures, "sign-in throttled");
        return Err(AccountError::TooManyAttempts { retry_after_minutes: minutes.max(1) });
    }
    let password = password.get(..MAX_PASSWORD_BYTES.min(password.len())).unwrap_or(password).to_owned();
    let user = services.store.user_by_email(&email).await?;
    let stored_hash = user.as_ref().map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
    let valid = verify_password(password, stored_hash).await;
    match user {
        Some(user) if valid => {
            services.store.clear_sign_in_failures(&email).await?;
            Ok(user.id)
        }
        _ => {
            services.store.record_sign_in_failure(&email, now).await?;
            info!("sign-in failed");
            Err(AccountError::InvalidCredentials)
        }
    }
}

/// Starts a new session, ending `previous` if there was one, and returns the cookie value.
pub async fn start_session(services: &Services, user_id: i64, previous: Option<&str>) -> Result<String, AccountError> {
    if let Some(previous) = previous {
        services.store.delete_session(&secret_hash(previous)).await?;
    }
    let secret = random_secret();
    services.store.create_session(&secret_hash(&secret), user_id, services.now()).await?;
    info!(user_id, "session started");
    Ok(secret)
}

pub async fn end_session(services: &Services, secret: &str) -> Result<(), AccountError> {
    services.store.delete_session(&secret_hash(secret)).await?;
    Ok(())
}

/// A new personal API token: the caller sees it once, storage keeps its hash.
pub async fn create_token(services: &Services, user_id: i64, name: &str) -> Result<crate::model::NewToken, AccountError> {
    let token = format!("{TOKEN_PREFIX}{}", random_secret());
    let name = name.trim();
    let name = if name.is_empty() { "token" } else { name };
    let name: String = name.chars().take(100).collect();
    let view = services.store.create_token(user_id, &name, &secret_hash(&token), services.now()).await?;
    info!(user_id, token_id = view.id, "api token created");
    Ok(crate::model::NewToken { token, view })
}

pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether a cookie-authenticated request comes from our own pages.
fn same_origin(parts: &Parts, public_origin: &str) -> bool {
    if let Some(origin) = parts.headers.get(ORIGIN) {
        return origin.to_str().is_ok_and(|o| o == public_origin);
    }
    parts
        .headers
        .get(REFERER)
        .and_then(|r| r.to_str().ok())
        .is_some_and(|referer| referer == public_origin || referer.starts_with(&format!("{public_origin}/")))
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Resolves the caller from a bearer token or the session cookie. Cookie-borne
/// state changes must be same-origin; token calls are exempt, since a browser
/// never attaches a token on its own.
pub async fn authenticate(services: &Services, parts: &Parts) -> Result<Caller, AuthFailure> {
    let now = services.now();
    if let Some(token) = bearer_token(parts) {
        return match services.store.token_user(&secret_hash(token), now).await {
            Ok(Some(user_id)) => Ok(Caller { user_id, via: Credential::Token }),
            Ok(None) => Err(AuthFailure::Missing),
            Err(error) => {
                error!(%error, "token lookup failed");
                Err(AuthFailure::Storage)
            }
        };
    }
    let Some(secret) = session_cookie(parts) else { return Err(AuthFailure::Missing) };
    if changes_state(&parts.method) {
        let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok());
        let expected = services.public_origin(host);
        if !expected.is_some_and(|origin| same_origin(parts, &origin)) {
            return Err(AuthFailure::CrossOrigin);
        }
    }
    let idle_cutoff = now - chrono_duration(services.config.session_idle);
    match services.store.touch_session(&secret_hash(&secret), idle_cutoff, now).await {
        Ok(Some(user_id)) => Ok(Caller { user_id, via: Credential::Session }),
        Ok(None) => Err(AuthFailure::Missing),
        Err(error) => {
            error!(%error, "session lookup failed");
            Err(AuthFailure::Storage)
        }
    }
}

/// The `Set-Cookie` value for a session secret, or for clearing it.
pub fn cookie_header(services: &Services, secret: Option<&str>) -> String {
    let secure = if services.config.cookie_secure { "; Secure" } else { "" };
    match secret {
        Some(secret) => format!(
            "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            services.config.session_idle.as_secs()
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

impl From<AuthFailure> for AccountError {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Missing => AccountError::Unauthorized,
            AuthFailure::CrossOrigin => AccountError::CrossOrigin,
            AuthFailure::Storage => AccountError::Unavailable,
        }
    }
}

impl From<AuthFailure> for crate::error::ImportError {
    fn from(failure: AuthFailure) -> Self {
        use crate::error::ImportError;
        match failure {
            AuthFailure::Missing => ImportError::Unauthorized,
            AuthFailure::CrossOrigin => ImportError::CrossOrigin,
            AuthFailure::Storage => ImportError::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::builder().method(method).uri("/x");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn origin_must_match_exactly() {
        let origin = "http://127.0.0.1:3000";
        assert!(same_origin(&parts(Method::POST, &[("origin", origin)]), origin));
        assert!(!same_origin(&parts(Method::POST, &[("origin", "http://evil.example")]), origin));
        assert!(same_origin(&parts(Method::POST, &[("referer", "http://127.0.0.1:3000/import")]), origin));
        assert!(!same_origin(&parts(Method::POST, &[("referer", "http://127.0.0.1:3000.evil.example/")]), origin));
        assert!(!same_origin(&parts(Method::POST, &[]), origin));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let p = parts(Method::GET, &[("cookie", "a=1; intake_session=abc; b=2")]);
        assert_eq!(session_cookie(&p).as_deref(), Some("abc"));
        assert_eq!(bearer_token(&parts(Method::GET, &[("authorization", "Bearer xyz")])), Some("xyz"));
    }

    #[test]
    fn passwords_have_bounds() {
        assert_eq!(check_password_rules("short"), Err(AccountError::PasswordTooShort { min: 8 }));
        assert!(check_password_rules("long enough").is_ok());
        assert!(matches!(check_password_rules(&"x".repeat(2000)), Err(AccountError::PasswordTooLong { .. })));
        assert!(plausible_email("a@b.co") && !plausible_email("a@b") && !plausible_email("@b.co"));
    }
}
