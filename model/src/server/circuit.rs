//! Runs a [`ServerPlan`] on any [`BlockOps`]: encrypted blocks on the server, clear blocks at
//! compile time. Sharing this code is what lets the compiler predict the encrypted run.

use rayon::prelude::*;

use crate::error::{ModelError, Result};
use crate::server::accumulate::{BlockOps, LookupRequest, accumulate, check_bootstrap_input};
use crate::server::plan::{GATE_WEIGHT, InputLayout, Lookup, ServerPlan, Term};

/// Evaluates `plan`, reading thermometer ciphertext `i` of the row through `input(i)`.
/// Returns, per output, its blocks (least significant first).
pub fn run_plan<K, F>(ops: &K, plan: &ServerPlan, input: F) -> Result<Vec<Vec<K::Block>>>
where
    K: BlockOps,
    F: Fn(usize) -> Result<K::Block> + Sync,
{
    // Gates (lookups that later lookups read) a depth at a time, every gate of a depth at once:
    // a gate reads only gates of smaller depth.
    let mut gates: Vec<Option<K::Block>> = vec![None; plan.gates.len()];
    for depth_gates in gate_depths(plan)? {
        let requests = depth_gates
            .iter()
            .map(|&g| {
                let gate = &plan.gates[g];
                Ok(LookupRequest {
                    input: lookup_index(ops, plan, gate, &input, &gates)?,
                    tables: std::slice::from_ref(&gate.tables[0].values),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for (&g, out) in depth_gates.iter().zip(ops.lookup_all(&requests)?) {
            gates[g] = out.into_iter().next();
        }
    }

    // Every lookup of every output is independent: bootstrap them all at once.
    let sites: Vec<(usize, &Lookup)> = plan
        .outputs
        .iter()
        .enumerate()
        .flat_map(|(o, output)| output.lookups.iter().map(move |l| (o, l)))
        .collect();
    let tables: Vec<Vec<Vec<u64>>> = sites
        .iter()
        .map(|(_, lookup)| lookup.tables.iter().map(|t| t.values.clone()).collect())
        .collect();
    let requests = sites
        .iter()
        .zip(&tables)
        .map(|(&(_, lookup), tables)| {
            Ok(LookupRequest {
                input: lookup_index(ops, plan, lookup, &input, &gates)?,
                tables,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut per_output: Vec<Vec<Digit<K>>> = plan.outputs.iter().map(|_| Vec::new()).collect();
    for (&(o, lookup), blocks) in sites.iter().zip(ops.lookup_all(&requests)?) {
        for (table, block) in lookup.tables.iter().zip(blocks) {
            let bound = table.values.iter().copied().max().unwrap_or(0);
            per_output[o].push(Digit {
                tree: lookup.tree,
                column: table.column,
                bound,
                block,
            });
        }
    }
    let per_output: Vec<Vec<(usize, K::Block)>> = per_output
        .into_iter()
        .map(|digits| add_exclusive(ops, digits))
        .collect::<Result<_>>()?;

    per_output
        .into_par_iter()
        .zip(plan.outputs.par_iter())
        .map(|(digits, output)| accumulate(ops, digits, output.blocks, output.max_value))
        .collect()
}

/// A lookup's output digit: its tree (if the plan names one), column, largest possible value,
/// and block.
struct Digit<K: BlockOps> {
    tree: Option<usize>,
    column: usize,
    bound: u64,
    block: K::Block,
}

/// Adds up the digits of exclusive lookups (same tree, same column; [`crate::server::plan::Lookup::tree`]):
/// at most one of them is nonzero, so their sum is at most the largest of their bounds, however
/// many there are. A tree then enters the accumulator as one block of its own largest digit's
/// degree instead of one per lookup, which saves accumulation bootstraps. Digits without a tree
/// pass through.
fn add_exclusive<K: BlockOps>(ops: &K, digits: Vec<Digit<K>>) -> Result<Vec<(usize, K::Block)>> {
    let mut out: Vec<(usize, K::Block)> = Vec::with_capacity(digits.len());
    // Where the running sum of each (tree, column) sits in `out`, with its bound so far.
    let mut groups: std::collections::HashMap<(usize, usize), (usize, u64)> = std::collections::HashMap::new();
    for digit in digits {
        let Some(tree) = digit.tree else {
            out.push((digit.column, digit.block));
            continue;
        };
        match groups.get_mut(&(tree, digit.column)) {
            None => {
                groups.insert((tree, digit.column), (out.len(), digit.bound));
                out.push((digit.column, digit.block));
            }
            Some((at, bound)) => {
                *bound = (*bound).max(digit.bound);
                let sum = ops.add_bounded(&out[*at].1, &digit.block, *bound)?;
                out[*at].1 = sum;
            }
        }
    }
    Ok(out)
}

/// The plan's gates grouped by depth, shallowest first: a gate that reads no gate has depth 0,
/// any other one more than the deepest gate it reads. Errors if a gate reads a gate that is not
/// before it (a validated plan never does).
fn gate_depths(plan: &ServerPlan) -> Result<Vec<Vec<usize>>> {
    let mut depths: Vec<usize> = Vec::with_capacity(plan.gates.len());
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (g, gate) in plan.gates.iter().enumerate() {
        let mut depth = 0;
        for &(term, _) in &gate.terms {
            if let Term::Gate(read) = term {
                let read_depth = depths
                    .get(read)
                    .ok_or_else(|| ModelError::Format(format!("gate {g} reads gate {read}, not computed before it")))?;
                depth = depth.max(read_depth + 1);
            }
        }
        depths.push(depth);
        if groups.len() <= depth {
            groups.resize(depth + 1, Vec::new());
        }
        groups[depth].push(g);
    }
    Ok(groups)
}

/// Sums a lookup's weighted bits into its index block.
fn lookup_index<K, F>(
    ops: &K,
    plan: &ServerPlan,
    lookup: &Lookup,
    input: &F,
    gates: &[Option<K::Block>],
) -> Result<K::Block>
where
    K: BlockOps,
    F: Fn(usize) -> Result<K::Block> + Sync,
{
    let mut index: Option<K::Block> = None;
    for &(term, weight) in &lookup.terms {
        let block = match term {
            Term::Threshold { feature, step } => {
                let i = plan
                    .input
                    .index(feature, step, weight)
                    .ok_or_else(|| ModelError::Format("term outside the input".into()))?;
                debug_assert_eq!(InputLayout::weight(i), weight);
                input(i)?
            }
            Term::Gate(g) => {
                debug_assert_eq!(weight, GATE_WEIGHT);
                gates
                    .get(g)
                    .and_then(Option::as_ref)
                    .cloned()
                    .ok_or_else(|| ModelError::Format("gate used before it is computed".into()))?
            }
        };
        index = Some(match index {
            None => block,
            Some(sum) => ops.add(&sum, &block)?,
        });
    }
    let index = index.unwrap_or_else(|| ops.trivial_zero());
    check_bootstrap_input(ops.degree(&index), ops.noise(&index))?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::accumulate::{ClearBlock, ClearOps};

    fn digit(tree: Option<usize>, column: usize, value: u64, bound: u64) -> Digit<ClearOps> {
        Digit {
            tree,
            column,
            bound,
            block: ClearBlock::fresh(value, bound),
        }
    }

    /// A tree's digits in one column become one block whose degree is the largest bound, not
    /// the sum; other trees, other columns and digits without a tree stay apart.
    #[test]
    fn exclusive_digits_add_up_within_their_largest_bound() {
        let ops = ClearOps::default();
        let digits = vec![
            digit(Some(0), 0, 0, 3),
            digit(Some(0), 0, 2, 2),
            digit(Some(0), 1, 1, 1),
            digit(Some(1), 0, 3, 3),
            digit(Some(0), 0, 0, 1),
            digit(None, 0, 1, 1),
            digit(None, 0, 1, 1),
        ];
        let out = add_exclusive(&ops, digits).unwrap();
        let summary: Vec<(usize, u64, u64, u64)> = out.iter().map(|(c, b)| (*c, b.value, b.degree, b.noise)).collect();
        assert_eq!(
            summary,
            vec![(0, 2, 3, 3), (1, 1, 1, 1), (0, 3, 3, 1), (0, 1, 1, 1), (0, 1, 1, 1)]
        );
        assert_eq!(ops.bootstraps(), 0);
    }

    /// Two nonzero digits of one tree break the plan's promise: the clear run (the compiler's
    /// self-check) refuses the sum rather than carry a wrong degree.
    #[test]
    fn a_broken_exclusivity_promise_is_caught_in_the_clear() {
        let ops = ClearOps::default();
        let digits = vec![digit(Some(4), 0, 3, 3), digit(Some(4), 0, 2, 3)];
        assert!(matches!(add_exclusive(&ops, digits), Err(ModelError::Budget(_))));
    }
}
