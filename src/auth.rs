//! Passwords, sessions, API tokens, the same-origin check and the sign-in throttle.
//!
//! Secrets never reach storage or logs: sessions and tokens are random 256-bit
//! values kept only as SHA-256 hashes, and passwords only as argon2id hashes.

use crate::error::AccountError;
use crate::services::{chrono_duration, Services};
use crate::store::{StoreError, ThrottleClaim};
use axum::extract::ConnectInfo;
use std::net::{IpAddr, SocketAddr};
use argon2::password_hash::{rand_core::OsRng, Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, REFERER};
use http::request::Parts;
use http::Method;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tracing::{error, info, warn};

pub const SESSION_COOKIE: &str = "intake_session";
/// The session cookie's name when it is `Secure`.
pub const SECURE_SESSION_COOKIE: &str = "__Host-intake_session";
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
    Storage,
    /// An API token where only a browser session is taken (the server functions).
    TokenNotAccepted,
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        && email.len() <= 254 && !email.chars().any(|c| c.is_whitespace() || c.is_control())
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

fn busy(services: &Services) -> AccountError {
    warn!(concurrency = services.config.password_hash_concurrency, "password hashing at capacity; refusing");
    AccountError::PasswordCheckBusy { concurrency: services.config.password_hash_concurrency, retry_after_seconds: 2 }
}

async fn hash_password(services: &Services, password: String) -> Result<String, AccountError> {
    services
        .password_gate
        .run(move |memory| new_hash(memory, password.as_bytes()))
        .await
        .map_err(|_| busy(services))?
        .map_err(|_| AccountError::Internal)
}

/// Checks `password` against `stored_hash`, or against a decoy when the email is
/// unknown, so both paths cost one hash.
async fn verify_password(services: &Services, password: String, stored_hash: Option<String>) -> Result<bool, AccountError> {
    services
        .password_gate
        .run(move |memory| {
            let stored_hash = stored_hash.unwrap_or_else(|| decoy_hash(memory).to_owned());
            matches_hash(memory, password.as_bytes(), &stored_hash)
        })
        .await
        .map_err(|_| busy(services))
}

/// A PHC string of argon2id with the crate's default (OWASP) parameters, computed
/// in `memory` (the gate slot's blocks) instead of a fresh allocation.
fn new_hash(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, argon2::password_hash::Error> {
    let argon2 = Argon2::default();
    let params = argon2.params().clone();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.as_salt().decode_b64(&mut salt_bytes)?;
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    memory.resize(params.block_count(), Block::default());
    argon2.hash_password_into_with_memory(password, salt_raw, &mut output, &mut memory[..])?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into()?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` hashes to `stored` (a PHC string), computed in `memory`;
/// the comparison is constant-time (`Output`'s equality).
fn matches_hash(memory: &mut Vec<Block>, password: &[u8], stored: &str) -> bool {
    let mut computed = || -> Result<bool, argon2::password_hash::Error> {
        let hash = PasswordHash::new(stored)?;
        let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return Ok(false) };
        let algorithm = Algorithm::try_from(hash.algorithm)?;
        let version = hash.version.map(Version::try_from).transpose()?.unwrap_or_default();
        let params = Params::try_from(&hash)?;
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt.decode_b64(&mut salt_bytes)?;
        let mut output = vec![0u8; expected.len()];
        memory.resize(params.block_count(), Block::default());
        Argon2::new(algorithm, version, params).hash_password_into_with_memory(password, salt_raw, &mut output, &mut memory[..])?;
        Ok(Output::new(&output)? == expected)
    };
    computed().unwrap_or(false)
}

/// A hash to verify against when the email is unknown; made on first use, in the
/// gate slot's memory.
fn decoy_hash(memory: &mut Vec<Block>) -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| new_hash(memory, b"decoy password").unwrap_or_default())
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates an account; the email must be new. The operator's path (`intake users
/// add`): no client, no throttle.
pub async fn create_account(services: &Services, email: &str, password: &str) -> Result<i64, AccountError> {
    let email = checked_sign_up(email, password)?;
    insert_account(services, &email, password).await
}

/// A sign-up from `client`. Each one takes a place in the client's sign-up
/// throttle, whether the email is new or taken, so neither making accounts (each
/// brings its own upload quota) nor asking whether an email has one is unlimited.
pub async fn sign_up(services: &Services, email: &str, password: &str, client: Option<IpAddr>) -> Result<i64, AccountError> {
    let email = checked_sign_up(email, password)?;
    if let Some(client) = client {
        let (limit, window) = (services.config.sign_ups_per_client, chrono_duration(services.config.sign_up_window));
        let now = services.now();
        let key = format!("sign-up:{}", client_throttle_key(client));
        if let ThrottleClaim::Refused { window_started_at } = services.store.claim_sign_in_attempt(&key, limit, now - window, now).await? {
            warn!(limit, "sign-up throttled for a client address");
            return Err(AccountError::TooManySignUps { limit, retry_after_minutes: minutes_until(window_started_at + window, now) });
        }
    }
    insert_account(services, &email, password).await
}

/// The normalised email, once it and the password pass the rules.
fn checked_sign_up(email: &str, password: &str) -> Result<String, AccountError> {
    let email = normalize_email(email);
    if !plausible_email(&email) {
        return Err(AccountError::InvalidEmail);
    }
    check_password_rules(password)?;
    Ok(email)
}

/// Hashes first, so a taken email costs what a new one does.
async fn insert_account(services: &Services, email: &str, password: &str) -> Result<i64, AccountError> {
    let hash = hash_password(services, password.to_owned()).await?;
    let user_id = services.store.create_user(email, &hash, services.now()).await?.ok_or(AccountError::EmailTaken)?;
    info!(user_id, "account created");
    Ok(user_id)
}

/// The throttle key of a client address. IPv6 clients are counted per /64, the
/// block one subscriber usually holds; an IPv4 address written as IPv6
/// (`::ffff:a.b.c.d`, from a socket on `[::]` or a proxy) is the IPv4 address,
/// not one /64 that every IPv4 client would share.
fn client_throttle_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => format!("client:{v4}"),
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            format!("client:{:x}:{:x}:{:x}:{:x}::/64", segments[0], segments[1], segments[2], segments[3])
        }
    }
}

