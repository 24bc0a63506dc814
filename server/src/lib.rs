//! # blindfold-server
//!
//! The Blindfold backend: accounts, a model catalogue, per-user server keys and encrypted
//! prediction jobs over a JSON + binary HTTP API, and the server-rendered pages of the web app.
//! The server only ever handles ciphertexts and public keys; all cryptography lives in
//! `blindfold-model`.
//!
//! Layers point one way: [`routes`] (HTTP) → [`services`] → [`store`] (the database and the
//! data directory). [`state`] holds the services; [`startup`] builds and runs the application;
//! [`edge`] accepts and bounds the connections.

pub mod edge;
pub mod routes;
pub mod services;
pub mod settings;
pub mod shares;
pub mod site;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;

pub use settings::Settings;
pub use startup::Application;
pub use state::AppState;
