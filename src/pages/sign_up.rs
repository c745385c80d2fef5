use super::common::safe_next;
use crate::api::accounts::SignUp;
use crate::app::Session;
use crate::model::MIN_PASSWORD_CHARS;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let Session(account) = expect_context::<Session>();
    let query = use_query_map();
    let navigate = use_navigate();
    let show_password = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            account.refetch();
            navigate(&safe_next(query.read_untracked().get("next")), Default::default());
        }
    });
    view! {
        <section class="narrow">
            <h1>"Create your account"</h1>
            <ActionForm action attr:class="stack" attr:aria-label="Create account">
                <label>
                    "Email"
                    <input type="email" name="email" autocomplete="username" required />
                </label>
                <label for="new-password">"Password"</label>
                <div class="password">
                    <input
                        id="new-password"
                        type=move || if show_password.get() { "text" } else { "password" }
                        name="password"
                        autocomplete="new-password"
                        required
                        minlength=MIN_PASSWORD_CHARS.to_string()
                        maxlength="1024"
                        aria-describedby="password-hint"
                    />
                    <button
                        type="button"
                        class="secondary"
                        aria-pressed=move || show_password.get().to_string()
                        on:click=move |_| show_password.update(|shown| *shown = !*shown)
                    >
                        {move || if show_password.get() { "Hide" } else { "Show" }}
                    </button>
                </div>
                <p id="password-hint" class="muted">{format!("At least {MIN_PASSWORD_CHARS} characters.")}</p>
                <button type="submit" disabled=move || action.pending().get()>"Create account"</button>
            </ActionForm>
            {move || {
                action.value().get().and_then(Result::err).map(|error| view! {
                    <p class="error" role="alert">{error.to_string()}</p>
                })
            }}
        </section>
    }
}
