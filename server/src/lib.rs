//! # blindfold-server
//!
//! The Blindfold backend: accounts, a model catalogue, per-user server keys and encrypted
//! prediction jobs over a JSON + binary HTTP API. The server only ever handles ciphertexts
//! and public keys; all cryptography lives in `blindfold-model`.

pub mod accounts;
pub mod catalogue;
pub mod db;
pub mod error;
pub mod jobs;
pub mod keystore;
pub mod routes;
pub mod settings;
pub mod startup;

pub use settings::Settings;
pub use startup::{AppState, Application};
