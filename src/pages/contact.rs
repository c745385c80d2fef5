//! `/contacts/:id`: one contact, every field with its label.

use super::common::RequireAccount;
use crate::api::imports::get_contact;
use crate::domain::contact::{Contact, Labeled};
use crate::domain::labels;
use crate::model::ContactDetail;
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
                    Ok(detail) => view! { <Card detail /> }.into_any(),
                    Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A value's label as a page shows it, and a star for a preferred one.
fn label_text<T>(value: &Labeled<T>) -> String {
    let label = labels::shown(&value.label);
    match (label.is_empty(), value.preferred) {
        (true, true) => "Preferred".to_owned(),
        (true, false) => String::new(),
        (false, true) => format!("{label} (preferred)"),
        (false, false) => label,
    }
}

/// One row of the card: a heading, then each value with its label.
fn section(title: &'static str, test_id: &'static str, rows: Vec<(String, String)>) -> impl IntoView {
    (!rows.is_empty()).then(|| {
        view! {
            <section class="card-section" data-testid=test_id>
                <h2>{title}</h2>
                <dl>
                    {rows.into_iter().map(|(label, value)| view! {
                        <div>
                            <dt>{label}</dt>
                            <dd>{value}</dd>
                        </div>
                    }).collect_view()}
                </dl>
            </section>
        }
    })
}

fn labelled<T>(values: &[Labeled<T>], show: impl Fn(&T) -> String) -> Vec<(String, String)> {
    values.iter().map(|v| (label_text(v), show(&v.value))).collect()
}

#[component]
fn Card(detail: ContactDetail) -> impl IntoView {
    let ContactDetail { contact, photo, .. } = detail;
    let Contact { name, .. } = &contact;
    let name_rows: Vec<(String, String)> = [
        ("Prefix", &name.prefix),
        ("First name", &name.given),
        ("Middle name", &name.middle),
        ("Last name", &name.family),
        ("Suffix", &name.suffix),
        ("Phonetic first name", &name.phonetic_given),
        ("Phonetic middle name", &name.phonetic_middle),
        ("Phonetic last name", &name.phonetic_family),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(label, value)| (label.to_owned(), value.clone()))
    .chain(contact.nicknames.iter().map(|n| ("Nickname".to_owned(), n.clone())))
    .collect();
    let mut about: Vec<(String, String)> = Vec::new();
    if let Some(birthday) = contact.birthday {
        about.push(("Birthday".to_owned(), birthday.shown()));
    }
    about.extend(contact.dates.iter().map(|d| (if d.label.is_empty() { "Date".to_owned() } else { label_text(d) }, d.value.shown())));
    if !contact.gender.is_empty() {
        about.push(("Gender".to_owned(), contact.gender.clone()));
    }
    if !contact.groups.is_empty() {
        about.push(("Groups".to_owned(), contact.groups.join(", ")));
    }
    let organizations: Vec<(String, String)> = contact
        .organizations
        .iter()
        .map(|o| {
            let parts: Vec<&str> = [&o.value.title, &o.value.name, &o.value.department].into_iter().filter(|p| !p.is_empty()).map(String::as_str).collect();
            (label_text(o), parts.join(" · "))
        })
        .collect();
    let ims = labelled(&contact.ims, |im| if im.service.is_empty() { im.handle.clone() } else { format!("{} ({})", im.handle, im.service) });
    let custom: Vec<(String, String)> = contact.custom.iter().map(|c| (c.label.clone(), c.value.clone())).collect();
    view! {
        <article class="contact" data-testid="contact">
            <header class="contact-head">
                {photo.map(|src| view! { <img class="photo" src=src alt="" data-testid="contact-photo" /> })}
                <h1 data-testid="contact-name">{contact.display_name.clone()}</h1>
            </header>
            {section("Name", "contact-name-parts", name_rows)}
            {section("Emails", "contact-emails", labelled(&contact.emails, Clone::clone))}
            {section("Phones", "contact-phones", labelled(&contact.phones, |p| p.raw.clone()))}
            {section("Addresses", "contact-addresses", labelled(&contact.addresses, |a| a.lines().join("\n")))}
            {section("Work", "contact-organizations", organizations)}
            {section("Dates and more", "contact-about", about)}
            {section("Websites", "contact-websites", labelled(&contact.websites, Clone::clone))}
            {section("Messaging", "contact-ims", ims)}
            {section("Related people", "contact-relations", labelled(&contact.relations, Clone::clone))}
            {(!contact.notes.is_empty()).then(|| view! {
                <section class="card-section" data-testid="contact-notes">
                    <h2>"Notes"</h2>
                    <p class="notes">{contact.notes.clone()}</p>
                </section>
            })}
            {section("Custom fields", "contact-custom", custom)}
        </article>
    }
}
