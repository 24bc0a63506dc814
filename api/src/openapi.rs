//! The REST API described as OpenAPI 3.1, served by the server at [`paths::OPENAPI`].
//!
//! The functions below carry no code: each exists to hold one operation's description (utoipa
//! describes operations on functions). The server's router and this description use the same
//! [`paths`] constants, and the server's tests check that every route it answers is here.

// The operation functions are read by the derive only.
#![allow(dead_code)]

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::paths;
#[allow(unused_imports)] // used by the `body = ...` attributes below
use crate::{
    AccountDeletion, Credentials, ErrorBody, JobInfo, KeyInfo, ModelDetails, ModelSummary, ModelUpload, OwnedModel,
    PasswordChange, PredictionBinding, Registration, SessionInfo,
};

/// The description, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Blindfold",
        description = "Private predictions: the client encrypts its features with TFHE, the server evaluates \
                       the model on the ciphertexts, and only the client can decrypt the answer. Binary bodies \
                       (server keys, encrypted rows and results) are TFHE-rs serializations; the model's client \
                       spec says how to make them.",
    ),
    paths(
        register, login, logout, session, change_password, log_out_everywhere, delete_account, models, model_spec, get_key, put_key, delete_key, submit,
        predictions, prediction, prediction_result, delete_prediction, clear_predictions, owner_models, upload_model,
        owner_model, update_owner_model, delete_owner_model, publish_model, unpublish_model, openapi_json
    ),
    components(schemas(ModelUploadForm)),
    modifiers(&SessionAuth),
    tags(
        (name = "accounts", description = "Accounts and sessions"),
        (name = "models", description = "The model catalogue"),
        (name = "keys", description = "Each user's public server key, one for every model"),
        (name = "predictions", description = "Encrypted prediction jobs"),
        (name = "owners", description = "Model owners: upload and compile models, publish them to the catalogue \
                                         (accounts with the owner role, granted with `blindfold-server grant-owner`)")
    )
)]
struct ApiDoc;

/// The session cookie, and the CSRF header every state-changing request needs with it.
struct SessionAuth;

impl Modify for SessionAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::SESSION_COOKIE,
                "The session, set by register and login (HttpOnly, SameSite=Lax); named \
                 `__Host-blindfold_session` (and Secure) on a server with secure cookies.",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::CSRF_HEADER,
                "The session's CSRF token (from register, login or GET /api/session), required on every \
                 request that is not GET.",
            ))),
        );
    }
}

/// Create an account and log in.
#[utoipa::path(post, path = paths::REGISTER, tag = "accounts", request_body = Registration,
    responses(
        (status = 201, description = "Registered and logged in; sets the session cookie", body = SessionInfo),
        (status = 400, description = "Rules the fields broke, per field", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 429, description = "Too many new accounts from this address or its IPv6 /48; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks at once; see Retry-After", body = ErrorBody),
    ))]
fn register() {}

/// Log in (a new session; the old one ends).
#[utoipa::path(post, path = paths::LOGIN, tag = "accounts", request_body = Credentials,
    responses(
        (status = 200, description = "Logged in; sets the session cookie", body = SessionInfo),
        (status = 400, description = "Username or password over its length", body = ErrorBody),
        (status = 401, description = "Unknown user or wrong password (one answer for both)", body = ErrorBody),
        (status = 408, description = "The body fell behind the least body rate", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 429, description = "Too many logins to this account, or failed logins for this username or from this address; see \
                                       Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks at once; see Retry-After", body = ErrorBody),
    ))]
fn login() {}

/// End this session.
#[utoipa::path(post, path = paths::LOGOUT, tag = "accounts", security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Logged out; clears the cookie"),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing or wrong CSRF token", body = ErrorBody),
    ))]
fn logout() {}

/// The logged-in user and the session's CSRF token.
#[utoipa::path(get, path = paths::SESSION, tag = "accounts", security(("session" = [])),
    responses(
        (status = 200, body = SessionInfo),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
fn session() {}

/// Change the password, given the current one; every other session of the user ends.
#[utoipa::path(post, path = paths::ACCOUNT_PASSWORD, tag = "accounts", security(("session" = [], "csrf" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; this session stays, all others ended"),
        (status = 400, description = "Rules the new password broke, or fields over their length", body = ErrorBody),
        (status = 401, description = "Not logged in, or the current password is wrong", body = ErrorBody),
        (status = 403, description = "Missing or wrong CSRF token", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks at once; see Retry-After", body = ErrorBody),
    ))]
fn change_password() {}

/// Log out everywhere: end every session of the user, this one included.
#[utoipa::path(delete, path = paths::ACCOUNT_SESSIONS, tag = "accounts", security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Every session ended; clears the cookie"),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing or wrong CSRF token", body = ErrorBody),
    ))]
fn log_out_everywhere() {}

