use leptos::prelude::*;
use leptos_meta::Title;

use crate::use_auth;

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
