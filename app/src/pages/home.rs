use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use crate::api::{FeatureInfo, ModelSummary};
use crate::components::ErrorAlert;
use crate::components::wording::{duration, quality_line};
use crate::{use_auth, use_models, use_selected_model};

#[component]
pub fn HomePage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Title text="Blindfold: private predictions" />
        <section class="py-3">
            <h1 class="display-5 fw-semibold">"Predictions on data the server never sees"</h1>
            <p class="lead">
                "Blindfold runs a tumour classifier on your measurements while they stay encrypted. "
                "Your browser makes the keys, encrypts the 30 features and decrypts the answer; the "
                "server computes on ciphertexts with fully homomorphic encryption (TFHE) and learns "
                "neither your data nor the result."
            </p>
            <ol class="steps list-unstyled row g-3 my-4">
                <li class="col-md-4"><div class="card h-100"><div class="card-body">
                    <h2 class="h5">"1. Create an account"</h2>
                    <p class="mb-0">"A username and a password: the server keeps your public key and your encrypted results."</p>
                </div></div></li>
                <li class="col-md-4"><div class="card h-100"><div class="card-body">
                    <h2 class="h5">"2. Generate keys"</h2>
                    <p class="mb-0">"Your browser makes one secret key for every model, which never leaves it, and uploads a public evaluation key."</p>
                </div></div></li>
                <li class="col-md-4"><div class="card h-100"><div class="card-body">
                    <h2 class="h5">"3. Predict privately"</h2>
                    <p class="mb-0">"Type the measurements, click once, and read benign or malignant with its probability."</p>
                </div></div></li>
            </ol>
            <Show
                when=move || auth.with(Option::is_some)
                fallback=|| view! {
                    <a class="btn btn-primary me-2" href="/signup">"Sign up"</a>
                    <a class="btn btn-outline-secondary" href="/login">"Log in"</a>
                }
            >
                <a class="btn btn-primary me-2" href="/predict">"Predict"</a>
                <a class="btn btn-outline-secondary" href="/keys">"Keys"</a>
            </Show>
        </section>
        <Show when=move || auth.with(Option::is_some)>
            <Catalogue />
        </Show>
    }
}

/// The models a logged-in user can predict with, a card each.
#[component]
fn Catalogue() -> impl IntoView {
    let models = use_models();
    view! {
        <section class="py-3" aria-labelledby="catalogue-heading">
            <h2 id="catalogue-heading" class="h3">"Models"</h2>
            {move || match models.0.get() {
                None => view! { <p>"Loading the models…"</p> }.into_any(),
                Some(Err(error)) => view! { <ErrorAlert error=Some(error.to_string()) /> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p>"No models are published yet."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <div class="row row-cols-1 row-cols-md-2 row-cols-xl-3 g-3">
                        {list.into_iter().map(|model| view! { <ModelCard model /> }).collect_view()}
                    </div>
                }
                .into_any(),
            }}
        </section>
    }
    .into_any()
}

/// A catalogue model: what it predicts, from which inputs, how well and how fast, and the way
/// to the Predict page with it chosen.
#[component]
fn ModelCard(model: ModelSummary) -> impl IntoView {
    let selected = use_selected_model();
    let navigate = use_navigate();
    let heading = format!("model-{}-name", model.id);
    let id = model.id.clone();
    let choose = move |_| {
        selected.set(id.clone());
        navigate("/predict", Default::default());
    };
    let description =
        (!model.description.is_empty()).then(|| view! { <p class="card-text">{model.description.clone()}</p> });
    let inputs = (!model.inputs.is_empty()).then(|| view! { <InputList inputs=model.inputs.clone() /> });
    let quality = model
        .quality
        .as_ref()
        .map(|quality| view! { <p class="small mb-1" data-testid="model-quality">{quality_line(quality)}</p> });
    let time = model.cost.as_ref().map(|cost| {
        view! {
            <p class="small mb-1">{format!("About {} of server time per prediction", duration(cost.predicted_millis))}</p>
        }
    });
    // One erased view: as nested types, the card's parts are too deep for the compiler.
    let facts = view! { {description} {inputs} {quality} {time} }.into_any();
    view! {
        <div class="col">
            <article class="card h-100 model-card" data-testid="model-card" aria-labelledby=heading.clone()>
                <div class="card-body d-flex flex-column">
                    <h3 id=heading.clone() class="h5 card-title">{model.name.clone()}</h3>
                    {facts}
                    <div class="mt-auto pt-2">
                        <button type="button" class="btn btn-primary btn-sm" on:click=choose>"Predict with this model"</button>
                    </div>
                </div>
            </article>
        </div>
    }
    .into_any()
}

/// A model's inputs, folded away: there may be dozens.
#[component]
fn InputList(inputs: Vec<FeatureInfo>) -> impl IntoView {
    let count = match inputs.len() {
        1 => "1 input".to_owned(),
        n => format!("{n} inputs"),
    };
    let items = inputs
        .into_iter()
        .map(|input| {
            let unit = (!input.unit.is_empty())
                .then(|| view! { <span class="text-body-secondary">{format!(" ({})", input.unit)}</span> });
            view! { <li>{input.name}{unit}</li> }
        })
        .collect_view();
    view! {
        <details class="small mb-2 model-inputs">
            <summary>{count}</summary>
            <ul class="list-unstyled mb-0 mt-1">{items}</ul>
        </details>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · Blindfold" />
        <h1>"Page not found"</h1>
        <p><a href="/">"Back to the start"</a></p>
    }
}
