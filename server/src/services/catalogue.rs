//! The model catalogue: the published models, parsed once and kept in memory while their
//! `version` stays the one in the database. Every look-up reads the model's version and state
//! with one cheap query, so a model re-imported by the CLI, changed or unpublished by its owner
//! through another process is seen at once; the spec and plan are parsed again only when the
//! version changed.
//!
//! Models come from `blindfold-server import-model` and the default model ([`install`], no
//! owner, published at once) or from owners ([`crate::services::owned_models`], published when
//! their owner says so).
//!
//! [`install`]: ModelCatalogue::install

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::Context;

use blindfold_api::{
    DEFAULT_MODEL_ID, FeatureInfo, ModelCost, ModelExample, ModelQuality, ModelReport, ModelState, ModelSummary,
    Objective, QualityMeasure, QualityRows, valid_model_id,
};
use blindfold_model::compile::bootstraps_per_evaluation;
use blindfold_model::fixtures::Fixture;
use blindfold_model::report::{Evaluation, evaluate_rows};
use blindfold_model::{ClientSpec, CompileOptions, CompiledModel, Dataset, ServerPlan, import_model};
use sqlx::AnyPool;

use crate::db::now_ms;
use crate::services::{ServiceError, ServiceResult};

/// One servable model.
pub struct Model {
    pub id: String,
    pub name: String,
    pub spec: ClientSpec,
    pub spec_json: String,
    /// [`blindfold_model::binding::spec_digest`] of `spec_json`: what rows must be encrypted
    /// against.
    pub spec_sha256: String,
    pub plan: ServerPlan,
    /// What one evaluation of the plan costs.
    pub bootstraps: usize,
    /// Sample rows for the Predict page.
    pub examples: Vec<ModelExample>,
    pub description: String,
    /// Every input in the spec's order.
    pub inputs: Vec<FeatureInfo>,
    /// None for models installed before reports.
    pub report: Option<ModelReport>,
    pub version: i64,
}

impl Model {
    pub fn summary(&self) -> ModelSummary {
        ModelSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            labels: self.spec.labels.clone(),
            features: self.spec.features.len(),
            objective: wire_objective(self.spec.objective),
            examples: self.examples.clone(),
            description: self.description.clone(),
            inputs: self.inputs.clone(),
            quality: self.report.as_ref().map(|report| report.evaluation),
            cost: self.report.as_ref().map(|report| report.cost),
            version: self.version,
        }
    }
}

/// A compiled model to install (replacing any model of its id), published, without owner.
pub struct Installation<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    /// Descriptions and units by feature name; features not named get none.
    pub inputs: &'a [FeatureInfo],
    pub report: Option<&'a ModelReport>,
    pub compiled: &'a CompiledModel,
    pub examples: &'a [ModelExample],
}

/// What the default model predicts.
pub const DEFAULT_MODEL_DESCRIPTION: &str = "Predicts whether a breast tumour is malignant or benign from 30 \
     measurements of the cell nuclei in a digitized image of a fine-needle aspirate (the Wisconsin diagnostic \
     breast cancer data, as in scikit-learn).";

pub struct ModelCatalogue {
    pool: AnyPool,
    loaded: RwLock<HashMap<String, Arc<Model>>>,
}

/// A model's row as the catalogue reads it.
#[derive(sqlx::FromRow)]
struct ModelRow {
    name: String,
    spec_json: String,
    plan_json: String,
    examples_json: String,
    description: String,
    inputs_json: String,
    report_json: Option<String>,
    version: i64,
}

impl ModelCatalogue {
    pub fn new(pool: AnyPool) -> Self {
        Self {
            pool,
            loaded: RwLock::new(HashMap::new()),
        }
    }

    /// Installs (or replaces) a compiled model, without description or report.
    pub async fn install(
        &self,
        id: &str,
        name: &str,
        compiled: &CompiledModel,
        examples: &[ModelExample],
    ) -> anyhow::Result<()> {
        self.install_with(&Installation {
            id,
            name,
            description: "",
            inputs: &[],
            report: None,
            compiled,
            examples,
        })
        .await
    }

