//! The Predict page: the model's spec loads, then the form ([`form`]) and the CSV rows
//! ([`csv`]) predict privately and show the answers ([`result`]).

mod csv;
mod form;
mod result;
mod spec;

use leptos::prelude::*;

use self::csv::CsvRows;
use self::form::PredictForm;
use self::spec::{LoadedModel, load_spec};
use crate::components::{ErrorAlert, ModelPicker, PageHeader};
use crate::{use_models, use_selected_model};

#[component]
pub fn PredictPage() -> impl IntoView {
    let model = use_selected_model();
    let models = use_models();
    let spec = LocalResource::new(move || {
        let id = model.get();
        async move { load_spec(&id).await.map(|(spec_json, spec)| (id, spec_json, spec)) }
    });
    view! {
        <PageHeader title="Predict">
            "Your measurements are encrypted in this browser; the server computes the prediction on "
            "the ciphertext and only this browser can read the answer. Your one key pair serves "
            "every model: switching models needs no new keys."
        </PageHeader>
        <ModelPicker />
        <Transition fallback=|| view! { <p>"Loading the model…"</p> }>
            {move || {
                spec.get().map(|result| match result {
                    Err(error) => view! { <ErrorAlert error=Some(error.to_string()) /> }.into_any(),
                    Ok((id, spec_json, spec)) => {
                        let (examples, inputs) = models.find(&id).map(|m| (m.examples, m.inputs)).unwrap_or_default();
                        let model = LoadedModel { id, spec_json, spec, examples, inputs };
                        view! {
                            <PredictForm model=model.clone() />
                            <CsvRows model />
                        }
                        .into_any()
                    }
                })
            }}
        </Transition>
    }
}
