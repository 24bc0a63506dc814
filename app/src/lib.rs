//! # blindfold-app
//!
//! Blindfold's user interface, one Leptos app rendered on the server (`ssr`, through
//! leptos_axum) and hydrated in the browser (`hydrate`). The pages talk to the JSON API with
//! the session cookie; all cryptography runs in the crypto worker (see [`crypto`]), so the
//! client key and the plaintext features never leave the browser tab.

pub mod api;
pub mod assets;
pub mod client;
pub mod components;
pub mod crypto;
pub mod error;
pub mod flow;
pub mod pages;
pub mod security;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::api::{ModelSummary, SessionInfo};
use crate::assets::{PageAssets, WORKER_META};
use crate::components::{NavBar, RequireLogin};
use crate::error::AppResult;
use crate::pages::{
    AccountPage, HistoryPage, HomePage, KeysPage, LoginPage, ModelPage, ModelsPage, NotFound, PredictPage, SignupPage,
};

/// The document around the app, rendered on the server only. The stylesheet and the page
/// bundle are linked under the content-hashed names that leptos reads from the site's manifest
/// (`options.hash_files`), and the crypto worker's URL goes into a `<meta>` tag (see
/// [`assets`]): all three may be kept by browsers for good.
pub fn shell(options: LeptosOptions, assets: PageAssets) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name=WORKER_META content=assets.worker_script />
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Who is logged in, for every component: set from the request on the server, carried into the
/// browser with the page, and updated by logging in and out.
#[derive(Clone, Copy)]
pub struct Auth(pub RwSignal<Option<SessionInfo>>);

pub fn use_auth() -> RwSignal<Option<SessionInfo>> {
    expect_context::<Auth>().0
}

/// The model the Predict page works on. Keys are not per model: the Keys page makes the user's
/// one key pair with this model's spec for its parameter set, which every model shares.
#[derive(Clone, Copy)]
pub struct SelectedModel(pub RwSignal<String>);

pub fn use_selected_model() -> RwSignal<String> {
    expect_context::<SelectedModel>().0
}

/// Whether the page's code runs: false in the server's HTML and while the browser hydrates it,
/// true from the first effect on. Forms stay disabled until then, since a submit before it
/// would miss the page's handler and what was typed would miss its signals.
#[derive(Clone, Copy)]
pub struct Hydrated(pub ReadSignal<bool>);

pub fn use_hydrated() -> ReadSignal<bool> {
    expect_context::<Hydrated>().0
}

/// The model catalogue, loaded once in the browser and shared by Home (its cards), Keys,
/// Predict and History; the Models page reloads it when a model is published or unpublished.
/// It is for logged-in users only, so it loads when someone logs in; nothing is fetched for a
/// visitor.
#[derive(Clone, Copy)]
pub struct Models(pub LocalResource<AppResult<Vec<ModelSummary>>>);

impl Models {
    fn load(auth: RwSignal<Option<SessionInfo>>) -> Self {
        Self(LocalResource::new(move || {
            let logged_in = auth.with(Option::is_some);
            async move {
                if !logged_in {
                    return Ok(Vec::new());
                }
                Ok(client::models().await?)
            }
        }))
    }

    /// The catalogue; empty until it has loaded (tracked).
    pub fn list(self) -> Vec<ModelSummary> {
        self.0.get().and_then(Result::ok).unwrap_or_default()
    }

    /// The catalogue's entry for a model, once loaded (tracked).
    pub fn find(self, id: &str) -> Option<ModelSummary> {
        self.0
            .with(|loaded| loaded.as_ref()?.as_ref().ok()?.iter().find(|m| m.id == id).cloned())
    }
}

pub fn use_models() -> Models {
    expect_context::<Models>()
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    security::set_content_security_policy();
    let session = SharedValue::new(request_session).into_inner();
    let auth = RwSignal::new(session);
    provide_context(Auth(auth));
    provide_context(Models::load(auth));
    provide_context(SelectedModel(RwSignal::new(blindfold_api::DEFAULT_MODEL_ID.to_owned())));
    let (hydrated, set_hydrated) = signal(false);
    // In the browser, after hydration. Not on the server, which renders the app outside a
    // task set for its route list (and may be built with the `hydrate` feature too, when one
    // cargo run builds the whole workspace).
    #[cfg(target_arch = "wasm32")]
    Effect::new(move || set_hydrated.set(true));
    #[cfg(not(target_arch = "wasm32"))]
    let _ = set_hydrated;
    provide_context(Hydrated(hydrated));

    view! {
        <Title text="Blindfold" />
        <Router>
            <NavBar />
            <main class="container py-4">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage />
                    <Route path=path!("/signup") view=SignupPage />
                    <Route path=path!("/login") view=LoginPage />
                    <Route path=path!("/keys") view=|| view! { <RequireLogin><KeysPage /></RequireLogin> } />
                    <Route path=path!("/predict") view=|| view! { <RequireLogin><PredictPage /></RequireLogin> } />
                    <Route path=path!("/history") view=|| view! { <RequireLogin><HistoryPage /></RequireLogin> } />
                    <Route path=path!("/account") view=|| view! { <RequireLogin><AccountPage /></RequireLogin> } />
                    <Route path=path!("/models") view=|| view! { <RequireLogin><ModelsPage /></RequireLogin> } />
                    <Route path=path!("/models/:id") view=|| view! { <RequireLogin><ModelPage /></RequireLogin> } />
                </Routes>
            </main>
        </Router>
    }
}

/// The session the server resolved for this page request.
fn request_session() -> Option<SessionInfo> {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<api::RequestSession>().cloned())
            .and_then(|session| session.0)
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}
