//! # blindfold-model
//!
//! Private predictions with tree ensembles under TFHE: a client encrypts a row of features, a
//! server evaluates the model on the ciphertexts without ever holding the secret key, and only
//! the client can read the prediction.
//!
//! - **Import** a model file ([`import_model`], the format read from the content): XGBoost JSON
//!   and UBJSON, LightGBM text, and scikit-learn's trees, forests and gradient boosting through
//!   ONNX, each into one float [`TreeEnsemble`] that reproduces its library's predictions.
//! - **Compile** it with calibration rows ([`compile()`]) into a public [`ClientSpec`] and a
//!   private [`ServerPlan`] that computes exactly the [`QuantizedEnsemble`].
//! - **Client**: [`ClientKey::generate`], [`encrypt_row`], [`decrypt_prediction`]. Builds for
//!   `wasm32-unknown-unknown`.
//! - **Server**: [`CompressedServerKey::from_bytes`], [`evaluate()`].
//!
//! ## Example
//!
//! The whole flow on one machine, on the shipped breast cancer model (this is
//! `model/examples/private_prediction.rs`; `cargo run --release -p blindfold-model --example
//! private_prediction` runs it):
//!
#![cfg_attr(all(feature = "client", feature = "compiler"), doc = "```")]
#![cfg_attr(not(all(feature = "client", feature = "compiler")), doc = "```ignore")]
#![doc = include_str!("../examples/private_prediction.rs")]
//! ```
//!
//! ## Cryptographic contract
//!
//! - **Parameters**: one TFHE parameter set ([`params::PARAMETERS`], tfhe-rs 1.8.2's
//!   `V1_8_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128`: >= 128-bit security, p-fail
//!   <= 2^-128 per bootstrap). Every bootstrap input and every decrypted result stays within the
//!   noise variance that p-fail is computed for ([`params`] gives the argument, and its tests
//!   recompute it with tfhe-rs's formulas).
//! - **What is encrypted**: each feature is quantized to a level with the spec's public edges,
//!   and every level step `[level >= j]` is one fresh LWE ciphertext under the client's small
//!   key ([`params::InputEncoding`]); the result is encrypted too, digit by digit. The secret
//!   [`ClientKey`] never leaves the client; the server holds only the public evaluation key
//!   ([`CompressedServerKey`]).
//! - **What the server sees**: ciphertexts, and the row's shape, which is the same for every
//!   row of a model. The operations it runs, and which ciphertexts it reads, depend on the plan
//!   alone, never on the data.
//! - **What the client sees**: the [`ClientSpec`] (feature names, calibration quantiles as
//!   quantization edges, labels, output scales; no threshold, leaf or tree shape) and the
//!   prediction. The [`ServerPlan`] holds the quantized trees and stays on the server.
//! - **Binding**: a prediction is bound to the server key and the spec its row was encrypted
//!   for ([`binding`](spec::binding)), and decryption refuses results no evaluation can produce
//!   ([`decrypt_raw`]).
//!
//! Each module's documentation states its part of the contract.
//!
//! ## Layout: one folder per trust side
//!
//! | module | feature | what it holds |
//! | --- | --- | --- |
//! | [`spec`] | `spec` | the public client spec: [`ClientSpec`], [`Prediction`], [`Objective`], row quantization ([`quantize`](spec::quantize)), the binding digests ([`binding`](spec::binding)); no TFHE, what a web page needs |
//! | [`client`] | `client` | encryption ([`encrypt`](client::encrypt)) and decryption ([`decrypt`](client::decrypt)), with the client's seeded encryption and bootstrapping-key generation; builds for wasm32 |
//! | [`server`] | `server` | the [`ServerPlan`] ([`plan`](server::plan)), its evaluation on ciphertexts ([`evaluate`](mod@server::evaluate)), the circuit code shared with the compiler's clear runs ([`circuit`](server::circuit), [`accumulate`](server::accumulate)) |
//! | [`compiler`] | `compiler` | importers ([`import`](compiler::import): [`xgboost`](compiler::import::xgboost), [`lightgbm`](compiler::import::lightgbm), [`onnx`](compiler::import::onnx)), the compiler ([`compile`](mod@compiler::compile): quantization, precision search, plan building), [`Dataset`], owners' reports ([`report`](compiler::report)), the shipped [`fixtures`](compiler::fixtures) |
//! | top level | shared | [`error`] and [`params`] (every side); [`keys`], [`ciphertexts`] and their checked serialization (client and server: what crosses between them; the client writes, the server reads) |
//!
//! The modules are also at their flat paths (`blindfold_model::plan`, `blindfold_model::compile`,
//! ...), where the other crates of the workspace name them.
//!
//! ## Features
//!
//! - `spec`: the public client spec, row validation and quantization, decoding of decrypted
//!   outputs. No TFHE.
//! - `client` (`spec` + tfhe): key generation, [`encrypt_row`], [`decrypt_prediction`]. Builds
//!   for wasm32.
//! - `server` (`spec` + tfhe, rayon): reading keys and rows from untrusted bytes, the
//!   [`ServerPlan`], [`evaluate()`].
//! - `compiler` (`server` + csv, prost): [`import_model`], [`Dataset`], [`compile()`], reports,
//!   fixtures.
//! - `bench`: the `bench` binary's argument parsing and errors.
//!
//! All are on by default. [`ModelError`] is always available.

// Shared by every side: the error type, the parameters and the input encoding.
pub mod error;
#[cfg(feature = "spec")]
pub mod params;

// Shared by the client and the server: what crosses between them (keys, ciphertexts) and its
// checked (de)serialization.
#[cfg(any(feature = "client", feature = "server"))]
pub mod ciphertexts;
#[cfg(any(feature = "client", feature = "server"))]
pub mod keys;
#[cfg(any(feature = "client", feature = "server"))]
mod serialization;

// One folder per trust side.
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "compiler")]
pub mod compiler;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "spec")]
pub mod spec;

pub use error::{ModelError, Result};

#[cfg(feature = "spec")]
pub use spec::objective::Objective;
#[cfg(feature = "spec")]
pub use spec::{ClientSpec, Prediction};

#[cfg(any(feature = "client", feature = "server"))]
pub use ciphertexts::{EncryptedOutput, EncryptedRow};
#[cfg(any(feature = "client", feature = "server"))]
pub use keys::CompressedServerKey;

#[cfg(feature = "client")]
pub use client::decrypt::{decrypt_prediction, decrypt_raw};
#[cfg(feature = "client")]
pub use client::encrypt::encrypt_row;
#[cfg(feature = "client")]
pub use keys::ClientKey;

#[cfg(feature = "server")]
pub use keys::ServerKey;
#[cfg(feature = "server")]
pub use server::evaluate::{EvaluationStats, evaluate, evaluate_until};
#[cfg(feature = "server")]
pub use server::plan::ServerPlan;

#[cfg(feature = "compiler")]
pub use compiler::compile::{
    CompileOptions, CompileStep, CompiledModel, QuantizedEnsemble, compile, compile_with_progress,
};
#[cfg(feature = "compiler")]
pub use compiler::dataset::Dataset;
#[cfg(feature = "compiler")]
pub use compiler::ensemble::TreeEnsemble;
#[cfg(feature = "compiler")]
pub use compiler::import::xgboost::{import_xgboost_json, import_xgboost_ubjson};
#[cfg(feature = "compiler")]
pub use compiler::import::{ModelFormat, import_model};
