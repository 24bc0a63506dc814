//! # blindfold-cli
//!
//! The `blindfold` command-line client and the API client library it is built on. Keys are
//! generated and kept locally; only the public compressed server key and ciphertexts are sent.

pub mod client;
pub mod predict;
pub mod store;

pub use client::{ApiClient, ClientError, Job, KeyInfo, Session};
