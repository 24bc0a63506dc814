//! Several rows at once, pasted or loaded as CSV, each predicted privately in turn.

use std::rc::Rc;

use leptos::prelude::*;

use blindfold_model::spec::quantize::FeatureQuantizer;

use super::spec::{LoadedModel, validate};
use crate::api::{FeatureInfo, SessionInfo};
use crate::components::{Column, ErrorAlert, ProgressView, Table, chosen_file, local_action, read_text};
use crate::error::AppError;
use crate::flow::{self, Prediction, PredictionExt, Progress};
use crate::use_auth;

/// A CSV line's number (from 1) and its features, or why it cannot be predicted.
type CsvRow = (usize, Result<Vec<f64>, String>);

/// What became of a CSV line.
#[derive(Debug, Clone)]
enum LineAnswer {
    /// Not a row of the model's features: why.
    Invalid(String),
    /// The prediction, and what it says of values beyond the calibration data.
    Predicted(Prediction, String),
    /// The private prediction failed.
    Failed(AppError),
}

const ANSWER_COLUMNS: &[Column] = &[Column::new("Line"), Column::new("Prediction")];

/// Several rows at once, pasted or loaded as CSV (one row per line; a header line is skipped).
#[component]
pub fn CsvRows(model: LoadedModel) -> impl IntoView {
    let auth = use_auth();
    let text = RwSignal::new(String::new());
    // Each line's answer, and what it says of values beyond the calibration data.
    let answers = RwSignal::new(Vec::<(usize, LineAnswer)>::new());
    let load_error = RwSignal::new(None::<AppError>);
    let progress = RwSignal::new(None::<Progress>);
    let labels = model.spec.labels.clone();

    // Each row's answer is shown as soon as it arrives.
    let predict_rows = local_action(
        move |(session, model, rows): &(SessionInfo, LoadedModel, Vec<CsvRow>)| {
            let (session, model, rows) = (session.clone(), model.clone(), rows.clone());
            async move {
                for (line, row) in rows {
                    let report: flow::Reporter = Rc::new(move |p| progress.set(Some(p)));
                    let answer = match row {
                        Ok(features) => {
                            let outside: Vec<String> = model
                                .spec
                                .outside_calibration(&features)
                                .iter()
                                .map(ToString::to_string)
                                .collect();
                            match flow::predict(&session, &model.id, &model.spec_json, &features, report).await {
                                Ok(outcome) => LineAnswer::Predicted(outcome.prediction, outside.join("; ")),
                                Err(failure) => LineAnswer::Failed(failure),
                            }
                        }
                        Err(problem) => LineAnswer::Invalid(problem),
                    };
                    answers.update(|a| a.push((line, answer)));
                }
                progress.set(None);
            }
        },
    );
    let load_file = local_action(move |file: &web_sys::File| {
        let file = file.clone();
        async move {
            match read_text(file, "the CSV file").await {
                Ok(content) => text.set(content),
                Err(failure) => load_error.set(Some(failure)),
            }
        }
    });
    let pending = predict_rows.pending();

    let columns = model.spec.features.len();
    let on_predict = move |_| {
        let Some(session) = auth.get_untracked() else { return };
        let rows = parse_csv(&model.spec.features, &model.inputs, &text.get_untracked());
        answers.set(Vec::new());
        predict_rows.dispatch_local((session, model.clone(), rows));
    };
    let on_load = move |ev: leptos::ev::Event| {
        load_error.set(None);
        if let Some(file) = chosen_file(&ev) {
            load_file.dispatch_local(file);
        }
    };

    // A `Copy` closure: `Show` renders it again each time answers appear.
    let labels = StoredValue::new(labels);
    let answer_rows = move || {
        let labels = labels.get_value();
        answers
            .get()
            .into_iter()
            .map(|(line, answer)| {
                let cell = match answer {
                    LineAnswer::Predicted(p, outside) if outside.is_empty() => p.describe(&labels),
                    LineAnswer::Predicted(p, outside) => format!("{} ({outside})", p.describe(&labels)),
                    LineAnswer::Invalid(problem) => problem,
                    LineAnswer::Failed(failure) => failure.to_string(),
                };
                view! { <tr><td>{line}</td><td>{cell}</td></tr> }
            })
            .collect_view()
    };

    // Erased to `AnyView`: see `PredictForm`.
    view! {
        <details class="my-4">
            <summary>"Several rows (CSV)"</summary>
            <p class="small text-body-secondary mt-2">
                {format!("One row per line, {columns} comma-separated values in the order of the form; a header line is skipped.")}
            </p>
            <label class="form-label" for="csv-rows">"CSV rows"</label>
            <textarea id="csv-rows" class="form-control font-monospace" rows="4" bind:value=text></textarea>
            <div class="d-flex flex-wrap gap-2 my-2 align-items-center">
                <label class="form-label mb-0" for="csv-file">"or load a file"</label>
                <input id="csv-file" type="file" accept=".csv,text/csv" class="form-control form-control-sm w-auto" on:change=on_load />
                <button type="button" class="btn btn-primary" on:click=on_predict disabled=move || pending.get()>
                    "Predict rows privately"
                </button>
            </div>
            <ErrorAlert error=Signal::derive(move || load_error.get().map(|e| e.to_string())) />
            <ProgressView progress />
            <Show when=move || answers.with(|a| !a.is_empty())>
                <Table class="csv-answers" columns=ANSWER_COLUMNS compact=true>{answer_rows}</Table>
            </Show>
        </details>
    }
    .into_any()
}

