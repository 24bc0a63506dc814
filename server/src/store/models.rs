//! The `models` table: the catalogue's published models and the owners' models in every state
//! (compiling, failed, draft, published). The catalogue's cache is
//! [`crate::services::catalogue`]; the owners' rules and compilations are
//! [`crate::services::owned_models`].
//!
//! A compiling model's row is fenced by its `created_at`: with its id, it names one upload, so
//! a compilation never writes over a model deleted and uploaded again under the same id.

use anyhow::Context;
use blindfold_api::{CompileProgress, FeatureInfo, ModelExample, ModelReport, ModelState};

use crate::store::db::{self, Db, now_ms};

const OWNED_COLUMNS: &str = "id, name, description, state, progress_json, error, spec_json, inputs_json, \
                             report_json, version, created_at, updated_at";

/// A published model's row as the catalogue reads it.
#[derive(sqlx::FromRow)]
pub struct PublishedRow {
    pub name: String,
    pub spec_json: String,
    pub plan_json: String,
    pub examples_json: String,
    pub description: String,
    pub inputs_json: String,
    pub report_json: Option<String>,
    pub version: i64,
}

/// A model's row as its owner sees it.
#[derive(sqlx::FromRow)]
pub struct OwnedRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub state: ModelState,
    pub progress_json: Option<String>,
    pub error: Option<String>,
    /// Empty until compiled.
    pub spec_json: String,
    pub inputs_json: String,
    pub report_json: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A JSON column the server wrote, read back: unreadable means a bug or a damaged database.
fn stored<T: serde::de::DeserializeOwned>(text: Option<&str>, what: &str) -> anyhow::Result<Option<T>> {
    text.map(serde_json::from_str)
        .transpose()
        .with_context(|| format!("a stored {what}"))
}

/// The `inputs_json` column of either row.
fn stored_inputs(json: &str) -> anyhow::Result<Vec<FeatureInfo>> {
    Ok(stored(Some(json), "list of inputs")?.unwrap_or_default())
}

/// The `report_json` column of either row.
fn stored_report(json: Option<&str>) -> anyhow::Result<Option<ModelReport>> {
    stored(json, "report")
}

impl PublishedRow {
    pub fn inputs(&self) -> anyhow::Result<Vec<FeatureInfo>> {
        stored_inputs(&self.inputs_json)
    }

    pub fn report(&self) -> anyhow::Result<Option<ModelReport>> {
        stored_report(self.report_json.as_deref())
    }

    pub fn examples(&self) -> anyhow::Result<Vec<ModelExample>> {
        Ok(stored(Some(&self.examples_json), "list of sample rows")?.unwrap_or_default())
    }
}

impl OwnedRow {
    pub fn inputs(&self) -> anyhow::Result<Vec<FeatureInfo>> {
        stored_inputs(&self.inputs_json)
    }

    pub fn report(&self) -> anyhow::Result<Option<ModelReport>> {
        stored_report(self.report_json.as_deref())
    }

    pub fn progress(&self) -> anyhow::Result<Option<CompileProgress>> {
        stored(self.progress_json.as_deref(), "compilation progress")
    }
}

/// A compiled model to install as the operator's (published, no owner).
pub struct InstalledModel<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub inputs: &'a [FeatureInfo],
    pub report: Option<&'a ModelReport>,
    pub spec_json: String,
    pub plan_json: String,
    pub examples: &'a [ModelExample],
}

/// An owner's upload, to store as compiling.
pub struct NewOwnedModel<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub inputs: &'a [FeatureInfo],
    pub owner: i64,
    pub progress: &'a CompileProgress,
}

/// How an insert of an owner's model went.
pub enum Inserted {
    /// Stored, created at this time.
    At(i64),
    /// The owner has the most models allowed.
    OverQuota,
    /// A model (anyone's) has the id.
    Taken,
}

/// Which model row a compilation is of: its id and `created_at`.
pub type RowKey<'a> = (&'a str, i64);

pub struct ModelStore {
    db: Db,
}

