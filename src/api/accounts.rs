//! Server functions for accounts and personal API tokens.

use crate::error::AccountError;
use crate::model::{AccountView, NewToken, TokenView};
use leptos::prelude::*;

/// The signed-in account, or `None`: pages use it to decide whether to redirect.
#[server]
pub async fn current_account() -> Result<Option<AccountView>, AccountError> {
    use super::context::*;
    use crate::auth::AuthFailure;
    let (Some(parts), Some(services)) = (request_parts(), services()) else { return Ok(None) };
    match browser_caller(&services, &parts).await {
        Ok(caller) => crate::auth::account(&services, caller.user_id).await,
        Err(AuthFailure::Missing) => Ok(None),
        Err(failure) => with_status(Err(failure.into())),
    }
}

#[server]
pub async fn sign_up(email: String, password: String) -> Result<AccountView, AccountError> {
    use super::context::*;
    use crate::auth;
    with_status(
        async {
            let services = services().ok_or(AccountError::Internal)?;
            let previous = request_parts().as_ref().and_then(|parts| auth::session_cookie(&services, parts));
            let client = request_parts().as_ref().and_then(|parts| auth::client_address(&services, parts));
            let user_id = auth::sign_up(&services, &email, &password, client).await?;
            let secret = auth::start_session(&services, user_id, previous.as_deref()).await?;
            set_cookie(&auth::cookie_header(&services, Some(&secret)));
            Ok(AccountView { email: auth::normalize_email(&email) })
        }
        .await,
    )
}

#[server]
pub async fn sign_in(email: String, password: String) -> Result<AccountView, AccountError> {
    use super::context::*;
    use crate::auth;
    with_status(
        async {
            let services = services().ok_or(AccountError::Internal)?;
            // A new session id on every sign-in: a planted cookie is worthless.
            let previous = request_parts().as_ref().and_then(|parts| auth::session_cookie(&services, parts));
            let client = request_parts().as_ref().and_then(|parts| auth::client_address(&services, parts));
            let user_id = auth::verify_sign_in(&services, &email, &password, client).await?;
            let secret = auth::start_session(&services, user_id, previous.as_deref()).await?;
            set_cookie(&auth::cookie_header(&services, Some(&secret)));
            Ok(AccountView { email: auth::normalize_email(&email) })
        }
        .await,
    )
}

#[server]
pub async fn sign_out() -> Result<(), AccountError> {
    use super::context::*;
    use crate::auth;
    with_status(
        async {
            let parts = request_parts();
            let (services, _) = authorised::<AccountError>().await?;
            let secret = parts.as_ref().and_then(|parts| auth::session_cookie(&services, parts));
            if let Some(secret) = secret {
                auth::end_session(&services, &secret).await?;
            }
            set_cookie(&auth::cookie_header(&services, None));
            Ok(())
        }
        .await,
    )
}

/// Ends every session of the signed-in account, this one included.
#[server]
pub async fn sign_out_everywhere() -> Result<(), AccountError> {
    use super::context::*;
    use crate::auth;
    with_status(
        async {
            let (services, caller) = browser_session().await?;
            auth::end_all_sessions(&services, caller.user_id).await?;
            set_cookie(&auth::cookie_header(&services, None));
            Ok(())
        }
        .await,
    )
}

/// The caller, who holds a browser session (every server function's rule): a
/// leaked API token must not mint new tokens, list them or revoke them
/// (revoking it must lock its holder out).
#[cfg(feature = "ssr")]
async fn browser_session() -> Result<(crate::services::Services, crate::auth::Caller), AccountError> {
    super::context::authorised::<AccountError>().await
}

#[server]
pub async fn list_tokens() -> Result<Vec<TokenView>, AccountError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = browser_session().await?;
            crate::auth::list_tokens(&services, caller.user_id).await
        }
        .await,
    )
}

#[server]
pub async fn create_token(name: String) -> Result<NewToken, AccountError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = browser_session().await?;
            crate::auth::create_token(&services, caller.user_id, &name).await
        }
        .await,
    )
}

#[server]
pub async fn revoke_token(token_id: i64) -> Result<(), AccountError> {
    use super::context::*;
    with_status(
        async {
            let (services, caller) = browser_session().await?;
            crate::auth::revoke_token(&services, caller.user_id, token_id).await
        }
        .await,
    )
}
