//! The browser's calls to the HTTP API (same origin, session cookie sent by the browser).
//! Only ever run in the browser: server rendering never calls them.

use std::fmt;

use gloo_net::http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};

use blindfold_api::{
    AccountDeletion, CSRF_HEADER, Credentials, ErrorBody, JobInfo, KeyInfo, ModelDetails, ModelSummary, ModelUpload,
    OwnedModel, PasswordChange, PredictionBinding, Registration, SessionInfo, paths,
};

/// A failed call: the HTTP status (0 when the request never got an answer) and the server's
/// explanation.
#[derive(Debug, Clone, PartialEq, Default, thiserror::Error)]
#[error("{}", .body.detail)]
pub struct ApiFailure {
    pub status: u16,
    pub body: ErrorBody,
}

impl ApiFailure {
    fn network(error: impl fmt::Display) -> Self {
        Self {
            status: 0,
            body: ErrorBody {
                error: "network".into(),
                detail: format!("the server could not be reached: {error}"),
                ..ErrorBody::default()
            },
        }
    }
}

pub type ApiResult<T> = Result<T, ApiFailure>;

async fn check(response: Result<Response, gloo_net::Error>) -> ApiResult<Response> {
    let response = response.map_err(ApiFailure::network)?;
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    let body = response
        .json::<ErrorBody>()
        .await
        .unwrap_or_else(|_| ErrorBody::unreadable(status));
    Err(ApiFailure { status, body })
}

async fn json<T: DeserializeOwned>(response: Response) -> ApiResult<T> {
    response.json().await.map_err(ApiFailure::network)
}

async fn post_json<B: Serialize, T: DeserializeOwned>(url: &str, body: &B) -> ApiResult<T> {
    let request = Request::post(url).json(body).map_err(ApiFailure::network)?;
    json(check(request.send().await).await?).await
}

pub async fn register(username: &str, password: &str, password_confirmation: &str) -> ApiResult<SessionInfo> {
    let body = Registration {
        username: username.to_owned(),
        password: password.to_owned(),
        password_confirmation: password_confirmation.to_owned(),
    };
    post_json(paths::REGISTER, &body).await
}

pub async fn login(username: &str, password: &str) -> ApiResult<SessionInfo> {
    let body = Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    post_json(paths::LOGIN, &body).await
}

pub async fn logout(session: &SessionInfo) -> ApiResult<()> {
    let request = Request::post(paths::LOGOUT).header(CSRF_HEADER, &session.csrf_token);
    check(request.send().await).await.map(drop)
}

/// Changes the password; the server ends every other session of the user, this one stays.
pub async fn change_password(session: &SessionInfo, change: &PasswordChange) -> ApiResult<()> {
    let request = Request::post(paths::ACCOUNT_PASSWORD)
        .header(CSRF_HEADER, &session.csrf_token)
        .json(change)
        .map_err(ApiFailure::network)?;
    check(request.send().await).await.map(drop)
}

/// Ends every session of the user, this one included.
pub async fn log_out_everywhere(session: &SessionInfo) -> ApiResult<()> {
    let request = Request::delete(paths::ACCOUNT_SESSIONS).header(CSRF_HEADER, &session.csrf_token);
    check(request.send().await).await.map(drop)
}

/// Deletes the account and everything the server holds of it.
pub async fn delete_account(session: &SessionInfo, password: &str) -> ApiResult<()> {
    let body = AccountDeletion {
        password: password.to_owned(),
    };
    let request = Request::delete(paths::ACCOUNT)
        .header(CSRF_HEADER, &session.csrf_token)
        .json(&body)
        .map_err(ApiFailure::network)?;
    check(request.send().await).await.map(drop)
}

pub async fn models() -> ApiResult<Vec<ModelSummary>> {
    json(check(Request::get(paths::MODELS).send().await).await?).await
}

/// The model's client spec, as the JSON text the crypto worker takes.
pub async fn spec_json(model: &str) -> ApiResult<String> {
    let response = check(Request::get(&paths::model_spec(model)).send().await).await?;
    response.text().await.map_err(ApiFailure::network)
}

/// The user's stored server key (one for every model), or `None` when there is none.
pub async fn key_info() -> ApiResult<Option<KeyInfo>> {
    match check(Request::get(paths::KEY).send().await).await {
        Ok(response) => json(response).await.map(Some),
        Err(failure) if failure.status == 404 => Ok(None),
        Err(failure) => Err(failure),
    }
}

