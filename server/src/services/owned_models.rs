//! Owners' models: an owner uploads a model file with calibration rows (and optionally labelled
//! test rows); the server checks the files at once, then compiles the model in the background,
//! and the owner sees its progress, then a draft with the compiler's report, which they publish
//! to the catalogue (and take out of it, change the details of, delete).
//!
//! - **Bounded**: files are bounded by the routes (bytes) and here (rows); importing and parsing
//!   run on a blocking thread, compiling too, at most `max_compilations` at once per process,
//!   with at most [`QUEUE_PER_COMPILATION`] uploads per compilation accepted and waiting; an
//!   owner has at most `max_models_per_owner` models, checked in the statement that inserts
//!   one (taking turns under PostgreSQL, see [`db::take_turn`]).
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use blindfold_api::{
    CompileProgress, FeatureInfo, ModelDetails, ModelReport, ModelState, ModelUpload, OwnedModel, QualityRows,
    valid_model_id,
};
use blindfold_model::report::evaluate_rows;
use blindfold_model::{
    ClientSpec, CompileOptions, CompileStep, Dataset, ModelError, TreeEnsemble, compile_with_progress, import_model,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::db::{self, Backend, Db};
use crate::services::catalogue::{ModelCatalogue, describe_inputs, model_report, wire_objective};
use crate::services::jobs::JobQueue;
use crate::services::{ServiceError, ServiceResult};

/// Uploads accepted and waiting per compilation slot; more are answered 503.
pub const QUEUE_PER_COMPILATION: usize = 4;
/// How often a compiling process writes that it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A compilation whose process wrote no heartbeat for this long is failed (PostgreSQL).
pub const ORPHANED_AFTER: Duration = Duration::from_secs(60);

/// What a waiting compilation shows.
pub const WAITING: &str = "waiting for another compilation to finish";
/// Why a compilation stopped because its model was deleted ended (recorded nowhere: the row is
/// gone).
const DELETED: &str = "the model was deleted while it compiled";
/// Why a compilation cut off by a restart failed.
pub const INTERRUPTED: &str = "interrupted by a server restart; upload it again";
/// Why a compilation cut off by a shutdown failed.
const SHUT_DOWN: &str = "interrupted by a server shutdown; upload it again";

/// Longest name of a model, in characters.
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_LABELS: usize = 100;
pub const MAX_LABEL_CHARS: usize = 100;
pub const MAX_INPUT_DESCRIPTION_CHARS: usize = 500;
pub const MAX_UNIT_CHARS: usize = 32;

const COLUMNS: &str = "id, name, description, state, progress_json, error, spec_json, inputs_json, report_json, \
                       version, created_at, updated_at";

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

/// An upload's files, checked: what the compiler needs.
struct Checked {
    format: String,
    ensemble: TreeEnsemble,
    /// The model's inputs, in its order.
    features: Vec<String>,
    calibration: Dataset,
    test: Option<Dataset>,
}

/// A compilation to run.
struct Compilation {
    id: String,
    /// The row's `created_at`: with the id, which row this compilation is of (its model may
    /// be deleted and another uploaded under the same id while it runs).
    created_at: i64,
    owner: i64,
    checked: Checked,
    options: CompileOptions,
    ticket: CompileTicket,
}

/// What a finished compilation stores.
struct Compiled {
    spec_json: String,
    plan_json: String,
    report: ModelReport,
}

pub struct OwnedModels {
    db: Db,
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

/// Which model row a compilation is of: its id and `created_at`.
type Row<'a> = (&'a str, i64);

/// A compilation's entry in [`OwnedModels::running`], removed however the compilation ends.
struct Running<'a> {
    running: &'a Mutex<HashMap<(String, i64), CancellationToken>>,
    row: (String, i64),
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.running.lock().expect("compilations lock").remove(&self.row);
    }
}

