//! What a server function needs from the request it serves.

use crate::auth::{authenticate, AuthFailure, Caller, Credential};
use crate::error::{set_status, HttpError};
use crate::state::AppState;
use crate::services::Services;
use http::request::Parts;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

/// The app's services, when serving a request. Route-list generation renders the
/// app without them, and a resource's server function can still run there
/// (leptos's flag that suppresses loads is process-wide), so this must not panic.
pub fn services() -> Option<Services> {
    use_context::<AppState>().map(|state| state.services)
}

pub fn request_parts() -> Option<Parts> {
    use_context::<Parts>()
}

/// The services and the caller, who must hold a browser session, or the
/// boundary's own "unauthorised" error. Server functions serve the pages: an API
/// token calls the JSON API only. Context is read before the first await: a
/// resource's future may be polled again after its reactive owner is gone.
pub async fn authorised<E: From<AuthFailure>>() -> Result<(Services, Caller), E> {
    let services = services().ok_or(AuthFailure::Missing)?;
    let parts = request_parts().ok_or(AuthFailure::Missing)?;
    let caller = browser_caller(&services, &parts).await?;
    Ok((services, caller))
}

/// The caller of a request that must come from a browser session.
pub async fn browser_caller(services: &Services, parts: &Parts) -> Result<Caller, AuthFailure> {
    let caller = authenticate(services, parts).await?;
    if caller.via != Credential::Session {
        return Err(AuthFailure::TokenNotAccepted);
    }
    Ok(caller)
}

/// Gives a failed server function its HTTP status: the status of the error itself.
pub fn with_status<T, E: HttpError>(result: Result<T, E>) -> Result<T, E> {
    if let Err(error) = &result {
        set_status(error);
    }
    result
}

pub fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) = (use_context::<ResponseOptions>(), http::HeaderValue::from_str(value)) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}
