//! Accounts: users, sessions, API tokens and the sign-in and sign-up throttles.

use super::error::StoreResult;
use crate::model::TokenView;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
}

/// A session is alive while used after `last_seen_after` and started after `created_after`.
#[derive(Debug, Clone, Copy)]
pub struct SessionCutoffs {
    pub last_seen_after: DateTime<Utc>,
    pub created_after: DateTime<Utc>,
}

/// A live session, as a request that used it found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTouch {
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    /// Its use was recorded now (at most once a minute): the idle clock restarted.
    pub touched: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleClaim {
    Allowed,
    Refused { window_started_at: DateTime<Utc> },
}

/// Rows the periodic sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub throttle_windows: u64,
    pub sessions: u64,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// `None` when the email already has an account.
    async fn create_user(&self, email: &str, password_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_email(&self, user_id: i64) -> StoreResult<Option<String>>;
    async fn create_session(&self, token_hash: &str, user_id: i64, now: DateTime<Utc>) -> StoreResult<()>;
    /// The session, if it is within both cutoffs; touching it keeps it alive
    /// until its absolute end.
    async fn touch_session(&self, token_hash: &str, cutoffs: &SessionCutoffs, now: DateTime<Utc>) -> StoreResult<Option<SessionTouch>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Ends every session of the user; returns how many there were.
    async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<u64>;
    /// Deletes an account and, by its foreign keys and triggers, everything
    /// that is the person's: sessions, tokens, uploads, imports, contacts,
    /// identities and history. False when there was no such account.
    async fn delete_user(&self, user_id: i64) -> StoreResult<bool>;
    async fn create_token(&self, user_id: i64, name: &str, token_hash: &str, now: DateTime<Utc>) -> StoreResult<TokenView>;
    async fn list_tokens(&self, user_id: i64) -> StoreResult<Vec<TokenView>>;
    async fn revoke_token(&self, user_id: i64, token_id: i64, now: DateTime<Utc>) -> StoreResult<bool>;
    async fn token_user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>>;
    /// Counts one attempt against `key` (an email or a client address, of sign-in
    /// or sign-up) if fewer than `limit` were counted in the window that started
    /// after `window_cutoff`, else refuses it; one atomic statement either way.
    async fn claim_sign_in_attempt(&self, key: &str, limit: u32, window_cutoff: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<ThrottleClaim>;
    /// Takes back one counted attempt (it was not checked, or it succeeded).
    async fn forgive_sign_in_attempt(&self, key: &str) -> StoreResult<()>;
    async fn clear_sign_in_attempts(&self, key: &str) -> StoreResult<()>;
    /// Deletes throttle windows that started before `window_cutoff` and sessions past either cutoff.
    async fn prune_expired(&self, window_cutoff: DateTime<Utc>, sessions: &SessionCutoffs) -> StoreResult<Pruned>;
}

/// Sessions and tokens record their use at most this often, so that checking a
/// credential is a read, not a write that queues behind an import's batch.
pub(crate) fn touch_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last.is_none_or(|last| now - last >= chrono::Duration::seconds(60))
}

/// Counts an attempt: a new window when none is open (or the open one started at
/// or before `$3`), one more in the open window while under the limit `$4`, else
/// no row comes back. One statement: SQLite runs it under the write lock,
/// Postgres under the conflicting row's lock, so parallel attempts queue.
pub(crate) const CLAIM_SIGN_IN_ATTEMPT: &str = "INSERT INTO sign_in_throttle (throttle_key, window_started_at, attempts)
     VALUES ($1, $2, 1)
     ON CONFLICT (throttle_key) DO UPDATE SET
         attempts = CASE WHEN sign_in_throttle.window_started_at <= $3 THEN 1 ELSE sign_in_throttle.attempts + 1 END,
         window_started_at = CASE WHEN sign_in_throttle.window_started_at <= $3 THEN $2 ELSE sign_in_throttle.window_started_at END
     WHERE sign_in_throttle.window_started_at <= $3 OR sign_in_throttle.attempts < $4
     RETURNING attempts";
pub(crate) const THROTTLE_WINDOW_START: &str = "SELECT window_started_at FROM sign_in_throttle WHERE throttle_key = $1";
pub(crate) const FORGIVE_SIGN_IN_ATTEMPT: &str =
    "UPDATE sign_in_throttle SET attempts = attempts - 1 WHERE throttle_key = $1 AND attempts > 0";
