//! The server plan: the homomorphic circuit that evaluates a compiled ensemble.
//!
//! The plan is private to the server: its lookup tables are the model's quantized thresholds
//! and leaves. A plan is a list of *lookups*. Each lookup sums up to four encrypted bits, each
//! multiplied by a distinct power-of-two weight, into a 4-bit index (a whole block,
//! [`crate::params::BLOCK_BITS`]), and bootstraps that index through one table per output
//! digit. Digits land in base-4 ([`crate::params::DIGIT_BASE`]) columns of an output; the
//! [`crate::server::accumulate`] module adds the columns up into canonical digits.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::params::{BLOCK_MODULUS, DIGIT_MAX, InputEncoding, THERMOMETER_WEIGHTS, place};
use crate::spec::fits_blocks;

/// Version of the [`ServerPlan`] JSON format.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// Size of every lookup table: all values of a block.
pub const TABLE_SIZE: usize = BLOCK_MODULUS as usize;

/// The circuit the server evaluates on an encrypted row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerPlan {
    pub format_version: u32,
    pub encryption: InputEncoding,
    pub input: InputLayout,
    /// Lookups that compress a long tree path into one bit of weight [`GATE_WEIGHT`], used by
    /// deep trees. Gate `i` may only use gates `< i`.
    pub gates: Vec<Lookup>,
    pub outputs: Vec<OutputCircuit>,
}

/// Where each thermometer bit sits in the encrypted row.
///
/// A lookup term is addressed by a *slot*: one per feature step and weight, in the order
/// feature, step, weight. The row holds one ciphertext per feature step
/// ([`InputLayout::ciphertext`]); the server multiplies it by the slot's weight
/// ([`InputLayout::weight`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputLayout {
    /// Per feature, the number of level steps (`levels - 1`).
    pub steps: Vec<usize>,
}

impl InputLayout {
    /// Total number of ciphertexts in an encrypted row: one per feature step.
    pub fn ciphertexts(&self) -> usize {
        self.steps.iter().sum()
    }

    /// The row ciphertext slot `slot` reads.
    pub fn ciphertext(slot: usize) -> usize {
        slot / THERMOMETER_WEIGHTS.len()
    }

    /// The weight slot `slot` multiplies its ciphertext by.
    pub fn weight(slot: usize) -> u64 {
        THERMOMETER_WEIGHTS[slot % THERMOMETER_WEIGHTS.len()]
    }

    /// The slot of `weight * [x_feature >= step]`.
    pub fn index(&self, feature: usize, step: usize, weight: u64) -> Option<usize> {
        let position = THERMOMETER_WEIGHTS.iter().position(|&w| w == weight)?;
        if feature >= self.steps.len() || step == 0 || step > self.steps[feature] {
            return None;
        }
        let before: usize = self.steps[..feature].iter().sum();
        Some((before + step - 1) * THERMOMETER_WEIGHTS.len() + position)
    }
}

/// An encrypted bit a lookup index is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    /// `[x_feature >= step]`, taken from the client's thermometer code.
    Threshold { feature: usize, step: usize },
    /// The output bit of gate `i` (already carrying weight [`GATE_WEIGHT`]).
    Gate(usize),
}

/// The weight every gate's output carries: the top bit of a lookup index, so that a gate can
/// stand in for a long path next to the three lower thermometer weights.
pub const GATE_WEIGHT: u64 = BLOCK_MODULUS / 2;

/// One programmable-bootstrap site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    /// The bits summed into the index, each with a distinct power-of-two weight.
    pub terms: Vec<(Term, u64)>,
    /// One table per produced digit.
    pub tables: Vec<Table>,
    /// The tree of its output this lookup evaluates part of, if the compiler says so. Lookups
    /// of one output that name the same tree are *exclusive*: they cover disjoint paths of it,
    /// so for any row at most one of them has a nonzero entry, and their sum in a column is at
    /// most the largest entry any of them has there. The evaluation adds them up within that
    /// bound before accumulating ([`crate::server::circuit`]). Plans without it are evaluated as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<usize>,
}

/// A table over the [`TABLE_SIZE`] index values, and the output column its result is added to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub column: usize,
    pub values: Vec<u64>,
}

/// The lookups of one output and the shape of its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputCircuit {
    /// Number of result blocks.
    pub blocks: usize,
    /// Largest value the output can take.
    pub max_value: u64,
    pub lookups: Vec<Lookup>,
}

impl Lookup {
    /// Largest index this lookup can see.
    pub fn max_index(&self) -> u64 {
        self.terms.iter().map(|(_, w)| w).sum()
    }