fn minutes_until(moment: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> i64 {
    (((moment - now).num_seconds() + 59) / 60).max(1)
}

/// Checks a password, throttled per email and per client address across all
/// instances. Each attempt first takes a place in both throttles in one atomic
/// database step, so parallel guesses cannot slip past the limit; a correct
/// password gives its places back.
pub async fn verify_sign_in(
    services: &Services,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<i64, AccountError> {
    let email = normalize_email(email);
    if !plausible_email(&email) {
        return Err(AccountError::InvalidEmail);
    }
    let now = services.now();
    let window = chrono_duration(services.config.sign_in_window);
    let store = &services.store;
    let client_key = client.map(client_throttle_key);
    if let Some(key) = &client_key {
        let limit = services.config.sign_in_max_failures_per_client;
        if let ThrottleClaim::Refused { window_started_at } = store.claim_sign_in_attempt(key, limit, now - window, now).await? {
            warn!(limit, "sign-in throttled for a client address");
            let retry_after_minutes = minutes_until(window_started_at + window, now);
            return Err(AccountError::TooManyAttemptsFromClient { limit, retry_after_minutes });
        }
    }
    let email_key = format!("email:{email}");
    let limit = services.config.sign_in_max_failures;
    if let ThrottleClaim::Refused { window_started_at } = store.claim_sign_in_attempt(&email_key, limit, now - window, now).await? {
        warn!(limit, "sign-in throttled for an email");
        return Err(AccountError::TooManyAttempts { retry_after_minutes: minutes_until(window_started_at + window, now) });
    }
    let password = password.get(..MAX_PASSWORD_BYTES.min(password.len())).unwrap_or(password).to_owned();
    let user = store.user_by_email(&email).await?;
    let checked = verify_password(services, password, user.as_ref().map(|u| u.password_hash.clone())).await;
    match (&checked, &user) {
        // Not checked (the hashing slots were full): the attempt does not count.
        (Err(_), _) => store.forgive_sign_in_attempt(&email_key).await?,
        (Ok(true), Some(_)) => store.clear_sign_in_attempts(&email_key).await?,
        _ => {}
    }
    if let (Some(key), Err(_) | Ok(true)) = (&client_key, &checked) {
        store.forgive_sign_in_attempt(key).await?;
    }
    match (checked?, user) {
        (true, Some(user)) => Ok(user.id),
        _ => {
            info!("sign-in failed");
            Err(AccountError::InvalidCredentials)
        }
    }
}

/// The client's address: the trusted proxy header's rightmost entry when the
/// operator named one, else the socket's peer.
pub fn client_address(services: &Services, parts: &Parts) -> Option<IpAddr> {
    let address: IpAddr = match &services.config.client_address_header {
        Some(header) => parts.headers.get(header.as_str())?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()?,
        None => parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip(),
    };
    Some(address.to_canonical())
}

/// The signed-in person's account as the pages show it.
pub async fn account(services: &Services, user_id: i64) -> Result<Option<crate::model::AccountView>, AccountError> {
    Ok(services.store.user_email(user_id).await?.map(|email| crate::model::AccountView { email }))
}

/// The user's API tokens that are not revoked.
pub async fn list_tokens(services: &Services, user_id: i64) -> Result<Vec<crate::model::TokenView>, AccountError> {
    Ok(services.store.list_tokens(user_id).await?)
}

/// Revokes one of the user's tokens; another's, or an unknown one, is not found.
pub async fn revoke_token(services: &Services, user_id: i64, token_id: i64) -> Result<(), AccountError> {
    if !services.store.revoke_token(user_id, token_id, services.now()).await? {
        return Err(AccountError::NotFound);
    }
    info!(user_id, token_id, "api token revoked");
    Ok(())
}

/// Deletes every session of the user: "sign out everywhere".
pub async fn end_all_sessions(services: &Services, user_id: i64) -> Result<u64, AccountError> {
    let ended = services.store.delete_user_sessions(user_id).await?;
    info!(user_id, ended, "signed out everywhere");
    Ok(ended)
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
    let name: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
    let view = services.store.create_token(user_id, &name, &secret_hash(&token), services.now()).await?;
    info!(user_id, token_id = view.id, "api token created");
    Ok(crate::model::NewToken { token, view })
}

/// The session cookie's name: with `Secure`, the `__Host-` prefix makes browsers
/// refuse it unless it is host-only, `Path=/` and came over HTTPS, so a sibling
/// subdomain cannot plant or shadow it.
pub fn session_cookie_name(services: &Services) -> &'static str {
    if services.config.cookie_secure { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
}

pub fn session_cookie(services: &Services, parts: &Parts) -> Option<String> {
    cookie_value(parts, session_cookie_name(services))
}

fn cookie_value(parts: &Parts, wanted: &str) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_owned())
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether a request comes from our own pages.
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

/// Every state-changing request that carries the session cookie, and every
/// sign-in and sign-up (`starts_session`, against login CSRF), must come from our
/// own pages. Cross-site protection is for ambient credentials: a request with a
/// bearer token (a browser never attaches one on its own, and then no cookie is
/// consulted) or with no credential at all acts for nobody, and authentication
/// answers it.
pub fn may_change_state(services: &Services, parts: &Parts, starts_session: bool) -> bool {
    if !changes_state(&parts.method) || bearer_token(parts).is_some() {
        return true;
    }
    if !starts_session && session_cookie(services, parts).is_none() {
        return true;
    }
    let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok());
    services.public_origin(host).is_some_and(|origin| same_origin(parts, &origin))
}

