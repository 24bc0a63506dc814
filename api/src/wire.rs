//! The JSON bodies of the API, as the server writes them and every client reads them.
//!
//! Nothing here is secret: the client key never crosses the API, and a [`SessionInfo`]'s CSRF
//! token is only useful together with the HttpOnly session cookie.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The logged-in user as a client sees it, with the CSRF token its state-changing requests
/// must carry in [`CSRF_HEADER`](crate::CSRF_HEADER).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub username: String,
    pub csrf_token: String,
    /// What the user may do besides predicting.
    pub role: Role,
}

/// What an account may do. Everyone predicts; owners also publish models (the Models page,
/// `/api/owner/...`). Granted with `blindfold-server grant-owner USERNAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    User,
    Owner,
}

impl Role {
    /// As stored in `users.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Owner => "owner",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::User, Self::Owner]
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| format!("unknown role {text:?}"))
    }
}

/// The body of `POST /api/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registration {
    pub username: String,
    pub password: String,
    pub password_confirmation: String,
}

/// The body of `POST /api/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// The body of `POST /api/account/password`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
    pub new_password_confirmation: String,
}

/// The body of `DELETE /api/account`: the password, asked again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountDeletion {
    pub password: String,
}

/// The learning task of a model, which fixes how its outputs read: named as XGBoost names its
/// objectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Two classes; the answer is the probability of the second.
    BinaryLogistic,
    /// `classes` classes; the answer is a probability per class.
    MultiSoftprob { classes: usize },
    /// Regression; the answer is a number.
    RegSquaredError,
    /// `classes` classes whose probabilities are averaged tree votes (random forests, decision
    /// trees); the answer is a probability per class.
    AveragedProbabilities { classes: usize },
    /// `classes` classes without probabilities (linear SVMs): the answer is a decision score
    /// per class, and the class is the highest.
    DecisionScores { classes: usize },
}

/// A model in the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelSummary {
    pub id: String,
    pub name: String,
    /// Class labels in the model's order; empty for a regression model.
    pub labels: Vec<String>,
    /// Number of input features (their names and ranges are in the model's client spec).
    pub features: usize,
    pub objective: Objective,
    /// Sample rows a user can start from (public data, e.g. from the model's test set).
    #[serde(default)]
    pub examples: Vec<ModelExample>,
    /// What the model predicts, from whom, on what data: its owner's words (may be empty).
    #[serde(default)]
    pub description: String,
    /// The inputs in the model's order, with what they mean and their units (the Predict form's
    /// labels).
    pub inputs: Vec<FeatureInfo>,
    /// How well the model predicts, as its owner's report measured it; absent for models
    /// imported without labelled rows.
    #[serde(default)]
    pub quality: Option<ModelQuality>,
    /// What one prediction costs the server.
    #[serde(default)]
    pub cost: Option<ModelCost>,
    /// Bumped whenever the model or its details change: a client caching a spec compares it.
    #[serde(default)]
    pub version: i64,
}

/// One input of a model as people see it. `name` is the column name the model was calibrated
/// with (the CSV header), fixed; `description` and `unit` are the owner's words, possibly empty;
/// `valid_min` and `valid_max` the values the owner declares possible (an age from 0 to 120,
/// say): clients refuse a row with a value beyond them, and only those (any other finite value
/// gets a prediction).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeatureInfo {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub valid_min: Option<f64>,
    #[serde(default)]
    pub valid_max: Option<f64>,
}

impl FeatureInfo {
    /// Refuses `value` when it is not finite or lies beyond the owner's valid range, saying so
    /// with the feature, the value and the range.
    pub fn check(&self, value: f64) -> Result<(), String> {
        if !value.is_finite() {
            return Err(format!("`{}` is {value}: give a number", self.name));
        }
        let below = self.valid_min.is_some_and(|min| value < min);
        let above = self.valid_max.is_some_and(|max| value > max);
        if below || above {
            let range = match (self.valid_min, self.valid_max) {
                (Some(min), Some(max)) => format!("from {min} to {max}"),
                (Some(min), None) => format!("at least {min}"),
                (None, Some(max)) => format!("at most {max}"),
                (None, None) => unreachable!("a bound was crossed"),
            };
            return Err(format!(
                "`{}` = {value} is outside its valid range ({range})",
                self.name
            ));
        }
        Ok(())
    }
}

