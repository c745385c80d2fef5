//! The HTML shell, the router and the layout every page shares.

use crate::api::accounts::{current_account, SignOut};
use crate::pages::common::Session;
use crate::pages::{
    contact::ContactPage, contacts::ContactsPage, home::HomePage, import::ImportPage, import_status::ImportStatusPage,
    imports::ImportsPage, settings::SettingsPage, sign_in::SignInPage, sign_up::SignUpPage,
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/png" href="/favicon.png" />
                <HashedStylesheet options=options.clone() id="leptos" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let sign_out = ServerAction::<SignOut>::new();
    let account = Resource::new(move || sign_out.version().get(), |_| current_account());
    provide_context(Session(account));
    // Effects run only in the browser, after hydration: tests wait for this mark.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });

    view! {
        <Title text="Intake" />
        <Router>
            <header class="top">
                <A href="/" attr:class="brand">"Intake"</A>
                <nav aria-label="Main">
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            match account.await {
                                Ok(Some(me)) => view! {
                                    <A href="/import">"Import"</A>
                                    <A href="/imports">"History"</A>
                                    <A href="/contacts">"Contacts"</A>
                                    <A href="/settings">"Settings"</A>
                                    <span class="me" data-testid="account-email">{me.email}</span>
                                    <ActionForm action=sign_out attr:class="inline">
                                        <button type="submit" class="link">"Sign out"</button>
                                    </ActionForm>
                                }.into_any(),
                                _ => view! {
                                    <A href="/sign-in">"Sign in"</A>
                                    <A href="/sign-up">"Create account"</A>
                                }.into_any(),
                            }
                        })}
                    </Transition>
                </nav>
            </header>
            <main>
                <Routes fallback=|| view! { <h1>"Page not found"</h1> }>
                    <Route path=path!("/") view=HomePage />
                    <Route path=path!("/sign-in") view=SignInPage />
                    <Route path=path!("/sign-up") view=SignUpPage />
                    <Route path=path!("/import") view=ImportPage />
                    <Route path=path!("/imports") view=ImportsPage />
                    <Route path=path!("/imports/:id") view=ImportStatusPage />
                    <Route path=path!("/contacts") view=ContactsPage />
                    <Route path=path!("/contacts/:id") view=ContactPage />
                    <Route path=path!("/settings") view=SettingsPage />
                </Routes>
            </main>
        </Router>
    }
}
