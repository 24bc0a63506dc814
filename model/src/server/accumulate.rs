//! Adding many small encrypted digits into one canonical base-4 number.
//!
//! Input: digits (blocks of degree <= [`DIGIT_MAX`] after a bootstrap) each tagged with a
//! base-[`DIGIT_BASE`] column. Output: `blocks` ciphertexts, every one but the last a canonical
//! digit in `0..DIGIT_BASE`, the last one holding the rest (at most [`MAX_DEGREE`]): a
//! deterministic function of the total alone, so the result reveals nothing about how the trees
//! added up.
//!
//! Column by column, blocks are packed into bins whose sum stays within a bootstrap's limits
//! (degree <= [`MAX_DEGREE`], noise variance <= [`noise_budget`] units: up to 25 bootstrap
//! outputs, so in practice the degree decides), then each bin is bootstrapped into its low
//! digit (same column) and its carry (next column); a many-LUT bootstrap does both at once when
//! the bin's degree is at most 7. When what a round leaves fits one last bin, its smallest bins
//! may wait for that last round unbootstrapped, if that costs fewer bootstraps in all
//! (`bins_to_reduce`). The last column is bounded by the output's `max_value`, a
//! proven bound on the true sum, which lets its additions go past the tracked degree without
//! overflow.
//!
//! The algorithm's decisions depend only on degrees and noise, never on values, so
//! [`ClearOps`] predicts exactly what the encrypted evaluation will do (and how many bootstraps
//! it costs).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{ModelError, Result};
use crate::params::{DIGIT_BASE, DIGIT_MAX, MAX_DEGREE, from_column, noise_budget};
use crate::server::plan::TABLE_SIZE;

/// The operations the accumulator needs on blocks, encrypted or clear.
pub trait BlockOps: Sync {
    type Block: Clone + Send + Sync;

