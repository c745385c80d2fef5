//! `/imports`: the history of the user's imports and jobs, and every change
//! to their contacts that an undo can still take back.

use super::common::RequireAccount;
use super::undo::UndoOperation;
use crate::api::imports::{history, list_imports};
use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn ImportsPage() -> impl IntoView {
    view! {
        <RequireAccount>
            <ImportsList />
            <Operations />
        </RequireAccount>
    }
}

#[component]
fn ImportsList() -> impl IntoView {
    let imports = Resource::new(|| (), |_| list_imports());
    view! {
        <h1>"Your imports"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match imports.await {
                    Ok(list) if list.is_empty() => view! {
                        <p>"No imports yet. " <A href="/import">"Import a file"</A></p>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="scroll">
                            <table data-testid="imports">
                                <thead>
                                    <tr>
                                        <th scope="col">"File"</th><th scope="col">"Started"</th><th scope="col">"Status"</th>
                                        <th scope="col">"Created"</th><th scope="col">"Updated"</th><th scope="col">"Unchanged"</th>
                                        <th scope="col">"Rejected"</th><th scope="col">"Skipped"</th><th scope="col">"Merged"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|i| view! {
                                        <tr>
                                            <td><A href=format!("/imports/{}", i.import_id)>{i.file_name}</A></td>
                                            <td>{i.created_at.format("%Y-%m-%d %H:%M UTC").to_string()}</td>
                                            <td>{i.status.label()}</td>
                                            <td>{i.counts.created}</td><td>{i.counts.updated}</td><td>{i.counts.unchanged}</td>
                                            <td>{i.counts.rejected}</td><td>{i.counts.skipped}</td><td>{i.counts.merged}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Operations() -> impl IntoView {
    let operations = Resource::new(|| (), |_| history());
    view! {
        <section aria-labelledby="history-title">
            <h2 id="history-title">"Changes you can undo"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match operations.await {
                        Ok(found) => view! {
                            <p data-testid="history-reach">{match found.reaches_back_to {
                                Some(at) => format!("Undo reaches back to {}.", at.format("%Y-%m-%d %H:%M UTC")),
                                None => "Nothing to undo yet.".to_owned(),
                            }}</p>
                            <ul class="operations" data-testid="operations">
                                {found.operations.into_iter().map(|op| {
                                    let undone = op.undone_by.is_some();
                                    view! {
                                        <li data-kind=op.kind.as_str() data-undone=undone.to_string()>
                                            <span>{op.label.clone()}</span>
                                            " · " <span>{op.started_at.format("%Y-%m-%d %H:%M UTC").to_string()}</span>
                                            " · " <span>{if op.changes == 1 { "1 change".to_owned() } else { format!("{} changes", op.changes) }}</span>
                                            {if undone {
                                                view! { " · " <strong>"Undone"</strong> }.into_any()
                                            } else {
                                                view! { <UndoOperation op_id=op.op_id.clone() label="Undo this and everything after" /> }.into_any()
                                            }}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
