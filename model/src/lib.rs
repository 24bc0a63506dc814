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

pub mod accumulate;
pub mod circuit;
pub mod compile;
pub mod dataset;
pub mod decrypt;
pub mod encrypt;
pub mod ensemble;
pub mod error;
pub mod evaluate;
pub mod fixtures;
pub mod keys;
pub mod params;
pub mod plan;
pub mod quantize;
mod serialization;
pub mod spec;
pub mod xgboost;

pub use compile::{CompileOptions, CompiledModel, QuantizedEnsemble, compile};
pub use dataset::Dataset;
pub use decrypt::{EncryptedOutput, decrypt_prediction, decrypt_raw};
pub use encrypt::{EncryptedRow, encrypt_row};
pub use ensemble::{Objective, TreeEnsemble};
pub use error::{ModelError, Result};
pub use evaluate::{EvaluationStats, evaluate};
pub use keys::{ClientKey, CompressedServerKey, ServerKey};
pub use plan::ServerPlan;
pub use spec::{ClientSpec, Prediction};
pub use xgboost::import_xgboost_json;
