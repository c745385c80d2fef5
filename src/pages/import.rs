//! `/import`: choose a file, check the preview and mapping, start the import.

use super::common::RequireAccount;
use crate::api::imports::{running_import, start_import};
use crate::domain::mapping::{Mapping, Target};
use crate::domain::preview::MappingSummary;
use crate::error::{already_running_message, human_bytes, ImportError};
use crate::model::UploadPreview;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

#[component]
pub fn ImportPage() -> impl IntoView {
    view! {
        <RequireAccount>
            <ImportFlow />
        </RequireAccount>
    }
}

/// An import error as the user should read it: a running import is news, not a failure.
#[component]
pub fn ImportErrorMessage(error: ImportError) -> impl IntoView {
    match error {
        ImportError::AlreadyRunning { elapsed_minutes, import_id } => view! {
            <div class="notice" role="status" data-testid="already-running">
                <p>{already_running_message(elapsed_minutes)}</p>
                <A href=format!("/imports/{import_id}")>"See its progress"</A>
            </div>
        }
        .into_any(),
        other => view! { <p class="error" role="alert">{other.to_string()}</p> }.into_any(),
    }
}

#[component]
fn ImportFlow() -> impl IntoView {
    let running = Resource::new(|| (), |_| running_import());
    let chosen_name = RwSignal::new(None::<(String, f64)>);
    let preview = RwSignal::new(None::<UploadPreview>);
    let mapping = RwSignal::new(Mapping::default());
    let error = RwSignal::new(None::<ImportError>);
    let busy = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    let chosen_file = StoredValue::new_local(None::<web_sys::File>);

    let choose = move |file: Option<Files>| {
        error.set(None);
        #[cfg(feature = "hydrate")]
        {
            let file = file.and_then(|f| f.0);
            chosen_name.set(file.as_ref().map(|f| (f.name(), f.size())));
            chosen_file.set_value(file);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = file;
    };

    let upload = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let Some(file) = chosen_file.get_value() else { return };
            busy.set(true);
            error.set(None);
            leptos::task::spawn_local(async move {
                let form = web_sys::FormData::new().expect("FormData");
                if form.append_with_blob_and_filename("file", &file, &file.name()).is_ok() {
                    match crate::api::imports::upload_file(form.into()).await {
                        Ok(found) => {
                            mapping.set(found.mapping.clone());
                            preview.set(Some(found));
                        }
                        Err(failure) => error.set(Some(failure)),
                    }
                }
                busy.set(false);
            });
        }
    };

    let navigate = use_navigate();
    let start = move |_| {
        let Some(found) = preview.get_untracked() else { return };
        let navigate = navigate.clone();
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match start_import(found.upload_id, mapping.get_untracked()).await {
                Ok(started) => navigate(&format!("/imports/{}", started.import_id), Default::default()),
                Err(failure) => {
                    running.refetch();
                    error.set(Some(failure));
                }
            }
            busy.set(false);
        });
    };

    let back = move |_| {
        preview.set(None);
        error.set(None);
    };

    let choose_sheet = move |sheet: String| {
        let Some(found) = preview.get_untracked() else { return };
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match crate::api::imports::choose_sheet(found.upload_id, sheet).await {
                Ok(found) => {
                    mapping.set(found.mapping.clone());
                    preview.set(Some(found));
                }
                Err(failure) => error.set(Some(failure)),
            }
            busy.set(false);
        });
    };

    view! {
        <h1>"Import contacts"</h1>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                running.await.ok().flatten().map(|active| view! {
                    <div class="notice" role="status" data-testid="running-banner">
                        <p>
                            "An import of " <strong>{active.file_name.clone()}</strong> " is running"
                            {active.percent().map(|p| format!(" ({p} %)")).unwrap_or_default()} ". "
                            "A new one can start when it is done."
                        </p>
                        <A href=format!("/imports/{}", active.import_id)>"See its progress"</A>
                    </div>
                })
            })}
        </Transition>
        <Show
            when=move || preview.with(Option::is_none)
            fallback=move || {
                let start = start.clone();
                // A chosen sheet brings a new preview: draw it anew.
                move || {
                    preview.track();
                    view! {
                        <Preview preview=preview mapping=mapping busy=busy on_start=start.clone() on_back=back on_sheet=choose_sheet />
                    }
                    .into_any()
                }
            }
        >
            <FilePicker chosen_name=chosen_name busy=busy on_choose=choose on_upload=upload />
        </Show>
        {move || error.get().map(|error| view! { <ImportErrorMessage error /> })}
    }
}