    /// Installs (or replaces) a compiled model: published, without owner (a model of an owner
    /// with this id becomes the operator's), its version bumped.
    pub async fn install_with(&self, model: &Installation<'_>) -> anyhow::Result<()> {
        let id = model.id;
        anyhow::ensure!(
            valid_model_id(id),
            "model id `{id}`: use lower-case letters, digits and dashes"
        );
        let names = model.compiled.spec.features.iter().map(|f| f.name.as_str());
        let inputs = describe_inputs(names, model.inputs);
        let now = now_ms();
        sqlx::query(
            "INSERT INTO models (id, name, spec_json, plan_json, examples_json, created_at, description, inputs_json,
                                 report_json, state, owner_id, progress_json, error, version, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, NULL, 1, $11)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, spec_json = excluded.spec_json,
             plan_json = excluded.plan_json, examples_json = excluded.examples_json,
             description = excluded.description, inputs_json = excluded.inputs_json,
             report_json = excluded.report_json, state = excluded.state, owner_id = NULL, progress_json = NULL,
             error = NULL, version = models.version + 1, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(model.name)
        .bind(model.compiled.spec.to_json())
        .bind(model.compiled.plan.to_json())
        .bind(serde_json::to_string(model.examples)?)
        .bind(now)
        .bind(model.description)
        .bind(serde_json::to_string(&inputs)?)
        .bind(model.report.map(serde_json::to_string).transpose()?)
        .bind(ModelState::Published.as_str())
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.forget(id);
        Ok(())
    }

