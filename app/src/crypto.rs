//! The page's side of the crypto worker (`/worker/<hash>/crypto-worker.js`, which runs the
//! `blindfold-worker` wasm): requests go out as messages with an id; the worker answers each
//! with one result or error, and may send progress messages (`{id, progress}`, a fraction)
//! before it, which go to the request's progress callback. The page's flows report progress
//! stage by stage, with key generation's fraction from the worker.
//!
//! The client key lives only in the worker's IndexedDB, one per user for every model (they
//! share one TFHE parameter set, named in each spec); the page sees public material
//! (the compressed server key, ciphertexts) and decrypted predictions.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::oneshot;
use js_sys::{Object, Reflect};
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::error::WorkerError;

type Reply = Result<JsValue, WorkerError>;

struct Pending {
    reply: oneshot::Sender<Reply>,
    progress: Option<Rc<dyn Fn(f64)>>,
}

/// The one crypto worker of this tab, started on first use.
pub struct CryptoWorker {
    worker: web_sys::Worker,
    pending: Rc<RefCell<HashMap<u32, Pending>>>,
    next_id: Cell<u32>,
    _on_message: Closure<dyn Fn(web_sys::MessageEvent)>,
    _on_error: Closure<dyn Fn(web_sys::Event)>,
}

thread_local! {
    static WORKER: RefCell<Option<Rc<CryptoWorker>>> = const { RefCell::new(None) };
}

/// The tab's crypto worker.
pub fn worker() -> Result<Rc<CryptoWorker>, WorkerError> {
    WORKER.with(|cell| {
        if let Some(worker) = cell.borrow().as_ref() {
            return Ok(worker.clone());
        }
        let worker = Rc::new(CryptoWorker::start()?);
        *cell.borrow_mut() = Some(worker.clone());
        Ok(worker)
    })
}

impl CryptoWorker {
    fn start() -> Result<Self, WorkerError> {
        let options = web_sys::WorkerOptions::new();
        options.set_type(web_sys::WorkerType::Module);
        options.set_name("blindfold-crypto");
        let worker = web_sys::Worker::new_with_options(&crate::assets::worker_script(), &options)
            .map_err(|e| WorkerError(format!("could not start the crypto worker: {e:?}")))?;
        let pending: Rc<RefCell<HashMap<u32, Pending>>> = Rc::default();

        let table = pending.clone();
        let on_message = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let data = event.data();
            let Some(id) = get(&data, "id").as_f64().map(|id| id as u32) else {
                return;
            };
            if let Some(fraction) = get(&data, "progress").as_f64() {
                // Cloned out first: the callback may call the worker, which borrows the table.
                let progress = table.borrow().get(&id).and_then(|p| p.progress.clone());
                if let Some(progress) = progress {
                    progress(fraction);
                }
                return;
            }
            let Some(pending) = table.borrow_mut().remove(&id) else {
                return;
            };
            let error = get(&data, "error");
            let reply = if error.is_undefined() {
                Ok(get(&data, "result"))
            } else {
                Err(WorkerError(
                    error.as_string().unwrap_or_else(|| "the crypto worker failed".into()),
                ))
            };
            let _ = pending.reply.send(reply);
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

        // A worker that failed to load (or crashed) fails every request in flight.
        let table = pending.clone();
        let on_error = Closure::<dyn Fn(web_sys::Event)>::new(move |event: web_sys::Event| {
            let message = event
                .dyn_ref::<web_sys::ErrorEvent>()
                .map(|e| e.message())
                .unwrap_or_else(|| "the crypto worker could not be loaded".into());
            for (_, pending) in table.borrow_mut().drain() {
                let _ = pending.reply.send(Err(WorkerError(message.clone())));
            }
        });
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        Ok(Self {
            worker,
            pending,
            next_id: Cell::new(1),
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    /// Sends one request and waits for its answer; `transfer` lists buffers moved, not copied.
    pub async fn call(&self, op: &str, args: &[(&str, JsValue)], transfer: &[JsValue]) -> Reply {
        self.call_with_progress(op, args, transfer, None).await
    }

    /// [`CryptoWorker::call`], passing the request's progress messages to `progress`.
    pub async fn call_with_progress(
        &self,
        op: &str,
        args: &[(&str, JsValue)],
        transfer: &[JsValue],
        progress: Option<Rc<dyn Fn(f64)>>,
    ) -> Reply {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let message = object(&[("id", id.into()), ("op", op.into())]);
        for (name, value) in args {
            Reflect::set(&message, &(*name).into(), value).expect("set a message field");
        }
        let (reply, answer) = oneshot::channel();
        self.pending.borrow_mut().insert(id, Pending { reply, progress });
        let transfer: js_sys::Array = transfer.iter().collect();
        if let Err(e) = self.worker.post_message_with_transfer(&message, &transfer) {
            self.pending.borrow_mut().remove(&id);
            return Err(WorkerError(format!("could not reach the crypto worker: {e:?}")));
        }
        answer.await.unwrap_or_else(|_| Err("the crypto worker stopped".into()))
    }
}

pub fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in fields {
        Reflect::set(&object, &(*name).into(), value).expect("set a field");
    }
    object.into()
}

pub fn get(value: &JsValue, field: &str) -> JsValue {
    Reflect::get(value, &field.into()).unwrap_or(JsValue::UNDEFINED)
}

/// Whose client key: each user has one, which serves every model of its parameter set.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyOwner {
    pub username: String,
}

impl KeyOwner {
    pub fn new(username: &str) -> Self {
        Self {
            username: username.to_owned(),
        }
    }

