//! `/contacts/:id`: one contact, every field with its label; edit it, or delete it.

use super::common::RequireAccount;
use super::undo::UndoOperation;
use crate::api::imports::{contact_for_edit, delete_contact, edit_contact, get_contact};
use crate::domain::edit::{ContactForm as Form, LabeledText};
use crate::error::ImportError;
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
    let saved = RwSignal::new(0u32);
    let contact = Resource::new(move || (id(), saved.get()), |(id, _)| async move {
        match id {
            Some(id) => get_contact(id).await,
            None => Err(ImportError::NotFound),
        }
    });
    let editing = RwSignal::new(false);
    let deleted = RwSignal::new(None::<String>);
    let delete = Action::new(move |id: &i64| {
        let id = *id;
        async move {
            match delete_contact(id).await {
                Ok(op_id) => {
                    deleted.set(Some(op_id));
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
    });
    let confirm_delete = RwSignal::new(false);
    view! {
        <p><A href="/contacts">"← All contacts"</A></p>
        {move || match deleted.get() {
            Some(op_id) => view! {
                <div class="notice" role="status" data-testid="contact-deleted">
                    <p>"The contact was deleted."</p>
                    <UndoOperation op_id label="Undo the deletion" />
                </div>
            }.into_any(),
            None => view! {
                <Show when=move || !editing.get() fallback=move || view! {
                    {move || id().map(|id| view! { <EditForm id editing saved /> })}
                }>
                    <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match contact.await {
                                Ok(sheet) => view! { <Sheet sheet /> }.into_any(),
                                Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                            }
                        })}
                    </Transition>
                    <p class="actions">
                        <button type="button" data-testid="contact-edit" on:click=move |_| editing.set(true)>"Edit"</button>
                        " "
                        {move || if confirm_delete.get() {
                            view! {
                                <span role="status">"Delete this contact? "</span>
                                <button type="button" class="danger" data-testid="contact-delete-confirm"
                                    disabled=move || delete.pending().get()
                                    on:click=move |_| { if let Some(id) = id() { delete.dispatch(id); } }>"Delete"</button>
                                " "
                                <button type="button" class="secondary" on:click=move |_| confirm_delete.set(false)>"Keep it"</button>
                            }.into_any()
                        } else {
                            view! {
                                <button type="button" class="secondary" data-testid="contact-delete" on:click=move |_| confirm_delete.set(true)>"Delete"</button>
                            }.into_any()
                        }}
                    </p>
                    {move || delete.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
                </Show>
            }.into_any(),
        }}
    }
}

/// A text input bound to one field of the form.
fn field(form: RwSignal<Form>, label: &'static str, test_id: String, get: fn(&Form) -> String, set: fn(&mut Form, String)) -> AnyView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input data-testid=test_id prop:value=move || form.with(get) on:input=move |ev| form.update(|f| set(f, event_target_value(&ev))) />
        </label>
    }
    .into_any()
}

/// A list of labelled values (emails, phones, websites) with a row per value.
fn labeled_list(
    form: RwSignal<Form>,
    title: &'static str,
    kind: &'static str,
    rows: fn(&mut Form) -> &mut Vec<LabeledText>,
) -> AnyView {
    let count = move || form.with(|f| rows(&mut f.clone()).len());
    view! {
        <fieldset data-testid=format!("edit-{kind}")>
            <legend>{title}</legend>
            {move || (0..count()).map(|i| view! {
                <div class="labeled-row">
                    <input aria-label=format!("{title} {}", i + 1) data-testid=format!("edit-{kind}-{i}")
                        prop:value=move || form.with(|f| rows(&mut f.clone()).get(i).map(|r| r.value.clone()).unwrap_or_default())
                        on:input=move |ev| form.update(|f| if let Some(r) = rows(f).get_mut(i) { r.value = event_target_value(&ev) }) />
                    <input aria-label=format!("Label of {title} {}", i + 1) data-testid=format!("edit-{kind}-{i}-label") placeholder="label"
                        prop:value=move || form.with(|f| rows(&mut f.clone()).get(i).map(|r| r.label.clone()).unwrap_or_default())
                        on:input=move |ev| form.update(|f| if let Some(r) = rows(f).get_mut(i) { r.label = event_target_value(&ev) }) />
                    <button type="button" class="link" on:click=move |_| form.update(|f| { if i < rows(f).len() { rows(f).remove(i); } })>"Remove"</button>
                </div>
            }).collect_view()}
            <button type="button" class="link" data-testid=format!("edit-{kind}-add") on:click=move |_| form.update(|f| rows(f).push(LabeledText::default()))>
                {format!("Add {}", kind.trim_end_matches('s'))}
            </button>
        </fieldset>
    }
    .into_any()
}

