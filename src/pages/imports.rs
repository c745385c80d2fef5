//! `/imports`: the history of the user's imports.

use super::common::RequireAccount;
use crate::api::imports::list_imports;
use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn ImportsPage() -> impl IntoView {
    view! {
        <RequireAccount>
            <ImportsList />
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
