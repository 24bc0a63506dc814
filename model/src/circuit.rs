//! Runs a [`ServerPlan`] on any [`BlockOps`]: encrypted blocks on the server, clear blocks at
//! compile time. Sharing this code is what lets the compiler predict the encrypted run.

use rayon::prelude::*;

use crate::accumulate::{BlockOps, LookupRequest, accumulate, check_bootstrap_input};
use crate::error::{ModelError, Result};
use crate::plan::{GATE_WEIGHT, InputLayout, Lookup, ServerPlan, Term};

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
    let mut per_output: Vec<Vec<(usize, K::Block)>> = vec![Vec::new(); plan.outputs.len()];
    for (&(o, lookup), blocks) in sites.iter().zip(ops.lookup_all(&requests)?) {
        for (table, block) in lookup.tables.iter().zip(blocks) {
            per_output[o].push((table.column, block));
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
