//! The model as the Predict page knows it: its public client spec (the model crate's own
//! type, without any of its cryptography), and the checks of typed values against it.

use std::sync::Arc;

use blindfold_model::ClientSpec;
use blindfold_model::quantize::FeatureQuantizer;

use crate::api::{FeatureInfo, ModelExample};
use crate::client;

/// A loaded model: its spec as the worker takes it and as the form reads it, and what the
/// catalogue adds: sample rows, and the inputs' descriptions and units.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedModel {
    pub id: String,
    pub spec_json: Arc<str>,
    pub spec: Arc<ClientSpec>,
    pub examples: Vec<ModelExample>,
    pub inputs: Vec<FeatureInfo>,
}

/// A model's client spec, as the JSON text the worker takes and as the form reads it.
pub async fn load_spec(id: &str) -> Result<(Arc<str>, Arc<ClientSpec>), String> {
    let spec_json = client::spec_json(id).await.map_err(|e| e.message())?;
    let spec = ClientSpec::from_json(&spec_json).map_err(|e| format!("unreadable model spec: {e}"))?;
    Ok((Arc::from(spec_json), Arc::new(spec)))
}

/// Each value parsed and checked against the feature's valid range.
pub fn validate(features: &[FeatureQuantizer], values: &[String]) -> Vec<Result<f64, String>> {
    features
        .iter()
        .zip(values)
        .map(|(feature, text)| {
            let text = text.trim();
            if text.is_empty() {
                return Err("Enter a number.".into());
            }
            let value: f64 = text.parse().map_err(|_| format!("\"{text}\" is not a number."))?;
            if !value.is_finite() || value < feature.valid_min || value > feature.valid_max {
                return Err(format!(
                    "Must be between {} and {}.",
                    short(feature.valid_min),
                    short(feature.valid_max)
                ));
            }
            Ok(value)
        })
        .collect()
}

/// A number with at most four decimals and no trailing zeros.
pub fn short(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Two features: `a` in [0, 10] and `b` in [-1, 1].
    pub fn features() -> Vec<FeatureQuantizer> {
        let feature = |name: &str, valid_min, valid_max| FeatureQuantizer {
            name: name.into(),
            edges: vec![valid_min / 2.0 + valid_max / 2.0],
            valid_min,
            valid_max,
        };
        vec![feature("a", 0.0, 10.0), feature("b", -1.0, 1.0)]
    }

    #[test]
    fn values_are_checked_against_the_valid_range() {
        let checked = validate(&features(), &["5".into(), "2".into()]);
        assert_eq!(checked[0], Ok(5.0));
        assert_eq!(checked[1], Err("Must be between -1 and 1.".into()));
        let checked = validate(&features(), &["".into(), "x".into()]);
        assert_eq!(checked[0], Err("Enter a number.".into()));
        assert_eq!(checked[1], Err("\"x\" is not a number.".into()));
        assert!(
            validate(&features(), &["NaN".into(), "inf".into()])
                .iter()
                .all(Result::is_err)
        );
    }

    #[test]
    fn short_numbers_drop_trailing_zeros() {
        assert_eq!(short(10.0), "10");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(-1.5), "-1.5");
        assert_eq!(short(0.123_456), "0.1235");
    }
}
