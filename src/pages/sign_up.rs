use super::common::continue_when_signed_in;
use crate::api::accounts::SignUp;
use crate::model::MIN_PASSWORD_CHARS;
use leptos::prelude::*;

#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let show_password = RwSignal::new(false);
    continue_when_signed_in(Signal::derive(move || matches!(action.value().get(), Some(Ok(_)))));
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
