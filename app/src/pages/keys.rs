use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::api::{KeyInfo, SessionInfo};
use crate::components::{ErrorAlert, PageHeader, ProgressView, chosen_file, local_action, local_time, read_text};
use crate::crypto::{self, KeyOwner, LocalKey};
use crate::error::{AppError, AppResult};
use crate::flow::{self, Progress, megabytes};
use crate::{client, use_auth, use_selected_model};

/// What is known of the user's key, on both sides: one key pair serves every model.
#[derive(Debug, Clone, PartialEq)]
struct KeyStatus {
    server: Option<KeyInfo>,
    browser: Option<LocalKey>,
}

/// The spec of the selected model (the default one unless Predict chose another): keys are
/// made for its parameter set, which every model shares.
async fn model_spec(model: &str) -> AppResult<String> {
    Ok(client::spec_json(model).await?)
}

#[component]
pub fn KeysPage() -> impl IntoView {
    let auth = use_auth();
    let model = use_selected_model();
    let progress = RwSignal::new(None::<Progress>);
    // The last failure of any of the key operations below.
    let error = RwSignal::new(None::<AppError>);

    let generate = local_action(move |(session, model): &(SessionInfo, String)| {
        let (session, model) = (session.clone(), model.clone());
        async move {
            let report: flow::Reporter = Rc::new(move |p| progress.set(Some(p)));
            let result = match model_spec(&model).await {
                Ok(spec) => flow::set_up_keys(&session, &spec, report).await,
                Err(failure) => Err(failure),
            };
            progress.set(None);
            if let Err(failure) = &result {
                error.set(Some(failure.clone()));
            }
            result
        }
    });
    let forget = local_action(move |session: &SessionInfo| {
        let session = session.clone();
        async move {
            let result = async {
                crypto::forget(&KeyOwner::new(&session.username)).await?;
                client::delete_key(&session).await?;
                Ok::<_, AppError>(())
            }
            .await;
            // The figures of keys made here are gone with the keys.
            generate.clear();
            error.set(result.err());
        }
    });
    let export = local_action(move |owner: &KeyOwner| {
        let owner = owner.clone();
        async move {
            match crypto::export_key(&owner).await {
                Ok(text) => download(&format!("blindfold-{}.key.json", owner.username), &text),
                Err(failure) => error.set(Some(failure.into())),
            }
        }
    });
    let import = local_action(move |(owner, model, file): &(KeyOwner, String, web_sys::File)| {
        let (owner, model, file) = (owner.clone(), model.clone(), file.clone());
        async move {
            // The models' parameter set: a key file of another is refused.
            let parameter_set = model_spec(&model)
                .await
                .and_then(|spec| flow::parameter_set(&spec))
                .ok();
            let result = match read_text(file, "the key file").await {
                Ok(text) => crypto::import_key(&owner, text, parameter_set.as_deref())
                    .await
                    .map(drop)
                    .map_err(AppError::from),
                Err(failure) => Err(failure),
            };
            error.set(result.err());
        }
    });
    let (generating, forgetting) = (generate.pending(), forget.pending());
    let busy = move || generating.get() || forgetting.get();
    let made = generate.value();

    // Each key operation but the export changes what there is.
    let changes = [generate.version(), forget.version(), import.version()];
    let status = LocalResource::new(move || {
        changes.iter().for_each(Track::track);
        let username = auth.with(|s| s.as_ref().map(|s| s.username.clone()));
        async move {
            let owner = KeyOwner::new(&username.unwrap_or_default());
            let server = client::key_info().await?;
            let browser = crypto::local_key(&owner).await?;
            Ok::<_, AppError>(KeyStatus { server, browser })
        }
    });

    // How the worker generates keys: on how many threads, or why on one only.
    let mode = LocalResource::new(|| async { crypto::worker_mode().await.ok() });

    let owner = move || auth.get_untracked().map(|s| KeyOwner::new(&s.username));
    let on_generate = move |_| {
        let Some(session) = auth.get_untracked() else { return };
        error.set(None);
        generate.clear();
        generate.dispatch_local((session, model.get_untracked()));
    };
    let on_forget = move |_| {
        if let Some(session) = auth.get_untracked() {
            forget.dispatch_local(session);
        }
    };
    let on_export = move |_| {
        if let Some(owner) = owner() {
            export.dispatch_local(owner);
        }
    };
    let on_import = move |ev: leptos::ev::Event| {
        let Some(owner) = owner() else { return };
        let Some(file) = chosen_file(&ev) else { return };
        // Cleared, so that choosing the same file again imports it again.
        event_target::<web_sys::HtmlInputElement>(&ev).set_value("");
        import.dispatch_local((owner, model.get_untracked(), file));
    };

    view! {
        <PageHeader title="Keys">
            "Your browser generates one key pair for you, and it serves every model. The secret "
            "client key stays in this browser; the server gets only the public evaluation key, "
            "which lets it compute on your encrypted data without being able to read it."
        </PageHeader>
        <ErrorAlert error=Signal::derive(move || error.get().map(|e| e.to_string())) />
        <Transition fallback=|| view! { <p>"Checking your keys…"</p> }>
            {move || status.get().map(|status| match status {
                Err(failure) => view! { <div class="alert alert-warning" role="alert">{failure.to_string()}</div> }.into_any(),
                Ok(status) => view! { <KeyStatusView status /> }.into_any(),
            })}
        </Transition>
        <div class="d-flex flex-wrap gap-2 my-3">
            <button type="button" class="btn btn-primary" on:click=on_generate disabled=busy>
                "Generate keys"
            </button>
            <button type="button" class="btn btn-outline-danger" on:click=on_forget disabled=busy>
                "Forget keys"
            </button>
            <button type="button" class="btn btn-outline-secondary" on:click=on_export disabled=busy>
                "Export key"
            </button>
            <label class="btn btn-outline-secondary mb-0" for="import-key">"Import key"</label>
            <input id="import-key" type="file" accept=".json,application/json" class="visually-hidden" on:change=on_import />
        </div>
        <p class="small text-body-secondary" data-testid="worker-threads">
            {move || mode.get().flatten().map(|mode| mode.describe())}
        </p>
        <ProgressView progress />
        {move || made.get().and_then(Result::ok).map(|setup| view! {
            <div class="alert alert-success" role="status" data-testid="keygen-figures">
                {format!(
                    "Keys ready for every model: generated in {:.1} s in your browser ({}); {} ({} bytes) uploaded.",
                    setup.keygen_ms / 1000.0,
                    if setup.threads == 1 { "1 thread".to_owned() } else { format!("{} threads", setup.threads) },
                    megabytes(setup.uploaded_bytes as f64),
                    setup.uploaded_bytes,
                )}
            </div>
        })}
    }
}