pub(crate) const CLEAR_SIGN_IN_ATTEMPTS: &str = "DELETE FROM sign_in_throttle WHERE throttle_key = $1";
pub(crate) const PRUNE_THROTTLE_WINDOWS: &str = "DELETE FROM sign_in_throttle WHERE window_started_at <= $1";
pub(crate) const PRUNE_SESSIONS: &str = "DELETE FROM sessions WHERE last_seen_at <= $1 OR created_at <= $2";
pub(crate) const LIVE_SESSION: &str =
    "SELECT user_id, created_at, last_seen_at FROM sessions WHERE token_hash = $1 AND last_seen_at > $2 AND created_at > $3";
pub(crate) const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1";
pub(crate) const CREATE_USER: &str = "INSERT INTO users (email, password_hash, created_at) VALUES ($1, $2, $3)
     ON CONFLICT (email) DO NOTHING RETURNING id";
pub(crate) const CREATE_TOKEN: &str =
    "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id, created_at";

/// `AccountStore` for a backend (`$store`, which implements `Dialect` and
/// `Connections`): the SQL and binds are the same on both, written once. A
/// macro, because the backends' query and row types differ; the names it uses
/// are imported inside it, so nothing depends on what the caller has in scope.
macro_rules! impl_accounts {
    ($store:ty) => {
        const _: () = {
            use $crate::model::TokenView;
            use $crate::store::accounts::*;
            use $crate::store::dialect::{Connections, Dialect};
            use $crate::store::error::StoreResult;
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};

            #[async_trait]
            impl AccountStore for $store {
                async fn create_user(&self, email: &str, password_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
                    Ok(sqlx::query_scalar(CREATE_USER)
                        .bind(email)
                        .bind(password_hash)
                        .bind(Self::stamp(now))
                        .fetch_optional(self.writes())
                        .await?)
                }

                async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
                    let row: Option<(i64, String, String)> =
                        sqlx::query_as("SELECT id, email, password_hash FROM users WHERE email = $1")
                            .bind(email)
                            .fetch_optional(self.reads())
                            .await?;
                    Ok(row.map(|(id, email, password_hash)| UserRecord { id, email, password_hash }))
                }

                async fn user_email(&self, user_id: i64) -> StoreResult<Option<String>> {
                    Ok(sqlx::query_scalar("SELECT email FROM users WHERE id = $1").bind(user_id).fetch_optional(self.reads()).await?)
                }

                async fn create_session(&self, token_hash: &str, user_id: i64, now: DateTime<Utc>) -> StoreResult<()> {
                    sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)")
                        .bind(token_hash)
                        .bind(user_id)
                        .bind(Self::stamp(now))
                        .execute(self.writes())
                        .await?;
                    Ok(())
                }

                async fn touch_session(
                    &self,
                    token_hash: &str,
                    cutoffs: &SessionCutoffs,
                    now: DateTime<Utc>,
                ) -> StoreResult<Option<SessionTouch>> {
                    let found: Option<(i64, <Self as Dialect>::Stamp, <Self as Dialect>::Stamp)> = sqlx::query_as(LIVE_SESSION)
                        .bind(token_hash)
                        .bind(Self::stamp(cutoffs.last_seen_after))
                        .bind(Self::stamp(cutoffs.created_after))
                        .fetch_optional(self.reads())
                        .await?;
                    let Some((user_id, created_at, last_seen)) = found else { return Ok(None) };
                    let touched = touch_due(Some(Self::moment(last_seen)), now);
                    if touched {
                        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
                            .bind(Self::stamp(now))
                            .bind(token_hash)
                            .execute(self.writes())
                            .await?;
                    }
                    Ok(Some(SessionTouch { user_id, created_at: Self::moment(created_at), touched }))
                }

                async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
                    sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(self.writes()).await?;
                    Ok(())
                }

                async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<u64> {
                    Ok(sqlx::query(DELETE_USER_SESSIONS).bind(user_id).execute(self.writes()).await?.rows_affected())
                }

                async fn delete_user(&self, user_id: i64) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    if let Some(lock) = Self::USER_IMPORTS_LOCK {
                        sqlx::query(lock).bind(user_id).execute(&mut *tx).await?;
                    }
                    let deleted = sqlx::query("DELETE FROM users WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
                    tx.commit().await?;
                    self.wrote();
                    Ok(deleted.rows_affected() > 0)
                }

                async fn create_token(&self, user_id: i64, name: &str, token_hash: &str, now: DateTime<Utc>) -> StoreResult<TokenView> {
                    let (id, created_at): (i64, <Self as Dialect>::Stamp) = sqlx::query_as(CREATE_TOKEN)
                        .bind(user_id)
                        .bind(name)
                        .bind(token_hash)
                        .bind(Self::stamp(now))
                        .fetch_one(self.writes())
                        .await?;
                    Ok(TokenView { id, name: name.to_owned(), created_at: Self::moment(created_at), last_used_at: None })
                }

                async fn list_tokens(&self, user_id: i64) -> StoreResult<Vec<TokenView>> {
                    let rows: Vec<(i64, String, <Self as Dialect>::Stamp, Option<<Self as Dialect>::Stamp>)> = sqlx::query_as(
                        "SELECT id, name, created_at, last_used_at FROM api_tokens
                         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id",
                    )
                    .bind(user_id)
                    .fetch_all(self.reads())
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(id, name, created_at, last_used_at)| TokenView {
                            id,
                            name,
                            created_at: Self::moment(created_at),
                            last_used_at: last_used_at.map(Self::moment),
                        })
                        .collect())
                }

                async fn revoke_token(&self, user_id: i64, token_id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
                    let done =
                        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
                            .bind(Self::stamp(now))
                            .bind(token_id)
                            .bind(user_id)
                            .execute(self.writes())
                            .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn token_user(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
                    let found: Option<(i64, Option<<Self as Dialect>::Stamp>)> =
                        sqlx::query_as("SELECT user_id, last_used_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
                            .bind(token_hash)
                            .fetch_optional(self.reads())
                            .await?;
                    let Some((user_id, last_used)) = found else { return Ok(None) };
                    if touch_due(last_used.map(Self::moment), now) {
                        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
                            .bind(Self::stamp(now))
                            .bind(token_hash)
                            .execute(self.writes())
                            .await?;
                    }
                    Ok(Some(user_id))
                }

                async fn claim_sign_in_attempt(
                    &self,
                    key: &str,
                    limit: u32,
                    window_cutoff: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> StoreResult<ThrottleClaim> {
                    let counted: Option<i64> = sqlx::query_scalar(CLAIM_SIGN_IN_ATTEMPT)
                        .bind(key)
                        .bind(Self::stamp(now))
                        .bind(Self::stamp(window_cutoff))
                        .bind(i64::from(limit))
                        .fetch_optional(self.writes())
                        .await?;
                    if counted.is_some() {
                        return Ok(ThrottleClaim::Allowed);
                    }
                    let started: Option<<Self as Dialect>::Stamp> =
                        sqlx::query_scalar(THROTTLE_WINDOW_START).bind(key).fetch_optional(self.reads()).await?;
                    Ok(ThrottleClaim::Refused { window_started_at: started.map_or(now, Self::moment) })
                }

                async fn forgive_sign_in_attempt(&self, key: &str) -> StoreResult<()> {
                    sqlx::query(FORGIVE_SIGN_IN_ATTEMPT).bind(key).execute(self.writes()).await?;
                    Ok(())
                }

                async fn clear_sign_in_attempts(&self, key: &str) -> StoreResult<()> {
                    sqlx::query(CLEAR_SIGN_IN_ATTEMPTS).bind(key).execute(self.writes()).await?;
                    Ok(())
                }

                async fn prune_expired(
                    &self,
                    window_cutoff: DateTime<Utc>,
                    sessions: &SessionCutoffs,
                ) -> StoreResult<Pruned> {
                    let throttle_windows = sqlx::query(PRUNE_THROTTLE_WINDOWS)
                        .bind(Self::stamp(window_cutoff))
                        .execute(self.writes())
                        .await?
                        .rows_affected();
                    let sessions = sqlx::query(PRUNE_SESSIONS)
                        .bind(Self::stamp(sessions.last_seen_after))
                        .bind(Self::stamp(sessions.created_after))
                        .execute(self.writes())
                        .await?
                        .rows_affected();
                    Ok(Pruned { throttle_windows, sessions })
                }
            }
        };
    };
}
pub(crate) use impl_accounts;
