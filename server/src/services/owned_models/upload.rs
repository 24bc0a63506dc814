//! An owner's upload: its fields checked, its files (model, CSVs) imported and parsed on a
//! blocking thread within the limits, the model stored as compiling within the owner's quota,
//! and its compilation started.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use blindfold_api::{CompileProgress, FeatureInfo, ModelId, ModelState, ModelUpload, OwnedModel};
use blindfold_model::compiler::import::{ImportedModel, import_any};
use blindfold_model::{CompileOptions, Dataset, ModelError};

use super::compilation::Compilation;
use super::rules::{check_details, check_labels, not_inputs, taken_error};
use super::{CompileTicket, OwnedModels, OwnerLimits, UploadFiles};
use crate::services::compile::describe_inputs;
use crate::services::{ServiceError, ServiceResult};
use crate::store::models::{Inserted, NewOwnedModel};

/// An upload's files, checked: what the compiler needs.
pub(super) struct Checked {
    pub format: String,
    pub model: ImportedModel,
    /// The model's inputs, in its order.
    pub features: Vec<String>,
    pub calibration: Dataset,
    pub test: Option<Dataset>,
}

impl OwnedModels {
    /// Checks an upload and the files (model, CSVs) on a blocking thread, stores the model as
    /// compiling and starts its compilation; answers at once.
    pub async fn upload(
        self: &Arc<Self>,
        owner: i64,
        upload: ModelUpload,
        files: UploadFiles,
        ticket: CompileTicket,
    ) -> ServiceResult<OwnedModel> {
        let mut problems = BTreeMap::new();
        if ModelId::parse(&upload.id).is_none() {
            problems.insert("id", vec![ModelId::rule()]);
        }
        check_details(&mut problems, &upload.name, &upload.description, &upload.inputs);
        check_labels(&mut problems, &upload.labels);
        if !problems.is_empty() {
            return Err(ServiceError::Validation(problems));
        }
        // Cheap refusals before the files are read.
        self.refuse_taken(&upload.id).await?;

        let limits = self.limits.clone();
        let checked = tokio::task::spawn_blocking(move || check_files(files, &limits)).await??;

        let mut problems = BTreeMap::new();
        let known: BTreeSet<&str> = checked.features.iter().map(String::as_str).collect();
        let unknown: Vec<String> = upload
            .inputs
            .iter()
            .filter(|input| !known.contains(input.name.as_str()))
            .map(|input| format!("`{}`", input.name))
            .collect();
        if !unknown.is_empty() {
            problems.insert("inputs", vec![not_inputs(&unknown, &checked.features)]);
        }
        match (checked.model.objective().classes(), upload.labels.len()) {
            (_, 0) => {}
            (Some(classes), given) if classes == given => {}
            (Some(classes), given) => {
                problems.insert(
                    "labels",
                    vec![format!(
                        "The model has {classes} classes: give {classes} labels in its class order, or none \
                         ({given} given)."
                    )],
                );
            }
            (None, _) => {
                problems.insert("labels", vec!["A regression model has no class labels.".to_owned()]);
            }
        }
        if !problems.is_empty() {
            return Err(ServiceError::Validation(problems));
        }

        let inputs = describe_inputs(checked.features.iter().map(String::as_str), &upload.inputs);
        let progress = CompileProgress {
            stage: "starting".to_owned(),
            done: 0,
            total: 0,
        };
        let now = self.insert(owner, &upload, &inputs, &progress).await?;
        tracing::info!(
            owner,
            model = upload.id,
            format = checked.format,
            features = checked.features.len(),
            "model uploaded; compiling"
        );
        let options = CompileOptions {
            labels: (!upload.labels.is_empty()).then(|| upload.labels.clone()),
            max_bootstraps: Some(self.limits.max_bootstraps_per_prediction),
            ..CompileOptions::default()
        };
        let compilation = Compilation {
            id: upload.id.clone(),
            created_at: now,
            owner,
            checked,
            options,
            ticket,
        };
        self.tasks.spawn(self.clone().compile(compilation));
        // As inserted (a read now might already see the compilation's end).
        Ok(OwnedModel {
            id: upload.id,
            name: upload.name,
            description: upload.description,
            state: ModelState::Compiling,
            progress: Some(progress),
            error: None,
            objective: None,
            labels: Vec::new(),
            inputs,
            report: None,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    /// 409 when a model (anyone's, the CLI's included) has this id.
    async fn refuse_taken(&self, id: &str) -> ServiceResult<()> {
        match self.store.exists(id).await? {
            true => Err(taken_error(id)),
            false => Ok(()),
        }
    }

    /// Inserts the model as compiling, within the owner's quota; when.
    async fn insert(
        &self,
        owner: i64,
        upload: &ModelUpload,
        inputs: &[FeatureInfo],
        progress: &CompileProgress,
    ) -> ServiceResult<i64> {
        let model = NewOwnedModel {
            id: &upload.id,
            name: &upload.name,
            description: &upload.description,
            inputs,
            owner,
            progress,
        };
        match self
            .store
            .insert_compiling(&model, self.limits.max_models_per_owner)
            .await?
        {
            Inserted::At(now) => Ok(now),
            Inserted::OverQuota => Err(self.over_quota()),
            Inserted::Taken => Err(taken_error(&upload.id)),
        }
    }
}

/// Imports the model and parses the CSVs (blocking): a file that cannot be used is refused with
/// the reason.
fn check_files(files: UploadFiles, limits: &OwnerLimits) -> ServiceResult<Checked> {
    let max_rows = limits.max_csv_rows;
    let (format, model) = import_any(&files.model).map_err(|error| match error {
        ModelError::TooLarge { .. } => ServiceError::Rejected(error),
        error => ServiceError::Unusable(error.to_string()),
    })?;
    drop(files.model);
    model
        .check_compilable()
        .map_err(|error| ServiceError::Unusable(format!("{format}: {error}")))?;
    let calibration = parse_csv(&files.calibration, "calibration", max_rows)?;
    let features = model_features(&model, &calibration)?;
    let test = match &files.test {
        Some(text) => {
            let test = parse_csv(text, "test", max_rows)?;
            require_columns(&test, &features, "test")?;
            Some(test)
        }
        None => None,
    };
    // What the compiler's time grows with: every row goes through the trees and the circuit
    // at each input precision it tries.
    let rows = calibration.rows.len() + test.as_ref().map_or(0, |test| test.rows.len());
    let work = (model.compile_work_per_row() as u64).saturating_mul(rows as u64);
    if work > limits.max_compile_split_rows {
        return Err(ServiceError::Unusable(format!(
            "compiling this model would take {} splits through {rows} rows ({work} split-rows), more than \
             the {} this server compiles: send fewer rows or a smaller model",
            model.compile_work_per_row(),
            limits.max_compile_split_rows
        )));
    }
    Ok(Checked {
        format: format.to_string(),
        model,
        features,
        calibration,
        test,
    })
}

/// A CSV of at most `max_rows` rows, counted before it is parsed.
fn parse_csv(text: &str, what: &str, max_rows: usize) -> ServiceResult<Dataset> {
    let lines = text.lines().filter(|line| !line.trim().is_empty()).count();
    let too_many = |rows: usize| {
        ServiceError::Unusable(format!(
            "the {what} CSV has {rows} rows; at most {max_rows} are accepted"
        ))
    };
    if lines.saturating_sub(1) > max_rows {
        return Err(too_many(lines - 1));
    }
    let dataset =
        Dataset::from_csv(text).map_err(|error| ServiceError::Unusable(format!("the {what} CSV: {error}")))?;
    if dataset.rows.is_empty() {
        return Err(ServiceError::Unusable(format!("the {what} CSV has no rows")));
    }
    if dataset.rows.len() > max_rows {
        return Err(too_many(dataset.rows.len()));
    }
    Ok(dataset)
}

/// The model's inputs as the compiler will take them: the names it was trained with, or for a
/// model saved without names, the calibration CSV's first columns.
fn model_features(model: &ImportedModel, calibration: &Dataset) -> ServiceResult<Vec<String>> {
    let features = if model.feature_names().is_empty() {
        if calibration.columns.len() < model.num_features() {
            return Err(ServiceError::Unusable(format!(
                "the model has {} inputs, saved without names, but the calibration CSV has only {} columns",
                model.num_features(),
                calibration.columns.len()
            )));
        }
        calibration.columns[..model.num_features()].to_vec()
    } else {
        model.feature_names().to_vec()
    };
    let mut seen = BTreeSet::new();
    if let Some(twice) = features.iter().find(|name| !seen.insert(name.as_str())) {
        return Err(ServiceError::Unusable(format!(
            "the model's input `{twice}` is named twice"
        )));
    }
    require_columns(calibration, &features, "calibration")?;
    Ok(features)
}

fn require_columns(data: &Dataset, features: &[String], what: &str) -> ServiceResult<()> {
    let columns: BTreeSet<&str> = data.columns.iter().map(String::as_str).collect();
    let missing: Vec<String> = features
        .iter()
        .filter(|name| !columns.contains(name.as_str()))
        .take(10)
        .map(|name| format!("`{name}`"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Unusable(format!(
            "the {what} CSV lacks a column for the model's input {}",
            missing.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_counted_before_parsing() {
        let error = parse_csv("a,b\n1,2\n3,4\n5,6\n", "test", 2).unwrap_err();
        assert_eq!(error.to_string(), "the test CSV has 3 rows; at most 2 are accepted");
        assert!(parse_csv("a,b\n1,2\n\n3,4\n", "test", 2).is_ok());
        let error = parse_csv("a,b\n", "calibration", 2).unwrap_err();
        assert_eq!(error.to_string(), "the calibration CSV has no rows");
        let error = parse_csv("a,b\n1,x\n", "calibration", 2).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the calibration CSV: invalid data: line 2"),
            "{error}"
        );
    }
}