#[component]
fn KeyStatusView(status: KeyStatus) -> impl IntoView {
    let matching = match (&status.server, &status.browser) {
        (Some(server), Some(browser)) => Some(server.fingerprint == browser.server_key_fingerprint),
        _ => None,
    };
    let parameter_set = status
        .server
        .as_ref()
        .map(|s| s.parameter_set.clone())
        .or_else(|| status.browser.as_ref().and_then(|b| b.parameter_set.clone()))
        .filter(|p| !p.is_empty());
    view! {
        <dl class="row key-status" data-testid="key-status">
            <dt class="col-sm-3">"On the server"</dt>
            <dd class="col-sm-9">
                {match &status.server {
                    Some(key) => {
                        let stored = format!(
                            "Stored: {}, uploaded {}, fingerprint {}",
                            megabytes(key.size_bytes as f64),
                            local_time(key.uploaded_at as f64),
                            &key.fingerprint[..12.min(key.fingerprint.len())],
                        );
                        match key.expires_at {
                            Some(at) => format!(
                                "{stored}. Deleted from the server on {} unless a prediction uses it before.",
                                local_time(at as f64)
                            ),
                            None => stored,
                        }
                    }
                    None => "No key stored".to_owned(),
                }}
            </dd>
            <dt class="col-sm-3">"In this browser"</dt>
            <dd class="col-sm-9">
                {match &status.browser {
                    Some(key) => format!("Client key present, created {}", local_time(key.created_at)),
                    None => "No client key".to_owned(),
                }}
            </dd>
            <dt class="col-sm-3">"Models"</dt>
            <dd class="col-sm-9" data-testid="key-scope">
                {match (matching, parameter_set) {
                    (Some(true), Some(set)) => format!("Your key serves every model (parameter set {set})."),
                    (Some(true), None) => "Your key serves every model.".to_owned(),
                    _ => "Your key will serve every model: one key pair is all you need.".to_owned(),
                }}
            </dd>
        </dl>
        {(matching == Some(false)).then(|| view! {
            <div class="alert alert-warning" role="alert">
                "The key on the server does not belong to this browser's client key (keys were made "
                "elsewhere). Generate keys again, or import the client key from the other browser."
            </div>
        })}
    }
}

/// Offers `text` as a file download.
fn download(name: &str, text: &str) {
    let parts = js_sys::Array::of1(&text.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let document = leptos::prelude::document();
    if let Ok(anchor) = document.create_element("a") {
        let anchor: web_sys::HtmlAnchorElement = anchor.unchecked_into();
        anchor.set_href(&url);
        anchor.set_download(name);
        anchor.click();
    }
    // Released once the browser has surely read it: revoking at once can cancel the download.
    spawn_local(async move {
        gloo_timers::future::TimeoutFuture::new(60_000).await;
        let _ = web_sys::Url::revoke_object_url(&url);
    });
}