    fn args(&self) -> Vec<(&'static str, JsValue)> {
        vec![("user", self.username.to_lowercase().into())]
    }
}

/// What this browser holds for a user (never the key itself).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalKey {
    pub created_at: f64,
    pub client_key_bytes: f64,
    pub server_key_fingerprint: String,
    /// The TFHE parameter set of the key; unknown for a key imported from an old file.
    #[serde(default)]
    pub parameter_set: Option<String>,
}

/// A fresh key pair: the client key is already in IndexedDB; the server key is to upload.
pub struct NewKeys {
    pub server_key: js_sys::Uint8Array,
    pub server_key_fingerprint: String,
    pub keygen_ms: f64,
    /// The threads that generated it (see [`WorkerMode`]).
    pub threads: u32,
}

/// How the worker's cryptography runs: on a pool of `threads` Web Workers, or on one thread,
/// with the reason it could not have more (`fallback`: the page is not cross-origin isolated,
/// the browser has no `SharedArrayBuffer`, the threaded module failed to start).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WorkerMode {
    pub threads: u32,
    pub fallback: Option<String>,
}

impl WorkerMode {
    /// A sentence for the page.
    pub fn describe(&self) -> String {
        match (&self.fallback, self.threads) {
            (Some(reason), _) => format!("Single-threaded: {reason}."),
            (None, 1) => "Key generation and encryption use 1 thread (your browser reports one core).".into(),
            (None, n) => format!("Key generation and encryption use {n} threads in your browser."),
        }
    }
}

/// How the worker runs (it starts the worker when it is not running yet).
pub async fn worker_mode() -> Result<WorkerMode, WorkerError> {
    let result = worker()?.call("mode", &[], &[]).await?;
    from_json(&result)
}

/// Generates a key pair in the worker for every model of the spec's parameter set and keeps
/// the client key in this browser, in place of the user's earlier one. `progress` gets the
/// fraction of the key generation done, as the worker reports it.
pub async fn generate_keys(
    owner: &KeyOwner,
    spec_json: &str,
    progress: impl Fn(f64) + 'static,
) -> Result<NewKeys, WorkerError> {
    let mut args = owner.args();
    args.push(("spec", spec_json.into()));
    let result = worker()?
        .call_with_progress("keygen", &args, &[], Some(Rc::new(progress)))
        .await?;
    Ok(NewKeys {
        server_key: get(&result, "serverKey").unchecked_into(),
        server_key_fingerprint: get(&result, "serverKeyFingerprint").as_string().unwrap_or_default(),
        keygen_ms: get(&result, "keygenMs").as_f64().unwrap_or_default(),
        threads: get(&result, "threads").as_f64().map_or(1, |n| n as u32),
    })
}