    fn degree(&self, block: &Self::Block) -> u64;
    /// The block's noise variance, in units of one bootstrap output's ([`noise_budget`]).
    fn noise(&self, block: &Self::Block) -> u64;
    /// Adds two blocks; fails if the sum's degree or noise would exceed a bootstrap's limits.
    fn add(&self, a: &Self::Block, b: &Self::Block) -> Result<Self::Block>;
    /// Adds two blocks whose true sum is known to be at most `bound` (<= [`MAX_DEGREE`]): the
    /// degree becomes `min(sum of degrees, bound)`; the noise is still checked.
    fn add_bounded(&self, a: &Self::Block, b: &Self::Block, bound: u64) -> Result<Self::Block>;
    /// Bootstraps each request's input through every one of its tables (indexed by the
    /// block's value), returning the outputs request by request. A request costs one bootstrap
    /// when its tables fit a many-LUT for the input's degree, else one per table. Requests are
    /// independent: an implementation may run them together (the encrypted one shares each
    /// pass over the bootstrapping key among several).
    fn lookup_all(&self, requests: &[LookupRequest<'_, Self::Block>]) -> Result<Vec<Vec<Self::Block>>>;
    /// A block that holds 0 and is not encrypted (for a column nothing lands in).
    fn trivial_zero(&self) -> Self::Block;
}

/// An input block and the tables to bootstrap it through ([`BlockOps::lookup_all`]).
pub struct LookupRequest<'a, B> {
    pub input: B,
    pub tables: &'a [Vec<u64>],
}

/// Whether `count` tables can share one many-LUT bootstrap for an input of `degree`.
pub fn fits_many_lut(count: usize, degree: u64) -> bool {
    (2..=TABLE_SIZE / 2).contains(&count) && degree < (TABLE_SIZE / count) as u64
}

/// Checks that a block may enter a bootstrap.
pub fn check_bootstrap_input(degree: u64, noise: u64) -> Result<()> {
    if degree > MAX_DEGREE || noise > noise_budget() {
        return Err(ModelError::Budget(format!(
            "bootstrap input of degree {degree} and noise {noise} (limits {MAX_DEGREE} and {})",
            noise_budget()
        )));
    }
    Ok(())
}

/// Checks a sum of blocks of `degree` and `noise` against a bootstrap's limits ([`BlockOps::add`]).
pub fn check_add(degree: u64, noise: u64) -> Result<()> {
    if degree > MAX_DEGREE || noise > noise_budget() {
        return Err(ModelError::Budget(format!("add to degree {degree} noise {noise}")));
    }
    Ok(())
}

/// Checks a sum whose true value is at most `bound` ([`BlockOps::add_bounded`]).
pub fn check_bounded_add(noise: u64, bound: u64) -> Result<()> {
    if noise > noise_budget() || bound > MAX_DEGREE {
        return Err(ModelError::Budget(format!("bounded add to noise {noise}")));
    }
    Ok(())
}

/// A table over a block's [`TABLE_SIZE`] values computing `f` on `0..=degree` and 0 elsewhere,
/// so the output degree is exactly the largest reachable result.
fn table(degree: u64, f: impl Fn(u64) -> u64) -> Vec<u64> {
    (0..TABLE_SIZE as u64)
        .map(|x| if x <= degree { f(x) } else { 0 })
        .collect()
}

/// Blocks tagged with the column they belong to.
type Placed<K> = Vec<(usize, <K as BlockOps>::Block)>;

/// Adds `digits` (each `(column, block)`) into `blocks` canonical blocks.
///
/// `max_value` must bound the true total; it fixes how far the last column may grow.
pub fn accumulate<K: BlockOps>(
    ops: &K,
    digits: Vec<(usize, K::Block)>,
    blocks: usize,
    max_value: u64,
) -> Result<Vec<K::Block>> {
    let top = blocks - 1;
    let top_bound = from_column(max_value, top);
    if top_bound > MAX_DEGREE {
        return Err(ModelError::Budget(format!("{max_value} does not fit {blocks} blocks")));
    }
    let mut columns: Vec<Vec<K::Block>> = vec![Vec::new(); blocks];
    for (column, block) in digits {
        columns
            .get_mut(column)
            .ok_or_else(|| ModelError::Budget(format!("digit in column {column} of {blocks}")))?
            .push(block);
    }

    let mut result = Vec::with_capacity(blocks);
    for k in 0..blocks {
        let mut items = std::mem::take(&mut columns[k]);
        // Each round shrinks a column about fivefold; the bound only guards against a bug.
        for _round in 0..64 {
            if items.is_empty() {
                items.push(ops.trivial_zero());
            }
            let done = items.len() == 1 && (k == top || ops.degree(&items[0]) <= DIGIT_MAX);
            if done {
                break;
            }
            let mut sums = if k == top {
                pack(
                    ops,
                    items,
                    |ops, a, b| ops.add_bounded(a, b, top_bound),
                    Some(top_bound),
                )?
            } else {
                pack(ops, items, |ops, a, b| ops.add(a, b), None)?
            };
            if sums.len() == 1 && (k == top || ops.degree(&sums[0]) <= DIGIT_MAX) {
                items = sums;
                break;
            }
            let reduced = if k == top {
                sums.len()
            } else {
                bins_to_reduce(ops, &mut sums)
            };
            let reductions: Vec<Reduction<K::Block>> = sums
                .into_iter()
                .enumerate()
                .map(|(i, sum)| {
                    if i < reduced {
                        reduce_bin(ops, sum, k, k == top, top_bound)
                    } else {
                        Reduction::Keep(k, sum)
                    }
                })
                .collect();
            items = Vec::new();
            for (column, block) in run_reductions(ops, reductions)? {
                if column == k {
                    items.push(block);
                } else {
                    columns
                        .get_mut(column)
                        .ok_or_else(|| ModelError::Budget(format!("carry out of the last block {k}")))?
                        .push(block);
                }
            }
        }
        match <[K::Block; 1]>::try_from(items) {
            Ok([block]) => result.push(block),
            Err(_) => return Err(ModelError::Budget(format!("column {k} did not converge"))),
        }
    }
    Ok(result)
}

/// First-fit-decreasing packing of blocks into sums that a bootstrap may take.
fn pack<K: BlockOps>(
    ops: &K,
    mut items: Vec<K::Block>,
    add: impl Fn(&K, &K::Block, &K::Block) -> Result<K::Block>,
    bound: Option<u64>,
) -> Result<Vec<K::Block>> {
    items.sort_by_key(|b| std::cmp::Reverse((ops.degree(b), ops.noise(b))));
    let mut bins: Vec<K::Block> = Vec::new();
    for item in items {
        let fits = |bin: &K::Block| {
            let degree = ops.degree(bin) + ops.degree(&item);
            let degree = bound.map_or(degree, |b| degree.min(b));
            degree <= MAX_DEGREE && ops.noise(bin) + ops.noise(&item) <= noise_budget()
        };
        match bins.iter_mut().find(|bin| fits(bin)) {
            Some(bin) => *bin = add(ops, bin, &item)?,
            None => bins.push(item),
        }
    }
    Ok(bins)
}

/// How many of a round's bins (of a column that is not the last) to bootstrap; the others,
/// the smallest (`bins` is reordered by decreasing degree), go on to the next round as they
/// are. When the round's digits and the kept bins fit one last bin, keeping bins saves their
/// bootstraps, and the count is chosen to minimise this round's bootstraps plus that last
/// bin's; otherwise every bin is bootstrapped. Degrees and noise alone decide.
fn bins_to_reduce<K: BlockOps>(ops: &K, bins: &mut [K::Block]) -> usize {
    bins.sort_by_key(|b| std::cmp::Reverse(ops.degree(b)));
    let shape: Vec<(u64, u64)> = bins.iter().map(|b| (ops.degree(b), ops.noise(b))).collect();
    let mut best = (usize::MAX, shape.len());
    for reduced in (1..=shape.len()).rev() {
        let (reduce, keep) = shape.split_at(reduced);
        // What the column holds after the round: each bootstrapped bin's digit (degree at
        // most DIGIT_MAX, one unit of noise; a clean digit is kept as it is) and the kept bins.
        let left = reduce
            .iter()
            .map(|&(degree, noise)| {
                (
                    degree.min(DIGIT_MAX),
                    if degree <= DIGIT_MAX { noise.min(1) } else { 1 },
                )
            })
            .chain(keep.iter().copied())
            .fold((0, 0), |(d, n), (degree, noise)| (d + degree, n + noise));
        let last = if left.0 <= DIGIT_MAX {
            // A lone bin that is already a digit ends the column as it is.
            0
        } else if left.0 <= MAX_DEGREE && left.1 <= noise_budget() {
            bin_bootstraps(left.0, left.1)
        } else if reduced == shape.len() {
            // Not one bin even so: more rounds follow, whatever this one does.
            0
        } else {
            continue;
        };
        let cost = reduce.iter().map(|&(d, n)| bin_bootstraps(d, n)).sum::<usize>() + last;
        if cost < best.0 {
            best = (cost, reduced);
        }
    }
    best.1
}

/// The bootstraps [`reduce_bin`] spends on a bin of a column that is not the last.
fn bin_bootstraps(degree: u64, noise: u64) -> usize {
    if degree <= DIGIT_MAX {
        usize::from(noise > 1)
    } else if fits_many_lut(2, degree) {
        1
    } else {
        2
    }
}

/// What becomes of one bin: kept as it is, or bootstrapped through tables whose outputs land
/// in the given columns.
enum Reduction<B> {
    Keep(usize, B),
    Lookup {
        input: B,
        tables: Vec<Vec<u64>>,
        columns: Vec<usize>,
    },
}

/// How one bin of column `k` becomes its digit and carry (or just gets its noise refreshed).
fn reduce_bin<K: BlockOps>(ops: &K, sum: K::Block, k: usize, is_top: bool, top_bound: u64) -> Reduction<K::Block> {
    let degree = ops.degree(&sum);
    if ops.noise(&sum) <= 1 && (is_top || degree <= DIGIT_MAX) {
        return Reduction::Keep(k, sum);
    }
    if is_top || degree <= DIGIT_MAX {
        let bound = if is_top { top_bound } else { DIGIT_MAX };
        return Reduction::Lookup {
            input: sum,
            tables: vec![table(degree.min(bound), |x| x)],
            columns: vec![k],
        };
    }
    Reduction::Lookup {
        input: sum,
        tables: vec![table(degree, |x| x % DIGIT_BASE), table(degree, |x| x / DIGIT_BASE)],
        columns: vec![k, k + 1],
    }
}

/// Applies a round's reductions, bootstrapping all of its bins together.
fn run_reductions<K: BlockOps>(ops: &K, reductions: Vec<Reduction<K::Block>>) -> Result<Placed<K>> {
    let requests: Vec<LookupRequest<'_, K::Block>> = reductions
        .iter()
        .filter_map(|r| match r {
            Reduction::Keep(..) => None,
            Reduction::Lookup { input, tables, .. } => Some(LookupRequest {
                input: input.clone(),
                tables,
            }),
        })
        .collect();
    let mut outputs = ops.lookup_all(&requests)?.into_iter();
    let mut placed = Vec::new();
    for reduction in &reductions {
        match reduction {
            Reduction::Keep(column, block) => placed.push((*column, block.clone())),
            Reduction::Lookup { columns, .. } => {
                let blocks = outputs
                    .next()
                    .ok_or_else(|| ModelError::Budget("a bootstrap request went unanswered".into()))?;
                placed.extend(columns.iter().copied().zip(blocks));
            }
        }
    }
    Ok(placed)
}

/// A block in the clear with the degree and noise the encrypted evaluation tracks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClearBlock {
    pub value: u64,
    pub degree: u64,
    pub noise: u64,
}

