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
    // Gates (lookups that later lookups read) a depth at a time, every gate of a depth in
    // parallel: a gate reads only gates of smaller depth.
    let mut gates: Vec<Option<K::Block>> = vec![None; plan.gates.len()];
    for depth_gates in gate_depths(plan)? {
        let computed: Vec<Result<K::Block>> = depth_gates
            .par_iter()
            .map(|&g| {
                let gate = &plan.gates[g];
                let index = lookup_index(ops, plan, gate, &input, &gates)?;
                let mut out = ops.lookup(&index, &[gate.tables[0].values.clone()])?;
                Ok(out.remove(0))
            })
            .collect();
        for (&g, block) in depth_gates.iter().zip(computed) {
            gates[g] = Some(block?);
        }
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
