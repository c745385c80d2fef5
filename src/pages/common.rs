//! Pieces several pages use.

use crate::error::AccountError;
use crate::model::AccountView;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};

/// The signed-in account, shared by the layout and the pages; refetched after sign-in or sign-out.
#[derive(Clone, Copy)]
pub struct Session(pub Resource<Result<Option<AccountView>, AccountError>>);

/// Shows `children` to a signed-in user; sends anyone else to sign in, and back here afterwards.
#[component]
pub fn RequireAccount(children: ChildrenFn) -> impl IntoView {
    let Session(account) = expect_context::<Session>();
    let location = use_location();
    let children = StoredValue::new(children);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match account.await {
                    Ok(Some(_)) => children.read_value()().into_any(),
                    _ => {
                        let here = format!("{}{}", location.pathname.get_untracked(), location.search.get_untracked());
                        let next = url_encode(&here);
                        view! { <Redirect path=format!("/sign-in?next={next}") /> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// Once `signed_in` turns true: refresh the session and go where the user was headed.
pub fn continue_when_signed_in(signed_in: Signal<bool>) {
    let Session(account) = expect_context::<Session>();
    let query = use_query_map();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if signed_in.get() {
            account.refetch();
            navigate(&safe_next(query.read_untracked().get("next")), Default::default());
        }
    });
}

/// Percent-encodes a path for use as a query value.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only a local path may be a redirect target, never another site.
pub fn safe_next(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/import".to_owned())
}

pub fn human_duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_this_site() {
        assert_eq!(safe_next(Some("/contacts?q=a".into())), "/contacts?q=a");
        assert_eq!(safe_next(Some("//evil.example".into())), "/import");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/import");
        assert_eq!(safe_next(None), "/import");
        assert_eq!(url_encode("/imports/1?x=a b"), "/imports/1%3Fx%3Da%20b");
    }
}

/// A signal that, once set to a path, takes the page there: a job's page
/// after the job started (an Effect, so only in the browser).
pub fn navigate_when_set() -> RwSignal<Option<String>> {
    let destination = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    Effect::new(move || {
        if let Some(to) = destination.get() {
            navigate(&to, Default::default());
        }
    });
    destination
}
