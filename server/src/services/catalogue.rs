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

use std::ops::ControlFlow;

use blindfold_api::{DEFAULT_MODEL_ID, FeatureInfo, ModelExample, ModelId, ModelReport, ModelState, ModelSummary};
use blindfold_model::compiler::compile::bootstraps_per_evaluation;
use blindfold_model::compiler::family::Compiled;
use blindfold_model::compiler::fixtures::Fixture;
use blindfold_model::compiler::import::import_any;
use blindfold_model::server::Plan;
use blindfold_model::{ClientSpec, CompileOptions, Dataset};

use crate::services::compile::{Reported, compile_and_report, describe_inputs, wire_objective};
use crate::services::{ServiceError, ServiceResult};
use crate::store::db::Db;
use crate::store::models::{InstalledModel, ModelStore, PublishedRow};

/// One servable model.
pub struct Model {
    pub id: String,
    pub name: String,
    pub spec: ClientSpec,
    pub spec_json: String,
    /// [`blindfold_model::spec::binding::spec_digest`] of `spec_json`: what rows must be encrypted
    /// against.
    pub spec_sha256: String,
    pub plan: Plan,
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
    pub compiled: &'a Compiled,
    pub examples: &'a [ModelExample],
}

/// What the default model predicts.
pub const DEFAULT_MODEL_DESCRIPTION: &str = "Predicts whether a breast tumour is malignant or benign from 30 \
     measurements of the cell nuclei in a digitized image of a fine-needle aspirate (the Wisconsin diagnostic \
     breast cancer data, as in scikit-learn).";

pub struct ModelCatalogue {
    store: ModelStore,
    loaded: RwLock<HashMap<String, Arc<Model>>>,
}

impl ModelCatalogue {
    pub fn new(db: Db) -> Self {
        Self {
            store: ModelStore::new(db),
            loaded: RwLock::new(HashMap::new()),
        }
    }

    /// Installs (or replaces) a compiled model, without description or report.
    pub async fn install(
        &self,
        id: &str,
        name: &str,
        compiled: &Compiled,
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
        anyhow::ensure!(ModelId::parse(id).is_some(), "model id `{id}`: {}", ModelId::rule());
        let names = model.compiled.spec().features.iter().map(|f| f.name.as_str());
        let inputs = describe_inputs(names, model.inputs);
        self.store
            .install(&InstalledModel {
                id,
                name: model.name,
                description: model.description,
                inputs: &inputs,
                report: model.report,
                spec_json: model.compiled.spec().to_json(),
                plan_json: model.compiled.plan_json(),
                examples: model.examples,
            })
            .await?;
        self.forget(id);
        Ok(())
    }

    /// Installs the shipped breast cancer model unless it is there already, with its card:
    /// description, inputs and a report on the fixture's test rows.
    pub async fn install_default(&self) -> anyhow::Result<()> {
        if !self.store.exists(DEFAULT_MODEL_ID).await? {
            let fixture = blindfold_model::compiler::fixtures::BREAST_CANCER;
            let (Reported { compiled, report }, examples) = tokio::task::spawn_blocking(move || {
                let (format, imported) = import_any(fixture.model)?;
                let calibration = Dataset::from_csv(fixture.train_csv)?;
                let test = Dataset::from_csv(fixture.test_csv)?;
                let options = CompileOptions {
                    labels: Some(fixture.labels.iter().map(|l| l.to_string()).collect()),
                    ..CompileOptions::default()
                };
                let reported = compile_and_report(
                    &format.to_string(),
                    &imported,
                    &calibration,
                    Some(&test),
                    &options,
                    &mut |_| ControlFlow::Continue(()),
                )?;
                let examples = fixture_examples(&fixture, &reported.compiled)?;
                Ok::<_, blindfold_model::ModelError>((reported, examples))
            })
            .await??;
            let inputs = breast_cancer_inputs(compiled.spec());
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
    pub async fn get(&self, id: &ModelId) -> ServiceResult<Arc<Model>> {
        match self.store.version(id).await? {
            Some((version, ModelState::Published)) => self.load(id, version).await,
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
        let Some(row) = self.store.published(id).await? else {
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
        let published = self.store.published_versions().await?;
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
fn parse_model(id: String, row: PublishedRow) -> ServiceResult<Model> {
    let spec = ClientSpec::from_json(&row.spec_json).context("a stored client spec")?;
    let plan = Plan::from_json(&row.plan_json).context("a stored server plan")?;
    let bootstraps = match &plan {
        Plan::Trees(trees) => bootstraps_per_evaluation(trees, &spec).context("a stored server plan")?,
        Plan::Linear(_) => 0,
        Plan::Network(network) => network.bootstraps(),
    };
    let examples = row.examples()?;
    let inputs = describe_inputs(spec.features.iter().map(|f| f.name.as_str()), &row.inputs()?);
    let report = row.report()?;
    Ok(Model {
        id,
        name: row.name,
        spec,
        spec_sha256: blindfold_model::spec::binding::spec_digest(&row.spec_json),
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
fn fixture_examples(fixture: &Fixture, compiled: &Compiled) -> blindfold_model::Result<Vec<ModelExample>> {
    let (rows, targets) = fixture.test_rows()?;
    let mut examples = Vec::new();
    for (class, label) in compiled.spec().labels.iter().enumerate() {
        let agreeing = rows.iter().zip(&targets).find(|(row, target)| {
            **target as usize == class
                && compiled
                    .predict_clear(row)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_of_the_default_model_is_described() {
        let compiled = blindfold_model::compiler::fixtures::BREAST_CANCER.compile().unwrap();
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
