//! Plan building: every quantized tree cut into lookups of at most [`BLOCK_BITS`] comparison
//! bits (a path too long for one lookup is compressed into one gate bit), and the self-check
//! that runs the plan in the clear, with the same circuit code as the encrypted evaluation,
//! against the quantized trees before the plan is returned.

use super::quantize::{QuantizedEnsemble, QuantizedNode};
use crate::error::{ModelError, Result};
use crate::params::{BLOCK_BITS, DIGIT_MAX, InputEncoding, THERMOMETER_WEIGHTS, from_column, from_digits};
use crate::server::accumulate::{ClearBlock, ClearOps};
use crate::server::circuit::run_plan;
use crate::server::plan::{
    GATE_WEIGHT, InputLayout, Lookup, OutputCircuit, PLAN_FORMAT_VERSION, ServerPlan, TABLE_SIZE, Table, Term,
};
use crate::spec::ClientSpec;

/// Bootstraps of one evaluation of `plan`: the same for every row, so one clear run counts them.
pub fn bootstraps_per_evaluation(plan: &ServerPlan, spec: &ClientSpec) -> Result<usize> {
    let bits = spec.thermometer(&vec![0; spec.features.len()]);
    let ops = ClearOps::default();
    run_plan(&ops, plan, |slot| Ok(fresh_input(&bits, slot)))?;
    Ok(ops.bootstraps())
}

/// Cuts every tree into lookups of at most four comparison bits.
pub(super) fn build_plan(quantized: &QuantizedEnsemble, spec: &ClientSpec, input: InputLayout) -> Result<ServerPlan> {
    let mut builder = PlanBuilder { gates: Vec::new() };
    let mut outputs: Vec<OutputCircuit> = spec
        .outputs
        .iter()
        .map(|d| OutputCircuit {
            blocks: d.blocks,
            max_value: d.max_value,
            lookups: Vec::new(),
        })
        .collect();
    for (t, tree) in quantized.trees.iter().enumerate() {
        let mut lookups = Vec::new();
        builder.visit(&tree.root, Vec::new(), &mut lookups);
        // The lookups of one tree cover disjoint paths (the two sides of every split they were
        // cut at), so they are exclusive.
        outputs[tree.output]
            .lookups
            .extend(lookups.into_iter().map(|lookup| Lookup {
                tree: Some(t),
                ..lookup
            }));
    }
    Ok(ServerPlan {
        format_version: PLAN_FORMAT_VERSION,
        encryption: InputEncoding::thermometer(),
        input,
        gates: builder.gates,
        outputs,
    })
}

/// Most bits one lookup index can hold: one per bit of a block.
const MAX_TERMS: usize = BLOCK_BITS as usize;

type Literal = (Term, bool);

struct PlanBuilder {
    gates: Vec<Lookup>,
}

impl PlanBuilder {
    /// Emits lookups for the leaves under `node`, reached when every literal of `path` holds.
    fn visit(&mut self, node: &QuantizedNode<u64>, path: Vec<Literal>, out: &mut Vec<Lookup>) {
        let mut terms: Vec<Term> = path.iter().map(|(t, _)| *t).collect();
        subtree_terms(node, &mut terms);
        if terms.len() <= MAX_TERMS {
            if let Some(lookup) = leaf_lookup(node, &path, &terms) {
                out.push(lookup);
            }
            return;
        }
        let QuantizedNode::Split {
            feature,
            step,
            left,
            right,
        } = node
        else {
            unreachable!("a leaf needs only its path, which is kept below {MAX_TERMS} terms")
        };
        // Keep the path short enough for one more literal: compress it into a gate bit.
        let path = if path.len() >= MAX_TERMS - 1 {
            vec![(Term::Gate(self.gate(&path)), true)]
        } else {
            path
        };
        let term = Term::Threshold {
            feature: *feature,
            step: *step,
        };
        let mut left_path = path.clone();
        left_path.push((term, false));
        let mut right_path = path;
        right_path.push((term, true));
        self.visit(left, left_path, out);
        self.visit(right, right_path, out);
    }

    /// A gate computing `GATE_WEIGHT * (all literals of path hold)`.
    fn gate(&mut self, path: &[Literal]) -> usize {
        let terms: Vec<Term> = path.iter().map(|(t, _)| *t).collect();
        let weighted = weigh(&terms);
        let values = (0..TABLE_SIZE)
            .map(|index| {
                if literals_hold(path, &weighted, index) {
                    GATE_WEIGHT
                } else {
                    0
                }
            })
            .collect();
        self.gates.push(Lookup {
            terms: weighted,
            tables: vec![Table { column: 0, values }],
            tree: None,
        });
        self.gates.len() - 1
    }
}

