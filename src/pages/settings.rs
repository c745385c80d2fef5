//! `/settings`: personal API tokens for scripts, and signing out everywhere.

use super::common::RequireAccount;
use crate::api::accounts::{list_tokens, CreateToken, RevokeToken, SignOutEverywhere};
use super::undo::{ConfirmedUndo, UndoTarget};
use leptos::prelude::*;

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <RequireAccount>
            <Tokens />
            <Restore />
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

/// Takes the contacts back to a moment within the history's reach.
#[component]
fn Restore() -> impl IntoView {
    let moment = RwSignal::new(String::new());
    // `datetime-local` gives "2026-12-06T14:30": read as UTC, as the page says.
    let at = Signal::derive(move || format!("{}:00Z", moment.get()));
    let reach = Resource::new(|| (), |_| crate::api::imports::history());
    view! {
        <section aria-labelledby="restore-title">
            <h2 id="restore-title">"Undo changes"</h2>
            <p>"Take your contacts back to how they were at a moment: every import, edit, deletion and undo since is undone, newest first."</p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    reach.await.ok().map(|history| view! {
                        <p class="muted" data-testid="restore-reach">{match history.reaches_back_to {
                            Some(at) => format!("Undo reaches back to {}.", at.format("%Y-%m-%d %H:%M UTC")),
                            None => "There is nothing to undo yet.".to_owned(),
                        }}</p>
                    })
                })}
            </Suspense>
            <label for="restore-at">"Moment (UTC)"</label>
            <input id="restore-at" type="datetime-local" data-testid="restore-at"
                prop:value=move || moment.get() on:input=move |ev| moment.set(event_target_value(&ev)) />
            <Show when=move || !moment.get().is_empty()>
                <ConfirmedUndo target=UndoTarget::Moment(at) label="Undo changes since then" />
            </Show>
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
