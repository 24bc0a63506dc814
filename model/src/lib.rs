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

pub mod error;

#[cfg(feature = "spec")]
pub mod binding;
#[cfg(feature = "spec")]
pub mod objective;
#[cfg(feature = "spec")]
pub mod params;
#[cfg(feature = "spec")]
pub mod quantize;
#[cfg(feature = "spec")]
pub mod spec;

#[cfg(any(feature = "client", feature = "server"))]
pub mod ciphertexts;
#[cfg(any(feature = "client", feature = "server"))]
pub mod keys;
#[cfg(any(feature = "client", feature = "server"))]
mod serialization;

#[cfg(feature = "client")]
mod bootstrap_key;
#[cfg(feature = "client")]
pub mod decrypt;
#[cfg(feature = "client")]
pub mod encrypt;
#[cfg(feature = "client")]
mod seeded;

#[cfg(feature = "server")]
pub mod accumulate;
#[cfg(feature = "server")]
pub mod circuit;
#[cfg(feature = "server")]
pub mod evaluate;
#[cfg(feature = "server")]
pub mod plan;

#[cfg(feature = "compiler")]
pub mod compile;
#[cfg(feature = "compiler")]
pub mod dataset;
#[cfg(feature = "compiler")]
pub mod ensemble;
#[cfg(feature = "compiler")]
pub mod fixtures;
#[cfg(feature = "compiler")]
pub mod import;
#[cfg(feature = "compiler")]
pub mod lightgbm;
#[cfg(feature = "compiler")]
pub mod onnx;
#[cfg(feature = "compiler")]
pub mod report;
#[cfg(feature = "compiler")]
mod ubjson;
#[cfg(feature = "compiler")]
pub mod xgboost;

pub use error::{ModelError, Result};

#[cfg(feature = "spec")]
pub use objective::Objective;
#[cfg(feature = "spec")]
pub use spec::{ClientSpec, Prediction};

#[cfg(any(feature = "client", feature = "server"))]
pub use ciphertexts::{EncryptedOutput, EncryptedRow};
#[cfg(any(feature = "client", feature = "server"))]
pub use keys::CompressedServerKey;

#[cfg(feature = "client")]
pub use decrypt::{decrypt_prediction, decrypt_raw};
#[cfg(feature = "client")]
pub use encrypt::encrypt_row;
#[cfg(feature = "client")]
pub use keys::ClientKey;

#[cfg(feature = "server")]
pub use evaluate::{EvaluationStats, evaluate, evaluate_until};
#[cfg(feature = "server")]
pub use keys::ServerKey;
#[cfg(feature = "server")]
pub use plan::ServerPlan;

#[cfg(feature = "compiler")]
pub use compile::{CompileOptions, CompileStep, CompiledModel, QuantizedEnsemble, compile, compile_with_progress};
#[cfg(feature = "compiler")]
pub use dataset::Dataset;
#[cfg(feature = "compiler")]
pub use ensemble::TreeEnsemble;
#[cfg(feature = "compiler")]
pub use import::{ModelFormat, import_model};
#[cfg(feature = "compiler")]
pub use xgboost::{import_xgboost_json, import_xgboost_ubjson};