/// Appends the distinct split terms of a subtree (in visiting order) to `terms`.
fn subtree_terms(node: &QuantizedNode<u64>, terms: &mut Vec<Term>) {
    if let QuantizedNode::Split {
        feature,
        step,
        left,
        right,
    } = node
    {
        let term = Term::Threshold {
            feature: *feature,
            step: *step,
        };
        if !terms.contains(&term) {
            terms.push(term);
        }
        subtree_terms(left, terms);
        subtree_terms(right, terms);
    }
}

/// Weights: a gate always carries [`GATE_WEIGHT`]; thresholds take the other powers of two.
fn weigh(terms: &[Term]) -> Vec<(Term, u64)> {
    let mut free = THERMOMETER_WEIGHTS
        .iter()
        .copied()
        .filter(|&w| w != GATE_WEIGHT || !terms.iter().any(|t| matches!(t, Term::Gate(_))));
    terms
        .iter()
        .map(|&t| match t {
            Term::Gate(_) => (t, GATE_WEIGHT),
            Term::Threshold { .. } => (t, free.next().expect("at most four terms")),
        })
        .collect()
}

fn bit_of(weighted: &[(Term, u64)], term: Term, index: usize) -> bool {
    weighted
        .iter()
        .find(|(t, _)| *t == term)
        .is_some_and(|(_, w)| index as u64 & w != 0)
}

fn literals_hold(path: &[Literal], weighted: &[(Term, u64)], index: usize) -> bool {
    let max_index: u64 = weighted.iter().map(|(_, w)| w).sum();
    index as u64 <= max_index
        && path
            .iter()
            .all(|&(term, polarity)| bit_of(weighted, term, index) == polarity)
}

/// The lookup for all leaves under `node`: each index gives the leaf reached if the path holds,
/// 0 otherwise. `None` when every entry is 0 (the subtree adds nothing).
fn leaf_lookup(node: &QuantizedNode<u64>, path: &[Literal], terms: &[Term]) -> Option<Lookup> {
    let weighted = weigh(terms);
    let values: Vec<u64> = (0..TABLE_SIZE)
        .map(|index| {
            if !literals_hold(path, &weighted, index) {
                return 0;
            }
            node.leaf(&|feature, step| bit_of(&weighted, Term::Threshold { feature, step }, index))
        })
        .collect();
    let max = values.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return None;
    }
    let mut digits = 1;
    while from_column(max, digits) > 0 {
        digits += 1;
    }
    let tables = (0..digits)
        .map(|column| Table {
            column,
            values: values.iter().map(|&v| from_column(v, column) & DIGIT_MAX).collect(),
        })
        .collect();
    Some(Lookup {
        terms: weighted,
        tables,
        tree: None,
    })
}

/// Input slot `slot` of a row whose thermometer bits are `bits`, as the server forms it: the
/// slot's ciphertext times the slot's weight, one nominal noise unit (see [`crate::params`]).
fn fresh_input(bits: &[u64], slot: usize) -> ClearBlock {
    let weight = InputLayout::weight(slot);
    ClearBlock::fresh(bits[InputLayout::ciphertext(slot)] * weight, weight)
}

/// Checks the plan against the quantized trees on every calibration row and on synthetic rows
/// covering every level, running the same circuit code as the encrypted evaluation in the
/// clear. Returns the number of bootstraps one evaluation costs.
pub(super) fn self_check(
    plan: &ServerPlan,
    quantized: &QuantizedEnsemble,
    spec: &ClientSpec,
    rows: &[Vec<usize>],
) -> Result<usize> {
    let max_level = spec.features.iter().map(|f| f.levels()).max().unwrap_or(1);
    let synthetic = (0..max_level).map(|l| spec.features.iter().map(|f| l.min(f.levels() - 1)).collect::<Vec<_>>());
    let mut bootstraps = 0;
    for levels in rows.iter().cloned().chain(synthetic) {
        let expected = quantized.raw_outputs(&levels);
        let clear = plan.evaluate_clear(&levels);
        let bits = spec.thermometer(&levels);
        let ops = ClearOps::default();
        let blocks = run_plan(&ops, plan, |slot| Ok(fresh_input(&bits, slot)))?;
        let circuit: Vec<u64> = blocks
            .iter()
            .map(|b| from_digits(b.iter().map(|block| block.value)))
            .collect();
        if clear != expected || circuit != expected {
            return Err(ModelError::Budget(format!(
                "compiled plan disagrees with the quantized trees ({clear:?} / {circuit:?} vs {expected:?})"
            )));
        }
        bootstraps = ops.bootstraps();
    }
    Ok(bootstraps)
}
