//! `/contacts/:id`: one contact, every field with its label.

use super::common::RequireAccount;
use crate::api::imports::get_contact;
use crate::model::ContactSheet;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ContactPage() -> impl IntoView {
    view! {
        <RequireAccount>
            <ContactView />
        </RequireAccount>
    }
}

#[component]
fn ContactView() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|id| id.parse::<i64>().ok());
    let contact = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_contact(id).await,
            None => Err(crate::error::ImportError::NotFound),
        }
    });
    view! {
        <p><A href="/contacts">"← All contacts"</A></p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match contact.await {
                    Ok(sheet) => view! { <Sheet sheet /> }.into_any(),
                    Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Sheet(sheet: ContactSheet) -> impl IntoView {
    view! {
        <article class="contact" data-testid="contact">
            <header class="contact-head">
                {sheet.image.map(|src| view! { <img class="photo" src=src alt="" data-testid="contact-photo" /> })}
                <h1 data-testid="contact-name">{sheet.name}</h1>
                {sheet.photo_link.map(|href| view! {
                    <a href=href rel="noreferrer noopener" target="_blank" data-testid="contact-photo-link">"Photo (on another site)"</a>
                })}
            </header>
            {sheet.sections.into_iter().map(|section| view! {
                <section class="card-section" data-testid=section.key>
                    <h2>{section.title}</h2>
                    <dl>
                        {section.rows.into_iter().map(|(label, value)| view! {
                            <div>
                                <dt>{label}</dt>
                                <dd>{value}</dd>
                            </div>
                        }).collect_view()}
                    </dl>
                </section>
            }).collect_view()}
            {(!sheet.notes.is_empty()).then(|| view! {
                <section class="card-section" data-testid="contact-notes">
                    <h2>"Notes"</h2>
                    <p class="notes">{sheet.notes}</p>
                </section>
            })}
        </article>
    }
}