    /// The index for a row, in the clear.
    fn index(&self, levels: &[usize], gates: &[bool]) -> usize {
        self.terms
            .iter()
            .filter(|(term, _)| match *term {
                Term::Threshold { feature, step } => levels[feature] >= step,
                Term::Gate(g) => gates[g],
            })
            .map(|(_, w)| *w as usize)
            .sum()
    }
}

impl ServerPlan {
    /// Parses and validates a plan.
    pub fn from_json(json: &str) -> Result<Self> {
        let plan: Self = serde_json::from_str(json).map_err(|e| ModelError::Format(format!("server plan: {e}")))?;
        plan.validate()?;
        Ok(plan)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a plan always serializes")
    }

    /// Checks every structural invariant the evaluator relies on, so that evaluating a
    /// validated plan cannot index out of bounds or exceed a block.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::Format(format!("server plan: {m}")));
        if self.format_version != PLAN_FORMAT_VERSION {
            return bad(format!("version {}", self.format_version));
        }
        self.encryption.check()?;
        for (i, gate) in self.gates.iter().enumerate() {
            self.validate_lookup(gate, i)?;
            if gate.tables.len() != 1
                || gate.tables[0].column != 0
                || gate.tables[0].values.iter().any(|&v| v != 0 && v != GATE_WEIGHT)
            {
                return bad(format!("gate {i} is not a single 0/{GATE_WEIGHT} table"));
            }
        }
        if self.outputs.is_empty() {
            return bad("no outputs".into());
        }
        for output in &self.outputs {
            if !fits_blocks(output.blocks, output.max_value) {
                return bad("an output does not fit its blocks".into());
            }
            for lookup in &output.lookups {
                self.validate_lookup(lookup, self.gates.len())?;
                if lookup
                    .tables
                    .iter()
                    .any(|t| t.column >= output.blocks || t.values.iter().any(|&v| v > DIGIT_MAX))
                {
                    return bad("a digit table is out of range".into());
                }
            }
        }
        Ok(())
    }

    fn validate_lookup(&self, lookup: &Lookup, gates_available: usize) -> Result<()> {
        let bad = |m: &str| Err(ModelError::Format(format!("server plan: {m}")));
        let mut used = 0u64;
        for &(term, weight) in &lookup.terms {
            // Distinct powers of two below the block modulus sum to at most its largest value.
            if !weight.is_power_of_two() || weight >= BLOCK_MODULUS || used & weight != 0 {
                return Err(ModelError::Format(format!(
                    "server plan: term weights must be distinct powers of two below {BLOCK_MODULUS}"
                )));
            }
            used |= weight;
            match term {
                Term::Threshold { feature, step } => {
                    if self.input.index(feature, step, weight).is_none() {
                        return Err(ModelError::Format(format!(
                            "server plan: threshold term (feature {feature}, step {step}, weight {weight}) is outside the input"
                        )));
                    }
                }
                Term::Gate(g) => {
                    if g >= gates_available || weight != GATE_WEIGHT {
                        return bad("a gate term is out of order or mis-weighted");
                    }
                }
            }
        }
        if lookup.tables.is_empty() || lookup.tables.iter().any(|t| t.values.len() != TABLE_SIZE) {
            return bad("a lookup has no table or a table of the wrong size");
        }
        Ok(())
    }

    /// Evaluates the plan in the clear on quantized levels: the integers the encrypted
    /// evaluation must reproduce exactly.
    pub fn evaluate_clear(&self, levels: &[usize]) -> Vec<u64> {
        let mut gates = Vec::with_capacity(self.gates.len());
        for gate in &self.gates {
            let index = gate.index(levels, &gates);
            gates.push(gate.tables[0].values[index] != 0);
        }
        self.outputs
            .iter()
            .map(|output| {
                output
                    .lookups
                    .iter()
                    .flat_map(|lookup| {
                        let index = lookup.index(levels, &gates);
                        lookup.tables.iter().map(move |t| place(t.values[index], t.column))
                    })
                    .sum()
            })
            .collect()
    }

    /// The row ciphertexts the plan's lookups and gates read, ascending: the others never
    /// enter the evaluation.
    pub fn read_ciphertexts(&self) -> Vec<usize> {
        let mut read: Vec<usize> = self
            .gates
            .iter()
            .chain(self.outputs.iter().flat_map(|o| &o.lookups))
            .flat_map(|lookup| &lookup.terms)
            .filter_map(|&(term, weight)| match term {
                Term::Threshold { feature, step } => {
                    self.input.index(feature, step, weight).map(InputLayout::ciphertext)
                }
                Term::Gate(_) => None,
            })
            .collect();
        read.sort_unstable();
        read.dedup();
        read
    }

    /// Number of lookups (bootstrap sites before accumulation).
    pub fn lookup_count(&self) -> usize {
        self.gates.len() + self.outputs.iter().map(|o| o.lookups.len()).sum::<usize>()
    }
}
