//! The upload form: the model file, its calibration rows, optional test rows, and the words
//! users will read. Choosing the calibration CSV lists its feature columns (from its header,
//! read in the browser) for a description and a unit each.

use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::details_form::NameFields;
use crate::api::{FeatureInfo, ModelUpload, SessionInfo};
use crate::client::{self, ApiFailure, ModelFiles};
use crate::components::{
    ErrorAlert, FieldErrors, FormControls, FormField, InputDetails, InputDetailsTable, chosen_file, explain_failure,
    local_action, problems_of,
};
use crate::error::{AppError, AppResult};
use crate::use_auth;

/// The fields the form shows the server's rules under: the metadata's and the files' parts.
const FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "labels",
    "inputs",
    "model",
    "calibration",
    "test",
];

/// The calibration CSV's column that holds the true class or value, not a feature.
const TARGET_COLUMN: &str = "target";

/// How much of the calibration CSV is read for its header: the rows may run to megabytes.
const HEADER_BYTES: f64 = 1024.0 * 1024.0;

/// The upload as the page sends it.
type UploadRequest = (SessionInfo, ModelUpload, ModelFiles);

#[component]
pub fn UploadForm() -> impl IntoView {
    let auth = use_auth();
    let id = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let labels = RwSignal::new(String::new());
    let inputs = RwSignal::new(Vec::<InputDetails>::new());
    let (model_file, calibration_file, test_file) = (
        NodeRef::<Input>::new(),
        NodeRef::<Input>::new(),
        NodeRef::<Input>::new(),
    );
    // What the browser finds wrong before sending anything.
    let local_problems = RwSignal::new(FieldErrors::new());

    let read_columns = local_action(move |file: &web_sys::File| {
        let file = file.clone();
        async move {
            // Either problem is the calibration field's, shown under it.
            let header = header_line(file).await.map_err(|e| e.to_string())?;
            let columns = feature_columns(&header);
            if columns.is_empty() {
                return Err("The first line of the calibration CSV names no feature columns.".to_owned());
            }
            // What was typed for a column stays when a file with that column is chosen again.
            let typed = inputs.get_untracked();
            let rows = columns
                .into_iter()
                .map(|name| match typed.iter().find(|row| row.name == name) {
                    Some(row) => row.clone(),
                    None => InputDetails::new(FeatureInfo {
                        name,
                        ..FeatureInfo::default()
                    }),
                })
                .collect();
            inputs.set(rows);
            Ok(())
        }
    });
    let upload = local_action(move |request: &UploadRequest| {
        let (session, upload, files) = request.clone();
        async move {
            // The future starts under this form's owner, where the router is in reach.
            let navigate = use_navigate();
            let model = client::upload_model(&session, &upload, &files).await?;
            navigate(&format!("/models/{}", model.id), Default::default());
            Ok::<_, ApiFailure>(())
        }
    });

    let (pending, outcome, columns_read) = (upload.pending(), upload.value(), read_columns.value());
    let failure = move || outcome.with(|o| o.as_ref().and_then(|o| o.as_ref().err()).cloned());
    let fields = Signal::derive(move || {
        let mut fields = explain_failure(failure().as_ref(), FIELDS).0;
        if let Some(Err(message)) = columns_read.get() {
            fields.entry("calibration".to_owned()).or_default().push(message);
        }
        fields.extend(local_problems.get());
        fields
    });
    let error = Signal::derive(move || match explain_failure(failure().as_ref(), FIELDS).1 {
        Some(message) => Some(message),
        None if local_problems.with(|p| !p.is_empty()) => Some("Check the fields marked below.".to_owned()),
        None => None,
    });
    let invalid = move |field: &'static str| move || !problems_of(fields, field).is_empty();

    let on_calibration = move |ev: leptos::ev::Event| match chosen_file(&ev) {
        Some(file) => {
            read_columns.dispatch_local(file);
        }
        None => inputs.set(Vec::new()),
    };
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let Some(session) = auth.get_untracked() else { return };
        upload.clear();
        let chosen = |input: NodeRef<Input>| input.get_untracked()?.files()?.get(0);
        let (model, calibration, test) = (chosen(model_file), chosen(calibration_file), chosen(test_file));
        let metadata = ModelUpload {
            id: id.get_untracked().trim().to_owned(),
            name: name.get_untracked().trim().to_owned(),
            description: description.get_untracked().trim().to_owned(),
            labels: class_labels(&labels.get_untracked()),
            inputs: inputs.with_untracked(|rows| rows.iter().map(InputDetails::info_untracked).collect()),
        };
        let problems = check_upload(&metadata, model.is_some(), calibration.is_some());
        local_problems.set(problems.clone());
        if let (Some(model), Some(calibration), true) = (model, calibration, problems.is_empty()) {
            upload.dispatch_local((
                session,
                metadata,
                ModelFiles {
                    model,
                    calibration,
                    test,
                },
            ));
        }
    };

    view! {
        <ErrorAlert error />
        <form method="post" enctype="multipart/form-data" on:submit=submit novalidate class="upload-form" data-testid="upload-model">
            <FormControls>
                <FormField id="upload-id" label="Model id" field="id" fields
                    hint="Lower-case letters, digits and dashes, e.g. heart-disease: the model's address, fixed once uploaded.">
                    <input id="upload-id" name="id" type="text" class="form-control" autocomplete="off" spellcheck="false"
                        class:is-invalid=invalid("id") aria-describedby="upload-id-hint upload-id-errors" bind:value=id />
                </FormField>
                <NameFields name description fields />
                <FormField id="upload-labels" label="Class labels" field="labels" fields
                    hint="Comma separated, in the model's class order, e.g. Malignant, Benign. Optional: leave it empty for a regressor or the model's own labels.">
                    <input id="upload-labels" name="labels" type="text" class="form-control" autocomplete="off"
                        class:is-invalid=invalid("labels") aria-describedby="upload-labels-hint upload-labels-errors" bind:value=labels />
                </FormField>
                <FormField id="upload-model" label="Model file" field="model" fields
                    hint="XGBoost JSON or UBJSON, LightGBM text, or ONNX (a tree ensemble, a linear model or a neural network of one hidden layer).">
                    <input id="upload-model" name="model" type="file" accept=".json,.ubj,.txt,.onnx" class="form-control"
                        class:is-invalid=invalid("model") aria-describedby="upload-model-hint upload-model-errors" node_ref=model_file />
                </FormField>
                <FormField id="upload-calibration" label="Calibration CSV" field="calibration" fields
                    hint="Rows like the ones users will send, under a header of the feature names, with an optional target column: the compiler chooses the precision on them.">
                    <input id="upload-calibration" name="calibration" type="file" accept=".csv,text/csv" class="form-control"
                        class:is-invalid=invalid("calibration") aria-describedby="upload-calibration-hint upload-calibration-errors"
                        node_ref=calibration_file on:change=on_calibration />
                </FormField>
                <FormField id="upload-test" label="Test CSV" field="test" fields
                    hint="Optional: labelled rows (with a target column) the model was not trained on. The report measures the model on them.">
                    <input id="upload-test" name="test" type="file" accept=".csv,text/csv" class="form-control"
                        class:is-invalid=invalid("test") aria-describedby="upload-test-hint upload-test-errors" node_ref=test_file />
                </FormField>
                <Show when=move || inputs.with(|rows| !rows.is_empty())>
                    <fieldset class="mb-3">
                        <legend class="h6">"Inputs"</legend>
                        <p class="form-text mt-0">
                            "What each column of the calibration CSV means and its unit, as users will read them "
                            "on the Predict form. Optional; you can change them later."
                        </p>
                        <InputDetailsTable prefix="upload-input" inputs />
                    </fieldset>
                </Show>
                <ul class="invalid-feedback d-block list-unstyled">
                    {move || problems_of(fields, "inputs").into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}
                </ul>
                <button type="submit" class="btn btn-primary" disabled=move || pending.get()>
                    {move || if pending.get() { "Uploading…" } else { "Upload and compile" }}
                </button>
            </FormControls>
        </form>
    }
    .into_any()
}

