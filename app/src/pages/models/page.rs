//! `/models/:id`: one of the owner's models. While it compiles the page follows its progress
//! (about once a second); then it shows why compilation failed, or the report, the details
//! users see, and publication.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::details_form::{DetailsForm, SaveDetails};
use super::report::ReportView;
use crate::api::{CompileProgress, ModelDetails, ModelState, OwnedModel, SessionInfo};
use crate::client::{self, ApiFailure};
use crate::components::{ErrorAlert, ModelStateBadge, RequireOwner, local_action, poll_while};
use crate::{use_auth, use_models};

/// How often a compiling model is asked about.
const POLL_PERIOD: Duration = Duration::from_secs(1);

/// Publishes (`true`) or unpublishes a model.
type SetPublication = Action<(SessionInfo, String, bool), Result<OwnedModel, ApiFailure>>;
type DeleteModel = Action<(SessionInfo, String), Result<(), ApiFailure>>;

#[component]
pub fn ModelPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    view! {
        <Title text="Model · Blindfold" />
        <RequireOwner>
            <OwnedModelView id />
        </RequireOwner>
    }
}

/// The model, reloaded after each change made here and, while it compiles, every second.
#[component]
fn OwnedModelView(id: Memo<String>) -> impl IntoView {
    let catalogue = use_models();
    let save: SaveDetails = local_action(move |(session, id, details): &(SessionInfo, String, ModelDetails)| {
        let (session, id, details) = (session.clone(), id.clone(), details.clone());
        async move {
            let saved = client::update_model_details(&session, &id, &details).await;
            // A published model's name and words are the catalogue's too.
            if saved.is_ok() {
                catalogue.0.refetch();
            }
            saved
        }
    });
    let publication: SetPublication = local_action(move |(session, id, publish): &(SessionInfo, String, bool)| {
        let (session, id, publish) = (session.clone(), id.clone(), *publish);
        async move {
            let changed = if publish {
                client::publish_model(&session, &id).await
            } else {
                client::unpublish_model(&session, &id).await
            };
            if changed.is_ok() {
                catalogue.0.refetch();
            }
            changed
        }
    });
    let delete: DeleteModel = local_action(move |(session, id): &(SessionInfo, String)| {
        let (session, id) = (session.clone(), id.clone());
        async move {
            // The future starts under this page's owner, where the router is in reach.
            let navigate = use_navigate();
            client::delete_model(&session, &id).await?;
            navigate("/models", Default::default());
            Ok(())
        }
    });

    let tick = RwSignal::new(0_u64);
    let changes = [save.version(), publication.version()];
    let model = LocalResource::new(move || {
        tick.track();
        changes.iter().for_each(Track::track);
        let id = id.get();
        async move { client::owned_model(&id).await }
    });
    poll_while(
        model,
        tick,
        POLL_PERIOD,
        |loaded: &Result<OwnedModel, ApiFailure>| matches!(loaded, Ok(model) if model.state == ModelState::Compiling),
    );

    view! {
        <p class="mb-2"><a href="/models">"All your models"</a></p>
        <Transition fallback=|| view! { <p>"Loading the model…"</p> }>
            {move || model.get().map(|loaded| match loaded {
                Ok(owned) => view! { <OwnedModelDetails owned save publication delete /> }.into_any(),
                Err(failure) if failure.status == 404 => view! {
                    <h1>"Model not found"</h1>
                    <p>{format!("You have no model with the id {}.", id.get_untracked())}</p>
                }
                .into_any(),
                Err(failure) => view! { <ErrorAlert error=Some(failure.to_string()) /> }.into_any(),
            })}
        </Transition>
    }
    .into_any()
}

/// What there is to see of the model in its state.
#[component]
fn OwnedModelDetails(
    owned: OwnedModel,
    save: SaveDetails,
    publication: SetPublication,
    delete: DeleteModel,
) -> impl IntoView {
    let state = owned.state;
    let body = match state {
        ModelState::Compiling => view! { <CompileProgressView progress=owned.progress.clone() /> }.into_any(),
        ModelState::Failed => view! {
            <div class="alert alert-danger" role="alert" data-testid="compile-error">
                <strong>"Compilation failed: "</strong>
                {owned.error.clone().unwrap_or_else(|| "the server gave no reason.".to_owned())}
                " Delete the model and upload it again."
            </div>
        }
        .into_any(),
        ModelState::Draft | ModelState::Published => {
            let report = owned
                .report
                .clone()
                .map(|report| view! { <ReportView report labels=owned.labels.clone() /> });
            view! {
                {report}
                <DetailsForm owned=owned.clone() save />
            }
            .into_any()
        }
    };
    view! {
        <Title text=format!("{} · Models · Blindfold", owned.name) />
        <div class="d-flex flex-wrap align-items-center gap-3 mb-2">
            <h1 class="mb-0">{owned.name.clone()}</h1>
            <ModelStateBadge state />
        </div>
        <p class="text-body-secondary">
            "Model id " <code>{owned.id.clone()}</code> ". " {owned.description.clone()}
        </p>
        {body}
        <ModelActions id=owned.id.clone() state publication delete />
    }
    .into_any()
}

