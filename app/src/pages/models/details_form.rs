//! The details users see of a model, which its owner changes at any time: its name, its
//! description, and each input's description and unit.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api::{ModelDetails, OwnedModel, SessionInfo};
use crate::client::ApiFailure;
use crate::components::{
    ErrorAlert, FieldErrors, FormControls, FormField, InputDetails, InputDetailsTable, explain_failure, problems_of,
};
use crate::use_auth;

/// Saves a model's details (`PATCH`), answering the model as changed.
pub type SaveDetails = Action<(SessionInfo, String, ModelDetails), Result<OwnedModel, ApiFailure>>;

/// The fields the form shows the server's rules under.
const FIELDS: &[&str] = &["name", "description", "inputs"];

/// The form, filled in from `owned`; `save` belongs to the page, so that what it answered
/// outlives the form (which the page renders again from the saved model).
#[component]
pub fn DetailsForm(owned: OwnedModel, save: SaveDetails) -> impl IntoView {
    let auth = use_auth();
    let name = RwSignal::new(owned.name);
    let description = RwSignal::new(owned.description);
    let inputs = RwSignal::new(owned.inputs.into_iter().map(InputDetails::new).collect::<Vec<_>>());
    let (pending, outcome) = (save.pending(), save.value());
    let failure = move || outcome.with(|o| o.as_ref().and_then(|o| o.as_ref().err()).cloned());
    let fields = Signal::derive(move || explain_failure(failure().as_ref(), FIELDS).0);
    let error = Signal::derive(move || explain_failure(failure().as_ref(), FIELDS).1);
    let saved = move || outcome.with(|o| matches!(o, Some(Ok(_))));

    let id = owned.id;
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(session) = auth.get_untracked() else { return };
        if pending.get_untracked() {
            return;
        }
        let details = ModelDetails {
            name: name.get_untracked().trim().to_owned(),
            description: description.get_untracked().trim().to_owned(),
            inputs: inputs.with_untracked(|rows| rows.iter().map(InputDetails::info_untracked).collect()),
        };
        save.dispatch_local((session, id.clone(), details));
    };

    view! {
        <section class="my-4" aria-labelledby="details-heading">
            <h2 id="details-heading" class="h4">"Details users see"</h2>
            <ErrorAlert error />
            <Show when=saved>
                <div class="alert alert-success" role="status" data-testid="details-saved">"Details saved."</div>
            </Show>
            <form method="post" on:submit=submit novalidate class="details-form" data-testid="model-details">
                <FormControls>
                    <NameFields name description fields />
                    <InputDetailsTable prefix="details-input" inputs />
                    <ul class="invalid-feedback d-block list-unstyled">
                        {move || problems_of(fields, "inputs").into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
                    </ul>
                    <button type="submit" class="btn btn-primary" disabled=move || pending.get()>"Save details"</button>
                </FormControls>
            </form>
        </section>
    }
    .into_any()
}

/// The model's name and description, as the upload and details forms edit them (one of the
/// two on a page), with the rules the server said they broke.
#[component]
pub fn NameFields(name: RwSignal<String>, description: RwSignal<String>, fields: Signal<FieldErrors>) -> impl IntoView {
    let invalid = move |field: &'static str| move || !problems_of(fields, field).is_empty();
    view! {
        <FormField id="model-name" label="Name" field="name" fields>
            <input id="model-name" name="name" type="text" class="form-control" autocomplete="off"
                class:is-invalid=invalid("name") aria-describedby="model-name-errors" bind:value=name />
        </FormField>
        <FormField id="model-description" label="Description" field="description" fields
            hint="What the model predicts, for whom, from what data: users read it in the catalogue.">
            <textarea id="model-description" name="description" rows="3" class="form-control"
                class:is-invalid=invalid("description")
                aria-describedby="model-description-hint model-description-errors"
                bind:value=description></textarea>
        </FormField>
    }
    .into_any()
}