impl ClearBlock {
    /// A fresh encryption of `value` whose degree is `degree`.
    pub fn fresh(value: u64, degree: u64) -> Self {
        Self {
            value,
            degree,
            noise: 1,
        }
    }
}

/// Runs the accumulator in the clear: to predict a plan's shape and bootstrap count at
/// compile time, and to test the algorithm on many inputs quickly. Every invariant the
/// encrypted evaluation relies on (value <= degree, limits before a bootstrap) is checked.
#[derive(Debug, Default)]
pub struct ClearOps {
    bootstraps: AtomicUsize,
}

impl ClearOps {
    pub fn bootstraps(&self) -> usize {
        self.bootstraps.load(Ordering::Relaxed)
    }
}

impl BlockOps for ClearOps {
    type Block = ClearBlock;

    fn degree(&self, block: &ClearBlock) -> u64 {
        block.degree
    }

    fn noise(&self, block: &ClearBlock) -> u64 {
        block.noise
    }

    fn add(&self, a: &ClearBlock, b: &ClearBlock) -> Result<ClearBlock> {
        let sum = ClearBlock {
            value: a.value + b.value,
            degree: a.degree + b.degree,
            noise: a.noise + b.noise,
        };
        check_add(sum.degree, sum.noise)?;
        Ok(sum)
    }

