//! Quantization onto a level grid: every feature gets `2^input_bits` levels at the quantiles of
//! the calibration rows ([`Calibration`]); every threshold becomes the level step where it
//! disagrees least with the float split on those rows, and splits the grid (or an ancestor)
//! already decides are pruned; leaves become integer steps of one common scale. The
//! [`QuantizedEnsemble`] this gives is what the encrypted evaluation computes, exactly.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::compiler::ensemble::{Arithmetic, Node, Tree, TreeEnsemble};
use crate::error::{ModelError, Result};
use crate::server::plan::InputLayout;
use crate::spec::quantize::FeatureQuantizer;
use crate::spec::{OutputDecoding, top_capacity};

/// A node of a quantized tree: go right iff the feature's level is at least `step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QuantizedNode<L> {
    Split {
        feature: usize,
        step: usize,
        left: Box<QuantizedNode<L>>,
        right: Box<QuantizedNode<L>>,
    },
    Leaf(L),
}

impl<L: Copy> QuantizedNode<L> {
    pub(super) fn leaf(&self, bit: &impl Fn(usize, usize) -> bool) -> L {
        match self {
            QuantizedNode::Leaf(v) => *v,
            QuantizedNode::Split {
                feature,
                step,
                left,
                right,
            } => {
                if bit(*feature, *step) {
                    right.leaf(bit)
                } else {
                    left.leaf(bit)
                }
            }
        }
    }

    fn leaves(&self) -> Vec<L> {
        match self {
            QuantizedNode::Leaf(v) => vec![*v],
            QuantizedNode::Split { left, right, .. } => {
                let mut l = left.leaves();
                l.extend(right.leaves());
                l
            }
        }
    }

    pub(super) fn splits(&self) -> usize {
        match self {
            QuantizedNode::Leaf(_) => 0,
            QuantizedNode::Split { left, right, .. } => 1 + left.splits() + right.splits(),
        }
    }

    fn map<M: Copy + PartialEq>(&self, f: &impl Fn(L) -> M) -> QuantizedNode<M> {
        match self {
            QuantizedNode::Leaf(v) => QuantizedNode::Leaf(f(*v)),
            QuantizedNode::Split {
                feature,
                step,
                left,
                right,
            } => {
                let (left, right) = (left.map(f), right.map(f));
                match (&left, &right) {
                    // A split whose two sides now give the same leaf decides nothing.
                    (QuantizedNode::Leaf(a), QuantizedNode::Leaf(b)) if a == b => left,
                    _ => QuantizedNode::Split {
                        feature: *feature,
                        step: *step,
                        left: Box::new(left),
                        right: Box::new(right),
                    },
                }
            }
        }
    }
}

/// A tree whose leaves are integers `>= 0`; the tree adds `leaf + offset` steps to its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedTree {
    pub output: usize,
    pub offset: i64,
    pub root: QuantizedNode<u64>,
}

/// The model the encrypted evaluation computes exactly, in the clear: quantized inputs,
/// quantized thresholds, integer leaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedEnsemble {
    pub outputs: usize,
    pub trees: Vec<QuantizedTree>,
}

impl QuantizedEnsemble {
    /// The integer each output sums to for a row of levels (offsets excluded): what the client
    /// decrypts.
    pub fn raw_outputs(&self, levels: &[usize]) -> Vec<u64> {
        let mut sums = vec![0u64; self.outputs];
        let bit = |feature: usize, step: usize| levels[feature] >= step;
        for tree in &self.trees {
            sums[tree.output] += tree.root.leaf(&bit);
        }
        sums
    }
}

/// The calibration rows restricted to the model's features, each feature's quantizer, and the
/// levels of every row.
pub(super) struct Calibration {
    pub(super) rows: Vec<Vec<f64>>,
    pub(super) quantizers: Vec<FeatureQuantizer>,
    pub(super) levels: Vec<Vec<usize>>,
}

impl Calibration {
    /// Quantizes every feature to `2^input_bits` levels at the quantiles of `rows` (the model's
    /// features, in `names` order).
    pub(super) fn quantize(names: &[String], rows: Vec<Vec<f64>>, input_bits: u32) -> Result<Self> {
        if !(1..=8).contains(&input_bits) {
            return Err(ModelError::InvalidData(format!(
                "input_bits {input_bits} is not in 1..=8"
            )));
        }
        if rows.len() < 2 {
            return Err(ModelError::InvalidData(
                "the calibration set needs at least 2 rows".into(),
            ));
        }
        let quantizers = names
            .iter()
            .enumerate()
            .map(|(f, name)| {
                let values: Vec<f64> = rows.iter().map(|r| r[f]).collect();
                FeatureQuantizer::from_calibration(name, &values, 1usize << input_bits)
            })
            .collect::<Result<Vec<_>>>()?;
        let levels = rows
            .iter()
            .map(|r| quantizers.iter().zip(r).map(|(q, &x)| q.quantize(x)).collect())
            .collect();
        Ok(Self {
            rows,
            quantizers,
            levels,
        })
    }

