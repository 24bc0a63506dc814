//! Owners' models: an owner uploads a model file with calibration rows (and optionally labelled
//! test rows); the server checks the files at once, then compiles the model in the background,
//! and the owner sees its progress, then a draft with the compiler's report, which they publish
//! to the catalogue (and take out of it, change the details of, delete).
//!
//! - **Bounded**: files are bounded by the routes (bytes) and here (rows); importing and parsing
//!   run on a blocking thread, compiling too, at most `max_compilations` at once per process,
//!   with at most [`QUEUE_PER_COMPILATION`] uploads per compilation accepted and waiting; an
//!   owner has at most `max_models_per_owner` models, checked in the statement that inserts
//!   one (taking turns under PostgreSQL).
//! - **Private until published**: another owner's model, like a model installed by the CLI, is
//!   "not found" (never "forbidden"), so ids do not leak; a draft is in no catalogue and takes no
//!   predictions.
//! - **Bounded compilations**: an upload whose splits × rows exceed `max_compile_split_rows` is
//!   refused before compiling; the compiler keeps only input precisions whose circuit costs at
//!   most `max_bootstraps_per_prediction` bootstraps (a model with none fails, naming its
//!   figure); a compilation stops at its next step when it runs past `max_compile_time`, its
//!   model is deleted (from any process: it sees the row gone when it next writes its progress)
//!   or the process shuts down.
//! - **Compilations end with their process**: at shutdown the waiting and running compilations
//!   are marked failed (a running compiler stops at its next step). A process that died leaves
//!   `compiling` rows: with SQLite (one process) every such row is
//!   failed at start-up; with PostgreSQL a compiling process writes a heartbeat
//!   (`updated_at`, every [`HEARTBEAT`]), and rows without one for [`ORPHANED_AFTER`] are failed,
//!   at start-up and by the maintenance loop.
//!
//! The rules of an upload's fields are in [`rules`], the checks of its files and its insertion
//! in [`upload`], the background compilations in [`compilation`]; every SQL statement is
//! [`crate::store::models`]'s.

mod compilation;
pub mod rules;
mod upload;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use blindfold_api::{ModelDetails, ModelId, ModelState, OwnedModel};
use blindfold_model::ClientSpec;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::services::catalogue::ModelCatalogue;
use crate::services::compile::{describe_inputs, wire_objective};
use crate::services::jobs::JobQueue;
use crate::services::{ServiceError, ServiceResult};
use crate::store::db::Db;
use crate::store::models::{ModelStore, OwnedRow};

pub use compilation::{HEARTBEAT, INTERRUPTED, ORPHANED_AFTER, WAITING};
use rules::{check_details, not_compiled, not_inputs};

/// Uploads accepted and waiting per compilation slot; more are answered 503.
pub const QUEUE_PER_COMPILATION: usize = 4;

/// The bounds, from the settings.
#[derive(Debug, Clone)]
pub struct OwnerLimits {
    /// Rows of a calibration CSV, and of a test CSV.
    pub max_csv_rows: usize,
    pub max_models_per_owner: u32,
    /// Compilations at once in this process.
    pub max_compilations: usize,
    /// The most splits × (calibration + test) rows an upload may ask the compiler to go through.
    pub max_compile_split_rows: u64,
    /// A compilation running longer is stopped.
    pub max_compile_time: Duration,
    /// The most bootstraps one prediction of an owner's model may cost.
    pub max_bootstraps_per_prediction: usize,
}

/// The files of an upload, as they arrived.
pub struct UploadFiles {
    pub model: Vec<u8>,
    pub calibration: String,
    pub test: Option<String>,
}