/// The compiler's progress: its stage in words and a bar of its steps.
#[component]
fn CompileProgressView(progress: Option<CompileProgress>) -> impl IntoView {
    let bar = match progress {
        Some(CompileProgress { stage, done, total }) => view! {
            <p class="mb-1">{format!("{stage} ({done}/{total})")}</p>
            // Native and styled like Bootstrap's bar: Bootstrap sizes its bar with an inline
            // style, which the Content-Security-Policy forbids.
            <progress class="w-100" max=total.max(1).to_string() value=done.to_string() aria-label="Compilation progress"></progress>
        }
        .into_any(),
        None => view! {
            <p class="mb-1">"Waiting for the compiler…"</p>
            <progress class="w-100" aria-label="Compilation progress"></progress>
        }
        .into_any(),
    };
    view! {
        <section class="my-4" data-testid="compile-progress" role="status" aria-live="polite">
            <h2 class="h5">"Compiling"</h2>
            {bar}
            <p class="small text-body-secondary mt-2">
                "The server quantizes the model on your calibration rows and measures it; this page "
                "follows along, and you may leave it."
            </p>
        </section>
    }
    .into_any()
}

/// Publish or unpublish, and delete: a published model must be unpublished first.
#[component]
fn ModelActions(id: String, state: ModelState, publication: SetPublication, delete: DeleteModel) -> impl IntoView {
    let auth = use_auth();
    let busy = move || publication.pending().get() || delete.pending().get();
    let publish_id = id.clone();
    let set_published = move |publish: bool| {
        if let Some(session) = auth.get_untracked() {
            publication.dispatch_local((session, publish_id.clone(), publish));
        }
    };
    let on_delete = move |_| {
        let confirmed = window()
            .confirm_with_message(&format!("Delete the model {id}? This cannot be undone."))
            .unwrap_or(false);
        if let (true, Some(session)) = (confirmed, auth.get_untracked()) {
            delete.dispatch_local((session, id.clone()));
        }
    };
    let (published, deleted) = (publication.value(), delete.value());
    let error = Signal::derive(move || {
        let publish_failure = published.with(|o| o.as_ref().and_then(|o| o.as_ref().err()).map(ToString::to_string));
        publish_failure.or_else(|| deleted.with(|o| o.as_ref().and_then(|o| o.as_ref().err()).map(ToString::to_string)))
    });
    let publish_button = match state {
        ModelState::Draft => Some(
            view! {
                <button type="button" class="btn btn-success" disabled=busy on:click=move |_| set_published(true)>
                    "Publish"
                </button>
            }
            .into_any(),
        ),
        ModelState::Published => Some(
            view! {
                <button type="button" class="btn btn-outline-secondary" disabled=busy on:click=move |_| set_published(false)>
                    "Unpublish"
                </button>
            }
            .into_any(),
        ),
        ModelState::Compiling | ModelState::Failed => None,
    };
    // The server does not delete a published model (unpublish it first); deleting one that
    // compiles stops its compilation.
    let delete_label = if state == ModelState::Compiling {
        "Stop and delete"
    } else {
        "Delete"
    };
    let delete_button = (state != ModelState::Published).then(|| {
        view! {
            <button type="button" class="btn btn-outline-danger" disabled=busy on:click=on_delete>{delete_label}</button>
        }
    });
    view! {
        <section class="my-4" aria-labelledby="publication-heading">
            <h2 id="publication-heading" class="h4">"Publication"</h2>
            <p>
                {match state {
                    ModelState::Published => "In the catalogue: every user can predict with it. Unpublish it to take it out (and to delete it).",
                    ModelState::Draft => "Only you see it. Publish it to put it in the catalogue.",
                    ModelState::Compiling => "It can be published once it has compiled. Deleting it stops the compilation.",
                    ModelState::Failed => "It did not compile, so it cannot be published.",
                }}
            </p>
            <ErrorAlert error />
            <div class="d-flex gap-2">{publish_button}{delete_button}</div>
        </section>
    }
    .into_any()
}
