//! `/contacts`: the user's contacts, searchable and paged; select and delete
//! some, or all that a search finds.

use super::common::RequireAccount;
use crate::api::imports::{delete_contacts, list_contacts};
use crate::error::ImportError;
use crate::model::{DeleteRequest, CONTACTS_PER_PAGE};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

#[component]
pub fn ContactsPage() -> impl IntoView {
    view! {
        <RequireAccount>
            <ContactsList />
        </RequireAccount>
    }
}

#[component]
fn ContactsList() -> impl IntoView {
    let query_map = use_query_map();
    let query = move || query_map.read().get("q").unwrap_or_default();
    // Pages count from 1, in the address as on the page.
    let page = move || query_map.read().get("page").and_then(|p| p.parse::<u32>().ok()).unwrap_or(1).max(1);
    let contacts = Resource::new(move || (query(), page()), |(q, page)| list_contacts(q, page));
    let selected = RwSignal::new(Vec::<i64>::new());
    // The count a deletion of all found asks to confirm.
    let confirming = RwSignal::new(None::<(u64, String)>);
    let started_at = super::common::navigate_when_set();
    let delete = Action::new(move |(request, confirm): &(DeleteRequest, Option<u64>)| {
        let (request, confirm) = (request.clone(), *confirm);
        async move {
            match delete_contacts(request, confirm).await {
                Ok(started) => {
                    started_at.set(Some(format!("/imports/{}", started.import_id)));
                    Ok(())
                }
                Err(error @ ImportError::ConfirmationNeeded { confirm, .. }) => {
                    confirming.set(Some((confirm, error.to_string())));
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
    });
    let all_found = move || DeleteRequest { ids: None, query: query() };
    view! {
        <h1>"Contacts"</h1>
        <form method="get" action="/contacts" class="search" role="search">
            <label for="q">"Search"</label>
            <input id="q" type="search" name="q" value=query placeholder="Name, email, phone, city, notes, group…" />
            <button type="submit">"Search"</button>
        </form>
        <p class="exports" data-testid="exports">
            "Export " {move || if query().is_empty() { "all contacts" } else { "the contacts found" }} ": "
            <a href=move || format!("/api/contacts/export.vcf?q={}", super::common::url_encode(&query())) download data-testid="export-vcf">"vCard 4.0"</a>
            " · "
            <a href=move || format!("/api/contacts/export.vcf?version=3.0&q={}", super::common::url_encode(&query())) download data-testid="export-vcf3">"vCard 3.0 (Apple)"</a>
            " · "
            <a href=move || format!("/api/contacts/export.csv?q={}", super::common::url_encode(&query())) download data-testid="export-csv">"Google CSV"</a>
        </p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match contacts.await {
                    Ok(found) => {
                        let pages = found.total.div_ceil(CONTACTS_PER_PAGE as u64).max(1) as u32;
                        let link = move |p: u32| format!("/contacts?q={}&page={p}", super::common::url_encode(&query()));
                        view! {
                            <p data-testid="contacts-total">{format!("{} contacts", found.total)}</p>
                            <p class="actions" data-testid="delete-actions">
                                <button type="button" class="secondary" data-testid="delete-selected"
                                    disabled=move || selected.with(Vec::is_empty) || delete.pending().get()
                                    on:click=move |_| { delete.dispatch((DeleteRequest { ids: Some(selected.get()), query: String::new() }, None)); }>
                                    {move || format!("Delete selected ({})", selected.with(Vec::len))}
                                </button>
                                " "
                                <button type="button" class="secondary" data-testid="delete-all" disabled=found.total == 0
                                    on:click=move |_| { delete.dispatch((all_found(), None)); }>
                                    {if query().is_empty() { "Delete all contacts…" } else { "Delete all found…" }}
                                </button>
                            </p>
                            {move || confirming.get().map(|(count, message)| view! {
                                <div class="notice" role="alert" data-testid="delete-confirmation">
                                    <p>{message}</p>
                                    <button type="button" class="danger" data-testid="delete-confirm"
                                        on:click=move |_| { delete.dispatch((all_found(), Some(count))); }>"Delete"</button>
                                    " "
                                    <button type="button" class="secondary" on:click=move |_| confirming.set(None)>"Keep them"</button>
                                </div>
                            })}
                            {move || delete.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
                            <div class="scroll">
                                <table data-testid="contacts">
                                    <thead>
                                        <tr>
                                            <th scope="col"><span class="visually-hidden">"Select"</span></th>
                                            <th scope="col">"Name"</th><th scope="col">"Email"</th><th scope="col">"Phone"</th>
                                            <th scope="col">"Organization"</th><th scope="col">"Title"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {found.contacts.into_iter().map(|c| {
                                            let id = c.id;
                                            view! {
                                            <tr>
                                                <td><input type="checkbox" aria-label=format!("Select {}", c.name) data-testid="select-contact"
                                                    prop:checked=move || selected.with(|s| s.contains(&id))
                                                    on:change=move |ev| {
                                                        let on = event_target_checked(&ev);
                                                        selected.update(|s| { s.retain(|x| *x != id); if on { s.push(id); } });
                                                    } /></td>
                                                <td><A href=format!("/contacts/{}", c.id)>{if c.name.is_empty() { "(no name)".to_owned() } else { c.name }}</A></td>
                                                <td>{c.emails.join(", ")}</td>
                                                <td>{c.phones.join(", ")}</td>
                                                <td>{c.organization}</td>
                                                <td>{c.title}</td>
                                            </tr>
                                        }}).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <nav class="pager" aria-label="Contact pages">
                                {(found.page > 1).then(|| view! { <a href=link(found.page - 1)>"Previous"</a> })}
                                <span>{format!("Page {} of {}", found.page, pages)}</span>
                                {(found.page < pages).then(|| view! { <a href=link(found.page + 1)>"Next"</a> })}
                            </nav>
                        }.into_any()
                    }
                    Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}
