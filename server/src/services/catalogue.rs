//! The model catalogue: compiled models in the database, parsed once and kept in memory.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::Context;

use blindfold_api::{DEFAULT_MODEL_ID, ModelExample, ModelSummary, Objective, valid_model_id};
use blindfold_model::fixtures::Fixture;
use blindfold_model::{ClientSpec, CompiledModel, ServerPlan};
use sqlx::AnyPool;

use crate::db::now_ms;
use crate::services::{ServiceError, ServiceResult};

/// One servable model.
pub struct Model {
    pub id: String,
    pub name: String,
    pub spec: ClientSpec,
    pub spec_json: String,
    pub plan: ServerPlan,
    /// Sample rows for the Predict page.
    pub examples: Vec<ModelExample>,
}

pub struct ModelCatalogue {
    pool: AnyPool,
    loaded: RwLock<HashMap<String, Arc<Model>>>,
}

impl ModelCatalogue {
    pub fn new(pool: AnyPool) -> Self {
        Self {
            pool,
            loaded: RwLock::new(HashMap::new()),
        }
    }

    /// Installs (or replaces) a compiled model.
    pub async fn install(
        &self,
        id: &str,
        name: &str,
        compiled: &CompiledModel,
        examples: &[ModelExample],
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            valid_model_id(id),
            "model id `{id}`: use lower-case letters, digits and dashes"
        );
        sqlx::query(
            "INSERT INTO models (id, name, spec_json, plan_json, examples_json, created_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, spec_json = excluded.spec_json,
             plan_json = excluded.plan_json, examples_json = excluded.examples_json",
        )
        .bind(id)
        .bind(name)
        .bind(compiled.spec.to_json())
        .bind(compiled.plan.to_json())
        .bind(serde_json::to_string(examples)?)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.loaded.write().expect("catalogue lock").remove(id);
        Ok(())
    }

    /// Installs the shipped breast cancer model unless it is there already.
    pub async fn install_default(&self) -> anyhow::Result<()> {
        // Installed again over a database from before sample rows, which lacks them.
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM models WHERE id = $1 AND examples_json != '[]'")
            .bind(DEFAULT_MODEL_ID)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            let fixture = blindfold_model::fixtures::BREAST_CANCER;
            let (compiled, examples) = tokio::task::spawn_blocking(move || {
                let compiled = fixture.compile()?;
                let examples = fixture_examples(&fixture, &compiled)?;
                Ok::<_, blindfold_model::ModelError>((compiled, examples))
            })
            .await??;
            self.install(DEFAULT_MODEL_ID, fixture.name, &compiled, &examples)
                .await?;
            tracing::info!(model = DEFAULT_MODEL_ID, "installed the default model");
        }
        Ok(())
    }

    pub async fn get(&self, id: &str) -> ServiceResult<Arc<Model>> {
        if let Some(model) = self.loaded.read().expect("catalogue lock").get(id) {
            return Ok(model.clone());
        }
        if !valid_model_id(id) {
            return Err(ServiceError::NotFound("model"));
        }
        let row: Option<(String, String, String, String)> =
            sqlx::query_as("SELECT name, spec_json, plan_json, examples_json FROM models WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let (name, spec_json, plan_json, examples_json) = row.ok_or(ServiceError::NotFound("model"))?;
        // Stored by `install`: unreadable means a bug or a damaged database, not bad input.
        let spec = ClientSpec::from_json(&spec_json).context("a stored client spec")?;
        let plan = ServerPlan::from_json(&plan_json).context("a stored server plan")?;
        let examples = serde_json::from_str(&examples_json).context("stored sample rows")?;
        let model = Arc::new(Model {
            id: id.to_owned(),
            name,
            spec,
            spec_json,
            plan,
            examples,
        });
        self.loaded
            .write()
            .expect("catalogue lock")
            .insert(id.to_owned(), model.clone());
        Ok(model)
    }

    pub async fn list(&self) -> ServiceResult<Vec<ModelSummary>> {
        let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM models ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let mut summaries = Vec::with_capacity(ids.len());
        for (id,) in ids {
            let model = self.get(&id).await?;
            summaries.push(ModelSummary {
                id: model.id.clone(),
                name: model.name.clone(),
                labels: model.spec.labels.clone(),
                features: model.spec.features.len(),
                objective: wire_objective(model.spec.objective),
                examples: model.examples.clone(),
            });
        }
        Ok(summaries)
    }
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
fn wire_objective(objective: blindfold_model::Objective) -> Objective {
    match objective {
        blindfold_model::Objective::BinaryLogistic => Objective::BinaryLogistic,
        blindfold_model::Objective::MultiSoftprob { classes } => Objective::MultiSoftprob { classes },
        blindfold_model::Objective::RegSquaredError => Objective::RegSquaredError,
        blindfold_model::Objective::AveragedProbabilities { classes } => Objective::AveragedProbabilities { classes },
    }
}
