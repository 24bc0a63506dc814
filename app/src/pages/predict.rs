use std::rc::Rc;
use std::sync::Arc;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use serde::Deserialize;

use crate::api::{ModelExample, ModelSummary};
use crate::components::{ErrorAlert, ModelPicker, PredictionView, ProgressView, models_resource};
use crate::flow::{self, Outcome, Prediction, Progress};
use crate::{client, crypto, use_auth, use_selected_model};

/// The part of a model's client spec the form needs (the worker gets the whole JSON).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct SpecView {
    features: Vec<FeatureView>,
    labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct FeatureView {
    name: String,
    valid_min: f64,
    valid_max: f64,
}

/// A loaded model: its spec as the worker takes it, and as the form reads it.
#[derive(Debug, Clone, PartialEq)]
struct LoadedModel {
    id: String,
    spec_json: Arc<str>,
    spec: Arc<SpecView>,
    examples: Vec<ModelExample>,
}

#[component]
pub fn PredictPage() -> impl IntoView {
    let model = use_selected_model();
    let models = models_resource();
    let loaded = LocalResource::new(move || {
        let id = model.get();
        async move {
            let spec_json = client::spec_json(&id).await.map_err(|e| e.message())?;
            let spec: SpecView = serde_json::from_str(&spec_json).map_err(|e| format!("unreadable model spec: {e}"))?;
            Ok::<_, String>((id, Arc::<str>::from(spec_json), Arc::new(spec)))
        }
    });
    view! {
        <Title text="Predict · Blindfold" />
        <h1>"Predict"</h1>
        <p class="text-body-secondary">
            "Your measurements are encrypted in this browser; the server computes the prediction on "
            "the ciphertext and only this browser can read the answer."
        </p>
        <ModelPicker models />
        <Transition fallback=|| view! { <p>"Loading the model…"</p> }>
            {move || {
                loaded.get().map(|result| match result {
                    Err(message) => view! { <div class="alert alert-danger" role="alert">{message}</div> }.into_any(),
                    Ok((id, spec_json, spec)) => {
                        let examples = models
                            .get()
                            .and_then(Result::ok)
                            .and_then(|all: Vec<ModelSummary>| all.into_iter().find(|m| m.id == id))
                            .map(|m| m.examples)
                            .unwrap_or_default();
                        view! { <PredictForm model=LoadedModel { id, spec_json, spec, examples } /> }.into_any()
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn PredictForm(model: LoadedModel) -> impl IntoView {
    let auth = use_auth();
    let count = model.spec.features.len();
    let values = RwSignal::new(vec![String::new(); count]);
    let problems = RwSignal::new(vec![None::<String>; count]);
    let progress = RwSignal::new(None::<Progress>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Outcome>);
    // From the click to the answer, as the page measures it (the e2e reports it).
    let click_to_result = RwSignal::new(0.0);
    let labels = model.spec.labels.clone();

    // Start the crypto worker and warm it up while the user types, not on the click.
    let warm = RwSignal::new(false);
    Effect::new({
        let spec_json = model.spec_json.clone();
        move |_| {
            let spec_json = spec_json.clone();
            spawn_local(async move {
                if let Err(message) = crypto::warm_up(&spec_json).await {
                    leptos::logging::warn!("crypto worker warm-up: {message}");
                }
                warm.set(true);
            });
        }
    });

    let spec = model.spec.clone();
    let submit = {
        let model = model.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            if busy.get_untracked() {
                return;
            }
            let Some(session) = auth.get_untracked() else { return };
            let checked = values.with_untracked(|v| validate(&spec, v));
            problems.set(checked.iter().map(|c| c.as_ref().err().cloned()).collect());
            let Ok(features) = checked.into_iter().collect::<Result<Vec<f64>, String>>() else {
                error.set(Some("Some values are missing or out of range.".into()));
                return;
            };
            error.set(None);
            outcome.set(None);
            busy.set(true);
            let model = model.clone();
            let clicked = flow::now_ms();
            spawn_local(async move {
                let report: flow::Reporter = Rc::new(move |p| progress.set(Some(p)));
                let result = flow::predict(&session, &model.id, &model.spec_json, &features, report).await;
                progress.set(None);
                busy.set(false);
                match result {
                    Ok(done) => {
                        click_to_result.set(flow::now_ms() - clicked);
                        outcome.set(Some(done));
                    }
                    Err(message) => error.set(Some(message)),
                }
            });
        }
    };

    let fill = move |example: &ModelExample| {
        values.set(example.features.iter().map(|v| v.to_string()).collect());
        problems.set(vec![None; count]);
    };

    let inputs = model
        .spec
        .features
        .iter()
        .enumerate()
        .map(|(i, feature)| {
            let id = format!("feature-{i}");
            let hint = format!("{} to {}", short(feature.valid_min), short(feature.valid_max));
            view! {
                <div class="col">
                    <label class="form-label small mb-1" for=id.clone()>{feature.name.clone()}</label>
                    <input
                        id=id
                        type="number"
                        step="any"
                        inputmode="decimal"
                        class="form-control form-control-sm"
                        class:is-invalid=move || problems.with(|p| p[i].is_some())
                        placeholder=hint
                        prop:value=move || values.with(|v| v[i].clone())
                        on:input=move |ev| values.update(|v| v[i] = event_target_value(&ev))
                    />
                    <div class="invalid-feedback">{move || problems.with(|p| p[i].clone())}</div>
                </div>
            }
        })
        .collect_view();

    let samples = model
        .examples
        .iter()
        .map(|example| {
            let example = example.clone();
            let text = format!("Fill sample {}", example.label.to_lowercase());
            view! {
                <button type="button" class="btn btn-outline-secondary btn-sm" on:click=move |_| fill(&example)>
                    {text}
                </button>
            }
        })
        .collect_view();

    view! {
        <form on:submit=submit novalidate>
            <div class="d-flex flex-wrap gap-2 mb-3">{samples}</div>
            <div class="row row-cols-1 row-cols-sm-2 row-cols-lg-3 g-2 mb-3 features">{inputs}</div>
            <div class="d-flex flex-wrap align-items-center gap-3">
                <button type="submit" class="btn btn-primary btn-lg" disabled=move || busy.get()>"Predict privately"</button>
                <span class="small text-body-secondary" data-testid="worker-status">
                    {move || if warm.get() { "Encryption ready in this browser" } else { "Preparing encryption in this browser…" }}
                </span>
            </div>
        </form>
        <ProgressView progress />
        <ErrorAlert error />
        {move || {
            let labels = labels.clone();
            outcome.get().map(|done| view! {
                <section class="card my-3" aria-label="Result">
                    <div class="card-body">
                        <h2 class="h5">"Result"</h2>
                        <PredictionView prediction=done.prediction.clone() labels />
                        <p
                            class="small text-body-secondary mt-2 mb-0"
                            data-testid="prediction-timing"
                            data-key-check-ms=format!("{:.0}", done.check_ms)
                            data-click-to-result-ms=move || format!("{:.0}", click_to_result.get())
                        >
                            {timing(&done)}
                        </p>
                    </div>
                </section>
            })
        }}
        <CsvRows model />
    }
}

/// Several rows at once, pasted or loaded as CSV (one row per line; a header line is skipped).
#[component]
fn CsvRows(model: LoadedModel) -> impl IntoView {
    let auth = use_auth();
    let text = RwSignal::new(String::new());
    let rows = RwSignal::new(Vec::<(usize, Result<Prediction, String>)>::new());
    let progress = RwSignal::new(None::<Progress>);
    let busy = RwSignal::new(false);
    let labels = model.spec.labels.clone();

    let run = {
        let model = model.clone();
        move |_| {
            let Some(session) = auth.get_untracked() else { return };
            let parsed = parse_csv(&model.spec, &text.get_untracked());
            rows.set(Vec::new());
            busy.set(true);
            let model = model.clone();
            spawn_local(async move {
                for (line, row) in parsed {
                    let report: flow::Reporter = Rc::new(move |p| progress.set(Some(p)));
                    let result = match row {
                        Ok(features) => flow::predict(&session, &model.id, &model.spec_json, &features, report)
                            .await
                            .map(|o| o.prediction),
                        Err(message) => Err(message),
                    };
                    rows.update(|r| r.push((line, result)));
                }
                progress.set(None);
                busy.set(false);
            });
        }
    };
    let load = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|files| files.get(0)) else {
            return;
        };
        spawn_local(async move {
            if let Ok(content) = gloo_file::futures::read_as_text(&gloo_file::File::from(file)).await {
                text.set(content);
            }
        });
    };

    view! {
        <details class="my-4">
            <summary>"Several rows (CSV)"</summary>
            <p class="small text-body-secondary mt-2">
                {format!("One row per line, {} comma-separated values in the order of the form; a header line is skipped.", model.spec.features.len())}
            </p>
            <label class="form-label" for="csv-rows">"CSV rows"</label>
            <textarea id="csv-rows" class="form-control font-monospace" rows="4" bind:value=text></textarea>
            <div class="d-flex flex-wrap gap-2 my-2 align-items-center">
                <label class="form-label mb-0" for="csv-file">"or load a file"</label>
                <input id="csv-file" type="file" accept=".csv,text/csv" class="form-control form-control-sm w-auto" on:change=load />
                <button type="button" class="btn btn-primary" on:click=run disabled=move || busy.get()>
                    "Predict rows privately"
                </button>
            </div>
            <ProgressView progress />
            <Show when=move || rows.with(|r| !r.is_empty())>
                <table class="table table-sm">
                    <thead><tr><th scope="col">"Line"</th><th scope="col">"Prediction"</th></tr></thead>
                    <tbody>
                        {
                            let labels = labels.clone();
                            move || rows.get().into_iter().map(|(line, result)| {
                                let cell = match result {
                                    Ok(p) => describe(&p, &labels),
                                    Err(message) => message,
                                };
                                view! { <tr><td>{line}</td><td>{cell}</td></tr> }
                            }).collect_view()
                        }
                    </tbody>
                </table>
            </Show>
        </details>
    }
}

/// A prediction in a few words.
pub fn describe(prediction: &Prediction, labels: &[String]) -> String {
    match (&prediction.class, prediction.value) {
        (Some(class), _) => match prediction.confidence(labels) {
            Some(p) => format!("{class} ({:.1}%)", p * 100.0),
            None => class.clone(),
        },
        (None, Some(value)) => format!("{value:.3}"),
        _ => "no answer".into(),
    }
}

fn timing(done: &Outcome) -> String {
    let mut text = format!(
        "Answered in {:.2} s: encryption {:.2} s, upload and computation {:.2} s, download and decryption {:.2} s",
        done.elapsed_ms / 1000.0,
        done.encrypt_ms / 1000.0,
        done.server_ms / 1000.0,
        done.decrypt_ms / 1000.0,
    );
    if let Some(bootstraps) = done.job.bootstraps {
        text.push_str(&format!(" ({bootstraps} bootstraps on the server)"));
    }
    if let Some(keys) = &done.keys {
        text.push_str(&format!(
            ". Keys were generated first, in {:.1} s.",
            keys.keygen_ms / 1000.0
        ));
    } else {
        text.push('.');
    }
    text
}

fn short(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Each value parsed and checked against the feature's valid range.
fn validate(spec: &SpecView, values: &[String]) -> Vec<Result<f64, String>> {
    spec.features
        .iter()
        .zip(values)
        .map(|(feature, text)| {
            let text = text.trim();
            if text.is_empty() {
                return Err("Enter a number.".into());
            }
            let value: f64 = text.parse().map_err(|_| format!("\"{text}\" is not a number."))?;
            if !value.is_finite() || value < feature.valid_min || value > feature.valid_max {
                return Err(format!(
                    "Must be between {} and {}.",
                    short(feature.valid_min),
                    short(feature.valid_max)
                ));
            }
            Ok(value)
        })
        .collect()
}

/// CSV rows with their line numbers, each parsed and validated.
fn parse_csv(spec: &SpecView, text: &str) -> Vec<(usize, Result<Vec<f64>, String>)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .filter(|(i, line)| !(*i == 0 && line.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')))
        .map(|(i, line)| {
            let cells: Vec<String> = line.split(',').map(|c| c.trim().to_owned()).collect();
            if cells.len() != spec.features.len() {
                return (
                    i + 1,
                    Err(format!("{} values, expected {}", cells.len(), spec.features.len())),
                );
            }
            let checked = validate(spec, &cells);
            let row = checked
                .into_iter()
                .enumerate()
                .map(|(j, r)| r.map_err(|e| format!("{}: {e}", spec.features[j].name)))
                .collect::<Result<Vec<f64>, String>>();
            (i + 1, row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SpecView {
        SpecView {
            features: vec![
                FeatureView {
                    name: "a".into(),
                    valid_min: 0.0,
                    valid_max: 10.0,
                },
                FeatureView {
                    name: "b".into(),
                    valid_min: -1.0,
                    valid_max: 1.0,
                },
            ],
            labels: vec!["Benign".into(), "Malignant".into()],
        }
    }

    #[test]
    fn values_are_checked_against_the_valid_range() {
        let checked = validate(&spec(), &["5".into(), "2".into()]);
        assert_eq!(checked[0], Ok(5.0));
        assert_eq!(checked[1], Err("Must be between -1 and 1.".into()));
        let checked = validate(&spec(), &["".into(), "x".into()]);
        assert_eq!(checked[0], Err("Enter a number.".into()));
        assert_eq!(checked[1], Err("\"x\" is not a number.".into()));
        assert!(
            validate(&spec(), &["NaN".into(), "inf".into()])
                .iter()
                .all(Result::is_err)
        );
    }

    #[test]
    fn csv_rows_skip_a_header_and_report_bad_lines() {
        let rows = parse_csv(&spec(), "a,b\n1,0.5\n\n2e0,3\n1\n");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], (2, Ok(vec![1.0, 0.5])));
        assert_eq!(rows[1], (4, Err("b: Must be between -1 and 1.".into())));
        assert_eq!(rows[2], (5, Err("1 values, expected 2".into())));
    }
}
