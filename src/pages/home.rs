use super::common::Session;
use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn HomePage() -> impl IntoView {
    let Session(account) = expect_context::<Session>();
    view! {
        <section class="hero">
            <h1>"Bring your contacts home"</h1>
            <p>
                "Intake imports the contacts you exported from Google Contacts, Outlook, LinkedIn or any "
                "spreadsheet. It recognises the format, shows you a preview, merges duplicates, and never "
                "creates the same contact twice."
            </p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match account.await {
                        Ok(Some(_)) => view! { <A href="/import" attr:class="button">"Import a file"</A> }.into_any(),
                        _ => view! {
                            <p class="actions">
                                <A href="/sign-up" attr:class="button">"Create an account"</A>
                                " or "
                                <A href="/sign-in">"sign in"</A>
                            </p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