/// A place in this process's compilation queue, taken before an upload is read.
pub struct CompileTicket(#[allow(dead_code)] OwnedSemaphorePermit);

pub struct OwnedModels {
    store: ModelStore,
    catalogue: Arc<ModelCatalogue>,
    jobs: Arc<JobQueue>,
    limits: OwnerLimits,
    /// Compilations running.
    compilations: Arc<Semaphore>,
    /// Compilations accepted and not finished.
    queue: Arc<Semaphore>,
    tasks: TaskTracker,
    stop: CancellationToken,
    /// The compilations this process runs, by model id: deleting the model stops its
    /// compilation through it (and a compilation whose model another process deleted stops
    /// when it next writes its progress).
    running: Mutex<HashMap<(String, i64), CancellationToken>>,
}

impl OwnedModels {
    pub fn new(db: Db, catalogue: Arc<ModelCatalogue>, jobs: Arc<JobQueue>, limits: OwnerLimits) -> Self {
        let slots = limits.max_compilations.max(1);
        Self {
            store: ModelStore::new(db),
            catalogue,
            jobs,
            compilations: Arc::new(Semaphore::new(slots)),
            queue: Arc::new(Semaphore::new(slots * QUEUE_PER_COMPILATION)),
            limits,
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            running: Mutex::default(),
        }
    }

    /// A place in the compilation queue, or 503 when it is full.
    pub fn ticket(&self) -> ServiceResult<CompileTicket> {
        self.queue
            .clone()
            .try_acquire_owned()
            .map(CompileTicket)
            .map_err(|_| ServiceError::Busy {
                what: "compilations",
                retry_after_s: 30,
            })
    }

    /// Refuses (409) an owner who has as many models as allowed: checked before an upload is
    /// read, and again in the statement that inserts the model.
    pub async fn check_quota(&self, owner: i64) -> ServiceResult<()> {
        if self.store.count_owned(owner).await? >= i64::from(self.limits.max_models_per_owner) {
            return Err(self.over_quota());
        }
        Ok(())
    }

    fn over_quota(&self) -> ServiceError {
        ServiceError::QuotaExceeded(format!(
            "you have {} models, the most allowed; delete one first",
            self.limits.max_models_per_owner
        ))
    }

    /// The owner's models, newest first.
    pub async fn list(&self, owner: i64) -> ServiceResult<Vec<OwnedModel>> {
        let rows = self.store.list_owned(owner).await?;
        tokio::task::spawn_blocking(move || rows.into_iter().map(owned_model).collect::<ServiceResult<Vec<_>>>())
            .await?
    }

    /// One of the owner's models; anyone else's is not found.
    pub async fn get(&self, owner: i64, id: &ModelId) -> ServiceResult<OwnedModel> {
        let row = self.row(owner, id).await?;
        tokio::task::spawn_blocking(move || owned_model(row)).await?
    }

    async fn row(&self, owner: i64, id: &ModelId) -> ServiceResult<OwnedRow> {
        self.store
            .owned(owner, id)
            .await?
            .ok_or(ServiceError::NotFound("model"))
    }

    /// Changes the details users see (in any state); bumps the version.
    pub async fn update_details(&self, owner: i64, id: &ModelId, details: ModelDetails) -> ServiceResult<OwnedModel> {
        let mut problems = BTreeMap::new();
        check_details(&mut problems, &details.name, &details.description, &details.inputs);
        if !problems.is_empty() {
            return Err(ServiceError::Validation(problems));
        }
        let row = self.row(owner, id).await?;
        let features: Vec<String> = row.inputs()?.into_iter().map(|input| input.name).collect();
        let unknown: Vec<String> = details
            .inputs
            .iter()
            .filter(|input| !features.contains(&input.name))
            .map(|input| format!("`{}`", input.name))
            .collect();
        if !unknown.is_empty() {
            return Err(ServiceError::validation("inputs", not_inputs(&unknown, &features)));
        }
        let inputs = describe_inputs(features.iter().map(String::as_str), &details.inputs);
        if !self
            .store
            .update_details(owner, id, &details.name, &details.description, &inputs)
            .await?
        {
            return Err(ServiceError::NotFound("model"));
        }
        tracing::info!(owner, model = id.as_str(), "model details changed");
        self.get(owner, id).await
    }

    /// Puts a draft in the catalogue; a published model stays as it is.
    pub async fn publish(&self, owner: i64, id: &ModelId) -> ServiceResult<OwnedModel> {
        self.set_published(owner, id, ModelState::Draft, ModelState::Published)
            .await
    }

    /// Takes a published model out of the catalogue (a draft again); a draft stays as it is.
    /// Predictions queued on it fail.
    pub async fn unpublish(&self, owner: i64, id: &ModelId) -> ServiceResult<OwnedModel> {
        let model = self
            .set_published(owner, id, ModelState::Published, ModelState::Draft)
            .await?;
        self.catalogue.forget(id);
        Ok(model)
    }

    async fn set_published(
        &self,
        owner: i64,
        id: &ModelId,
        from: ModelState,
        to: ModelState,
    ) -> ServiceResult<OwnedModel> {
        let changed = self.store.transition(owner, id, from, to).await?;
        // Not found for anyone but the owner.
        let model = self.get(owner, id).await?;
        if changed {
            tracing::info!(
                owner,
                model = id.as_str(),
                state = to.as_str(),
                "model publication changed"
            );
        } else if model.state != to {
            return Err(not_compiled(model.state));
        }
        Ok(model)
    }

    /// Deletes a draft or failed model, and every prediction queued on it with its files.
    pub async fn delete(&self, owner: i64, id: &ModelId) -> ServiceResult<()> {
        // A compiling model may go too: its compilation stops at the compiler's next step.
        let deletable = [ModelState::Draft, ModelState::Failed, ModelState::Compiling];
        let Some((state, created_at, job_ids)) = self.store.delete_owned(owner, id, deletable).await? else {
            let row = self.row(owner, id).await?;
            return Err(match row.state {
                ModelState::Published => ServiceError::Conflict("the model is published: unpublish it first".into()),
                state => ServiceError::Conflict(format!("the model is {}; try again", state.as_str())),
            });
        };
        if state == ModelState::Compiling {
            self.stop_compiling(id, created_at);
            tracing::info!(
                owner,
                model = id.as_str(),
                "model deleted while compiling: its compilation stops"
            );
        }
        self.jobs.remove_deleted(&job_ids).await;
        self.catalogue.forget(id);
        tracing::info!(owner, model = id.as_str(), jobs = job_ids.len(), "model deleted");
        Ok(())
    }
}

/// A stored model as its owner sees it (blocking: parses the spec of a compiled model).
fn owned_model(row: OwnedRow) -> ServiceResult<OwnedModel> {
    let state = row.state;
    let spec = match state {
        ModelState::Draft | ModelState::Published => {
            Some(ClientSpec::from_json(&row.spec_json).context("a stored client spec")?)
        }
        ModelState::Compiling | ModelState::Failed => None,
    };
    let progress = row.progress()?;
    let report = row.report()?;
    let inputs = row.inputs()?;
    Ok(OwnedModel {
        id: row.id,
        name: row.name,
        description: row.description,
        state,
        progress: progress.filter(|_| state == ModelState::Compiling),
        error: row.error.filter(|_| state == ModelState::Failed),
        objective: spec.as_ref().map(|spec| wire_objective(spec.objective)),
        labels: spec.map(|spec| spec.labels).unwrap_or_default(),
        inputs,
        report,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
