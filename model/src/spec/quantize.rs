//! Per-feature input quantization.
//!
//! A feature is mapped to a level `x_q` in `0..levels` by counting how many of its `levels - 1`
//! edges it reaches: `x_q = #{ j : x >= edge_j }`. Edges are quantiles of the owner's calibration
//! rows, never the model's thresholds, so publishing them (they are in the client spec) reveals
//! the training distribution's quantiles but nothing about the trees.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The quantizer of one feature, part of the public client spec.
///
/// Every finite value has a level: one below the first edge is level 0, one at or above the
/// last edge the top level, wherever it lies. So a value outside the calibration data is
/// predicted as the nearest calibrated value would be, which is what the trees do with it
/// anyway: their thresholds were learnt inside the data, so beyond its extremes every
/// comparison already goes one way. [`FeatureQuantizer::outside_calibration`] says when a value
/// lies there, so that clients can tell their users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureQuantizer {
    /// Column name, as in the calibration CSV's header.
    pub name: String,
    /// Non-decreasing edges; `edges.len() + 1` levels.
    pub edges: Vec<f64>,
    /// The smallest and largest value of the feature in the owner's calibration rows.
    pub calibration_min: f64,
    pub calibration_max: f64,
}

/// A value outside its feature's calibration range, and what the prediction takes it for.
#[derive(Debug, Clone, PartialEq)]
pub struct OutsideCalibration {
    pub feature: String,
    pub value: f64,
    pub calibration_min: f64,
    pub calibration_max: f64,
}

impl OutsideCalibration {
    /// The calibrated value the prediction treats it as: the nearer end of the range.
    pub fn treated_as(&self) -> f64 {
        self.value.clamp(self.calibration_min, self.calibration_max)
    }
}

impl std::fmt::Display for OutsideCalibration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` = {} lies outside the calibration data ({} to {}): predicted as {}",
            self.feature,
            self.value,
            self.calibration_min,
            self.calibration_max,
            self.treated_as()
        )
    }
}

impl FeatureQuantizer {
    /// Builds a quantizer with at most `levels` levels from calibration values (equal-frequency
    /// bins; fewer when the calibration values repeat).
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
        Ok(Self {
            name: name.to_owned(),
            edges,
            calibration_min: sorted[0],
            calibration_max: sorted[n - 1],
        })
    }

    /// A quantizer of `levels` evenly spaced levels: level `q` stands for `low + q · step`, and
    /// a value takes its nearest level (the edges are the midpoints between levels; values
    /// beyond the grid take its end levels). `calibration` is the calibration values' range,
    /// which clients are told about.
    pub fn uniform(name: &str, low: f64, step: f64, levels: usize, calibration: (f64, f64)) -> Result<Self> {
        if levels == 0 || (levels > 1 && !(low.is_finite() && step.is_finite() && step > 0.0)) {
            return Err(ModelError::InvalidData(format!(
                "the feature `{name}` has no grid of levels"
            )));
        }
        let edges: Vec<f64> = (1..levels).map(|q| low + (q as f64 - 0.5) * step).collect();
        Ok(Self {
            name: name.to_owned(),
            edges,
            calibration_min: calibration.0,
            calibration_max: calibration.1,
        })
    }

    pub fn levels(&self) -> usize {
        self.edges.len() + 1
    }

    /// The level of `x` (clamped to the end levels beyond the edges). The caller has checked
    /// that `x` is finite.
    pub fn quantize(&self, x: f64) -> usize {
        self.edges.iter().take_while(|&&e| x >= e).count()
    }

    /// Checks that `x` may be encrypted for this feature: any finite value may.
    pub fn validate(&self, x: f64) -> Result<()> {
        if !x.is_finite() {
            return Err(ModelError::InvalidInput(format!(
                "`{}` is {x}: missing or non-finite values cannot be encrypted",
                self.name
            )));
        }
        Ok(())
    }

    /// `x` when it lies outside the calibration range (and is finite).
    pub fn outside_calibration(&self, x: f64) -> Option<OutsideCalibration> {
        (x.is_finite() && (x < self.calibration_min || x > self.calibration_max)).then(|| OutsideCalibration {
            feature: self.name.clone(),
            value: x,
            calibration_min: self.calibration_min,
            calibration_max: self.calibration_max,
        })
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
        assert_eq!((q.calibration_min, q.calibration_max), (0.0, 99.0));
        assert!(q.validate(f64::NAN).is_err());
        assert!(q.validate(f64::INFINITY).is_err());
        // Far outside the calibration data: still a value, at the end level.
        assert!(q.validate(1e12).is_ok());
        assert!(q.validate(-1e12).is_ok());
        assert_eq!(q.quantize(1e12), q.quantize(99.0));
        assert_eq!(q.quantize(-1e12), q.quantize(0.0));
    }

    #[test]
    fn values_outside_the_calibration_range_are_named_with_what_they_are_taken_for() {
        let values: Vec<f64> = (0..100).map(f64::from).collect();
        let q = FeatureQuantizer::from_calibration("x", &values, 4).unwrap();
        assert_eq!(q.outside_calibration(50.0), None);
        assert_eq!(q.outside_calibration(99.0), None);
        assert_eq!(q.outside_calibration(f64::NAN), None);
        let high = q.outside_calibration(120.5).unwrap();
        assert_eq!(high.treated_as(), 99.0);
        assert_eq!(
            high.to_string(),
            "`x` = 120.5 lies outside the calibration data (0 to 99): predicted as 99"
        );
        assert_eq!(q.outside_calibration(-3.0).unwrap().treated_as(), 0.0);
        // Taken for the end value exactly: the same level.
        assert_eq!(q.quantize(high.value), q.quantize(high.treated_as()));
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
