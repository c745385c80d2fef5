//! The undo button of the results, history and contact pages: it first asks
//! the server what the undo covers, says it ("This also undoes 2 imports and 5
//! edits"), and starts only once the person confirms that count.

use crate::api::imports::{restore_to, undo_operation};
use crate::error::ImportError;
use leptos::prelude::*;

/// What the button is showing.
#[derive(Clone, Debug, PartialEq)]
enum Stage {
    Idle,
    /// The server's count, and its sentence, awaiting the person's yes.
    Confirming { count: u64, message: String },
}

/// What an undo takes back.
#[derive(Clone, Debug, PartialEq)]
pub enum UndoTarget {
    /// An operation (an import's id is its operation's) and all after it.
    Operation(String),
    /// Everything since a moment (RFC 3339).
    Moment(Signal<String>),
}

/// Undoes an operation and everything after it.
#[component]
pub fn UndoOperation(#[prop(into)] op_id: String, #[prop(into)] label: String) -> impl IntoView {
    view! { <ConfirmedUndo target=UndoTarget::Operation(op_id) label /> }
}

#[component]
pub fn ConfirmedUndo(target: UndoTarget, #[prop(into)] label: String) -> impl IntoView {
    let stage = RwSignal::new(Stage::Idle);
    let failure = RwSignal::new(None::<String>);
    // The undo's own page, once it started: it shows the undo's progress.
    let started_at = super::common::navigate_when_set();
    let ask = Action::new(move |(target, confirm): &(UndoTarget, Option<u64>)| {
        let (target, confirm) = (target.clone(), *confirm);
        async move {
            let answer = match target {
                UndoTarget::Operation(op_id) => undo_operation(op_id, confirm).await,
                UndoTarget::Moment(at) => restore_to(at.get_untracked(), confirm).await,
            };
            match answer {
                Ok(started) => started_at.set(Some(format!("/imports/{}", started.import_id))),
                // The typed answer first: it carries the count to confirm.
                Err(error @ ImportError::ConfirmationNeeded { confirm, .. }) => {
                    stage.set(Stage::Confirming { count: confirm, message: error.to_string() });
                }
                Err(error) => {
                    stage.set(Stage::Idle);
                    failure.set(Some(error.to_string()));
                }
            }
        }
    });
    let first = target;
    view! {
        <div class="undo" data-testid="undo">
            {move || match stage.get() {
                Stage::Idle => {
                    let target = first.clone();
                    view! {
                        <button type="button" class="secondary" data-testid="undo-start" disabled=move || ask.pending().get()
                            on:click=move |_| { failure.set(None); ask.dispatch((target.clone(), None)); }>
                            {label.clone()}
                        </button>
                    }.into_any()
                }
                Stage::Confirming { count, message } => {
                    let target = first.clone();
                    view! {
                        <div class="notice" role="status">
                            <p data-testid="undo-covers">{message}</p>
                            <button type="button" data-testid="undo-confirm" disabled=move || ask.pending().get()
                                on:click=move |_| { ask.dispatch((target.clone(), Some(count))); }>
                                "Undo"
                            </button>
                            " "
                            <button type="button" class="secondary" on:click=move |_| stage.set(Stage::Idle)>"Keep it"</button>
                        </div>
                    }.into_any()
                }
            }}
            {move || failure.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
        </div>
    }
}