    /// Installs the shipped breast cancer model unless it is there already, with its card:
    /// description, inputs and a report on the fixture's test rows.
    pub async fn install_default(&self) -> anyhow::Result<()> {
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM models WHERE id = $1")
            .bind(DEFAULT_MODEL_ID)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            let fixture = blindfold_model::fixtures::BREAST_CANCER;
            let (compiled, examples, report) = tokio::task::spawn_blocking(move || {
                let (format, ensemble) = import_model(fixture.model)?;
                let compiled = fixture.compile()?;
                let examples = fixture_examples(&fixture, &compiled)?;
                let calibration_rows = Dataset::from_csv(fixture.train_csv)?.rows.len();
                let test = Dataset::from_csv(fixture.test_csv)?;
                let target = CompileOptions::default().target;
                let evaluation = evaluate_rows(&ensemble, &compiled, &test, "test", target)?;
                let report = model_report(
                    &format.to_string(),
                    &compiled,
                    calibration_rows,
                    &evaluation,
                    QualityRows::Test,
                );
                Ok::<_, blindfold_model::ModelError>((compiled, examples, report))
            })
            .await??;
            let inputs = breast_cancer_inputs(&compiled.spec);
            self.install_with(&Installation {
                id: DEFAULT_MODEL_ID,
                name: fixture.name,
                description: DEFAULT_MODEL_DESCRIPTION,
                inputs: &inputs,
                report: Some(&report),
                compiled: &compiled,
                examples: &examples,
            })
            .await?;
            tracing::info!(model = DEFAULT_MODEL_ID, "installed the default model");
        }
        Ok(())
    }

    /// A published model. Reads its version and state (one small query), and the whole model
    /// only when the copy in memory is of another version.
    pub async fn get(&self, id: &str) -> ServiceResult<Arc<Model>> {
        if !valid_model_id(id) {
            return Err(ServiceError::NotFound("model"));
        }
        let row: Option<(i64, String)> = sqlx::query_as("SELECT version, state FROM models WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some((version, state)) if state == ModelState::Published.as_str() => self.load(id, version).await,
            _ => {
                self.forget(id);
                Err(ServiceError::NotFound("model"))
            }
        }
    }

    /// The model at `version` from memory, or read and parsed (off the async runtime: an
    /// owner's plan may be large).
    async fn load(&self, id: &str, version: i64) -> ServiceResult<Arc<Model>> {
        if let Some(model) = self.loaded.read().expect("catalogue lock").get(id)
            && model.version == version
        {
            return Ok(model.clone());
        }
        let row: Option<ModelRow> = sqlx::query_as(
            "SELECT name, spec_json, plan_json, examples_json, description, inputs_json, report_json, version
             FROM models WHERE id = $1 AND state = $2",
        )
        .bind(id)
        .bind(ModelState::Published.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            self.forget(id);
            return Err(ServiceError::NotFound("model"));
        };
        let id = id.to_owned();
        let model = tokio::task::spawn_blocking(move || parse_model(id, row)).await??;
        let model = Arc::new(model);
        self.loaded
            .write()
            .expect("catalogue lock")
            .insert(model.id.clone(), model.clone());
        Ok(model)
    }

    /// Drops the copy in memory of a model (the next look-up reads it again).
    pub fn forget(&self, id: &str) {
        self.loaded.write().expect("catalogue lock").remove(id);
    }

    /// The published models, by id.
    pub async fn list(&self) -> ServiceResult<Vec<ModelSummary>> {
        let published: Vec<(String, i64)> =
            sqlx::query_as("SELECT id, version FROM models WHERE state = $1 ORDER BY id")
                .bind(ModelState::Published.as_str())
                .fetch_all(&self.pool)
                .await?;
        let mut summaries = Vec::with_capacity(published.len());
        for (id, version) in published {
            match self.load(&id, version).await {
                Ok(model) => summaries.push(model.summary()),
                // Unpublished or deleted since the list was read.
                Err(ServiceError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(summaries)
    }
}

/// A stored model, parsed. Stored by the server itself: unreadable means a bug or a damaged
/// database, not bad input.
fn parse_model(id: String, row: ModelRow) -> ServiceResult<Model> {
    let spec = ClientSpec::from_json(&row.spec_json).context("a stored client spec")?;
    let plan = ServerPlan::from_json(&row.plan_json).context("a stored server plan")?;
    let bootstraps = bootstraps_per_evaluation(&plan, &spec).context("a stored server plan")?;
    let examples = serde_json::from_str(&row.examples_json).context("stored sample rows")?;
    let stored: Vec<FeatureInfo> = serde_json::from_str(&row.inputs_json).context("stored inputs")?;
    let inputs = describe_inputs(spec.features.iter().map(|f| f.name.as_str()), &stored);
    let report = row
        .report_json
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .context("a stored report")?;
    Ok(Model {
        id,
        name: row.name,
        spec,
        spec_sha256: blindfold_model::binding::spec_digest(&row.spec_json),
        spec_json: row.spec_json,
        plan,
        bootstraps,
        examples,
        description: row.description,
        inputs,
        report,
        version: row.version,
    })
}

/// Every feature of `names` in order, with the description and unit `given` has for it by name
/// (none for the others).
pub fn describe_inputs<'a>(names: impl Iterator<Item = &'a str>, given: &[FeatureInfo]) -> Vec<FeatureInfo> {
    names
        .map(|name| {
            given
                .iter()
                .find(|info| info.name == name)
                .cloned()
                .unwrap_or_else(|| FeatureInfo {
                    name: name.to_owned(),
                    ..FeatureInfo::default()
                })
        })
        .collect()
}

/// The report of a compiled model: its cost, the compiler's own held-out estimate on the
/// `calibration_rows` calibration rows, and `evaluation` on the `rows` it names.
pub fn model_report(
    format: &str,
    compiled: &CompiledModel,
    calibration_rows: usize,
    evaluation: &Evaluation,
    rows: QualityRows,
) -> ModelReport {
    let report = &compiled.report;
    ModelReport {
        format: format.to_owned(),
        cost: ModelCost {
            input_bits: report.input_bits,
            leaf_bits: report.leaf_bits,
            bootstraps: report.bootstraps,
            ciphertexts: report.ciphertexts,
            row_bytes: report.row_bytes,
            predicted_millis: report.predicted_millis,
        },
        calibration: wire_quality(&report.quality, QualityRows::HeldOutCalibration, calibration_rows),
        evaluation: wire_quality(&evaluation.quality, rows, evaluation.rows),
        confusion: evaluation.confusion.clone(),
        scatter: evaluation
            .scatter
            .iter()
            .take(blindfold_api::MAX_SCATTER_POINTS)
            .copied()
            .collect(),
    }
}

fn wire_quality(quality: &blindfold_model::compile::Quality, rows: QualityRows, count: usize) -> ModelQuality {
    use blindfold_model::compile::QualityMeasure as Measure;
    ModelQuality {
        measure: match quality.measure {
            Measure::Accuracy => QualityMeasure::Accuracy,
            Measure::Agreement => QualityMeasure::Agreement,
            Measure::MeanAbsoluteError => QualityMeasure::MeanAbsoluteError,
            Measure::Deviation => QualityMeasure::Deviation,
        },
        float: quality.float,
        quantized: quality.quantized,
        rows,
        count,
        target_met: quality.target_met,
    }
}

/// The default model's inputs: each of its 30 features is the mean, the standard error or the
/// worst value (mean of the three largest) over the nuclei in the image of one of ten
/// measurements. Lengths are in image units: no unit is given.
fn breast_cancer_inputs(spec: &ClientSpec) -> Vec<FeatureInfo> {
    const MEASUREMENTS: [(&str, &str); 10] = [
        (
            "radius",
            "radius (mean of distances from the centre to points on the perimeter)",
        ),
        ("texture", "texture (standard deviation of grey-scale values)"),
        ("perimeter", "perimeter"),
        ("area", "area"),
        ("smoothness", "smoothness (local variation in radius lengths)"),
        ("compactness", "compactness (perimeter² / area − 1)"),
        ("concavity", "concavity (severity of concave portions of the contour)"),
        (
            "concave points",
            "concave points (number of concave portions of the contour)",
        ),
        ("symmetry", "symmetry"),
        (
            "fractal dimension",
            "fractal dimension (\"coastline approximation\" − 1)",
        ),
    ];
    spec.features
        .iter()
        .map(|feature| {
            let name = feature.name.as_str();
            let (statistic, measured) = if let Some(measured) = name.strip_prefix("mean ") {
                ("Mean", measured)
            } else if let Some(measured) = name.strip_prefix("worst ") {
                ("Worst value (mean of the three largest)", measured)
            } else if let Some(measured) = name.strip_suffix(" error") {
                ("Standard error", measured)
            } else {
                ("", name)
            };
            let description = MEASUREMENTS
                .iter()
                .find(|(key, _)| *key == measured)
                .filter(|_| !statistic.is_empty())
                .map(|(_, what)| format!("{statistic} over the cell nuclei of the {what}"))
                .unwrap_or_default();
            // Sizes, counts and ratios of cells: never below zero, with no upper bound.
            FeatureInfo {
                name: name.to_owned(),
                description,
                unit: String::new(),
                valid_min: Some(0.0),
                valid_max: None,
            }
        })
        .collect()
}

/// One sample row per class from a fixture's test set: the first row of that class that the
/// quantized model also puts in it, so "Fill sample malignant" shows a malignant answer.
fn fixture_examples(fixture: &Fixture, compiled: &CompiledModel) -> blindfold_model::Result<Vec<ModelExample>> {
    let (rows, targets) = fixture.test_rows()?;
    let mut examples = Vec::new();
    for (class, label) in compiled.spec.labels.iter().enumerate() {
        let agreeing = rows.iter().zip(&targets).find(|(row, target)| {
            **target as usize == class
                && compiled
                    .spec
                    .quantize_row(row)
                    .and_then(|levels| compiled.spec.decode(&compiled.quantized.raw_outputs(&levels)))
                    .is_ok_and(|p| p.class.as_ref() == Some(label))
        });
        if let Some((row, _)) = agreeing {
            examples.push(ModelExample {
                label: label.clone(),
                features: row.clone(),
            });
        }
    }
    Ok(examples)
}

/// The model crate's objective as the API names it.
pub fn wire_objective(objective: blindfold_model::Objective) -> Objective {
    match objective {
        blindfold_model::Objective::BinaryLogistic => Objective::BinaryLogistic,
        blindfold_model::Objective::MultiSoftprob { classes } => Objective::MultiSoftprob { classes },
        blindfold_model::Objective::RegSquaredError => Objective::RegSquaredError,
        blindfold_model::Objective::AveragedProbabilities { classes } => Objective::AveragedProbabilities { classes },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_of_the_default_model_is_described() {
        let compiled = blindfold_model::fixtures::BREAST_CANCER.compile().unwrap();
        let inputs = breast_cancer_inputs(&compiled.spec);
        assert_eq!(inputs.len(), 30);
        for input in &inputs {
            assert!(!input.description.is_empty(), "{}", input.name);
            assert!(input.unit.is_empty());
        }
        assert_eq!(
            inputs[0].description,
            "Mean over the cell nuclei of the radius (mean of distances from the centre to points on the perimeter)"
        );
        let worst = inputs.iter().find(|i| i.name == "worst concave points").unwrap();
        assert!(worst.description.starts_with("Worst value (mean of the three largest)"));
        let error = inputs.iter().find(|i| i.name == "fractal dimension error").unwrap();
        assert!(error.description.starts_with("Standard error"), "{}", error.description);
    }

    #[test]
    fn inputs_are_described_by_name_in_the_model_order() {
        let given = [FeatureInfo {
            name: "b".into(),
            description: "the b".into(),
            unit: "cm".into(),
            ..FeatureInfo::default()
        }];
        let inputs = describe_inputs(["a", "b"].into_iter(), &given);
        assert_eq!(
            inputs[0],
            FeatureInfo {
                name: "a".into(),
                ..Default::default()
            }
        );
        assert_eq!(inputs[1], given[0]);
    }
}