#[component]
fn EditForm(id: i64, editing: RwSignal<bool>, saved: RwSignal<u32>) -> impl IntoView {
    let stored = Resource::new(move || id, contact_for_edit);
    let form = RwSignal::new(Form::default());
    let taken = RwSignal::new(None::<String>);
    let save = Action::new(move |merge: &bool| {
        let merge = *merge;
        let edited = form.get_untracked();
        async move {
            match edit_contact(id, edited, merge).await {
                Ok(_) => {
                    taken.set(None);
                    editing.set(false);
                    saved.update(|n| *n += 1);
                    Ok(())
                }
                // The typed answer first: it offers the merge.
                Err(error @ ImportError::IdentityTaken { .. }) => {
                    taken.set(Some(error.to_string()));
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
    });
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match stored.await {
                    Ok(fields) => {
                        form.set(fields);
                        view! {
                            <form class="edit-contact" data-testid="edit-form" on:submit=move |ev| { ev.prevent_default(); save.dispatch(false); }>
                                <h1>"Edit contact"</h1>
                                {field(form, "Display name", "edit-display-name".into(), |f| f.display_name.clone(), |f, v| f.display_name = v)}
                                {field(form, "Given name", "edit-given".into(), |f| f.given.clone(), |f, v| f.given = v)}
                                {field(form, "Family name", "edit-family".into(), |f| f.family.clone(), |f, v| f.family = v)}
                                {labeled_list(form, "Emails", "emails", |f| &mut f.emails)}
                                {labeled_list(form, "Phones", "phones", |f| &mut f.phones)}
                                {labeled_list(form, "Websites", "websites", |f| &mut f.websites)}
                                <fieldset data-testid="edit-addresses">
                                    <legend>"Addresses"</legend>
                                    {move || (0..form.with(|f| f.addresses.len())).map(|i| view! {
                                        <div class="labeled-row">
                                            {part_input(form, i, "Street", |f, i| f.addresses.get_mut(i).map(|a| &mut a.0.street))}
                                            {part_input(form, i, "City", |f, i| f.addresses.get_mut(i).map(|a| &mut a.0.city))}
                                            {part_input(form, i, "Region", |f, i| f.addresses.get_mut(i).map(|a| &mut a.0.region))}
                                            {part_input(form, i, "Postal code", |f, i| f.addresses.get_mut(i).map(|a| &mut a.0.postal_code))}
                                            {part_input(form, i, "Country", |f, i| f.addresses.get_mut(i).map(|a| &mut a.0.country))}
                                            {part_input(form, i, "Label", |f, i| f.addresses.get_mut(i).map(|a| &mut a.1))}
                                        </div>
                                    }).collect_view()}
                                    <button type="button" class="link" on:click=move |_| form.update(|f| f.addresses.push(Default::default()))>"Add address"</button>
                                </fieldset>
                                <fieldset data-testid="edit-organizations">
                                    <legend>"Organizations"</legend>
                                    {move || (0..form.with(|f| f.organizations.len())).map(|i| view! {
                                        <div class="labeled-row">
                                            {part_input(form, i, "Organization", |f, i| f.organizations.get_mut(i).map(|o| &mut o.0.name))}
                                            {part_input(form, i, "Department", |f, i| f.organizations.get_mut(i).map(|o| &mut o.0.department))}
                                            {part_input(form, i, "Title", |f, i| f.organizations.get_mut(i).map(|o| &mut o.0.title))}
                                        </div>
                                    }).collect_view()}
                                    <button type="button" class="link" on:click=move |_| form.update(|f| f.organizations.push(Default::default()))>"Add organization"</button>
                                </fieldset>
                                {field(form, "Groups (comma-separated)", "edit-groups".into(), |f| f.groups.clone(), |f, v| f.groups = v)}
                                <label class="field">
                                    <span>"Notes"</span>
                                    <textarea data-testid="edit-notes" prop:value=move || form.with(|f| f.notes.clone())
                                        on:input=move |ev| form.update(|f| f.notes = event_target_value(&ev))></textarea>
                                </label>
                                <p class="muted">"Birthday, dates, relations, handles and custom fields stay as they are; the API (PATCH /api/contacts/{id}) edits every field."</p>
                                <p class="actions">
                                    <button type="submit" data-testid="edit-save" disabled=move || save.pending().get()>"Save"</button>
                                    " "
                                    <button type="button" class="secondary" on:click=move |_| editing.set(false)>"Cancel"</button>
                                </p>
                            </form>
                        }.into_any()
                    }
                    Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
        {move || taken.get().map(|message| view! {
            <div class="notice" role="alert" data-testid="identity-taken">
                <p>{message}</p>
                <button type="button" data-testid="edit-merge" on:click=move |_| { save.dispatch(true); }>"Merge them"</button>
            </div>
        })}
        {move || save.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}

/// An input bound to one part of the `i`th address or organization of the form.
fn part_input(form: RwSignal<Form>, i: usize, label: &'static str, part: fn(&mut Form, usize) -> Option<&mut String>) -> AnyView {
    view! {
        <input aria-label=label placeholder=label
            prop:value=move || form.with(|f| part(&mut f.clone(), i).map(|p| p.clone()).unwrap_or_default())
            on:input=move |ev| form.update(|f| if let Some(p) = part(f, i) { *p = event_target_value(&ev) }) />
    }
    .into_any()
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
