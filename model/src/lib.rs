//! # blindfold-model
//!
//! Private predictions with gradient-boosted trees under TFHE.
//!
//! - **Import** an XGBoost JSON model ([`xgboost::import_xgboost_json`]).
//! - **Compile** it with calibration rows ([`compile::compile`]) into a public [`ClientSpec`]
//!   and a private [`ServerPlan`] that computes exactly the [`compile::QuantizedEnsemble`].
//! - **Client**: [`ClientKey::generate`], [`encrypt::encrypt_row`],
//!   [`decrypt::decrypt_prediction`]. Builds for `wasm32-unknown-unknown`.
//! - **Server**: [`CompressedServerKey::from_bytes`], [`evaluate::evaluate`].
//!
//! Cryptographic contract: one parameter set ([`params::PARAMETERS`], >= 128-bit security,
//! p-fail <= 2^-128 per bootstrap); the server sees only ciphertexts, and the sequence of
//! operations it runs depends on the plan alone, never on the data.
//!
//! ## Features, by trust side
//!
//! - `spec`: the public client spec ([`ClientSpec`], [`Prediction`], [`Objective`]), row
//!   validation and quantization, decoding of decrypted outputs. No TFHE: what a web page needs.
//! - `client` (`spec` + tfhe): keys, [`encrypt_row`], [`decrypt_prediction`]. Builds for wasm32.
//! - `server` (`spec` + tfhe, rayon): reading keys and rows, the [`ServerPlan`], [`evaluate`].
//! - `compiler` (`server` + csv): [`import_xgboost_json`], [`Dataset`], [`compile`], fixtures.
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

// The modules at their flat paths too (`blindfold_model::plan`, `::compile`, ...), as the other
// crates name them.
#[cfg(feature = "client")]
pub use client::{decrypt, encrypt};
#[cfg(feature = "compiler")]
pub use compiler::import::{lightgbm, onnx, xgboost};
#[cfg(feature = "compiler")]
pub use compiler::{compile, dataset, ensemble, fixtures, import, report};
#[cfg(feature = "server")]
pub use server::{accumulate, circuit, evaluate, plan};
#[cfg(feature = "spec")]
pub use spec::{binding, objective, quantize};

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
