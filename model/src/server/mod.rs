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
//! client, which writes them. A linear model's plan ([`linear`]) is a weighted sum of the
//! row's ciphertexts, with no bootstrap and no key; [`Plan`] is either family's.

pub mod accumulate;
pub mod circuit;
pub mod evaluate;
pub mod linear;
pub mod network;
pub mod plan;

use std::time::Instant;

use crate::ciphertexts::{EncryptedOutput, EncryptedRow};
use crate::error::{ModelError, Result};
use crate::keys::ServerKey;

/// What the server evaluates for a model of any family: a tree ensemble's [`plan::ServerPlan`]
/// (bootstraps under the user's key) or a linear model's [`linear::LinearPlan`] (a weighted
/// sum, no key). Both are stored as their own JSON; the encoding's scheme says which.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Trees(plan::ServerPlan),
    Linear(linear::LinearPlan),
    Network(network::NetworkPlan),
}

impl Plan {
    /// Parses and checks a stored plan of either family.
    pub fn from_json(json: &str) -> Result<Self> {
        #[derive(serde::Deserialize)]
        struct Scheme {
            encryption: crate::params::InputEncoding,
        }
        let scheme: Scheme = serde_json::from_str(json).map_err(|e| ModelError::Format(format!("server plan: {e}")))?;
        match scheme.encryption {
            crate::params::InputEncoding::Thermometer(_) => plan::ServerPlan::from_json(json).map(Plan::Trees),
            crate::params::InputEncoding::Linear(_) => linear::LinearPlan::from_json(json).map(Plan::Linear),
            crate::params::InputEncoding::Network(_) => network::NetworkPlan::from_json(json).map(Plan::Network),
        }
    }

    pub fn to_json(&self) -> String {
        match self {
            Plan::Trees(plan) => plan.to_json(),
            Plan::Linear(plan) => plan.to_json(),
            Plan::Network(plan) => plan.to_json(),
        }
    }

    /// Ciphertexts of an encrypted row.
    pub fn input_ciphertexts(&self) -> usize {
        match self {
            Plan::Trees(plan) => plan.input.ciphertexts(),
            Plan::Linear(plan) => plan.levels.len(),
            Plan::Network(plan) => plan.levels.len(),
        }
    }

    /// The shape of an encrypted row: how many ciphertexts, under which key.
    pub fn row_shape(&self) -> crate::ciphertexts::RowShape {
        let encryption = match self {
            Plan::Trees(plan) => &plan.encryption,
            Plan::Linear(plan) => &plan.encryption,
            Plan::Network(plan) => &plan.encryption,
        };
        crate::ciphertexts::RowShape {
            ciphertexts: self.input_ciphertexts(),
            lwe_dimension: encryption.row_lwe_dimension(),
        }
    }

    /// Evaluates the model on an encrypted row under `key` (which a linear model does not
    /// use), stopped at `deadline` as [`evaluate::evaluate_until`] says.
    pub fn evaluate_until(
        &self,
        key: &ServerKey,
        row: &EncryptedRow,
        deadline: Option<Instant>,
    ) -> Result<(EncryptedOutput, evaluate::EvaluationStats)> {
        match self {
            Plan::Trees(plan) => evaluate::evaluate_until(plan, key, row, deadline),
            Plan::Network(plan) => plan.evaluate_until(key, row, deadline),
            Plan::Linear(plan) => {
                let start = Instant::now();
                let output = plan.evaluate(row)?;
                Ok((
                    output,
                    evaluate::EvaluationStats {
                        bootstraps: 0,
                        seconds: start.elapsed().as_secs_f64(),
                    },
                ))
            }
        }
    }
}
