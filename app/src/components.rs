//! Pieces shared by several pages.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

use crate::api::SessionInfo;
use crate::flow::Progress;
use crate::{client, use_auth, use_models, use_selected_model};

/// [`Action::new_local`] for a function that captures only `Copy` handles (signals, other
/// actions, [`Models`](crate::Models)); everything else travels in the action's input.
///
/// `new_local` keeps its function in a `SendWrapper`, which panics when dropped on another
/// thread than the one that made it if it holds anything to drop. Server rendering creates the
/// page's actions too and may drop the page on another thread (leptos-rs/leptos#4402); a `Copy`
/// function holds nothing to drop.
pub fn local_action<I, O, Fu>(action_fn: impl Fn(&I) -> Fu + Copy + 'static) -> Action<I, O>
where
    I: 'static,
    O: 'static,
    Fu: Future<Output = O> + 'static,
{
    Action::new_local(action_fn)
}

/// A page's title (in the browser tab and as its heading) and its lead paragraph.
#[component]
pub fn PageHeader(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <Title text=format!("{title} · Blindfold") />
        <h1>{title}</h1>
        <p class="text-body-secondary">{children()}</p>
    }
}

#[component]
pub fn NavBar() -> impl IntoView {
    let auth = use_auth();
    let log_out = local_action(move |session: &SessionInfo| {
        let session = session.clone();
        async move {
            if let Err(failure) = client::logout(&session).await {
                leptos::logging::warn!("logout: {failure}");
            }
            // A full page load: nothing of the session survives in memory, the crypto
            // worker included.
            if window().location().assign("/").is_err() {
                auth.set(None);
            }
        }
    });
    let on_log_out = move |_| {
        if let Some(session) = auth.get_untracked() {
            log_out.dispatch_local(session);
        }
    };
    view! {
        <nav class="navbar navbar-expand bg-dark border-bottom" data-bs-theme="dark" aria-label="Main">
            <div class="container flex-wrap">
                <a class="navbar-brand fw-semibold" href="/">"Blindfold"</a>
                <ul class="navbar-nav flex-wrap">
                    <li class="nav-item"><a class="nav-link" href="/">"Home"</a></li>
                    <Show
                        when=move || auth.with(Option::is_some)
                        fallback=|| view! {
                            <li class="nav-item"><a class="nav-link" href="/signup">"Sign up"</a></li>
                            <li class="nav-item"><a class="nav-link" href="/login">"Log in"</a></li>
                        }
                    >
                        <li class="nav-item"><a class="nav-link" href="/keys">"Keys"</a></li>
                        <li class="nav-item"><a class="nav-link" href="/predict">"Predict"</a></li>
                        <li class="nav-item"><a class="nav-link" href="/history">"History"</a></li>
                        <li class="nav-item"><a class="nav-link" href="/account">"Account"</a></li>
                        <li class="nav-item">
                            <button type="button" class="nav-link btn btn-link" on:click=on_log_out>
                                "Log out"
                            </button>
                        </li>
                    </Show>
                </ul>
                <Show when=move || auth.with(Option::is_some)>
                    <span class="navbar-text small">
                        {move || auth.with(|s| s.as_ref().map(|s| format!("Signed in as {}", s.username)))}
                    </span>
                </Show>
            </div>
        </nav>
    }
}

/// Shows its children to a logged-in user and sends anyone else to the login page.
#[component]
pub fn RequireLogin(children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    move || {
        if auth.with(Option::is_some) {
            children().into_any()
        } else {
            view! { <Redirect path="/login" /> }.into_any()
        }
    }
}

/// A picker of the catalogue's models, bound to the selected model.
#[component]
pub fn ModelPicker() -> impl IntoView {
    let models = use_models();
    let selected = use_selected_model();
    view! {
        <div class="mb-3 model-picker">
            <label class="form-label" for="model">"Model"</label>
            <select
                id="model"
                class="form-select"
                on:change=move |ev| selected.set(event_target_value(&ev))
                prop:value=move || selected.get()
            >
                {move || {
                    models
                        .list()
                        .into_iter()
                        .map(|m| {
                            let id = m.id.clone();
                            view! { <option value=id.clone() selected=move || selected.get() == id>{m.name}</option> }
                        })
                        .collect_view()
                }}
            </select>
        </div>
    }
}

/// A flow's progress: the stage in words and a bar (indeterminate while the fraction is
/// unknown). Announced politely to screen readers.
#[component]
pub fn ProgressView(progress: RwSignal<Option<Progress>>) -> impl IntoView {
    view! {
        <div class="progress-view my-3" role="status" aria-live="polite">
            {move || {
                progress
                    .get()
                    .map(|p| {
                        let text = match &p.detail {
                            Some(detail) => format!("{}: {detail}", p.stage.label()),
                            None => format!("{}…", p.stage.label()),
                        };
                        view! {
                            <p class="mb-1 small">{text}</p>
                            {match p.fraction {
                                Some(f) => view! { <progress class="w-100" max="1" value=f.to_string() aria-label="Progress"></progress> }.into_any(),
                                None => view! { <progress class="w-100" aria-label="Progress"></progress> }.into_any(),
                            }}
                        }
                    })
            }}
        </div>
    }
}

/// An alert with an error message, when there is one.
#[component]
pub fn ErrorAlert(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|message| view! { <div class="alert alert-danger" role="alert">{message}</div> })
    }
}

/// The rules each form field broke, by field name, as the API reports them.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// A labelled text input bound to `value`, with the rules the server said it broke (`fields`,
/// looked up by the input's id).
#[component]
pub fn TextField(
    id: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    value: RwSignal<String>,
    #[prop(optional, into)] fields: Signal<FieldErrors>,
) -> impl IntoView {
    let problems = move || fields.with(|f| f.get(id).cloned().unwrap_or_default());
    let error_id = format!("{id}-errors");
    view! {
        <div class="mb-3">
            <label class="form-label" for=id>{label}</label>
            <input
                id=id
                name=id
                type=kind
                autocomplete=autocomplete
                class="form-control"
                class:is-invalid=move || !problems().is_empty()
                aria-describedby=error_id.clone()
                bind:value=value
            />
            <ul id=error_id class="invalid-feedback d-block list-unstyled mb-0">
                {move || problems().into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
            </ul>
        </div>
    }
}

/// The file chosen in the file input an event came from.
pub fn chosen_file(ev: &leptos::ev::Event) -> Option<web_sys::File> {
    let input: web_sys::HtmlInputElement = event_target(ev);
    input.files().and_then(|files| files.get(0))
}

/// A chosen file's text.
pub async fn read_text(file: web_sys::File) -> Result<String, String> {
    gloo_file::futures::read_as_text(&gloo_file::File::from(file))
        .await
        .map_err(|e| format!("could not read the file: {e}"))
}

/// Milliseconds since the epoch in the browser's locale.
pub fn local_time(ms: f64) -> String {
    String::from(js_sys::Date::new(&ms.into()).to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED))
}
