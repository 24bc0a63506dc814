//! The client side (feature `client`, builds for `wasm32-unknown-unknown`): what runs where the
//! secret key lives.
//!
//! # Contract
//!
//! - **Keys**: [`ClientKey::generate`](crate::ClientKey::generate) draws the secret keys from
//!   the platform's entropy, and the key never leaves the client: it is neither `Clone` nor
//!   `Serialize`, prints as `ClientKey(<secret>)`, and its bytes exist only to be stored
//!   locally. The compressed server key derived from it ([`crate::keys`]) is public evaluation
//!   material, distributed as tfhe-rs's own (built here by `bootstrap_key` and `seeded`).
//! - **Encryption** ([`encrypt`]): every thermometer bit of the quantized row is one fresh LWE
//!   encryption under the small key with the parameters' small-key noise, masks from a public
//!   seed; nothing about the values shows in the row but its shape, which is the spec's.
//! - **Decryption** ([`decrypt`]): under the client key only; a result of the wrong shape, with
//!   digits no evaluation can produce, or holding a block in clear is refused, not shown.
//!
//! Key generation and the key formats are in [`crate::keys`] and the ciphertext formats in
//! [`crate::ciphertexts`], both shared with the server, which reads what the client writes.

pub(crate) mod bootstrap_key;
pub mod decrypt;
pub mod encrypt;
pub(crate) mod seeded;
