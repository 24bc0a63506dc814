//! The client side (feature `client`, builds for `wasm32-unknown-unknown`): what runs where the
//! secret key lives. Key generation is in [`crate::keys`] (shared with the server, which reads
//! what the client writes).

pub(crate) mod bootstrap_key;
pub mod decrypt;
pub mod encrypt;
pub(crate) mod seeded;