/// Delete the account, given its password: its sessions, keys, predictions and results.
#[utoipa::path(delete, path = paths::ACCOUNT, tag = "accounts", security(("session" = [], "csrf" = [])),
    request_body = AccountDeletion,
    responses(
        (status = 204, description = "Deleted; clears the cookie"),
        (status = 400, description = "The password is over its length", body = ErrorBody),
        (status = 401, description = "Not logged in, or the password is wrong", body = ErrorBody),
        (status = 403, description = "Missing or wrong CSRF token", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks at once; see Retry-After", body = ErrorBody),
    ))]
fn delete_account() {}

/// The models this server serves.
#[utoipa::path(get, path = paths::MODELS, tag = "models",
    responses((status = 200, body = Vec<ModelSummary>)))]
fn models() {}

/// A model's public client spec: features, quantization, output decoding and parameters
/// (the JSON of `blindfold_model::ClientSpec`; no threshold or leaf of the model).
#[utoipa::path(get, path = paths::MODEL_SPEC, tag = "models", params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 200, description = "The client spec", content_type = "application/json", body = Object),
        (status = 404, body = ErrorBody),
    ))]
fn model_spec() {}

/// The logged-in user's stored server key, which serves every model of its parameter set.
#[utoipa::path(get, path = paths::KEY, tag = "keys", security(("session" = [])),
    responses(
        (status = 200, body = KeyInfo),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No key yet", body = ErrorBody),
    ))]
fn get_key() {}

/// Upload (or replace) the compressed server key: public, safe to give the server. One key
/// serves every model; replacing it fails the user's queued predictions made under the old one.
#[utoipa::path(put, path = paths::KEY, tag = "keys", security(("session" = [], "csrf" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "A TFHE-rs compressed server key of the models' parameters"),
    responses(
        (status = 200, description = "Validated and stored", body = KeyInfo),
        (status = 400, description = "Not a key", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 408, description = "The key did not arrive within the upload timeout, or fell behind \
            the least body rate", body = ErrorBody),
        (status = 409, description = "Over the user's quota of key bytes", body = ErrorBody),
        (status = 413, description = "Over the size limit", body = ErrorBody),
        (status = 422, description = "A key of other parameters", body = ErrorBody),
        (status = 429, description = "This user's key upload is in progress already; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many key uploads at once; see Retry-After", body = ErrorBody),
        (status = 507, description = "The deployment's storage for keys is full", body = ErrorBody),
    ))]
fn put_key() {}

/// Remove the stored server key.
#[utoipa::path(delete, path = paths::KEY, tag = "keys", security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
fn delete_key() {}

/// Submit an encrypted row for evaluation; the job is queued.
#[utoipa::path(post, path = paths::MODEL_PREDICTIONS, tag = "predictions", security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "Model id"), PredictionBinding),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "An encrypted row as the spec's input encoding makes it"),
    responses(
        (status = 202, description = "Queued", body = JobInfo),
        (status = 400, description = "Not an encrypted row of this model, or a binding not written as \
            two SHA-256 digests", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 408, description = "The row did not arrive within the upload timeout, or fell behind \
            the least body rate", body = ErrorBody),
        (status = 409, description = "No server key uploaded (`conflict`); the row was encrypted for \
            another server key than the stored one (`key_mismatch`) or against another version of the \
            model's spec (`spec_mismatch`)", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 429, description = "Too many predictions queued or running, or this user's row uploads \
            at their share; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many rows arriving at once; see Retry-After", body = ErrorBody),
    ))]
fn submit() {}

/// The logged-in user's predictions, newest first.
#[utoipa::path(get, path = paths::PREDICTIONS, tag = "predictions", security(("session" = [])),
    responses(
        (status = 200, body = Vec<JobInfo>),
        (status = 401, body = ErrorBody),
    ))]
fn predictions() {}

/// One prediction job; with `wait`, answered as soon as it finishes (long polling).
#[utoipa::path(get, path = paths::PREDICTION, tag = "predictions", security(("session" = [])),
    params(
        ("id" = String, Path, description = "Job id"),
        ("wait" = Option<f64>, Query, description = "Seconds (0 to 30) to wait for the job to finish"),
    ),
    responses(
        (status = 200, body = JobInfo),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 429, description = "Too many long polls open; see Retry-After", body = ErrorBody),
    ))]
fn prediction() {}

/// Delete a prediction and its result; a queued one is cancelled.
#[utoipa::path(delete, path = paths::PREDICTION, tag = "predictions", security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Running: delete it once it has finished", body = ErrorBody),
    ))]
fn delete_prediction() {}

/// Clear the history: delete every prediction that is not running, queued ones included.
#[utoipa::path(delete, path = paths::PREDICTIONS, tag = "predictions", security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
fn clear_predictions() {}

/// The encrypted result of a finished job; only the client key decrypts it.
#[utoipa::path(get, path = paths::PREDICTION_RESULT, tag = "predictions", security(("session" = [])),
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The encrypted result", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not finished, or failed (a damaged stored result fails the job)", body = ErrorBody),
    ))]