    /// Maps every tree's thresholds onto the level grid, pruning the splits the grid decides.
    pub(super) fn map_thresholds(&self, ensemble: &TreeEnsemble) -> Vec<(usize, QuantizedNode<f64>)> {
        let mut mapper = ThresholdMapper {
            rows: &self.rows,
            quantizers: &self.quantizers,
            arithmetic: ensemble.arithmetic,
            cache: HashMap::new(),
        };
        ensemble
            .trees
            .iter()
            .map(|(output, tree)| {
                let bounds = self.quantizers.iter().map(|q| (0, q.levels() - 1)).collect();
                (*output, mapper.map_node(tree, 0, bounds))
            })
            .collect()
    }

    /// Where each feature's thermometer bits sit in an encrypted row.
    pub(super) fn input_layout(&self) -> InputLayout {
        InputLayout {
            steps: self.quantizers.iter().map(|q| q.levels() - 1).collect(),
        }
    }
}

struct ThresholdMapper<'a> {
    rows: &'a [Vec<f64>],
    quantizers: &'a [FeatureQuantizer],
    arithmetic: Arithmetic,
    cache: HashMap<(usize, u64), usize>,
}

impl ThresholdMapper<'_> {
    /// The step `t` in `0..=levels` for which `level >= t` best matches `x >= threshold` on the
    /// calibration rows; ties go to the edge nearest the threshold.
    fn step(&mut self, feature: usize, threshold: f64) -> usize {
        if let Some(&t) = self.cache.get(&(feature, threshold.to_bits())) {
            return t;
        }
        let q = &self.quantizers[feature];
        let levels = q.levels();
        let mut best = (usize::MAX, f64::INFINITY, 0);
        for t in 0..=levels {
            let errors = self
                .rows
                .iter()
                .filter(|r| {
                    let truth = self.arithmetic.feature(r[feature]) >= threshold;
                    (q.quantize(r[feature]) >= t) != truth
                })
                .count();
            let distance = if t == 0 || t == levels {
                f64::INFINITY
            } else {
                (q.edges[t - 1] - threshold).abs()
            };
            if (errors, distance) < (best.0, best.1) || (errors == best.0 && distance < best.1) {
                best = (errors, distance, t);
            }
        }
        self.cache.insert((feature, threshold.to_bits()), best.2);
        best.2
    }

    /// Maps a float subtree onto the grid. `bounds[f]` is the range of levels feature `f` can
    /// still have on this path; splits it already decides are dropped.
    fn map_node(&mut self, tree: &Tree, index: usize, bounds: Vec<(usize, usize)>) -> QuantizedNode<f64> {
        match tree.nodes[index] {
            Node::Leaf { value } => QuantizedNode::Leaf(value),
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                let step = self.step(feature, threshold);
                let (low, high) = bounds[feature];
                if step <= low {
                    return self.map_node(tree, right, bounds);
                }
                if step > high {
                    return self.map_node(tree, left, bounds);
                }
                let mut left_bounds = bounds.clone();
                left_bounds[feature] = (low, step - 1);
                let mut right_bounds = bounds;
                right_bounds[feature] = (step, high);
                QuantizedNode::Split {
                    feature,
                    step,
                    left: Box::new(self.map_node(tree, left, left_bounds)),
                    right: Box::new(self.map_node(tree, right, right_bounds)),
                }
            }
        }
    }
}

/// Quantizes all leaves with one step so that the widest tree spans `2^leaf_bits - 1` steps.
pub(super) fn quantize_leaves(
    ensemble: &TreeEnsemble,
    trees: &[(usize, QuantizedNode<f64>)],
    leaf_bits: u32,
) -> Result<(QuantizedEnsemble, Vec<OutputDecoding>)> {
    let widest = trees
        .iter()
        .map(|(_, t)| {
            let leaves = t.leaves();
            let min = leaves.iter().copied().fold(f64::INFINITY, f64::min);
            let max = leaves.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            max - min
        })
        .fold(0.0, f64::max);
    let scale = if widest > 0.0 {
        widest / f64::from((1u32 << leaf_bits) - 1)
    } else {
        1.0
    };
    let outputs = ensemble.objective.outputs();
    let mut offsets = vec![0i64; outputs];
    let mut max_values = vec![0u64; outputs];
    let mut quantized = Vec::with_capacity(trees.len());
    for (output, tree) in trees {
        let steps = tree.map(&|v: f64| (v / scale).round() as i64);
        let leaves = steps.leaves();
        let min = *leaves.iter().min().expect("a tree has a leaf");
        let max = *leaves.iter().max().expect("a tree has a leaf");
        offsets[*output] += min;
        max_values[*output] += (max - min) as u64;
        let root = steps.map(&|v: i64| (v - min) as u64);
        quantized.push(QuantizedTree {
            output: *output,
            offset: min,
            root,
        });
    }
    let decodings = (0..outputs)
        .map(|o| {
            let max_value = max_values[o];
            let mut blocks = 1;
            while max_value >= top_capacity(blocks) {
                blocks += 1;
            }
            OutputDecoding {
                blocks,
                max_value,
                scale,
                offset: ensemble.base_margins[o] + scale * offsets[o] as f64,
            }
        })
        .collect();
    Ok((
        QuantizedEnsemble {
            outputs,
            trees: quantized,
        },
        decodings,
    ))
}
