//! # blindfold-frontend
//!
//! The browser side of Blindfold, compiled to `wasm32-unknown-unknown`. For now: the crypto
//! worker's API ([`worker`]), which a Web Worker calls so that the page never blocks on
//! cryptography. The Leptos `hydrate()` entry point joins it with the browser app.

pub mod worker;
