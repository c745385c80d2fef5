//! `/imports/:id`: live progress, the counts, the row errors and cancel.

use super::common::{human_duration, RequireAccount};
use crate::api::imports::{cancel_import, import_errors, import_status};
use crate::model::ERRORS_PER_PAGE;
use crate::model::{ImportStatus, ImportView, JobKind};
use super::undo::UndoOperation;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// How often the page asks for progress while an import is active.
#[cfg(feature = "hydrate")]
const POLL_MILLIS: u32 = 1000;

#[component]
pub fn ImportStatusPage() -> impl IntoView {
    view! {
        <RequireAccount>
            <ImportStatusView />
        </RequireAccount>
    }
}

#[component]
fn ImportStatusView() -> impl IntoView {
    let params = use_params_map();
    let import_id = move || params.read().get("id").unwrap_or_default();
    let tick = RwSignal::new(0u32);
    let status = Resource::new(move || (import_id(), tick.get()), |(id, _)| import_status(id));
    let active = RwSignal::new(true);

    #[cfg(feature = "hydrate")]
    {
        let alive = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let still_alive = alive.clone();
        on_cleanup(move || still_alive.store(false, std::sync::atomic::Ordering::Relaxed));
        leptos::task::spawn_local(async move {
            let is_alive = || alive.load(std::sync::atomic::Ordering::Relaxed);
            while is_alive() {
                gloo_timers::future::TimeoutFuture::new(POLL_MILLIS).await;
                if is_alive() && active.get_untracked() {
                    tick.update(|t| *t += 1);
                }
            }
        });
    }

    let cancel = Action::new(move |id: &String| {
        let id = id.clone();
        async move {
            let result = cancel_import(id).await;
            tick.update(|t| *t += 1);
            result
        }
    });

    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(view) => {
                        active.set(view.status.is_active());
                        view! { <Progress view=view cancel=cancel /> }.into_any()
                    }
                    Err(error) => {
                        active.set(false);
                        view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any()
                    }
                }
            })}
        </Transition>
        {move || cancel.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        <RowErrors import_id=Signal::derive(import_id) refresh=tick />
    }
}

#[component]
fn Progress(view: ImportView, cancel: Action<String, Result<ImportView, crate::error::ImportError>>) -> impl IntoView {
    let percent = view.percent();
    let total = view.rows_total.map(|t| t.to_string()).unwrap_or_else(|| "?".to_owned());
    // What a job counts: an import its file's rows, an undo the changes it takes back.
    let unit = match view.kind {
        JobKind::Import => "rows",
        JobKind::Undo => "changes",
        JobKind::Delete => "contacts",
    };
    let rate = view.rows_per_second().map(|r| format!("{r:.0} {unit}/s"));
    let eta = view.eta_seconds().map(|s| format!("about {} left", human_duration(s)));
    let import_id = view.import_id.clone();
    let counts = view.counts;
    let reversal = view.reversal;
    let finished = !view.status.is_active();
    let is_import = view.kind == JobKind::Import;
    let title = if is_import { format!("Import of {}", view.file_name) } else { view.file_name.clone() };
    // What this job changed can be undone, with everything after it, once it ended.
    let undoable = finished && view.undone_by.is_none() && view.status != ImportStatus::Undone;
    let undo_label = if is_import { "Undo this import" } else if view.kind == JobKind::Undo { "Undo this undo" } else { "Undo this deletion" };
    view! {
        <h1>{title}</h1>
        <p class="status" data-testid="status" data-status=view.status.as_str()>{view.status.label()}</p>
        <progress
            max="100"
            value=percent.unwrap_or(0).to_string()
            aria-label="Import progress"
            aria-valuetext=format!("{} of {} {unit}", view.rows_done, total)
        >
            {format!("{} %", percent.unwrap_or(0))}
        </progress>
        <p data-testid="progress-text">
            {format!("{} of {} {unit}", view.rows_done, total)}
            {percent.map(|p| format!(" ({p} %)"))}
            {rate.map(|r| format!(" · {r}"))}
            {eta.map(|e| format!(" · {e}"))}
        </p>
        {view.failure_reason.clone().map(|reason| view! { <p class="error" role="alert">{reason}</p> })}
        {view.undone_by.clone().map(|undo| view! {
            <p class="notice" data-testid="undone-by">"Undone by " <a href=format!("/imports/{undo}")>"this undo"</a> ". Import the file again to redo it."</p>
        })}
        {(!is_import).then(|| view! {
            <dl class="counts" data-testid="reversal">
                <div><dt>"Brought back"</dt><dd data-testid="count-restored">{reversal.restored}</dd></div>
                <div><dt>"Given their earlier values"</dt><dd data-testid="count-reverted">{reversal.reverted}</dd></div>
                <div><dt>"Removed"</dt><dd data-testid="count-removed">{reversal.removed}</dd></div>
            </dl>
        })}
        {undoable.then(|| view! { <UndoOperation op_id=import_id.clone() label=undo_label /> })}
        <Show when=move || finished && is_import>
            <dl class="counts" data-testid="counts">
                <div><dt>"Created"</dt><dd data-testid="count-created">{counts.created}</dd></div>
                <div><dt>"Updated"</dt><dd data-testid="count-updated">{counts.updated}</dd></div>
                <div><dt>"Unchanged"</dt><dd data-testid="count-unchanged">{counts.unchanged}</dd></div>
                <div><dt>"Rejected"</dt><dd data-testid="count-rejected">{counts.rejected}</dd></div>
                <div><dt>"Skipped"</dt><dd data-testid="count-skipped">{counts.skipped}</dd></div>
                <div><dt>"Merged"</dt><dd data-testid="count-merged">{counts.merged}</dd></div>
                <div><dt>"With warnings"</dt><dd data-testid="count-warned">{counts.warned}</dd></div>
                <div><dt>"Values kept beside another"</dt><dd data-testid="count-kept-beside">{counts.kept_beside}</dd></div>
            </dl>
        </Show>
        {(view.status == ImportStatus::Processing || view.status == ImportStatus::Queued).then(|| {
            let id = import_id.clone();
            view! {
                <button
                    type="button"
                    class="secondary"
                    disabled=move || view.cancel_requested || cancel.pending().get()
                    on:click=move |_| { cancel.dispatch(id.clone()); }
                >
                    {if view.cancel_requested { "Cancelling after this batch…" } else { "Cancel import" }}
                </button>
            }
        })}
    }
}

