//! # blindfold-cli
//!
//! The `blindfold` command-line client and the API client library it is built on. Keys are
//! generated and kept locally; only the public compressed server key and ciphertexts are sent.

pub mod predict;
pub mod store;

pub use blindfold_api::client::{ApiClient, ClientError, Session};