/// A model's row as its owner sees it.
#[derive(sqlx::FromRow)]
struct OwnedRow {
    id: String,
    name: String,
    description: String,
    state: String,
    progress_json: Option<String>,
    error: Option<String>,
    spec_json: String,
    inputs_json: String,
    report_json: Option<String>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl OwnedModels {
    pub fn new(db: Db, catalogue: Arc<ModelCatalogue>, jobs: Arc<JobQueue>, limits: OwnerLimits) -> Self {
        let slots = limits.max_compilations.max(1);
        Self {
            db,
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
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM models WHERE owner_id = $1")
            .bind(owner)
            .fetch_one(&self.db.pool)
            .await?;
        if count >= i64::from(self.limits.max_models_per_owner) {
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
        if !valid_model_id(&upload.id) {
            problems.insert(
                "id",
                vec![format!(
                    "Use 1 to {} lower-case letters, digits and dashes.",
                    blindfold_api::MAX_MODEL_ID_LEN
                )],
            );
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
        match (checked.ensemble.objective.classes(), upload.labels.len()) {
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
        let taken: Option<String> = sqlx::query_scalar("SELECT id FROM models WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        match taken {
            Some(_) => Err(taken_error(id)),
            None => Ok(()),
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
        let now = self.db.now_ms().await?;
        let insert = sqlx::query(
            "INSERT INTO models (id, name, spec_json, plan_json, examples_json, created_at, description, inputs_json,
                                 state, owner_id, progress_json, version, updated_at)
             SELECT $1, $2, '', '', '[]', $3, $4, $5, $6, $7, $8, 1, $9
             WHERE (SELECT COUNT(*) FROM models WHERE owner_id = $10) < $11",
        )
        .bind(&upload.id)
        .bind(&upload.name)
        .bind(now)
        .bind(&upload.description)
        .bind(serde_json::to_string(inputs).context("inputs as JSON")?)
        .bind(ModelState::Compiling.as_str())
        .bind(owner)
        .bind(serde_json::to_string(progress).context("progress as JSON")?)
        .bind(now)
        .bind(owner)
        .bind(i64::from(self.limits.max_models_per_owner));
        let mut transaction = self.db.pool.begin().await?;
        // The count in the insert must see the owner's other uploads.
        db::take_turn(&mut transaction, self.db.backend, &format!("models of {owner}")).await?;
        match insert.execute(&mut *transaction).await {
            Ok(done) if done.rows_affected() == 1 => {
                transaction.commit().await?;
                Ok(now)
            }
            Ok(_) => Err(self.over_quota()),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Err(taken_error(&upload.id)),
            Err(error) => Err(error.into()),
        }
    }

    /// Runs a compilation to its end, or until the process shuts down.
    async fn compile(self: Arc<Self>, compilation: Compilation) {
        let (id, owner) = (compilation.id.clone(), compilation.owner);
        let row = (id.as_str(), compilation.created_at);
        let started = std::time::Instant::now();
        let outcome = self.run(compilation).await;
        let recorded = match outcome {
            None => self.fail(row, SHUT_DOWN).await,
            Some(Ok(compiled)) => {
                tracing::info!(
                    owner,
                    model = id,
                    seconds = started.elapsed().as_secs_f64(),
                    bootstraps = compiled.report.cost.bootstraps,
                    "model compiled"
                );
                self.store_compiled(row, owner, compiled).await
            }
            Some(Err(error)) => {
                tracing::info!(owner, model = id, error, "model compilation failed");
                self.fail(row, &error).await
            }
        };
        if let Err(error) = recorded {
            tracing::error!(
                model = id,
                error = format!("{error:#}"),
                "recording a compilation's end"
            );
        }
    }

    /// Waits for a compilation slot, then compiles and evaluates on a blocking thread, writing
    /// the progress and a heartbeat meanwhile. None when the process shuts down first. The
    /// compiler stops at its next step when the process shuts down, the model is deleted, or
    /// the compilation runs past `max_compile_time`.
    async fn run(&self, compilation: Compilation) -> Option<Result<Compiled, String>> {
        let Compilation {
            id,
            created_at,
            owner: _,
            checked,
            options,
            ticket,
        } = compilation;
        let _ticket = ticket;
        let cancel = self.stop.child_token();
        self.running
            .lock()
            .expect("compilations lock")
            .insert((id.clone(), created_at), cancel.clone());
        let _running = Running {
            running: &self.running,
            row: (id.clone(), created_at),
        };
        let row = (id.as_str(), created_at);
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        let permit = match self.compilations.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.progress(row, WAITING, 0, 0, &cancel).await;
                loop {
                    tokio::select! {
                        permit = self.compilations.clone().acquire_owned() => {
                            break permit.expect("the compilation semaphore is never closed");
                        }
                        _ = heartbeat.tick() => self.beat(row, &cancel).await,
                        () = cancel.cancelled() => return if self.stop.is_cancelled() {
                            None
                        } else {
                            Some(Err(DELETED.to_owned()))
                        },
                    }
                }
            }
        };
        let (steps, mut seen) = watch::channel::<Option<CompileStep>>(None);
        // The slot goes with the thread: a compiler still running after a shutdown still counts
        // until its next step, where it stops.
        let stopping = cancel.clone();
        let mut compiling = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            compile_checked(checked, &options, &mut |step| {
                steps.send_replace(Some(step));
                if stopping.is_cancelled() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
        });
        let limit = self.limits.max_compile_time;
        let overtime = tokio::time::sleep(limit);
        tokio::pin!(overtime);
        let mut timed_out = false;
        let mut steps_open = true;
        loop {
            tokio::select! {
                joined = &mut compiling => {
                    return Some(match joined {
                        Ok(Ok(compiled)) => Ok(compiled),
                        Ok(Err(ModelError::Interrupted(_))) if timed_out => Err(format!(
                            "the compilation took longer than {} s, the most this server gives one: \
                             send fewer rows or a smaller model",
                            limit.as_secs()
                        )),
                        Ok(Err(ModelError::Interrupted(_))) => Err(DELETED.to_owned()),
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(error) => {
                            tracing::error!(model = id, %error, "the compiler thread ended abnormally");
                            Err("the compiler failed unexpectedly".to_owned())
                        }
                    });
                }
                changed = seen.changed(), if steps_open => {
                    if changed.is_err() {
                        steps_open = false;
                        continue;
                    }
                    let step = seen.borrow_and_update().clone();
                    if let Some(step) = step {
                        self.progress(row, &step.stage, step.done, step.total, &cancel).await;
                    }
                }
                _ = heartbeat.tick() => self.beat(row, &cancel).await,
                () = &mut overtime, if !timed_out => {
                    timed_out = true;
                    cancel.cancel();
                }
                () = self.stop.cancelled() => return None,
            }
        }
    }

    /// Stops the compilation of the model row `id` created at `created_at` if this process runs
    /// it (at the compiler's next step).
    fn stop_compiling(&self, id: &str, created_at: i64) {
        if let Some(cancel) = self
            .running
            .lock()
            .expect("compilations lock")
            .get(&(id.to_owned(), created_at))
        {
            cancel.cancel();
        }
    }

    /// Records a compilation's progress (and that its process is alive); failures are logged:
    /// the compilation goes on. A model no longer compiling (deleted, from any process) has its
    /// compilation stopped.
    async fn progress(&self, row: Row<'_>, stage: &str, done: u32, total: u32, cancel: &CancellationToken) {
        let progress = CompileProgress {
            stage: stage.to_owned(),
            done,
            total,
        };
        if !self.record_alive(row, Some(progress)).await {
            cancel.cancel();
        }
    }

    /// Records that the compiling process is alive (see [`Self::progress`]).
    async fn beat(&self, row: Row<'_>, cancel: &CancellationToken) {
        if !self.record_alive(row, None).await {
            cancel.cancel();
        }
    }

    /// Touches a compiling model's `updated_at` (its heartbeat), and its progress if given.
    /// False when the model is no longer compiling (a failed write counts as still compiling).
    async fn record_alive(&self, (id, created_at): Row<'_>, progress: Option<CompileProgress>) -> bool {
        let written = async {
            let now = self.db.now_ms().await?;
            let progress = progress.as_ref().map(serde_json::to_string).transpose()?;
            let updated = sqlx::query(
                "UPDATE models SET progress_json = COALESCE($1, progress_json), updated_at = $2
                 WHERE id = $3 AND state = $4 AND created_at = $5",
            )
            .bind(progress)
            .bind(now)
            .bind(id)
            .bind(ModelState::Compiling.as_str())
            .bind(created_at)
            .execute(&self.db.pool)
            .await?;
            anyhow::Ok(updated.rows_affected() == 1)
        };
        match written.await {
            Ok(compiling) => compiling,
            Err(error) => {
                tracing::warn!(
                    model = id,
                    error = format!("{error:#}"),
                    "recording that a compilation is alive"
                );
                true
            }
        }
    }

    /// Stores a compiled model as a draft of its owner (unless it was deleted meanwhile).
    async fn store_compiled(&self, (id, created_at): Row<'_>, owner: i64, compiled: Compiled) -> anyhow::Result<()> {
        let now = self.db.now_ms().await?;
        sqlx::query(
            "UPDATE models SET state = $1, spec_json = $2, plan_json = $3, report_json = $4, progress_json = NULL,
             error = NULL, version = version + 1, updated_at = $5
             WHERE id = $6 AND owner_id = $7 AND state = $8 AND created_at = $9",
        )
        .bind(ModelState::Draft.as_str())
        .bind(compiled.spec_json)
        .bind(compiled.plan_json)
        .bind(serde_json::to_string(&compiled.report)?)
        .bind(now)
        .bind(id)
        .bind(owner)
        .bind(ModelState::Compiling.as_str())
        .bind(created_at)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Fails a compiling model with the reason.
    async fn fail(&self, (id, created_at): Row<'_>, error: &str) -> anyhow::Result<()> {
        let now = self.db.now_ms().await?;
        sqlx::query(
            "UPDATE models SET state = $1, error = $2, progress_json = NULL, updated_at = $3
             WHERE id = $4 AND state = $5 AND created_at = $6",
        )
        .bind(ModelState::Failed.as_str())
        .bind(error)
        .bind(now)
        .bind(id)
        .bind(ModelState::Compiling.as_str())
        .bind(created_at)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Fails the compilations no process runs any more: with SQLite (one process, at start-up)
    /// every one; with PostgreSQL those without a heartbeat for [`ORPHANED_AFTER`]. How many.
    pub async fn recover(&self) -> anyhow::Result<u64> {
        let now = self.db.now_ms().await?;
        let silent_since = match self.db.backend {
            Backend::Sqlite => i64::MAX,
            Backend::Postgres => now - ORPHANED_AFTER.as_millis() as i64,
        };
        let failed = sqlx::query(
            "UPDATE models SET state = $1, error = $2, progress_json = NULL, updated_at = $3
             WHERE state = $4 AND updated_at < $5",
        )
        .bind(ModelState::Failed.as_str())
        .bind(INTERRUPTED)
        .bind(now)
        .bind(ModelState::Compiling.as_str())
        .bind(silent_since)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        if failed > 0 {
            tracing::warn!(failed, "compilations interrupted by a restart marked failed");
        }
        Ok(failed)
    }

    /// With PostgreSQL, fails compilations whose process died, every [`HEARTBEAT`] until
    /// `stop` (with SQLite the start-up recovery does, as this process runs every compilation).
    pub async fn maintain(self: Arc<Self>, stop: CancellationToken) {
        if self.db.backend != Backend::Postgres {
            return;
        }
        let mut ticks = tokio::time::interval(HEARTBEAT);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => return,
            }
            if let Err(error) = self.recover().await {
                tracing::error!(error = format!("{error:#}"), "failing orphaned compilations");
            }
        }
    }

    /// At shutdown: stops waiting and running compilations (each marks its model failed) and
    /// waits until they have.
    pub async fn shut_down(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// The owner's models, newest first.
    pub async fn list(&self, owner: i64) -> ServiceResult<Vec<OwnedModel>> {
        let rows: Vec<OwnedRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM models WHERE owner_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(owner)
        .fetch_all(&self.db.pool)
        .await?;
        tokio::task::spawn_blocking(move || rows.into_iter().map(owned_model).collect::<ServiceResult<Vec<_>>>())
            .await?
    }

    /// One of the owner's models; anyone else's is not found.
    pub async fn get(&self, owner: i64, id: &str) -> ServiceResult<OwnedModel> {
        let row = self.row(owner, id).await?;
        tokio::task::spawn_blocking(move || owned_model(row)).await?
    }

    async fn row(&self, owner: i64, id: &str) -> ServiceResult<OwnedRow> {
        if !valid_model_id(id) {
            return Err(ServiceError::NotFound("model"));
        }
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM models WHERE id = $1 AND owner_id = $2"))
            .bind(id)
            .bind(owner)
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(ServiceError::NotFound("model"))
    }

    /// Changes the details users see (in any state); bumps the version.
    pub async fn update_details(&self, owner: i64, id: &str, details: ModelDetails) -> ServiceResult<OwnedModel> {
        let mut problems = BTreeMap::new();
        check_details(&mut problems, &details.name, &details.description, &details.inputs);
        if !problems.is_empty() {
            return Err(ServiceError::Validation(problems));
        }
        let row = self.row(owner, id).await?;
        let stored: Vec<FeatureInfo> = serde_json::from_str(&row.inputs_json).context("stored inputs")?;
        let features: Vec<String> = stored.into_iter().map(|input| input.name).collect();
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
        let now = self.db.now_ms().await?;
        let updated = sqlx::query(
            "UPDATE models SET name = $1, description = $2, inputs_json = $3, version = version + 1, updated_at = $4
             WHERE id = $5 AND owner_id = $6",
        )
        .bind(&details.name)
        .bind(&details.description)
        .bind(serde_json::to_string(&inputs).context("inputs as JSON")?)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&self.db.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(ServiceError::NotFound("model"));
        }
        tracing::info!(owner, model = id, "model details changed");
        self.get(owner, id).await
    }

    /// Puts a draft in the catalogue; a published model stays as it is.
    pub async fn publish(&self, owner: i64, id: &str) -> ServiceResult<OwnedModel> {
        self.set_published(owner, id, ModelState::Draft, ModelState::Published)
            .await
    }

    /// Takes a published model out of the catalogue (a draft again); a draft stays as it is.
    /// Predictions queued on it fail.
    pub async fn unpublish(&self, owner: i64, id: &str) -> ServiceResult<OwnedModel> {
        let model = self
            .set_published(owner, id, ModelState::Published, ModelState::Draft)
            .await?;
        self.catalogue.forget(id);
        Ok(model)
    }

    async fn set_published(&self, owner: i64, id: &str, from: ModelState, to: ModelState) -> ServiceResult<OwnedModel> {
        if !valid_model_id(id) {
            return Err(ServiceError::NotFound("model"));
        }
        let now = self.db.now_ms().await?;
        let changed =
            sqlx::query("UPDATE models SET state = $1, updated_at = $2 WHERE id = $3 AND owner_id = $4 AND state = $5")
                .bind(to.as_str())
                .bind(now)
                .bind(id)
                .bind(owner)
                .bind(from.as_str())
                .execute(&self.db.pool)
                .await?;
        // Not found for anyone but the owner.
        let model = self.get(owner, id).await?;
        if changed.rows_affected() > 0 {
            tracing::info!(owner, model = id, state = to.as_str(), "model publication changed");
        } else if model.state != to {
            return Err(not_compiled(model.state));
        }
        Ok(model)
    }

    /// Deletes a draft or failed model, and every prediction queued on it with its files.
    pub async fn delete(&self, owner: i64, id: &str) -> ServiceResult<()> {
        if !valid_model_id(id) {
            return Err(ServiceError::NotFound("model"));
        }
        // A compiling model may go too: its compilation stops at the compiler's next step.
        let deletable = [
            ModelState::Draft.as_str(),
            ModelState::Failed.as_str(),
            ModelState::Compiling.as_str(),
        ];
        // Jobs first, in the same transaction (they would go by cascade, but their files
        // must be removed too): if the model cannot be deleted, neither are they.
        let mut transaction = self.db.pool.begin().await?;
        let job_ids: Vec<String> = sqlx::query_scalar(
            "DELETE FROM jobs WHERE model_id = $1
             AND model_id IN (SELECT id FROM models WHERE id = $2 AND owner_id = $3 AND state IN ($4, $5, $6))
             RETURNING id",
        )
        .bind(id)
        .bind(id)
        .bind(owner)
        .bind(deletable[0])
        .bind(deletable[1])
        .bind(deletable[2])
        .fetch_all(&mut *transaction)
        .await?;
        let deleted: Option<(String, i64)> = sqlx::query_as(
            "DELETE FROM models WHERE id = $1 AND owner_id = $2 AND state IN ($3, $4, $5)
             RETURNING state, created_at",
        )
        .bind(id)
        .bind(owner)
        .bind(deletable[0])
        .bind(deletable[1])
        .bind(deletable[2])
        .fetch_optional(&mut *transaction)
        .await?;
        let Some((state, created_at)) = deleted else {
            drop(transaction);
            let row = self.row(owner, id).await?;
            return Err(match state_of(&row)? {
                ModelState::Published => ServiceError::Conflict("the model is published: unpublish it first".into()),
                state => ServiceError::Conflict(format!("the model is {}; try again", state.as_str())),
            });
        };
        transaction.commit().await?;
        if state == ModelState::Compiling.as_str() {
            self.stop_compiling(id, created_at);
            tracing::info!(
                owner,
                model = id,
                "model deleted while compiling: its compilation stops"
            );
        }
        self.jobs.remove_deleted(&job_ids).await;
        self.catalogue.forget(id);
        tracing::info!(owner, model = id, jobs = job_ids.len(), "model deleted");
        Ok(())
    }
}

fn taken_error(id: &str) -> ServiceError {
    ServiceError::Conflict(format!("a model with id `{id}` exists"))
}

fn not_compiled(state: ModelState) -> ServiceError {
    ServiceError::Conflict(match state {
        ModelState::Compiling => "the model is still being compiled".to_owned(),
        ModelState::Failed => "the model failed to compile: delete it and upload it again".to_owned(),
        state => format!("the model is {}", state.as_str()),
    })
}

fn state_of(row: &OwnedRow) -> ServiceResult<ModelState> {
    Ok(row
        .state
        .parse::<ModelState>()
        .map_err(anyhow::Error::msg)
        .context("a stored model state")?)
}

/// "`x`, `y` are not inputs of the model", with (some of) its inputs.
fn not_inputs(unknown: &[String], features: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut known: Vec<String> = features.iter().take(SHOWN).map(|name| format!("`{name}`")).collect();
    if features.len() > SHOWN {
        known.push(format!("and {} more", features.len() - SHOWN));
    }
    let shown: Vec<&str> = unknown.iter().take(SHOWN).map(String::as_str).collect();
    format!(
        "Not an input of the model: {}. Its inputs are {}.",
        shown.join(", "),
        known.join(", ")
    )
}

/// The rules of a model's details: name, description, and each input's description and unit.
fn check_details(
    problems: &mut BTreeMap<&'static str, Vec<String>>,
    name: &str,
    description: &str,
    inputs: &[FeatureInfo],
) {
    let name_chars = name.trim().chars().count();
    if name_chars == 0 || name.chars().count() > MAX_NAME_CHARS {
        problems
            .entry("name")
            .or_default()
            .push(format!("The name must have 1 to {MAX_NAME_CHARS} characters."));
    }
    if name.chars().any(char::is_control) {
        problems
            .entry("name")
            .or_default()
            .push("The name must be one line without control characters.".to_owned());
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        problems.entry("description").or_default().push(format!(
            "The description may have at most {MAX_DESCRIPTION_CHARS} characters."
        ));
    }
    let mut seen = BTreeSet::new();
    let mut input_problems = BTreeSet::new();
    for input in inputs {
        if !seen.insert(input.name.as_str()) {
            input_problems.insert(format!("`{}` is described twice.", input.name));
        }
        if input.description.chars().count() > MAX_INPUT_DESCRIPTION_CHARS {
            input_problems.insert(format!(
                "The description of `{}` may have at most {MAX_INPUT_DESCRIPTION_CHARS} characters.",
                input.name
            ));
        }
        if input.unit.chars().count() > MAX_UNIT_CHARS || input.unit.chars().any(char::is_control) {
            input_problems.insert(format!(
                "The unit of `{}` must be one line of at most {MAX_UNIT_CHARS} characters.",
                input.name
            ));
        }
        let bounds = [input.valid_min, input.valid_max];
        if bounds.iter().flatten().any(|bound| !bound.is_finite()) {
            input_problems.insert(format!("The valid range of `{}` must be finite numbers.", input.name));
        } else if let (Some(min), Some(max)) = (input.valid_min, input.valid_max)
            && min > max
        {
            input_problems.insert(format!(
                "The valid range of `{}` runs from {min} to {max}: its minimum must not exceed its maximum.",
                input.name
            ));
        }
    }
    if !input_problems.is_empty() {
        problems.entry("inputs").or_default().extend(input_problems);
    }
}

fn check_labels(problems: &mut BTreeMap<&'static str, Vec<String>>, labels: &[String]) {
    let mut label_problems = Vec::new();
    if labels.len() > MAX_LABELS {
        label_problems.push(format!("At most {MAX_LABELS} labels."));
    }
    if labels.iter().any(|label| {
        label.trim().is_empty() || label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control)
    }) {
        label_problems.push(format!(
            "Each label must be one line of 1 to {MAX_LABEL_CHARS} characters."
        ));
    }
    if labels.iter().collect::<BTreeSet<_>>().len() != labels.len() {
        label_problems.push("The labels must differ from each other.".to_owned());
    }
    if !label_problems.is_empty() {
        problems.insert("labels", label_problems);
    }
}

/// Imports the model and parses the CSVs (blocking): a file that cannot be used is refused with
/// the reason.
fn check_files(files: UploadFiles, limits: &OwnerLimits) -> ServiceResult<Checked> {
    let max_rows = limits.max_csv_rows;
    let (format, ensemble) = import_model(&files.model).map_err(|error| match error {
        ModelError::TooLarge { .. } => ServiceError::Rejected(error),
        error => ServiceError::Unusable(error.to_string()),
    })?;
    drop(files.model);
    let calibration = parse_csv(&files.calibration, "calibration", max_rows)?;
    let features = model_features(&ensemble, &calibration)?;
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
    let work = (ensemble.splits() as u64).saturating_mul(rows as u64);
    if work > limits.max_compile_split_rows {
        return Err(ServiceError::Unusable(format!(
            "compiling this model would take {} splits through {rows} rows ({work} split-rows), more than \
             the {} this server compiles: send fewer rows or a smaller model",
            ensemble.splits(),
            limits.max_compile_split_rows
        )));
    }
    Ok(Checked {
        format: format.to_string(),
        ensemble,
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
fn model_features(ensemble: &TreeEnsemble, calibration: &Dataset) -> ServiceResult<Vec<String>> {
    let features = if ensemble.feature_names.is_empty() {
        if calibration.columns.len() < ensemble.num_features {
            return Err(ServiceError::Unusable(format!(
                "the model has {} inputs, saved without names, but the calibration CSV has only {} columns",
                ensemble.num_features,
                calibration.columns.len()
            )));
        }
        calibration.columns[..ensemble.num_features].to_vec()
    } else {
        ensemble.feature_names.clone()
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

/// Compiles, evaluates on the test rows (or the calibration rows) and serializes (blocking).
fn compile_checked(
    checked: Checked,
    options: &CompileOptions,
    progress: &mut dyn FnMut(CompileStep) -> ControlFlow<()>,
) -> blindfold_model::Result<Compiled> {
    let compiled = compile_with_progress(&checked.ensemble, &checked.calibration, options, progress)?;
    let names: Vec<&str> = compiled.spec.features.iter().map(|f| f.name.as_str()).collect();
    if names != checked.features.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(ModelError::InvalidData(
            "the compiled model's inputs differ from the uploaded model's".into(),
        ));
    }
    let (rows, what, kind) = match &checked.test {
        Some(test) => (test, "test", QualityRows::Test),
        None => (&checked.calibration, "calibration", QualityRows::Calibration),
    };
    let evaluation = evaluate_rows(&checked.ensemble, &compiled, rows, what, options.target)?;
    let report = model_report(
        &checked.format,
        &compiled,
        checked.calibration.rows.len(),
        &evaluation,
        kind,
    );
    Ok(Compiled {
        spec_json: compiled.spec.to_json(),
        plan_json: compiled.plan.to_json(),
        report,
    })
}

/// A stored model as its owner sees it (blocking: parses the spec of a compiled model).
fn owned_model(row: OwnedRow) -> ServiceResult<OwnedModel> {
    let state = state_of(&row)?;
    let spec = match state {
        ModelState::Draft | ModelState::Published => {
            Some(ClientSpec::from_json(&row.spec_json).context("a stored client spec")?)
        }
        ModelState::Compiling | ModelState::Failed => None,
    };
    let progress = row
        .progress_json
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .context("stored progress")?;
    let report = row
        .report_json
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .context("a stored report")?;
    let inputs = serde_json::from_str(&row.inputs_json).context("stored inputs")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_checked_field_by_field() {
        let mut problems = BTreeMap::new();
        let inputs = [
            FeatureInfo {
                name: "a".into(),
                description: "x".repeat(MAX_INPUT_DESCRIPTION_CHARS + 1),
                unit: String::new(),
                ..FeatureInfo::default()
            },
            FeatureInfo {
                name: "a".into(),
                description: String::new(),
                unit: "u".repeat(MAX_UNIT_CHARS + 1),
                ..FeatureInfo::default()
            },
        ];
        check_details(&mut problems, " ", &"d".repeat(MAX_DESCRIPTION_CHARS + 1), &inputs);
        assert_eq!(
            problems.keys().copied().collect::<Vec<_>>(),
            ["description", "inputs", "name"]
        );
        assert_eq!(problems["inputs"].len(), 3, "{problems:?}");

        let mut fine = BTreeMap::new();
        check_details(&mut fine, &"é".repeat(MAX_NAME_CHARS), "", &[]);
        check_labels(&mut fine, &["yes".into(), "no".into()]);
        assert!(fine.is_empty(), "{fine:?}");
        check_labels(&mut fine, &["yes".into(), "yes".into(), String::new()]);
        assert_eq!(fine["labels"].len(), 2);
    }

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

    #[test]
    fn unknown_inputs_are_named_with_the_model_inputs() {
        let message = not_inputs(&["`x`".into()], &["a".into(), "b".into()]);
        assert_eq!(message, "Not an input of the model: `x`. Its inputs are `a`, `b`.");
    }
}