/// What a [`ModelQuality`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QualityMeasure {
    /// Fraction of rows given their true class (higher is better).
    Accuracy,
    /// Fraction of rows given the float model's class: the rows carried no true class.
    Agreement,
    /// Mean absolute error against the true value (lower is better).
    MeanAbsoluteError,
    /// No true values: `float` is the float predictions' mean absolute deviation, `quantized`
    /// the mean |quantized - float|.
    Deviation,
}

/// Which rows a [`ModelQuality`] was measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QualityRows {
    /// The owner's labelled test CSV: rows the model was neither trained nor calibrated on.
    Test,
    /// Halves of the calibration rows, each quantized with the other half's levels (the
    /// compiler's own estimate; the rows may overlap the training data).
    HeldOutCalibration,
    /// The calibration rows themselves.
    Calibration,
}

/// The float model (as its library computes it) against the quantized one (what the server
/// computes under encryption, exactly) on the same rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelQuality {
    pub measure: QualityMeasure,
    pub float: f64,
    pub quantized: f64,
    pub rows: QualityRows,
    /// How many rows.
    pub count: usize,
    /// Whether the quantized model meets the compiler's accuracy target (accuracy within 1
    /// point of float, MAE within 3%) on these rows.
    pub target_met: bool,
}

/// The kind of model: what its circuit is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ModelFamily {
    /// A tree ensemble (XGBoost, LightGBM, scikit-learn's forests and boosting): lookups by
    /// programmable bootstrapping.
    Trees,
    /// A linear classifier or regressor behind its scaler: a weighted sum of the encrypted
    /// inputs, with no bootstrap.
    Linear,
    /// A neural network of one hidden layer (scikit-learn's MLPs, a framework's dense
    /// layers): a weighted sum per hidden neuron, read by bootstraps into its activation.
    Network,
}

/// What one prediction costs, as the compiler counted it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelCost {
    pub family: ModelFamily,
    /// Bits per input feature (2^bits levels).
    pub input_bits: u32,
    /// Bits of the quantized output: per leaf value (trees), of the weighted sum (linear).
    pub output_bits: u32,
    /// Programmable bootstraps of one encrypted evaluation.
    pub bootstraps: usize,
    /// Ciphertexts in one encrypted row.
    pub ciphertexts: usize,
    /// Bytes of one encrypted row.
    pub row_bytes: usize,
    /// Predicted server time of one prediction on one core, in milliseconds.
    pub predicted_millis: f64,
}

/// Where an owner's model is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ModelState {
    /// Uploaded; the server is compiling it (see `progress`).
    Compiling,
    /// Compilation failed (see `error`); delete it and upload again.
    Failed,
    /// Compiled, with a report; only its owner sees it.
    Draft,
    /// In the catalogue: every user can predict with it.
    Published,
}

impl ModelState {
    /// As stored in `models.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compiling => "compiling",
            Self::Failed => "failed",
            Self::Draft => "draft",
            Self::Published => "published",
        }
    }
}

impl std::str::FromStr for ModelState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::Compiling, Self::Failed, Self::Draft, Self::Published]
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| format!("unknown model state {text:?}"))
    }
}

/// How far a compilation has got: `done` of `total` steps, and what the compiler is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompileProgress {
    pub stage: String,
    pub done: u32,
    pub total: u32,
}

/// The `metadata` part (JSON) of `POST /api/owner/models` (multipart/form-data, with the parts
/// `model`: the model file, `calibration`: a CSV of rows like the ones users will send, with an
/// optional `target` column, and optionally `test`: a labelled CSV the report is measured on).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelUpload {
    /// The model's id in URLs: lower-case letters, digits and dashes.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Class labels in the model's class order; empty: the model's own or "class 0", ....
    #[serde(default)]
    pub labels: Vec<String>,
    /// Descriptions and units by feature name; features not named here get none.
    #[serde(default)]
    pub inputs: Vec<FeatureInfo>,
}

