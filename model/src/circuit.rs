//! Runs a [`ServerPlan`] on any [`BlockOps`]: encrypted blocks on the server, clear blocks at
//! compile time. Sharing this code is what lets the compiler predict the encrypted run.

use rayon::prelude::*;

use crate::accumulate::{BlockOps, accumulate, check_bootstrap_input};
use crate::error::{ModelError, Result};
use crate::plan::{GATE_WEIGHT, InputLayout, Lookup, ServerPlan, Term};

/// The digits one lookup produced: (output, column, block).
type SiteDigits<K> = Vec<(usize, usize, <K as BlockOps>::Block)>;

/// Evaluates `plan`, reading thermometer ciphertext `i` of the row through `input(i)`.
/// Returns, per output, its blocks (least significant first).
pub fn run_plan<K, F>(ops: &K, plan: &ServerPlan, input: F) -> Result<Vec<Vec<K::Block>>>
where
    K: BlockOps,
    F: Fn(usize) -> Result<K::Block> + Sync,
{
    let mut gates: Vec<K::Block> = Vec::with_capacity(plan.gates.len());
    for gate in &plan.gates {
        let index = lookup_index(ops, plan, gate, &input, &gates)?;
        let mut out = ops.lookup(&index, &[gate.tables[0].values.clone()])?;
        gates.push(out.remove(0));
    }

    // Every lookup of every output is independent: bootstrap them all in parallel.
    let sites: Vec<(usize, &Lookup)> = plan
        .outputs
        .iter()
        .enumerate()
        .flat_map(|(o, output)| output.lookups.iter().map(move |l| (o, l)))
        .collect();
    let digits: Vec<Result<SiteDigits<K>>> = sites
        .par_iter()
        .map(|&(o, lookup)| {
            let index = lookup_index(ops, plan, lookup, &input, &gates)?;
            let tables: Vec<Vec<u64>> = lookup.tables.iter().map(|t| t.values.clone()).collect();
            let blocks = ops.lookup(&index, &tables)?;
            Ok(lookup
                .tables
                .iter()
                .zip(blocks)
                .map(|(t, b)| (o, t.column, b))
                .collect())
        })
        .collect();
    let mut per_output: Vec<Vec<(usize, K::Block)>> = vec![Vec::new(); plan.outputs.len()];
    for site in digits {
        for (o, column, block) in site? {
            per_output[o].push((column, block));
        }
    }

    per_output
        .into_par_iter()
        .zip(plan.outputs.par_iter())
        .map(|(digits, output)| accumulate(ops, digits, output.blocks, output.max_value))
        .collect()
}

/// Sums a lookup's weighted bits into its index block.
fn lookup_index<K, F>(ops: &K, plan: &ServerPlan, lookup: &Lookup, input: &F, gates: &[K::Block]) -> Result<K::Block>
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
