//! Per-feature input quantization.
//!
//! A feature is mapped to a level `x_q` in `0..levels` by counting how many of its `levels - 1`
//! edges it reaches: `x_q = #{ j : x >= edge_j }`. Edges are quantiles of the owner's calibration
//! rows, never the model's thresholds, so publishing them (they are in the client spec) reveals
//! the training distribution's quantiles but nothing about the trees.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The quantizer of one feature, part of the public client spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureQuantizer {
    /// Column name, as in the calibration CSV's header.
    pub name: String,
    /// Non-decreasing edges; `edges.len() + 1` levels.
    pub edges: Vec<f64>,
    /// Smallest and largest values accepted for encryption.
    pub valid_min: f64,
    pub valid_max: f64,
}

impl FeatureQuantizer {
    /// Builds a quantizer with at most `levels` levels from calibration values (equal-frequency
    /// bins; fewer when the calibration values repeat).
    ///
    /// The valid range is the calibration range widened by its own width on both sides, and
    /// kept non-negative for features that never were negative.
    pub fn from_calibration(name: &str, values: &[f64], levels: usize) -> Result<Self> {
        if values.is_empty() {
            return Err(ModelError::InvalidData("the calibration set has no rows".into()));
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let mut edges: Vec<f64> = (1..levels).map(|j| sorted[(j * n / levels).min(n - 1)]).collect();
        // A feature with few distinct values (a flag, a count) gets fewer levels: repeated edges
        // would only repeat thermometer bits.
        // An edge at the minimum splits nothing; a constant feature keeps no edge (one level).
        edges.dedup();
        edges.retain(|&e| e > sorted[0]);
        let (min, max) = (sorted[0], sorted[n - 1]);
        let width = (max - min).max(f64::EPSILON);
        let valid_min = if min >= 0.0 {
            (min - width).max(0.0)
        } else {
            min - width
        };
        Ok(Self {
            name: name.to_owned(),
            edges,
            valid_min,
            valid_max: max + width,
        })
    }

    pub fn levels(&self) -> usize {
        self.edges.len() + 1
    }

    /// The level of `x`. The caller has checked that `x` is finite.
    pub fn quantize(&self, x: f64) -> usize {
        self.edges.iter().take_while(|&&e| x >= e).count()
    }

    /// Checks that `x` may be encrypted for this feature.
    pub fn validate(&self, x: f64) -> Result<()> {
        if !x.is_finite() {
            return Err(ModelError::InvalidInput(format!(
                "`{}` is {x}: missing or non-finite values cannot be encrypted",
                self.name
            )));
        }
        if x < self.valid_min || x > self.valid_max {
            return Err(ModelError::InvalidInput(format!(
                "`{}` = {x} is outside the valid range {} to {}",
                self.name, self.valid_min, self.valid_max
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_count_reached_edges() {
        let values: Vec<f64> = (0..100).map(f64::from).collect();
        let q = FeatureQuantizer::from_calibration("x", &values, 4).unwrap();
        assert_eq!(q.edges, vec![25.0, 50.0, 75.0]);
        assert_eq!(q.quantize(-5.0), 0);
        assert_eq!(q.quantize(25.0), 1);
        assert_eq!(q.quantize(74.9), 2);
        assert_eq!(q.quantize(1000.0), 3);
        assert_eq!(q.valid_min, 0.0);
        assert!(q.validate(f64::NAN).is_err());
        assert!(q.validate(500.0).is_err());
        assert!(q.validate(150.0).is_ok());
    }

    #[test]
    fn a_binary_feature_gets_two_levels() {
        let values: Vec<f64> = (0..100).map(|i| f64::from(i % 2)).collect();
        let q = FeatureQuantizer::from_calibration("flag", &values, 16).unwrap();
        assert_eq!(q.levels(), 2);
        assert_eq!((q.quantize(0.0), q.quantize(1.0)), (0, 1));
        let constant = FeatureQuantizer::from_calibration("c", &[3.0; 10], 16).unwrap();
        assert_eq!(constant.levels(), 1);
    }
}