/// CSV rows with their line numbers, each parsed and validated.
fn parse_csv(features: &[FeatureQuantizer], inputs: &[FeatureInfo], text: &str) -> Vec<CsvRow> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .filter(|(i, line)| !(*i == 0 && line.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')))
        .map(|(i, line)| {
            let cells: Vec<String> = line.split(',').map(|c| c.trim().to_owned()).collect();
            if cells.len() != features.len() {
                return (
                    i + 1,
                    Err(format!("{} values, expected {}", cells.len(), features.len())),
                );
            }
            let checked = validate(features, inputs, &cells);
            let row = checked
                .into_iter()
                .enumerate()
                .map(|(j, r)| r.map_err(|e| format!("{}: {e}", features[j].name)))
                .collect::<Result<Vec<f64>, String>>();
            (i + 1, row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::spec::tests::{features, inputs};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn csv_rows_skip_a_header_and_report_bad_lines() {
        let rows = parse_csv(&features(), &inputs(), "a,b\n1,0.5\n\n2e0,3\n1\n9,7\nx,1\n");
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0], (2, Ok(vec![1.0, 0.5])));
        // Beyond the calibration data of `b` (-1 to 1) but within its owner's range: a row.
        assert_eq!(rows[1], (4, Ok(vec![2.0, 3.0])));
        assert_eq!(rows[2], (5, Err("1 values, expected 2".into())));
        assert_eq!(
            rows[3],
            (6, Err("b: `b` = 7 is outside its valid range (from -5 to 5)".into()))
        );
        assert_eq!(rows[4], (7, Err("a: \"x\" is not a number.".into())));
    }

    /// Cells a user might paste: numbers, non-finite spellings, words, quotes, unicode.
    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<f64>().prop_map(|v| v.to_string()),
            (-20.0f64..20.0).prop_map(|v| v.to_string()),
            prop::sample::select(vec![
                "",
                " ",
                "NaN",
                "inf",
                "-inf",
                "1e999",
                "-1e999",
                "1e-999",
                "0x1",
                "\"1\"",
                "e",
                "E5",
                "a",
                "١",
                "\u{0}",
                "\u{FEFF}1",
                "\t1\t",
                "+1",
                "--1",
                ".",
            ])
            .prop_map(str::to_owned),
            ".{0,6}",
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        let line = prop::collection::vec(cell(), 0..4).prop_map(|cells| cells.join(","));
        let end = prop::sample::select(vec!["\n", "\r\n", "\r", "\n\n"]);
        prop_oneof![
            3 => (prop::collection::vec(line, 0..8), end).prop_map(|(lines, end)| lines.join(end)),
            1 => ".{0,200}",
            1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever is pasted: no panic, line numbers that exist, in order, and every accepted
        /// row as wide as the model with each value finite and within the owner's ranges.
        #[test]
        fn pasted_csv_never_panics_and_accepts_only_valid_rows(text in text()) {
            let features = features();
            let lines = text.lines().count();
            let rows = parse_csv(&features, &inputs(), &text);
            prop_assert!(rows.len() <= lines);
            prop_assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));
            for (line, row) in rows {
                prop_assert!((1..=lines).contains(&line));
                if let Ok(values) = row {
                    prop_assert_eq!(values.len(), features.len());
                    for value in &values {
                        prop_assert!(value.is_finite());
                    }
                    prop_assert!((-5.0..=5.0).contains(&values[1]), "the owner's range of `b`");
                }
            }
        }
    }
}
