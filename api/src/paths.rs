//! The API's routes, spelled once. The templates (`{id}` placeholders) are what the server
//! routes and the OpenAPI description documents; the functions fill them in for clients.
//!
//! Model ids are [`ModelId`](crate::ModelId)s and job ids are UUIDs, so neither needs
//! escaping in a path.

/// Every API route starts with this.
pub const API_PREFIX: &str = "/api/";

pub const REGISTER: &str = "/api/register";
pub const LOGIN: &str = "/api/login";
pub const LOGOUT: &str = "/api/logout";
pub const SESSION: &str = "/api/session";
/// The logged-in user's account: `DELETE` deletes it (the password in the body).
pub const ACCOUNT: &str = "/api/account";
/// `POST`: change the password (ends every other session).
pub const ACCOUNT_PASSWORD: &str = "/api/account/password";
/// `DELETE`: log out everywhere (every session of the user, this one included).
pub const ACCOUNT_SESSIONS: &str = "/api/account/sessions";
pub const MODELS: &str = "/api/models";
pub const MODEL_SPEC: &str = "/api/models/{id}/spec";
/// The user's server key: one serves every model of its parameter set (all models today).
pub const KEY: &str = "/api/key";
pub const MODEL_PREDICTIONS: &str = "/api/models/{id}/predictions";
pub const PREDICTIONS: &str = "/api/predictions";
pub const PREDICTION: &str = "/api/predictions/{id}";
pub const PREDICTION_RESULT: &str = "/api/predictions/{id}/result";
/// An owner's models: `GET` lists them, `POST` (multipart/form-data) uploads one to compile.
pub const OWNER_MODELS: &str = "/api/owner/models";
/// `GET` one of the owner's models (progress, report), `PATCH` its details ([`ModelDetails`](crate::ModelDetails)),
/// `DELETE` it (unpublished only).
pub const OWNER_MODEL: &str = "/api/owner/models/{id}";
/// `PUT` publishes a compiled model to the catalogue, `DELETE` takes it out.
pub const OWNER_MODEL_PUBLICATION: &str = "/api/owner/models/{id}/publication";
pub const OPENAPI: &str = "/api/openapi.json";
/// Every other path under the prefix: answered 404 "route not found" in JSON, not a page.
pub const API_FALLBACK: &str = "/api/{*rest}";

/// A template with its `{id}` filled in.
pub fn with_id(template: &str, id: &str) -> String {
    template.replace("{id}", id)
}

pub fn model_spec(model_id: &str) -> String {
    with_id(MODEL_SPEC, model_id)
}

pub fn model_predictions(model_id: &str) -> String {
    with_id(MODEL_PREDICTIONS, model_id)
}

/// Where to submit a row encrypted for `binding`'s key and spec (both hex, so they need no
/// escaping).
pub fn model_predictions_bound(model_id: &str, binding: &crate::PredictionBinding) -> String {
    format!(
        "{}?key_fingerprint={}&spec_sha256={}",
        model_predictions(model_id),
        binding.key_fingerprint,
        binding.spec_sha256
    )
}

pub fn owner_model(model_id: &str) -> String {
    with_id(OWNER_MODEL, model_id)
}

pub fn owner_model_publication(model_id: &str) -> String {
    with_id(OWNER_MODEL_PUBLICATION, model_id)
}

pub fn prediction(job_id: &str) -> String {
    with_id(PREDICTION, job_id)
}

/// The job, answered once it finishes or after `wait_s` seconds (long polling).
pub fn prediction_waiting(job_id: &str, wait_s: u32) -> String {
    format!("{}?wait={wait_s}", prediction(job_id))
}

pub fn prediction_result(job_id: &str) -> String {
    with_id(PREDICTION_RESULT, job_id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_fill_in() {
        assert_eq!(super::prediction_waiting("abc", 10), "/api/predictions/abc?wait=10");
    }
}
