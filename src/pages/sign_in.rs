use super::common::continue_when_signed_in;
use crate::api::accounts::SignIn;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    continue_when_signed_in(Signal::derive(move || matches!(action.value().get(), Some(Ok(_)))));
    let sign_up_href = move || match query.read().get("next") {
        Some(next) => format!("/sign-up?next={}", super::common::url_encode(&next)),
        None => "/sign-up".to_owned(),
    };
    view! {
        <section class="narrow">
            <h1>"Sign in"</h1>
            <ActionForm action attr:class="stack" attr:aria-label="Sign in">
                <label>
                    "Email"
                    <input type="email" name="email" autocomplete="username" required />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required maxlength="1024" />
                </label>
                <button type="submit" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
            {move || {
                action.value().get().and_then(Result::err).map(|error| view! {
                    <p class="error" role="alert">{error.to_string()}</p>
                })
            }}
            <p>"New here? " <A href=sign_up_href>"Create an account"</A></p>
        </section>
    }
}