/// Deletes the user's server key; no key is no failure.
pub async fn delete_key(session: &SessionInfo) -> ApiResult<()> {
    let request = Request::delete(paths::KEY).header(CSRF_HEADER, &session.csrf_token);
    match check(request.send().await).await {
        Ok(_) => Ok(()),
        Err(failure) if failure.status == 404 => Ok(()),
        Err(failure) => Err(failure),
    }
}

/// Deletes a prediction and its stored result (a queued one is cancelled).
pub async fn delete_prediction(session: &SessionInfo, id: &str) -> ApiResult<()> {
    let request = Request::delete(&paths::prediction(id)).header(CSRF_HEADER, &session.csrf_token);
    check(request.send().await).await.map(drop)
}

/// Deletes every prediction of the user that is not running.
pub async fn clear_predictions(session: &SessionInfo) -> ApiResult<()> {
    let request = Request::delete(paths::PREDICTIONS).header(CSRF_HEADER, &session.csrf_token);
    check(request.send().await).await.map(drop)
}

/// Submits a row encrypted for `binding`'s server key and spec; the job runs on the server's
/// queue.
pub async fn submit(
    session: &SessionInfo,
    model: &str,
    binding: &PredictionBinding,
    ciphertext: &js_sys::Uint8Array,
) -> ApiResult<JobInfo> {
    let request = Request::post(&paths::model_predictions_bound(model, binding))
        .header(CSRF_HEADER, &session.csrf_token)
        .header("Content-Type", "application/octet-stream")
        .body(blob(ciphertext))
        .map_err(ApiFailure::network)?;
    json(check(request.send().await).await?).await
}

/// The job, answered as soon as it finishes or after `wait_s` seconds (long polling).
pub async fn job(id: &str, wait_s: u32) -> ApiResult<JobInfo> {
    json(check(Request::get(&paths::prediction_waiting(id, wait_s)).send().await).await?).await
}

pub async fn jobs() -> ApiResult<Vec<JobInfo>> {
    json(check(Request::get(paths::PREDICTIONS).send().await).await?).await
}

/// The encrypted result of a finished job.
pub async fn result(id: &str) -> ApiResult<js_sys::Uint8Array> {
    let response = check(Request::get(&paths::prediction_result(id)).send().await).await?;
    let bytes = response.binary().await.map_err(ApiFailure::network)?;
    Ok(js_sys::Uint8Array::from(bytes.as_slice()))
}

/// The owner's models, compiling, failed, draft and published alike.
pub async fn owned_models() -> ApiResult<Vec<OwnedModel>> {
    json(check(Request::get(paths::OWNER_MODELS).send().await).await?).await
}

/// One of the owner's models: its progress while compiling, its report once compiled.
pub async fn owned_model(id: &str) -> ApiResult<OwnedModel> {
    json(check(Request::get(&paths::owner_model(id)).send().await).await?).await
}

/// The files of a model upload, as chosen in the page's file inputs.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// XGBoost JSON or UBJSON, LightGBM text, or ONNX.
    pub model: web_sys::File,
    /// Rows like the ones users will send, with a header and an optional `target` column.
    pub calibration: web_sys::File,
    /// Labelled rows the report is measured on.
    pub test: Option<web_sys::File>,
}

/// Uploads a model to compile; the server answers at once (202) with the model in state
/// compiling, and compiles it in the background.
pub async fn upload_model(session: &SessionInfo, upload: &ModelUpload, files: &ModelFiles) -> ApiResult<OwnedModel> {
    let form = upload_form(upload, files).map_err(js_failure)?;
    // No Content-Type of ours: the browser writes multipart/form-data with its boundary.
    let request = Request::post(paths::OWNER_MODELS)
        .header(CSRF_HEADER, &session.csrf_token)
        .body(form)
        .map_err(ApiFailure::network)?;
    json(check(request.send().await).await?).await
}

/// The multipart body of an upload: `metadata` (JSON), `model`, `calibration` and, when
/// chosen, `test`, each file under its own name.
fn upload_form(upload: &ModelUpload, files: &ModelFiles) -> Result<web_sys::FormData, JsValue> {
    let form = web_sys::FormData::new()?;
    let metadata = serde_json::to_string(upload).map_err(|e| JsValue::from_str(&e.to_string()))?;
    let parts = js_sys::Array::of1(&JsValue::from_str(&metadata));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let metadata = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)?;
    form.append_with_blob_and_filename("metadata", &metadata, "metadata.json")?;
    form.append_with_blob_and_filename("model", &files.model, &files.model.name())?;
    form.append_with_blob_and_filename("calibration", &files.calibration, &files.calibration.name())?;
    if let Some(test) = &files.test {
        form.append_with_blob_and_filename("test", test, &test.name())?;
    }
    Ok(form)
}

