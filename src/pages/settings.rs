//! `/settings`: personal API tokens for scripts, and signing out everywhere.

use super::common::RequireAccount;
use crate::api::accounts::{list_tokens, CreateToken, RevokeToken, SignOutEverywhere};
use leptos::prelude::*;

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <RequireAccount>
            <Tokens />
            <Sessions />
        </RequireAccount>
    }
}

#[component]
fn Tokens() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_tokens());
    view! {
        <h1>"Settings"</h1>
        <section aria-labelledby="tokens-title">
            <h2 id="tokens-title">"API tokens"</h2>
            <p>"Scripts call the JSON API with " <code>"Authorization: Bearer <token>"</code> "."</p>
            <ActionForm action=create attr:class="inline-form">
                <label for="token-name">"Name"</label>
                <input id="token-name" name="name" required maxlength="100" placeholder="e.g. nightly sync" />
                <button type="submit">"Create token"</button>
            </ActionForm>
            {move || create.value().get().map(|result| match result {
                Ok(new) => view! {
                    <div class="notice" role="status">
                        <p>"Copy this token now; it is not shown again:"</p>
                        <code data-testid="new-token">{new.token}</code>
                    </div>
                }.into_any(),
                Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
            })}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) => view! {
                            <ul class="tokens">
                                {list.into_iter().map(|t| view! {
                                    <li>
                                        <span>{t.name}</span>
                                        <span class="muted">
                                            {format!(" created {}", t.created_at.format("%Y-%m-%d"))}
                                            {t.last_used_at.map(|u| format!(", last used {}", u.format("%Y-%m-%d %H:%M")))}
                                        </span>
                                        <ActionForm action=revoke attr:class="inline">
                                            <input type="hidden" name="token_id" value=t.id.to_string() />
                                            <button type="submit" class="link">"Revoke"</button>
                                        </ActionForm>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Ends every session of the account, on every device, this one included.
#[component]
fn Sessions() -> impl IntoView {
    let sign_out_everywhere = ServerAction::<SignOutEverywhere>::new();
    // A full load of the sign-in page, so the header forgets the account too.
    Effect::new(move |_| {
        if let Some(Ok(())) = sign_out_everywhere.value().get() {
            let _ = window().location().set_href("/sign-in");
        }
    });
    view! {
        <section aria-labelledby="sessions-title">
            <h2 id="sessions-title">"Sessions"</h2>
            <p>"Signed in on a device you no longer use? End every session, this one included."</p>
            <ActionForm action=sign_out_everywhere attr:class="inline-form">
                <button type="submit">"Sign out everywhere"</button>
            </ActionForm>
            {move || sign_out_everywhere.value().get().and_then(Result::err).map(|error| view! {
                <p class="error" role="alert">{error.to_string()}</p>
            })}
        </section>
    }
}
