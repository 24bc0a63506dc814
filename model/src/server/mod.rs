//! The server side (feature `server`): the plan and its evaluation on encrypted rows. Reading
//! keys and rows from untrusted bytes is in [`crate::keys`] and [`crate::ciphertexts`] (shared
//! with the client, which writes them).

pub mod accumulate;
pub mod circuit;
pub mod evaluate;
pub mod plan;