    fn add_bounded(&self, a: &ClearBlock, b: &ClearBlock, bound: u64) -> Result<ClearBlock> {
        let noise = a.noise + b.noise;
        check_bounded_add(noise, bound)?;
        let value = a.value + b.value;
        if value > bound {
            return Err(ModelError::Budget(format!(
                "value {value} exceeds its proven bound {bound}"
            )));
        }
        Ok(ClearBlock {
            value,
            degree: (a.degree + b.degree).min(bound),
            noise,
        })
    }

    fn lookup_all(&self, requests: &[LookupRequest<'_, ClearBlock>]) -> Result<Vec<Vec<ClearBlock>>> {
        requests.iter().map(|r| self.lookup(&r.input, r.tables)).collect()
    }

    fn trivial_zero(&self) -> ClearBlock {
        ClearBlock {
            value: 0,
            degree: 0,
            noise: 0,
        }
    }
}

impl ClearOps {
    /// One request of [`BlockOps::lookup_all`].
    fn lookup(&self, input: &ClearBlock, tables: &[Vec<u64>]) -> Result<Vec<ClearBlock>> {
        check_bootstrap_input(input.degree, input.noise)?;
        if input.value > input.degree {
            return Err(ModelError::Budget(format!(
                "value {} above degree {}",
                input.value, input.degree
            )));
        }
        let many = fits_many_lut(tables.len(), input.degree);
        let reach = if many { TABLE_SIZE / tables.len() } else { TABLE_SIZE };
        self.bootstraps
            .fetch_add(if many { 1 } else { tables.len() }, Ordering::Relaxed);
        Ok(tables
            .iter()
            .map(|t| ClearBlock {
                value: t[input.value as usize],
                degree: t[..reach].iter().copied().max().unwrap_or(0),
                noise: 1,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{from_digits, place};
    use crate::spec::top_capacity;

    /// Deterministic pseudo-random numbers for the property test (no dependency needed).
    fn lcg(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *state >> 33
    }

    #[test]
    fn sums_any_digits_into_canonical_blocks() {
        let mut state = 7;
        for case in 0..300 {
            let count = (lcg(&mut state) % 120) as usize;
            let columns = 1 + (lcg(&mut state) % 3) as usize;
            let digits: Vec<(usize, ClearBlock)> = (0..count)
                .map(|_| {
                    let degree = lcg(&mut state) % DIGIT_BASE;
                    let value = lcg(&mut state) % (degree + 1);
                    ((lcg(&mut state) as usize) % columns, ClearBlock::fresh(value, degree))
                })
                .collect();
            let total: u64 = digits.iter().map(|(c, b)| place(b.value, *c)).sum();
            let max_value: u64 = digits.iter().map(|(c, b)| place(b.degree, *c)).sum();
            let mut blocks = columns;
            while max_value >= top_capacity(blocks) {
                blocks += 1;
            }
            let ops = ClearOps::default();
            let out = accumulate(&ops, digits, blocks, max_value).unwrap_or_else(|e| panic!("case {case}: {e}"));
            assert_eq!(out.len(), blocks);
            assert_eq!(from_digits(out.iter().map(|b| b.value)), total, "case {case}");
            for (k, block) in out.iter().enumerate() {
                assert!(block.noise <= noise_budget());
                if k + 1 < blocks {
                    assert!(block.value <= DIGIT_MAX, "case {case}: block {k} is not canonical");
                }
            }
        }
    }

    /// Digits adding up to 35 pack into bins of 15, 15 and 5. Bootstrapping all three (5
    /// bootstraps) leaves three digits, 9 in all, for 2 more; keeping the bin of 5 for the
    /// last round (3 + 3 + 5 = 11) saves one.
    #[test]
    fn a_small_bin_waits_for_the_last_round() {
        let digits: Vec<(usize, ClearBlock)> = (0..12)
            .map(|i| {
                let degree = if i == 11 { 2 } else { DIGIT_MAX };
                (0, ClearBlock::fresh(i % (degree + 1), degree))
            })
            .collect();
        let total: u64 = digits.iter().map(|(_, b)| b.value).sum();
        let ops = ClearOps::default();
        let out = accumulate(&ops, digits, 2, 35).unwrap();
        assert_eq!(from_digits(out.iter().map(|b| b.value)), total);
        assert!(out[0].value <= DIGIT_MAX);
        assert_eq!(ops.bootstraps(), 6);
    }

    #[test]
    fn forty_two_bit_digits_cost_few_bootstraps() {
        let digits = (0..40)
            .map(|i| (0, ClearBlock::fresh(i % DIGIT_BASE, DIGIT_MAX)))
            .collect();
        let ops = ClearOps::default();
        let out = accumulate(&ops, digits, 3, 120).unwrap();
        let decoded = from_digits(out.iter().map(|b| b.value));
        assert_eq!(decoded, (0..40).map(|i| i % DIGIT_BASE).sum::<u64>());
        assert!(ops.bootstraps() <= 30, "{} bootstraps", ops.bootstraps());
    }
}
