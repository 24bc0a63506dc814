//! The model as the Predict page knows it: its public client spec (the model crate's own
//! type, without any of its cryptography), and the checks of typed values against it.

use std::sync::Arc;

use blindfold_model::ClientSpec;
use blindfold_model::spec::quantize::FeatureQuantizer;

use crate::api::{FeatureInfo, ModelExample};
use crate::client;
use crate::error::{AppError, AppResult};

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
pub async fn load_spec(id: &str) -> AppResult<(Arc<str>, Arc<ClientSpec>)> {
    let spec_json = client::spec_json(id).await?;
    let spec = ClientSpec::from_json(&spec_json).map_err(|e| AppError::unreadable("model spec", e))?;
    Ok((Arc::from(spec_json), Arc::new(spec)))
}

/// Each value parsed and checked: a finite number, within the owner's valid range of its
/// feature where `inputs` gives one (the catalogue's, by name). Any other value is accepted,
/// beyond the calibration data too ([`calibration_notes`] says which).
pub fn validate(features: &[FeatureQuantizer], inputs: &[FeatureInfo], values: &[String]) -> Vec<Result<f64, String>> {
    features
        .iter()
        .zip(values)
        .map(|(feature, text)| {
            let text = text.trim();
            if text.is_empty() {
                return Err("Enter a number.".into());
            }
            let value: f64 = text.parse().map_err(|_| format!("\"{text}\" is not a number."))?;
            if !value.is_finite() {
                return Err(format!("\"{text}\" is not a finite number."));
            }
            if let Some(info) = inputs.iter().find(|info| info.name == feature.name) {
                info.check(value)?;
            }
            Ok(value)
        })
        .collect()
}

/// For each value of a checked row, a note when it lies beyond its feature's calibration data:
/// the prediction treats it as the nearest calibrated value.
pub fn calibration_notes(features: &[FeatureQuantizer], values: &[f64]) -> Vec<Option<String>> {
    features
        .iter()
        .zip(values)
        .map(|(feature, &value)| {
            feature.outside_calibration(value).map(|outside| {
                format!(
                    "Beyond the calibration data ({} to {}): predicted as {}.",
                    short(outside.calibration_min),
                    short(outside.calibration_max),
                    short(outside.treated_as())
                )
            })
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

    /// Two features: `a` calibrated on [0, 10] and `b` on [-1, 1].
    pub fn features() -> Vec<FeatureQuantizer> {
        let feature = |name: &str, calibration_min, calibration_max| FeatureQuantizer {
            name: name.into(),
            edges: vec![calibration_min / 2.0 + calibration_max / 2.0],
            calibration_min,
            calibration_max,
        };
        vec![feature("a", 0.0, 10.0), feature("b", -1.0, 1.0)]
    }

    /// The owner's range of `b`: from -5 to 5.
    pub fn inputs() -> Vec<FeatureInfo> {
        vec![FeatureInfo {
            name: "b".into(),
            valid_min: Some(-5.0),
            valid_max: Some(5.0),
            ..FeatureInfo::default()
        }]
    }

    #[test]
    fn any_finite_value_is_accepted_within_the_owners_range() {
        let checked = validate(&features(), &inputs(), &["500".into(), "2".into()]);
        assert_eq!(checked, vec![Ok(500.0), Ok(2.0)]);
        assert_eq!(
            calibration_notes(&features(), &[500.0, 2.0]),
            vec![
                Some("Beyond the calibration data (0 to 10): predicted as 10.".into()),
                Some("Beyond the calibration data (-1 to 1): predicted as 1.".into()),
            ]
        );
        assert_eq!(calibration_notes(&features(), &[5.0, 0.0]), vec![None, None]);
        let checked = validate(&features(), &inputs(), &["1".into(), "6".into()]);
        assert_eq!(
            checked[1],
            Err("`b` = 6 is outside its valid range (from -5 to 5)".into())
        );
        let checked = validate(&features(), &inputs(), &["".into(), "x".into()]);
        assert_eq!(checked[0], Err("Enter a number.".into()));
        assert_eq!(checked[1], Err("\"x\" is not a number.".into()));
        assert!(
            validate(&features(), &[], &["NaN".into(), "inf".into()])
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
