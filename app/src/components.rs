//! Pieces shared by several pages.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::Redirect;

use crate::api::ModelSummary;
use crate::flow::{Prediction, Progress};
use crate::{client, use_auth, use_selected_model};

#[component]
pub fn NavBar() -> impl IntoView {
    let auth = use_auth();
    let log_out = move |_| {
        let Some(session) = auth.get_untracked() else { return };
        spawn_local(async move {
            if let Err(failure) = client::logout(&session).await {
                leptos::logging::warn!("logout: {failure}");
            }
            // A full page load: nothing of the session survives in memory, the crypto
            // worker included.
            if window().location().assign("/").is_err() {
                auth.set(None);
            }
        });
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
                        <li class="nav-item">
                            <button type="button" class="nav-link btn btn-link" on:click=log_out>
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

/// The catalogue's models, loaded in the browser.
pub fn models_resource() -> LocalResource<Result<Vec<ModelSummary>, String>> {
    LocalResource::new(|| async { client::models().await.map_err(|e| e.message()) })
}

/// A picker of the catalogue's models, bound to the selected model.
#[component]
pub fn ModelPicker(models: LocalResource<Result<Vec<ModelSummary>, String>>) -> impl IntoView {
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
                        .get()
                        .and_then(Result::ok)
                        .unwrap_or_default()
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

/// A decrypted prediction: the class and its probability as a bar, or the predicted value.
#[component]
pub fn PredictionView(prediction: Prediction, labels: Vec<String>) -> impl IntoView {
    let confidence = prediction.confidence(&labels);
    match (prediction.class.clone(), prediction.value) {
        (Some(class), _) => {
            let percent = confidence.map(|p| format!("{:.1}%", p * 100.0)).unwrap_or_default();
            let tone = if class.eq_ignore_ascii_case("malignant") {
                "text-danger"
            } else {
                "text-success"
            };
            view! {
                <div class="prediction">
                    <p class=format!("display-6 fw-semibold mb-1 {tone}") data-testid="prediction-class">{class.clone()}</p>
                    <p class="mb-1">"Probability " <span data-testid="prediction-probability">{percent}</span></p>
                    <meter class="w-100" min="0" max="1" value=confidence.unwrap_or_default().to_string()
                        aria-label=format!("Probability of {class}")></meter>
                </div>
            }
            .into_any()
        }
        (None, Some(value)) => view! {
            <div class="prediction">
                <p class="display-6 fw-semibold mb-1" data-testid="prediction-value">{format!("{value:.3}")}</p>
            </div>
        }
        .into_any(),
        _ => view! { <p>"The model gave no answer."</p> }.into_any(),
    }
}

/// An alert with an error message, when there is one.
#[component]
pub fn ErrorAlert(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|message| view! { <div class="alert alert-danger" role="alert">{message}</div> })
    }
}

/// Milliseconds since the epoch in the browser's locale.
pub fn local_time(ms: f64) -> String {
    String::from(js_sys::Date::new(&ms.into()).to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED))
}