/// Changes what users see of a model (name, description, inputs' descriptions and units).
pub async fn update_model_details(session: &SessionInfo, id: &str, details: &ModelDetails) -> ApiResult<OwnedModel> {
    let request = Request::patch(&paths::owner_model(id))
        .header(CSRF_HEADER, &session.csrf_token)
        .json(details)
        .map_err(ApiFailure::network)?;
    json(check(request.send().await).await?).await
}

/// Puts a compiled model in the catalogue.
pub async fn publish_model(session: &SessionInfo, id: &str) -> ApiResult<OwnedModel> {
    let request = Request::put(&paths::owner_model_publication(id)).header(CSRF_HEADER, &session.csrf_token);
    json(check(request.send().await).await?).await
}

/// Takes a model out of the catalogue (it stays the owner's, as a draft).
pub async fn unpublish_model(session: &SessionInfo, id: &str) -> ApiResult<OwnedModel> {
    let request = Request::delete(&paths::owner_model_publication(id)).header(CSRF_HEADER, &session.csrf_token);
    json(check(request.send().await).await?).await
}

/// Deletes an unpublished model (the server answers 409 for a published one).
pub async fn delete_model(session: &SessionInfo, id: &str) -> ApiResult<()> {
    let request = Request::delete(&paths::owner_model(id)).header(CSRF_HEADER, &session.csrf_token);
    check(request.send().await).await.map(drop)
}

/// Bytes as a `Blob`: the browser sends a Blob body without copying it through JavaScript
/// again, which for a 30 MB key is several times faster than a typed array.
pub fn blob(bytes: &js_sys::Uint8Array) -> web_sys::Blob {
    let parts = js_sys::Array::of1(bytes);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).expect("a Blob from bytes")
}

/// Progress of an upload: bytes sent so far and in all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UploadProgress {
    pub sent: f64,
    pub total: f64,
}

/// Uploads the user's server key (it replaces the stored one, for every model) with
/// `XMLHttpRequest`, the one browser API that reports upload progress; `on_progress` sees each
/// step, and `on_sent` is called once all bytes are sent (the server then validates the key
/// before it answers).
pub async fn upload_key(
    session: &SessionInfo,
    key: web_sys::Blob,
    on_progress: impl Fn(UploadProgress) + 'static,
    on_sent: impl Fn() + 'static,
) -> ApiResult<KeyInfo> {
    use wasm_bindgen::closure::Closure;
    let xhr = web_sys::XmlHttpRequest::new().map_err(js_failure)?;
    xhr.open("PUT", paths::KEY).map_err(js_failure)?;
    xhr.set_request_header(CSRF_HEADER, &session.csrf_token)
        .map_err(js_failure)?;
    xhr.set_request_header("Content-Type", "application/octet-stream")
        .map_err(js_failure)?;
    let upload = xhr.upload().map_err(js_failure)?;
    let progress = Closure::<dyn Fn(web_sys::ProgressEvent)>::new(move |event: web_sys::ProgressEvent| {
        on_progress(UploadProgress {
            sent: event.loaded(),
            total: event.total(),
        })
    });
    upload.set_onprogress(Some(progress.as_ref().unchecked_ref()));
    let sent = Closure::<dyn Fn()>::new(on_sent);
    upload.set_onload(Some(sent.as_ref().unchecked_ref()));

    let (done_tx, done_rx) = futures_channel::oneshot::channel::<()>();
    let done_tx = std::cell::RefCell::new(Some(done_tx));
    let finished = Closure::<dyn Fn()>::new(move || {
        if let Some(tx) = done_tx.borrow_mut().take() {
            let _ = tx.send(());
        }
    });
    xhr.set_onloadend(Some(finished.as_ref().unchecked_ref()));
    xhr.send_with_opt_blob(Some(&key)).map_err(js_failure)?;
    let _ = done_rx.await;
    drop((progress, sent, finished));

    let status = xhr.status().map_err(js_failure)?;
    let text = xhr.response_text().map_err(js_failure)?.unwrap_or_default();
    if status == 0 {
        return Err(ApiFailure::network("the upload was interrupted"));
    }
    if !(200..300).contains(&status) {
        let body = serde_json::from_str(&text).unwrap_or_else(|_| ErrorBody::unreadable(status));
        return Err(ApiFailure { status, body });
    }
    serde_json::from_str(&text).map_err(ApiFailure::network)
}

fn js_failure(error: JsValue) -> ApiFailure {
    ApiFailure::network(format!("{error:?}"))
}