/// Resolves the caller from a bearer token or the session cookie. The same-origin
/// rule for cookie-borne state changes is enforced before any handler runs
/// (`may_change_state`, in the server's request guard). A session whose use was
/// recorded gets its cookie's lifetime renewed through `SessionRefresh`.
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
    let Some(secret) = session_cookie(services, parts) else { return Err(AuthFailure::Missing) };
    match services.store.touch_session(&secret_hash(&secret), &services.session_cutoffs(now), now).await {
        Ok(Some(session)) => {
            if session.touched {
                if let Some(refresh) = parts.extensions.get::<SessionRefresh>() {
                    let ends = session.created_at + chrono_duration(services.config.session_max_age);
                    let left = (ends - now).to_std().unwrap_or_default();
                    refresh.renew(session_cookie_header(services, &secret, left));
                }
            }
            Ok(Caller { user_id: session.user_id, via: Credential::Session })
        }
        Ok(None) => Err(AuthFailure::Missing),
        Err(error) => {
            error!(%error, "session lookup failed");
            Err(AuthFailure::Storage)
        }
    }
}

/// The renewed session cookie a request's authentication asked for, which the
/// server's request guard adds to the response (unless the response sets the
/// cookie itself, as sign-in and sign-out do). The cookie's `Max-Age` is set
/// to the idle limit, so without renewal a session in daily use would end
/// after it instead of at its absolute lifetime.
#[derive(Clone, Default)]
pub struct SessionRefresh(std::sync::Arc<std::sync::OnceLock<String>>);