/// The key this browser holds for `owner`, if any.
pub async fn local_key(owner: &KeyOwner) -> Result<Option<LocalKey>, WorkerError> {
    let result = worker()?.call("status", &owner.args(), &[]).await?;
    if result.is_null() || result.is_undefined() {
        return Ok(None);
    }
    from_json(&result).map(Some)
}

/// A worker's answer read as `T`, through its JSON.
fn from_json<T: serde::de::DeserializeOwned>(value: &JsValue) -> Result<T, WorkerError> {
    let json = js_sys::JSON::stringify(value).map_err(|e| WorkerError(format!("{e:?}")))?;
    serde_json::from_str(&String::from(json))
        .map_err(|e| WorkerError(format!("the crypto worker's answer is unreadable: {e}")))
}

/// An encrypted row, and which key encrypted it.
pub struct EncryptedRow {
    pub ciphertext: js_sys::Uint8Array,
    /// The fingerprint of the server key that belongs to the client key used.
    pub server_key_fingerprint: String,
}

/// Encrypts one row of features with the stored client key, for the model of `spec_json`.
pub async fn encrypt(owner: &KeyOwner, spec_json: &str, features: &[f64]) -> Result<EncryptedRow, WorkerError> {
    let mut args = owner.args();
    args.push(("spec", spec_json.into()));
    args.push(("features", js_sys::Float64Array::from(features).into()));
    let result = worker()?.call("encrypt", &args, &[]).await?;
    let ciphertext = get(&result, "ciphertext")
        .dyn_into::<js_sys::Uint8Array>()
        .map_err(|_| WorkerError::from("the crypto worker returned no encrypted row"))?;
    let server_key_fingerprint = get(&result, "serverKeyFingerprint")
        .as_string()
        .ok_or("the crypto worker did not say which key encrypted the row")?;
    Ok(EncryptedRow {
        ciphertext,
        server_key_fingerprint,
    })
}

/// Decrypts a result of the model of `spec_json` with the stored client key into the
/// prediction's JSON. `server_key_fingerprint` is the key the result was evaluated under: the
/// worker refuses when the stored client key is not that key's (it would decrypt noise).
pub async fn decrypt(
    owner: &KeyOwner,
    spec_json: &str,
    server_key_fingerprint: &str,
    result: js_sys::Uint8Array,
) -> Result<String, WorkerError> {
    let mut args = owner.args();
    args.push(("spec", spec_json.into()));
    args.push(("serverKeyFingerprint", server_key_fingerprint.into()));
    let buffer = result.buffer();
    args.push(("result", result.into()));
    let prediction = worker()?.call("decrypt", &args, &[buffer.into()]).await?;
    prediction
        .as_string()
        .ok_or_else(|| "the worker returned no prediction".into())
}

/// Starts the worker and has it optimise its encryption code with a throwaway key.
pub async fn warm_up(spec_json: &str) -> Result<(), WorkerError> {
    worker()?
        .call("warmup", &[("spec", spec_json.into())], &[])
        .await
        .map(drop)
}

/// Deletes the user's client key from this browser.
pub async fn forget(owner: &KeyOwner) -> Result<(), WorkerError> {
    worker()?.call("forget", &owner.args(), &[]).await.map(drop)
}

/// The client key as an export file's text (JSON), for moving it to another browser.
pub async fn export_key(owner: &KeyOwner) -> Result<String, WorkerError> {
    let result = worker()?.call("export", &owner.args(), &[]).await?;
    result.as_string().ok_or_else(|| "no key to export".into())
}

/// Stores an exported key file's text as `owner`'s key; the worker checks it first.
/// `parameter_set` is the one of this server's models, when known: a file that names another
/// is refused.
pub async fn import_key(
    owner: &KeyOwner,
    file_text: String,
    parameter_set: Option<&str>,
) -> Result<LocalKey, WorkerError> {
    let mut args = owner.args();
    args.push(("file", file_text.into()));
    if let Some(parameter_set) = parameter_set {
        args.push(("parameterSet", parameter_set.into()));
    }
    worker()?.call("import", &args, &[]).await?;
    local_key(owner).await?.ok_or_else(|| "the key was not stored".into())
}
