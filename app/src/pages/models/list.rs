//! `/models`: the owner's models, and the form that uploads another.

use std::time::Duration;

use leptos::prelude::*;

use super::upload::UploadForm;
use crate::api::{ModelState, OwnedModel};
use crate::client::{self, ApiFailure};
use crate::components::wording::{duration, quality_short};
use crate::components::{Column, ErrorAlert, ModelStateBadge, PageHeader, RequireOwner, Table, poll_while};

#[component]
pub fn ModelsPage() -> impl IntoView {
    view! {
        <PageHeader title="Models">
            "Upload a tree model with rows to calibrate it on: the server compiles it for encrypted "
            "prediction and reports what quantization costs in accuracy and time. Once you publish "
            "it, every user can predict with it under the key they already have."
        </PageHeader>
        <RequireOwner>
            <OwnedModels />
            <section class="mt-5 upload" aria-labelledby="upload-heading">
                <h2 id="upload-heading" class="h4">"Upload a model"</h2>
                <UploadForm />
            </section>
        </RequireOwner>
    }
}

/// The owner's models, followed while any of them compiles.
#[component]
fn OwnedModels() -> impl IntoView {
    let tick = RwSignal::new(0_u64);
    let models = LocalResource::new(move || {
        tick.track();
        async { client::owned_models().await }
    });
    poll_while(
        models,
        tick,
        Duration::from_secs(2),
        |loaded: &Result<Vec<OwnedModel>, ApiFailure>| {
            loaded
                .as_ref()
                .is_ok_and(|list| list.iter().any(|m| m.state == ModelState::Compiling))
        },
    );
    view! {
        <section aria-labelledby="owned-heading">
            <h2 id="owned-heading" class="h4">"Your models"</h2>
            <Transition fallback=|| view! { <p>"Loading your models…"</p> }>
                {move || models.get().map(|loaded| match loaded {
                    Err(failure) => view! { <ErrorAlert error=Some(failure.to_string()) /> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p>"No models yet: upload one below."</p> }.into_any(),
                    Ok(list) => view! { <OwnedModelsTable list /> }.into_any(),
                })}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn OwnedModelsTable(list: Vec<OwnedModel>) -> impl IntoView {
    const COLUMNS: &[Column] = &[
        Column::new("Name"),
        Column::new("Id"),
        Column::new("State"),
        Column::new("Bootstraps"),
        Column::new("Predicted latency"),
        Column::new("Evaluation"),
    ];
    view! {
        <Table class="owned-models" columns=COLUMNS>
            {list.into_iter().map(|model| view! { <OwnedModelRow model /> }).collect_view()}
        </Table>
    }
}

/// A model's row: its figures once compiled, a dash before.
#[component]
fn OwnedModelRow(model: OwnedModel) -> impl IntoView {
    let report = model.report.as_ref();
    let dash = || "–".to_owned();
    let bootstraps = report.map_or_else(dash, |r| r.cost.bootstraps.to_string());
    let latency = report.map_or_else(dash, |r| duration(r.cost.predicted_millis));
    let evaluation = report.map_or_else(dash, |r| quality_short(&r.evaluation));
    view! {
        <tr data-testid="owned-model">
            <td><a href=format!("/models/{}", model.id)>{model.name}</a></td>
            <td><code>{model.id.clone()}</code></td>
            <td><ModelStateBadge state=model.state /></td>
            <td>{bootstraps}</td>
            <td>{latency}</td>
            <td>{evaluation}</td>
        </tr>
    }
}
