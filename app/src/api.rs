//! The API's wire types come from `blindfold-api`; this module adds what only the app needs.

pub use blindfold_api::{
    AccountDeletion, CompileProgress, Credentials, ErrorBody, FeatureInfo, JobInfo, JobStatus, KeyInfo, ModelCost,
    ModelDetails, ModelExample, ModelFamily, ModelQuality, ModelReport, ModelState, ModelSummary, ModelUpload,
    Objective, OwnedModel, PasswordChange, PredictionBinding, QualityMeasure, QualityRows, Registration, Role,
    SessionInfo,
};

/// The session of a page request, resolved by the server from the session cookie and placed
/// in the request's extensions before the app renders (`None`: nobody is logged in).
#[derive(Debug, Clone, Default)]
pub struct RequestSession(pub Option<SessionInfo>);