fn prediction_result() {}

/// The body of `POST /api/owner/models` (multipart/form-data).
#[derive(utoipa::ToSchema)]
struct ModelUploadForm {
    /// The model's id, name, description, class labels and input descriptions (JSON).
    metadata: ModelUpload,
    /// The model file as its library saved it: XGBoost JSON or UBJSON, LightGBM text, or
    /// scikit-learn through ONNX (detected from the content).
    #[schema(value_type = String, format = Binary)]
    model: Vec<u8>,
    /// CSV (UTF-8) of rows like those users will send, with the model's feature names as
    /// header and optionally a `target` column: the compiler chooses the precision on them.
    calibration: String,
    /// CSV (UTF-8) of labelled rows (a `target` column) the report is measured on; without
    /// it, the calibration rows.
    test: Option<String>,
}

/// The logged-in owner's models, newest first.
#[utoipa::path(get, path = paths::OWNER_MODELS, tag = "owners", security(("session" = [])),
    responses(
        (status = 200, body = Vec<OwnedModel>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a model owner", body = ErrorBody),
    ))]
fn owner_models() {}

/// Upload a model to compile. The files are checked at once; the model is compiled in the
/// background (follow it with `GET /api/owner/models/{id}`), then is a draft until published.
#[utoipa::path(post, path = paths::OWNER_MODELS, tag = "owners", security(("session" = [], "csrf" = [])),
    request_body(content = ModelUploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Checked; compiling", body = OwnedModel),
        (status = 400, description = "A missing or unknown part, or metadata that breaks a rule (per field; \
                                       inputs the model does not have are named)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a model owner, or missing or wrong CSRF token", body = ErrorBody),
        (status = 408, description = "The upload did not arrive within the upload timeout, or fell behind \
            the least body rate", body = ErrorBody),
        (status = 409, description = "A model with this id exists, or the owner has as many models as \
                                       allowed", body = ErrorBody),
        (status = 413, description = "A part (named) or the upload over its size limit", body = ErrorBody),
        (status = 422, description = "A model file or CSV that cannot be used: the reason names the format and \
                                       the problem (an unsupported operator or split, a bad cell, too many \
                                       rows, more splits × rows than the server compiles)", body = ErrorBody),
        (status = 429, description = "This owner's model upload is in progress already; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many uploads or compilations at once; see Retry-After", body = ErrorBody),
    ))]
fn upload_model() {}

/// One of the owner's models: its state, progress while compiling, why it failed, its report.
#[utoipa::path(get, path = paths::OWNER_MODEL, tag = "owners", security(("session" = [])),
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 200, body = OwnedModel),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a model owner", body = ErrorBody),
        (status = 404, description = "No such model of this owner", body = ErrorBody),
    ))]
fn owner_model() {}

/// Change the details users see (name, description, inputs' descriptions and units); bumps
/// the model's version.
#[utoipa::path(patch, path = paths::OWNER_MODEL, tag = "owners", security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "Model id")),
    request_body = ModelDetails,
    responses(
        (status = 200, description = "Changed", body = OwnedModel),
        (status = 400, description = "Rules the fields broke, per field", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
    ))]
fn update_owner_model() {}

/// Delete a draft, failed or compiling model (its compilation stops at its next step), with
/// every prediction queued on it.
#[utoipa::path(delete, path = paths::OWNER_MODEL, tag = "owners", security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Published (unpublish it first)", body = ErrorBody),
    ))]
fn delete_owner_model() {}

/// Publish a compiled model: every user can then predict with it. A published model stays so.
#[utoipa::path(put, path = paths::OWNER_MODEL_PUBLICATION, tag = "owners", security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 200, description = "Published", body = OwnedModel),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Compiling, or failed", body = ErrorBody),
    ))]
fn publish_model() {}

/// Take a model out of the catalogue (a draft again); predictions queued on it fail. A draft
/// stays so.
#[utoipa::path(delete, path = paths::OWNER_MODEL_PUBLICATION, tag = "owners", security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "Model id")),
    responses(
        (status = 200, description = "A draft", body = OwnedModel),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Compiling, or failed", body = ErrorBody),
    ))]
fn unpublish_model() {}

/// This description.
#[utoipa::path(get, path = paths::OPENAPI, responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
fn openapi_json() {}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_openapi_3_1_with_every_path() {
        let json = serde_json::to_value(super::document()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = json["paths"].as_object().unwrap();
        assert_eq!(paths.len(), 18);
        assert!(paths[crate::paths::OWNER_MODELS].get("post").is_some());
        assert!(paths[crate::paths::OWNER_MODEL].get("patch").is_some());
        assert!(json["components"]["schemas"]["OwnedModel"].is_object());
        assert!(json["components"]["schemas"]["ModelUploadForm"].is_object());
        assert!(paths[crate::paths::KEY].get("put").is_some());
        assert!(json["components"]["schemas"]["JobStatus"].is_object());
    }
}