/// The body of `PATCH /api/owner/models/{id}`: the details users see, changed at any time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelDetails {
    pub name: String,
    pub description: String,
    /// By feature name; every name must be one of the model's.
    pub inputs: Vec<FeatureInfo>,
}

/// The compiler's report on an owner's model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelReport {
    /// The model file's format, e.g. "LightGBM text".
    pub format: String,
    pub cost: ModelCost,
    /// The compiler's held-out estimate, which chose the precision.
    pub calibration: ModelQuality,
    /// On the test rows (or, without a test CSV, the labelled calibration rows): what the
    /// catalogue shows.
    pub evaluation: ModelQuality,
    /// Classifiers: `confusion[true][predicted]` row counts of the quantized model on the
    /// evaluation rows (empty without true classes or for regression).
    #[serde(default)]
    pub confusion: Vec<Vec<u64>>,
    /// Regression: `[true, quantized prediction]` pairs on the evaluation rows, at most
    /// [`MAX_SCATTER_POINTS`] of them, evenly chosen.
    #[serde(default)]
    pub scatter: Vec<[f64; 2]>,
}

/// The most points a [`ModelReport`]'s scatter carries.
pub const MAX_SCATTER_POINTS: usize = 1000;

/// An owner's model as its owner sees it on the Models page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OwnedModel {
    pub id: String,
    pub name: String,
    pub description: String,
    pub state: ModelState,
    /// While compiling.
    pub progress: Option<CompileProgress>,
    /// Why compilation failed.
    pub error: Option<String>,
    /// Once compiled.
    pub objective: Option<Objective>,
    /// Class labels in the model's order; empty for regression (and until compiled).
    pub labels: Vec<String>,
    /// Once compiled: every input in the model's order.
    pub inputs: Vec<FeatureInfo>,
    /// Once compiled.
    pub report: Option<ModelReport>,
    pub version: i64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A labelled sample row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelExample {
    pub label: String,
    pub features: Vec<f64>,
}

/// A stored server key (the public evaluation key) of one user for one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct KeyInfo {
    /// The TFHE parameter set the key belongs to; it serves every model of that set.
    pub parameter_set: String,
    pub size_bytes: i64,
    /// SHA-256 of the compressed key bytes, hex.
    pub fingerprint: String,
    /// Milliseconds since the Unix epoch.
    pub uploaded_at: i64,
    /// When the server deletes the key unless a prediction uses it first (milliseconds since
    /// the Unix epoch); none where unused keys are kept.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// Where a prediction job is. Stored as this lower-case text in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// Being evaluated.
    Running,
    /// Evaluated: the encrypted result can be downloaded.
    Done,
    /// Evaluation failed; the job's `error` says why.
    Failed,
}

impl JobStatus {
    /// Done or failed: the job will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [Self::Queued, Self::Running, Self::Done, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| format!("unknown job status {text:?}"))
    }
}

/// [`JobStatus`], [`ModelState`] and [`Role`] are stored as their lower-case text (`as_str`)
/// through sqlx's `Any` driver, which the server uses for both of its databases (SQLite and
/// PostgreSQL).
#[cfg(feature = "sqlx")]
mod sql {
    use sqlx::any::{Any, AnyTypeInfo};
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::{Database, Decode, Encode, Type};

    use super::{JobStatus, ModelState, Role};