#[component]
fn RowErrors(import_id: Signal<String>, refresh: RwSignal<u32>) -> impl IntoView {
    // Pages are read by key: the `after` line of each page before this one.
    let cursors = RwSignal::new(Vec::<u64>::new());
    let errors = Resource::new(
        move || (import_id.get(), cursors.get().last().copied(), refresh.get()),
        |(id, after, _)| import_errors(id, after),
    );
    view! {
        <section aria-labelledby="errors-title">
            <h2 id="errors-title">"Rows with errors or warnings"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let found = match errors.await {
                        Ok(found) => found,
                        Err(error) => return view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    };
                    if found.total == 0 {
                        return view! { <p class="muted">"None so far."</p> }.into_any();
                    }
                    let pages = found.stored.div_ceil(ERRORS_PER_PAGE as u64).max(1);
                    let page = cursors.with_untracked(Vec::len) as u64 + 1;
                    let next_after = found.next_after;
                    let not_stored = found.not_stored();
                    view! {
                        <p>
                            {format!("{} {}", found.total, if found.total == 1 { "row" } else { "rows" })}
                            {(not_stored > 0).then(|| format!(" (the first {} are listed, and {} more)", found.stored, not_stored))}
                            " · "
                            <a href=format!("/api/imports/{}/errors.csv", import_id.get_untracked()) download data-testid="error-report">
                                "Download the report (CSV)"
                            </a>
                        </p>
                        <table class="errors" data-testid="row-errors">
                            <thead><tr><th scope="col">"Line"</th><th scope="col">"What happened"</th><th scope="col">"Reason"</th></tr></thead>
                            <tbody>
                                {found.errors.into_iter().map(|e| view! {
                                    <tr class:warning=e.warning>
                                        <td>{e.line}</td>
                                        <td>{if e.warning { "Imported, with a warning" } else { "Not imported" }}</td>
                                        <td>{e.reason}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        <nav class="pager" aria-label="Row error pages">
                            <button type="button" class="secondary" disabled=page == 1 on:click=move |_| cursors.update(|c| { c.pop(); })>"Previous"</button>
                            <span>{format!("Page {page} of {pages}")}</span>
                            <button type="button" class="secondary" disabled=next_after.is_none() on:click=move |_| {
                                if let Some(after) = next_after {
                                    cursors.update(|c| c.push(after));
                                }
                            }>"Next"</button>
                        </nav>
                    }.into_any()
                })}
            </Transition>
        </section>
    }
}
