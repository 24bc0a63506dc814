//! # blindfold-cli
//!
//! The `blindfold` command-line client: the client half of a prediction ([`predict`]) and what
//! it keeps on disk ([`store`]). The HTTP client it talks through is blindfold-api's (its
//! `client` feature), re-exported here. Keys are generated and kept locally; only the public
//! compressed server key and ciphertexts are sent.

pub mod predict;
pub mod store;

pub use blindfold_api::client::{ApiClient, ClientError, Session};