impl ModelStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Whether other processes may share the models (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.db.backend == db::Backend::Postgres
    }

    /// Now by the clock heartbeats are judged by (the database's with PostgreSQL).
    pub async fn now(&self) -> sqlx::Result<i64> {
        self.db.now_ms().await
    }

    /// Installs (or replaces) a model: published, without owner (a model of an owner with this
    /// id becomes the operator's), its version bumped.
    pub async fn install(&self, model: &InstalledModel<'_>) -> anyhow::Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO models (id, name, spec_json, plan_json, examples_json, created_at, description, inputs_json,
                                 report_json, state, owner_id, progress_json, error, version, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, NULL, 1, $6)
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, spec_json = excluded.spec_json,
             plan_json = excluded.plan_json, examples_json = excluded.examples_json,
             description = excluded.description, inputs_json = excluded.inputs_json,
             report_json = excluded.report_json, state = excluded.state, owner_id = NULL, progress_json = NULL,
             error = NULL, version = models.version + 1, updated_at = excluded.updated_at",
        )
        .bind(model.id)
        .bind(model.name)
        .bind(&model.spec_json)
        .bind(&model.plan_json)
        .bind(serde_json::to_string(model.examples).context("sample rows as JSON")?)
        .bind(now)
        .bind(model.description)
        .bind(serde_json::to_string(model.inputs).context("inputs as JSON")?)
        .bind(
            model
                .report
                .map(serde_json::to_string)
                .transpose()
                .context("report as JSON")?,
        )
        .bind(ModelState::Published)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Whether a model (anyone's, in any state) has this id.
    pub async fn exists(&self, id: &str) -> sqlx::Result<bool> {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM models WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(found.is_some())
    }

    /// A model's version and state.
    pub async fn version(&self, id: &str) -> sqlx::Result<Option<(i64, ModelState)>> {
        sqlx::query_as("SELECT version, state FROM models WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await
    }

    /// A published model.
    pub async fn published(&self, id: &str) -> sqlx::Result<Option<PublishedRow>> {
        sqlx::query_as(
            "SELECT name, spec_json, plan_json, examples_json, description, inputs_json, report_json, version
             FROM models WHERE id = $1 AND state = $2",
        )
        .bind(id)
        .bind(ModelState::Published)
        .fetch_optional(&self.db.pool)
        .await
    }

    /// The published models' ids and versions, by id.
    pub async fn published_versions(&self) -> sqlx::Result<Vec<(String, i64)>> {
        sqlx::query_as("SELECT id, version FROM models WHERE state = $1 ORDER BY id")
            .bind(ModelState::Published)
            .fetch_all(&self.db.pool)
            .await
    }

    /// How many models the owner has, in any state.
    pub async fn count_owned(&self, owner: i64) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM models WHERE owner_id = $1")
            .bind(owner)
            .fetch_one(&self.db.pool)
            .await
    }

    /// Stores an owner's upload as compiling, unless the owner has `max_per_owner` models
    /// (counted in the insert, after the owner's other uploads: one turn per owner across
    /// processes) or the id is taken.
    pub async fn insert_compiling(&self, model: &NewOwnedModel<'_>, max_per_owner: u32) -> anyhow::Result<Inserted> {
        let now = self.now().await?;
        let insert = sqlx::query(
            "INSERT INTO models (id, name, spec_json, plan_json, examples_json, created_at, description, inputs_json,
                                 state, owner_id, progress_json, version, updated_at)
             SELECT $1, $2, '', '', '[]', $3, $4, $5, $6, $7, $8, 1, $3
             WHERE (SELECT COUNT(*) FROM models WHERE owner_id = $7) < $9",
        )
        .bind(model.id)
        .bind(model.name)
        .bind(now)
        .bind(model.description)
        .bind(serde_json::to_string(model.inputs).context("inputs as JSON")?)
        .bind(ModelState::Compiling)
        .bind(model.owner)
        .bind(serde_json::to_string(model.progress).context("progress as JSON")?)
        .bind(i64::from(max_per_owner));
        let mut transaction = self.db.pool.begin().await?;
        db::take_turn(&mut transaction, self.db.backend, &format!("models of {}", model.owner)).await?;
        match insert.execute(&mut *transaction).await {
            Ok(done) if done.rows_affected() == 1 => {
                transaction.commit().await?;
                Ok(Inserted::At(now))
            }
            Ok(_) => Ok(Inserted::OverQuota),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(Inserted::Taken),
            Err(error) => Err(error.into()),
        }
    }

    /// Touches a compiling model's `updated_at` (its heartbeat), and its progress if given.
    /// False when the model is no longer compiling.
    pub async fn record_alive(
        &self,
        (id, created_at): RowKey<'_>,
        progress: Option<&CompileProgress>,
    ) -> anyhow::Result<bool> {
        let now = self.now().await?;
        let progress = progress.map(serde_json::to_string).transpose()?;
        let updated = sqlx::query(
            "UPDATE models SET progress_json = COALESCE($1, progress_json), updated_at = $2
             WHERE id = $3 AND state = $4 AND created_at = $5",
        )
        .bind(progress)
        .bind(now)
        .bind(id)
        .bind(ModelState::Compiling)
        .bind(created_at)
        .execute(&self.db.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Stores a compiled model as a draft of its owner (unless it was deleted meanwhile).
    pub async fn store_compiled(
        &self,
        (id, created_at): RowKey<'_>,
        owner: i64,
        spec_json: &str,
        plan_json: &str,
        report: &ModelReport,
    ) -> anyhow::Result<()> {
        let now = self.now().await?;
        sqlx::query(
            "UPDATE models SET state = $1, spec_json = $2, plan_json = $3, report_json = $4, progress_json = NULL,
             error = NULL, version = version + 1, updated_at = $5
             WHERE id = $6 AND owner_id = $7 AND state = $8 AND created_at = $9",
        )
        .bind(ModelState::Draft)
        .bind(spec_json)
        .bind(plan_json)
        .bind(serde_json::to_string(report)?)
        .bind(now)
        .bind(id)
        .bind(owner)
        .bind(ModelState::Compiling)
        .bind(created_at)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Fails a compiling model with the reason.
    pub async fn fail_compiling(&self, (id, created_at): RowKey<'_>, error: &str) -> anyhow::Result<()> {
        let now = self.now().await?;
        sqlx::query(
            "UPDATE models SET state = $1, error = $2, progress_json = NULL, updated_at = $3
             WHERE id = $4 AND state = $5 AND created_at = $6",
        )
        .bind(ModelState::Failed)
        .bind(error)
        .bind(now)
        .bind(id)
        .bind(ModelState::Compiling)
        .bind(created_at)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Fails, with the reason, every compiling model without a heartbeat since `silent_since`;
    /// how many.
    pub async fn fail_compiling_silent_since(&self, silent_since: i64, error: &str) -> sqlx::Result<u64> {
        Ok(sqlx::query(
            "UPDATE models SET state = $1, error = $2, progress_json = NULL, updated_at = $3
             WHERE state = $4 AND updated_at < $5",
        )
        .bind(ModelState::Failed)
        .bind(error)
        .bind(self.now().await?)
        .bind(ModelState::Compiling)
        .bind(silent_since)
        .execute(&self.db.pool)
        .await?
        .rows_affected())
    }

    /// The owner's models, newest first.
    pub async fn list_owned(&self, owner: i64) -> sqlx::Result<Vec<OwnedRow>> {
        sqlx::query_as(&format!(
            "SELECT {OWNED_COLUMNS} FROM models WHERE owner_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(owner)
        .fetch_all(&self.db.pool)
        .await
    }

    /// One of the owner's models.
    pub async fn owned(&self, owner: i64, id: &str) -> sqlx::Result<Option<OwnedRow>> {
        sqlx::query_as(&format!(
            "SELECT {OWNED_COLUMNS} FROM models WHERE id = $1 AND owner_id = $2"
        ))
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.db.pool)
        .await
    }

    /// Changes the details users see of one of the owner's models; bumps the version. False
    /// when the owner has no such model.
    pub async fn update_details(
        &self,
        owner: i64,
        id: &str,
        name: &str,
        description: &str,
        inputs: &[FeatureInfo],
    ) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE models SET name = $1, description = $2, inputs_json = $3, version = version + 1, updated_at = $4
             WHERE id = $5 AND owner_id = $6",
        )
        .bind(name)
        .bind(description)
        .bind(serde_json::to_string(inputs).context("inputs as JSON")?)
        .bind(self.now().await?)
        .bind(id)
        .bind(owner)
        .execute(&self.db.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Moves one of the owner's models from state `from` to `to`; false when it was not in
    /// `from` (or is not theirs).
    pub async fn transition(&self, owner: i64, id: &str, from: ModelState, to: ModelState) -> sqlx::Result<bool> {
        let changed =
            sqlx::query("UPDATE models SET state = $1, updated_at = $2 WHERE id = $3 AND owner_id = $4 AND state = $5")
                .bind(to)
                .bind(self.now().await?)
                .bind(id)
                .bind(owner)
                .bind(from)
                .execute(&self.db.pool)
                .await?;
        Ok(changed.rows_affected() == 1)
    }

    /// Deletes one of the owner's models if it is in one of the `deletable` states, with every
    /// job queued on it (in the same transaction: if the model stays, so do they). The state
    /// and `created_at` it had, and the ids of the jobs deleted (whose files must go).
    pub async fn delete_owned(
        &self,
        owner: i64,
        id: &str,
        deletable: [ModelState; 3],
    ) -> sqlx::Result<Option<(ModelState, i64, Vec<String>)>> {
        let mut transaction = self.db.pool.begin().await?;
        let job_ids: Vec<String> = sqlx::query_scalar(
            "DELETE FROM jobs WHERE model_id = $1
             AND model_id IN (SELECT id FROM models WHERE id = $1 AND owner_id = $2 AND state IN ($3, $4, $5))
             RETURNING id",
        )
        .bind(id)
        .bind(owner)
        .bind(deletable[0])
        .bind(deletable[1])
        .bind(deletable[2])
        .fetch_all(&mut *transaction)
        .await?;
        let deleted: Option<(ModelState, i64)> = sqlx::query_as(
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
            return Ok(None);
        };
        transaction.commit().await?;
        Ok(Some((state, created_at, job_ids)))
    }
}