/// The files a picker or a drop produced; only the browser build can hold one.
pub struct Files(#[cfg(feature = "hydrate")] Option<web_sys::File>);

#[component]
fn FilePicker(
    chosen_name: RwSignal<Option<(String, f64)>>,
    busy: RwSignal<bool>,
    on_choose: impl Fn(Option<Files>) + Copy + 'static,
    on_upload: impl Fn(()) + Copy + 'static,
) -> impl IntoView {
    let dragging = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    let picked = move |ev: leptos::ev::Event| {
        use wasm_bindgen::JsCast;
        let input: web_sys::HtmlInputElement = ev.target().expect("target").unchecked_into();
        on_choose(Some(Files(input.files().and_then(|files| files.get(0)))));
    };
    #[cfg(not(feature = "hydrate"))]
    let picked = move |_: leptos::ev::Event| on_choose(None);
    #[cfg(feature = "hydrate")]
    let dropped = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        let file = ev.data_transfer().and_then(|t| t.files()).and_then(|files| files.get(0));
        on_choose(Some(Files(file)));
    };
    #[cfg(not(feature = "hydrate"))]
    let dropped = move |_: leptos::ev::DragEvent| on_choose(None);

    view! {
        <section
            class="dropzone"
            class:dragging=move || dragging.get()
            on:dragover=move |ev| {
                ev.prevent_default();
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=dropped
        >
            <label for="file">"Choose a contacts export (.csv, .tsv, .txt, .vcf, .xlsx, .xls or .ods), or drop it here"</label>
            <input id="file" type="file" name="file" accept=".csv,.tsv,.txt,.vcf,.vcard,.xlsx,.xls,.ods,text/csv,text/plain,text/vcard,text/x-vcard" on:change=picked />
            {move || chosen_name.get().map(|(name, size)| view! {
                <p data-testid="chosen-file">{name} " — " {human_bytes(size as u64)}</p>
            })}
            <button
                type="button"
                disabled=move || busy.get() || chosen_name.with(Option::is_none)
                on:click=move |_| on_upload(())
            >
                {move || if busy.get() { "Uploading…" } else { "Upload and preview" }}
            </button>
        </section>
    }
}

#[component]
fn Preview(
    preview: RwSignal<Option<UploadPreview>>,
    mapping: RwSignal<Mapping>,
    busy: RwSignal<bool>,
    on_start: impl Fn(()) + Clone + 'static,
    on_back: impl Fn(()) + Copy + 'static,
    on_sheet: impl Fn(String) + Copy + 'static,
) -> impl IntoView {
    let found = preview.get_untracked().expect("preview shown only when present");
    let columns = found.columns.clone();
    let shared = found.shared_choices.clone();
    let is_vcard = found.is_vcard;
    // Type-erased: the preview's view type is otherwise too deep for the compiler.
    let facts = view! {
        <dl class="facts">
            <dt>"File"</dt><dd data-testid="file-format">{found.format.clone()}</dd>
            {(found.sheets.len() > 1).then(|| {
                let chosen = found.sheet.clone().unwrap_or_default();
                view! {
                    <dt><label for="sheet">"Sheet"</label></dt>
                    <dd>
                        <select id="sheet" data-testid="sheet" disabled=move || busy.get() on:change=move |ev| on_sheet(event_target_value(&ev))>
                            {found.sheets.iter().map(|name| view! {
                                <option value=name.clone() selected=*name == chosen>{name.clone()}</option>
                            }).collect_view()}
                        </select>
                    </dd>
                }
            })}
            <dt>"Format"</dt><dd data-testid="preset">{found.preset.clone()}</dd>
            {(!found.encoding.is_empty()).then(|| view! {
                <dt>"Encoding"</dt><dd data-testid="encoding">{found.encoding.clone()}</dd>
            })}
            {(!found.delimiter.is_empty()).then(|| view! {
                <dt>"Delimiter"</dt><dd data-testid="delimiter">{found.delimiter.clone()}</dd>
            })}
            {(found.header_line > 0).then(|| view! {
                <dt>"Header row"</dt><dd>"line " {found.header_line}</dd>
            })}
            <dt>{if found.is_vcard { "Cards" } else { "Rows" }}</dt><dd data-testid="data-rows">{found.data_rows}</dd>
            <dt>"Size"</dt><dd>{human_bytes(found.byte_size)}</dd>
        </dl>
    }
    .into_any();
    view! {
        <section aria-labelledby="preview-title" data-testid="preview">
            <h2 id="preview-title">"Preview of " {found.file_name.clone()}</h2>
            {facts}
            <p class="summary" data-testid="mapping-summary" role="status">
                {move || mapping.with(|m| MappingSummary::of(m, is_vcard).sentence())}
            </p>
            <table class="mapping">
                <caption>{if is_vcard { "Where each kind of vCard property goes" } else { "Where each column goes" }}</caption>
                <thead>
                    <tr>
                        <th scope="col">{if is_vcard { "Property" } else { "Column" }}</th>
                        <th scope="col">"Examples"</th>
                        {is_vcard.then(|| view! { <th scope="col">"Cards"</th> })}
                        <th scope="col">"Goes to"</th>
                    </tr>
                </thead>
                <tbody>
                    {columns.into_iter().enumerate().map(|(column, preview)| {
                        let id = format!("map-{column}");
                        view! {
                            <tr data-testid=format!("column-{column}")>
                                <th scope="row"><label for=id.clone()>{preview.header.clone()}</label></th>
                                <td class="samples">{preview.samples.join(" · ")}</td>
                                {preview.cards.map(|cards| view! { <td class="count">{format!("{cards} cards")}</td> })}
                                <td>
                                    <select
                                        id=id
                                        data-testid=format!("mapping-{column}")
                                        on:change=move |ev| {
                                            if let Some(target) = Target::from_key(&event_target_value(&ev)) {
                                                mapping.update(|m| if let Some(slot) = m.columns.get_mut(column) { *slot = target });
                                            }
                                        }
                                    >
                                        {preview.choices.into_iter().chain(shared.iter().cloned()).map(|(key, words)| {
                                            let this = key.clone();
                                            view! {
                                                <option
                                                    value=key
                                                    selected=move || mapping.with(|m| m.columns.get(column).is_some_and(|t| t.key() == this))
                                                >
                                                    {words}
                                                </option>
                                            }
                                        }).collect_view()}
                                    </select>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <p class="actions">
                <button type="button" disabled=move || busy.get() on:click=move |_| on_start(())>
                    "Start import"
                </button>
                <button type="button" class="secondary" on:click=move |_| on_back(())>"Back"</button>
            </p>
        </section>
    }
}