    macro_rules! stored_as_text {
        ($($kind:ty),*) => {$(
            impl Type<Any> for $kind {
                fn type_info() -> AnyTypeInfo {
                    <str as Type<Any>>::type_info()
                }

                fn compatible(ty: &AnyTypeInfo) -> bool {
                    <str as Type<Any>>::compatible(ty)
                }
            }

            impl<'q> Encode<'q, Any> for $kind {
                fn encode_by_ref(&self, buf: &mut <Any as Database>::ArgumentBuffer<'q>) -> Result<IsNull, BoxDynError> {
                    <&str as Encode<'q, Any>>::encode(self.as_str(), buf)
                }
            }

            impl<'r> Decode<'r, Any> for $kind {
                fn decode(value: <Any as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                    Ok(<&str as Decode<'r, Any>>::decode(value)?.parse::<$kind>()?)
                }
            }
        )*};
    }

    stored_as_text!(JobStatus, ModelState, Role);
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A prediction job. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct JobInfo {
    pub id: String,
    pub model_id: String,
    pub status: JobStatus,
    /// Why the evaluation failed, for a failed job.
    pub error: Option<String>,
    pub input_bytes: i64,
    /// The fingerprint of the server key the row was encrypted for, which evaluates it.
    pub key_fingerprint: String,
    /// The SHA-256 (hex) of the client spec's JSON text the row was encrypted against: the
    /// result reads only with that spec.
    pub spec_sha256: String,
    /// Programmable bootstraps the evaluation ran.
    pub bootstraps: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl JobInfo {
    /// Seconds from submission to the result, once finished.
    pub fn duration_s(&self) -> Option<f64> {
        self.finished_at.map(|end| (end - self.created_at) as f64 / 1000.0)
    }
}

/// What a submitted row was encrypted for (the query of `POST /api/models/{id}/predictions`):
/// the server refuses the row unless both are what it holds now, so a result never comes from
/// a key or a model version the row was not made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PredictionBinding {
    /// [`KeyInfo::fingerprint`] of the server key made with the client key that encrypted the
    /// row (64 lower-case hex digits).
    pub key_fingerprint: String,
    /// SHA-256 of the model's client spec, its JSON text exactly as served (64 lower-case hex
    /// digits).
    pub spec_sha256: String,
}

/// [`ErrorBody::error`] of a 409 answer to a submission encrypted for another server key than
/// the user's stored one (replaced since, from another device or tab): the row cannot be
/// evaluated; encrypt it again with the key the server holds.
pub const KEY_MISMATCH: &str = "key_mismatch";
/// [`ErrorBody::error`] of a 409 answer to a submission encrypted against another client spec
/// than the model's (recompiled since): fetch the spec again and encrypt again.
pub const SPEC_MISMATCH: &str = "spec_mismatch";

/// Whether `text` is written as a SHA-256 digest: 64 lower-case hex digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An error answer of the API: `error` is a stable code, `detail` a sentence for people, and
/// `fields` the rules each form field broke (only for `validation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Vec<String>>,
}

impl ErrorBody {
    /// What a client knows of an error answer whose body is not an `ErrorBody` (a proxy's
    /// page, a cut connection): its status.
    pub fn unreadable(status: u16) -> Self {
        Self {
            error: "http".into(),
            detail: format!("the server answered {status}"),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_objectives_keep_their_wire_names() {
        assert_eq!(serde_json::to_string(&JobStatus::Done).unwrap(), "\"done\"");
        for status in [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Done,
            JobStatus::Failed,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(
            serde_json::to_string(&Objective::MultiSoftprob { classes: 3 }).unwrap(),
            r#"{"multi_softprob":{"classes":3}}"#
        );
        assert_eq!(
            serde_json::to_string(&Objective::BinaryLogistic).unwrap(),
            "\"binary_logistic\""
        );
    }

    #[test]
    fn only_the_owners_valid_range_and_non_finite_values_refuse_a_value() {
        let age = FeatureInfo {
            name: "age".into(),
            valid_min: Some(0.0),
            valid_max: Some(120.0),
            ..FeatureInfo::default()
        };
        assert_eq!(age.check(37.0), Ok(()));
        assert_eq!(age.check(120.0), Ok(()));
        assert_eq!(
            age.check(150.0),
            Err("`age` = 150 is outside its valid range (from 0 to 120)".into())
        );
        assert!(age.check(f64::NAN).unwrap_err().contains("give a number"));
        let open = FeatureInfo {
            name: "x".into(),
            ..FeatureInfo::default()
        };
        assert_eq!(open.check(-1e300), Ok(()));
        let floor = FeatureInfo {
            valid_min: Some(1.0),
            ..open
        };
        assert_eq!(
            floor.check(0.5),
            Err("`x` = 0.5 is outside its valid range (at least 1)".into())
        );
    }

    #[test]
    fn an_error_without_fields_has_no_fields_member() {
        let body = ErrorBody {
            error: "not_found".into(),
            detail: "model not found".into(),
            ..ErrorBody::default()
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":"not_found","detail":"model not found"}"#
        );
    }
}
