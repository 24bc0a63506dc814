//! The prediction form: a labelled number input per feature, sample rows to start from, and
//! Predict privately, with its progress, errors and answer below.

use std::rc::Rc;
use std::sync::Arc;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use super::result::{Answer, ResultCard};
use blindfold_model::spec::quantize::FeatureQuantizer;

use super::spec::{LoadedModel, calibration_notes, short, validate};
use crate::api::{FeatureInfo, ModelExample, SessionInfo};
use crate::components::{ErrorAlert, FormControls, ProgressView, local_action};
use crate::flow::{self, Progress};
use crate::{crypto, use_auth, use_selected_model};

/// One row to predict privately.
#[derive(Debug, Clone)]
struct RowRequest {
    session: SessionInfo,
    model: LoadedModel,
    features: Vec<f64>,
    /// When Predict privately was clicked.
    clicked_ms: f64,
}

#[component]
pub fn PredictForm(model: LoadedModel) -> impl IntoView {
    let auth = use_auth();
    let count = model.spec.features.len();
    let values = RwSignal::new(vec![String::new(); count]);
    let problems = RwSignal::new(vec![None::<String>; count]);
    // Per field, once checked: its value lies beyond the calibration data.
    let notes = RwSignal::new(vec![None::<String>; count]);
    // Whether the last click found values missing or out of range.
    let invalid = RwSignal::new(false);
    let progress = RwSignal::new(None::<Progress>);

    let predict = local_action(move |row: &RowRequest| {
        let row = row.clone();
        async move {
            let report: flow::Reporter = Rc::new(move |p| progress.set(Some(p)));
            let (model, features) = (&row.model, &row.features);
            let outcome = flow::predict(&row.session, &model.id, &model.spec_json, features, report).await;
            progress.set(None);
            outcome.map(|outcome| Answer {
                outcome,
                click_to_result_ms: flow::now_ms() - row.clicked_ms,
            })
        }
    });
    let (pending, answer) = (predict.pending(), predict.value());
    let error = Signal::derive(move || {
        if invalid.get() {
            Some("Some values are missing, not numbers, or outside the valid range the model's owner gives.".to_owned())
        } else {
            answer.with(|a| a.as_ref().and_then(|a| a.as_ref().err()).map(ToString::to_string))
        }
    });

    let (labels, fields, details) = (
        model.spec.labels.clone(),
        model.spec.features.clone(),
        model.inputs.clone(),
    );
    let (examples, spec_json) = (model.examples.clone(), model.spec_json.clone());
    // While another model's spec loads, this form stays on show (the page's `Transition`) but
    // takes no input: what was typed into it would vanish when the other model's form arrives.
    let selected = use_selected_model();
    let form_model = model.id.clone();
    let superseded = {
        let form_model = form_model.clone();
        move || selected.with(|id| *id != form_model)
    };
    let busy = superseded.clone();
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let Some(session) = auth.get_untracked() else { return };
        // The last answer (or failure) goes away: it was for other values than those now sent
        // or refused.
        predict.clear();
        let checked = values.with_untracked(|v| validate(&model.spec.features, &model.inputs, v));
        problems.set(checked.iter().map(|c| c.as_ref().err().cloned()).collect());
        let Ok(features) = checked.into_iter().collect::<Result<Vec<f64>, String>>() else {
            notes.set(vec![None; count]);
            invalid.set(true);
            return;
        };
        notes.set(calibration_notes(&model.spec.features, &features));
        invalid.set(false);
        predict.dispatch_local(RowRequest {
            session,
            model: model.clone(),
            features,
            clicked_ms: flow::now_ms(),
        });
    };

    // Erased to `AnyView`, like `CsvRows`: as one type, the page's view nests deeper than the
    // compiler's default query depth allows (for its hydration).
    view! {
        <form on:submit=submit novalidate data-model=form_model aria-busy=move || busy().to_string()>
            <FormControls disabled=Signal::derive(superseded)>
                <SampleButtons examples values problems />
                <FeatureInputs features=fields details values problems notes />
                <div class="d-flex flex-wrap align-items-center gap-3">
                    <button type="submit" class="btn btn-primary btn-lg" disabled=move || pending.get()>"Predict privately"</button>
                    <WorkerStatus spec_json />
                </div>
            </FormControls>
        </form>
        <ProgressView progress />
        <ErrorAlert error />
        <CalibrationNotice notes />
        {move || {
            let labels = labels.clone();
            answer.get().and_then(Result::ok).map(|answer| view! { <ResultCard answer labels /> })
        }}
    }
    .into_any()
}

/// Says, once a row is sent, how many of its values lie beyond the model's calibration data
/// (each field says which and what it is taken for): honest values, predicted all the same.
#[component]
fn CalibrationNotice(notes: RwSignal<Vec<Option<String>>>) -> impl IntoView {
    move || {
        let outside = notes.with(|n| n.iter().flatten().count());
        (outside > 0).then(|| {
            let values = if outside == 1 { "1 value lies" } else { "values lie" };
            let text = format!(
                "{}{values} beyond the data the model was calibrated on: the prediction treats {} as the nearest \
                 calibrated value.",
                if outside == 1 {
                    String::new()
                } else {
                    format!("{outside} ")
                },
                if outside == 1 { "it" } else { "each" }
            );
            view! { <div class="alert alert-warning" role="status" data-testid="outside-calibration">{text}</div> }
        })
    }
}