impl SessionRefresh {
    fn renew(&self, cookie: String) {
        let _ = self.0.set(cookie);
    }

    /// The `Set-Cookie` value to add, if the session was renewed.
    pub fn cookie(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// The `Set-Cookie` value for a session secret, or for clearing it.
pub fn cookie_header(services: &Services, secret: Option<&str>) -> String {
    match secret {
        Some(secret) => {
            let lifetime = services.config.session_max_age;
            session_cookie_header(services, secret, lifetime)
        }
        None => {
            let (name, secure) = (session_cookie_name(services), secure_attribute(services));
            format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
        }
    }
}

/// The session cookie, kept by the browser for the idle limit or for what is
/// `left` of the session's absolute lifetime, whichever ends first.
fn session_cookie_header(services: &Services, secret: &str, left: std::time::Duration) -> String {
    let (name, secure) = (session_cookie_name(services), secure_attribute(services));
    // Whole seconds, rounded up: the session's own end is checked by the server.
    let max_age = services.config.session_idle.min(left).as_secs_f64().ceil() as u64;
    format!("{name}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

fn secure_attribute(services: &Services) -> &'static str {
    if services.config.cookie_secure { "; Secure" } else { "" }
}

impl From<AuthFailure> for AccountError {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Missing => AccountError::Unauthorized,
            AuthFailure::Storage => AccountError::Unavailable,
            AuthFailure::TokenNotAccepted => AccountError::BrowserSessionRequired,
        }
    }
}

impl From<AuthFailure> for crate::error::ImportError {
    fn from(failure: AuthFailure) -> Self {
        use crate::error::ImportError;
        match failure {
            AuthFailure::Missing => ImportError::Unauthorized,
            AuthFailure::Storage => ImportError::Unavailable,
            AuthFailure::TokenNotAccepted => ImportError::BrowserSessionRequired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_made_in_lent_memory_verify_both_ways_with_the_standard_argon2_path() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Vec::new();
        let ours = new_hash(&mut memory, b"correct horse").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        assert!(matches_hash(&mut memory, b"correct horse", &ours));
        assert!(!matches_hash(&mut memory, b"correct hors", &ours));
        assert!(Argon2::default().verify_password(b"correct horse", &PasswordHash::new(&ours).unwrap()).is_ok());
        // Hashes stored before the gate lent its memory still verify.
        let salt = SaltString::generate(&mut OsRng);
        let standard = Argon2::default().hash_password(b"battery staple", &salt).unwrap().to_string();
        assert!(matches_hash(&mut memory, b"battery staple", &standard));
        assert!(!matches_hash(&mut memory, b"battery", &standard));
        assert!(!matches_hash(&mut memory, b"battery staple", "not a hash"));
        assert_eq!(memory.len(), Params::DEFAULT_M_COST as usize, "one set of blocks, reused");
    }

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
        assert_eq!(cookie_value(&p, SESSION_COOKIE).as_deref(), Some("abc"));
        let secure = parts(Method::GET, &[("cookie", "intake_session=planted; __Host-intake_session=real")]);
        assert_eq!(cookie_value(&secure, SECURE_SESSION_COOKIE).as_deref(), Some("real"));
        assert_eq!(bearer_token(&parts(Method::GET, &[("authorization", "Bearer xyz")])), Some("xyz"));
    }

    #[test]
    fn an_ipv4_address_written_as_ipv6_is_the_ipv4_address() {
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        let other: IpAddr = "::ffff:198.51.100.9".parse().unwrap();
        assert_eq!(client_throttle_key(mapped), "client:203.0.113.7");
        assert_ne!(client_throttle_key(mapped), client_throttle_key(other), "one key for every IPv4 client");
        assert_eq!(client_throttle_key("2001:db8:1:2:3:4:5:6".parse().unwrap()), "client:2001:db8:1:2::/64");
    }

    #[test]
    fn passwords_have_bounds() {
        assert_eq!(check_password_rules("short"), Err(AccountError::PasswordTooShort { min: 8 }));
        assert!(check_password_rules("long enough").is_ok());
        assert!(matches!(check_password_rules(&"x".repeat(2000)), Err(AccountError::PasswordTooLong { .. })));
        assert!(plausible_email("a@b.co") && !plausible_email("a@b") && !plausible_email("@b.co"));
    }
}