/// The first line of a file, read from its first megabyte only.
async fn header_line(file: web_sys::File) -> AppResult<String> {
    let unreadable = |reason: String| AppError::File {
        what: "the calibration CSV",
        reason,
    };
    let head = file
        .slice_with_f64_and_f64(0.0, HEADER_BYTES)
        .map_err(|e| unreadable(format!("{e:?}")))?;
    let text = gloo_file::futures::read_as_text(&gloo_file::Blob::from(head))
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// The feature columns a CSV header names: every column but the target, unquoted and trimmed
/// as the server's CSV reader does.
fn feature_columns(header: &str) -> Vec<String> {
    csv_cells(header.trim_start_matches('\u{feff}'))
        .into_iter()
        .map(|cell| cell.trim().to_owned())
        .filter(|cell| !cell.is_empty() && cell != TARGET_COLUMN)
        .collect()
}

/// One CSV line's cells: commas separate them except inside double quotes, where `""` is a
/// quote.
fn csv_cells(line: &str) -> Vec<String> {
    let (mut cells, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            (c, _) => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

/// The class labels typed as a comma separated list.
fn class_labels(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|label| !label.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What the browser can tell is wrong before uploading: a missing file, an id the server
/// would refuse (the API's own rule).
fn check_upload(upload: &ModelUpload, has_model: bool, has_calibration: bool) -> FieldErrors {
    let mut problems = FieldErrors::new();
    let mut problem = |field: &str, text: &str| problems.insert(field.to_owned(), vec![text.to_owned()]);
    if upload.id.is_empty() {
        problem("id", "Enter the model's id.");
    } else if blindfold_api::ModelId::parse(&upload.id).is_none() {
        problem(
            "id",
            &format!(
                "Use lower-case letters, digits and dashes only, at most {} of them.",
                blindfold_api::MAX_MODEL_ID_LEN
            ),
        );
    }
    if !has_model {
        problem("model", "Choose the model file.");
    }
    if !has_calibration {
        problem("calibration", "Choose the calibration CSV.");
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_the_features_but_not_the_target() {
        assert_eq!(
            feature_columns("\u{feff}mean radius, mean texture ,target,\"area, worst\"\r"),
            ["mean radius", "mean texture", "area, worst"]
        );
        assert_eq!(feature_columns("target"), Vec::<String>::new());
        assert_eq!(csv_cells(r#"a,"say ""hi""",,b"#), ["a", r#"say "hi""#, "", "b"]);
    }

    #[test]
    fn class_labels_are_trimmed_and_empty_ones_dropped() {
        assert_eq!(class_labels(" Malignant, Benign ,"), ["Malignant", "Benign"]);
        assert!(class_labels("  ").is_empty());
    }

    #[test]
    fn missing_files_and_bad_ids_are_caught_before_uploading() {
        let upload = |id: &str| ModelUpload {
            id: id.to_owned(),
            ..ModelUpload::default()
        };
        let problems = check_upload(&upload("Bad Id"), false, true);
        assert_eq!(problems.keys().collect::<Vec<_>>(), ["id", "model"]);
        assert!(check_upload(&upload("good-id-2"), true, true).is_empty());
        assert_eq!(
            check_upload(&upload(""), true, false).keys().collect::<Vec<_>>(),
            ["calibration", "id"]
        );
    }
}