/// A button per sample row the catalogue offers, which fills the form with it.
#[component]
fn SampleButtons(
    examples: Vec<ModelExample>,
    values: RwSignal<Vec<String>>,
    problems: RwSignal<Vec<Option<String>>>,
) -> impl IntoView {
    let buttons = examples
        .into_iter()
        .map(|example| {
            let text = format!("Fill sample {}", example.label.to_lowercase());
            let fill = move |_| {
                values.set(example.features.iter().map(|v| v.to_string()).collect());
                problems.update(|p| p.iter_mut().for_each(|p| *p = None));
            };
            view! {
                <button type="button" class="btn btn-outline-secondary btn-sm" on:click=fill>
                    {text}
                </button>
            }
        })
        .collect_view();
    view! { <div class="d-flex flex-wrap gap-2 mb-3">{buttons}</div> }
}

/// A number input per feature, labelled with exactly its name, its range as placeholder (the
/// owner's valid range, else the calibration data's) and, once checked, what is wrong with its
/// value or that it lies beyond the calibration data; the catalogue's unit (`details`, by
/// name) beside it and description below it, where the owner gave them.
#[component]
fn FeatureInputs(
    features: Vec<FeatureQuantizer>,
    details: Vec<FeatureInfo>,
    values: RwSignal<Vec<String>>,
    problems: RwSignal<Vec<Option<String>>>,
    notes: RwSignal<Vec<Option<String>>>,
) -> impl IntoView {
    let inputs = features
        .into_iter()
        .enumerate()
        .map(|(i, feature)| {
            let info = details.iter().find(|d| d.name == feature.name);
            let unit = info.map(|d| d.unit.clone()).filter(|u| !u.is_empty());
            let description = info.map(|d| d.description.clone()).filter(|d| !d.is_empty());
            let range = info.and_then(|d| match (d.valid_min, d.valid_max) {
                (None, None) => None,
                (min, max) => Some((min, max)),
            });
            view! {
                <FeatureInput index=i feature unit description range values problems notes />
            }
        })
        .collect_view();
    view! { <div class="row row-cols-1 row-cols-sm-2 row-cols-lg-3 g-2 mb-3 features">{inputs}</div> }
}

/// One feature's input: see [`FeatureInputs`].
#[component]
fn FeatureInput(
    index: usize,
    feature: FeatureQuantizer,
    unit: Option<String>,
    description: Option<String>,
    /// The owner's valid range, where given.
    range: Option<(Option<f64>, Option<f64>)>,
    values: RwSignal<Vec<String>>,
    problems: RwSignal<Vec<Option<String>>>,
    notes: RwSignal<Vec<Option<String>>>,
) -> impl IntoView {
    let i = index;
    let id = format!("feature-{i}");
    let description_id = description.as_ref().map(|_| format!("feature-{i}-description"));
    // The owner's range where given, else the calibration data's (any value is taken).
    let hint = match range {
        Some((min, max)) => format!(
            "{} to {}",
            min.map_or("…".to_owned(), short),
            max.map_or("…".to_owned(), short)
        ),
        None => format!(
            "e.g. {} to {}",
            short(feature.calibration_min),
            short(feature.calibration_max)
        ),
    };
    let input = view! {
        <input
            id=id.clone()
            type="number"
            step="any"
            inputmode="decimal"
            class="form-control form-control-sm"
            class:is-invalid=move || problems.with(|p| p[i].is_some())
            placeholder=hint
            aria-describedby=description_id.clone()
            prop:value=move || values.with(|v| v[i].clone())
            on:input=move |ev| values.update(|v| v[i] = event_target_value(&ev))
        />
    };
    let feedback = move || view! { <div class="invalid-feedback">{move || problems.with(|p| p[i].clone())}</div> };
    // With a unit, Bootstrap's input group puts it after the input; `has-validation` keeps the
    // group's corners right with the feedback inside it.
    let field = match unit {
        Some(unit) => view! {
            <div class="input-group input-group-sm has-validation">
                {input}
                <span class="input-group-text">{unit}</span>
                {feedback()}
            </div>
        }
        .into_any(),
        None => view! { {input} {feedback()} }.into_any(),
    };
    view! {
        <div class="col">
            <label class="form-label small mb-1" for=id>{feature.name}</label>
            {field}
            {description.zip(description_id).map(|(text, id)| view! { <div id=id class="form-text mt-0">{text}</div> })}
            {move || notes.with(|n| n[i].clone()).map(|note| view! {
                <div class="form-text mt-0 text-warning-emphasis" data-testid="calibration-note">{note}</div>
            })}
        </div>
    }
    .into_any()
}

/// Whether this browser can encrypt yet: the crypto worker starts and warms up (one throwaway
/// encryption, so the engine optimises that code) while the user types, not on the click.
#[component]
fn WorkerStatus(spec_json: Arc<str>) -> impl IntoView {
    let warm_up = local_action(|spec_json: &Arc<str>| {
        let spec_json = spec_json.clone();
        async move {
            if let Err(message) = crypto::warm_up(&spec_json).await {
                leptos::logging::warn!("crypto worker warm-up: {message}");
            }
        }
    });
    let warmed = warm_up.value();
    Effect::new(move |_| {
        warm_up.dispatch_local(spec_json.clone());
    });
    // How many threads the worker encrypts with, or why only one (the page is not cross-origin
    // isolated, say): asked once the worker is warm, so it never delays the warm-up.
    let mode = LocalResource::new(move || {
        let ready = warmed.with(Option::is_some);
        async move { if ready { crypto::worker_mode().await.ok() } else { None } }
    });
    view! {
        <span class="small text-body-secondary" data-testid="worker-status">
            {move || {
                if warmed.with(Option::is_some) {
                    "Encryption ready in this browser"
                } else {
                    "Preparing encryption in this browser…"
                }
            }}
        </span>
        <span class="small text-body-secondary" data-testid="worker-threads">
            {move || mode.get().flatten().map(|mode| mode.describe())}
        </span>
    }
}
