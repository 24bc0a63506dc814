//! The server side (feature `server`): the plan and its evaluation on encrypted rows.
//!
//! # Contract
//!
//! - **What the server holds**: the users' public evaluation keys ([`crate::keys::ServerKey`],
//!   read from untrusted bytes: size-limited, checked against the parameters) and the
//!   [`plan::ServerPlan`], which holds the model's quantized thresholds and leaves and stays
//!   private to the server.
//! - **What it sees**: ciphertexts only. [`evaluate()`](evaluate::evaluate) runs a sequence of
//!   operations, and reads a set of the row's ciphertexts, that depend on the plan alone, never
//!   on the data; the result is encrypted under the user's key.
//! - **Noise**: every bootstrap input's degree and noise are checked against the parameters'
//!   budget ([`crate::params`]) before it is bootstrapped, by the same code that runs the plan
//!   in the clear at compile time ([`circuit`], [`accumulate`]): both track degrees and noise,
//!   never values, so the compiler's self-check has already met every sum the encrypted run
//!   forms.
//!
//! Reading keys and rows is in [`crate::keys`] and [`crate::ciphertexts`], shared with the
//! client, which writes them.

pub mod accumulate;
pub mod circuit;
pub mod evaluate;
pub mod linear;
pub mod plan;
