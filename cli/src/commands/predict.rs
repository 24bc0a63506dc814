//! `predict`: every row of a CSV, encrypted, evaluated on the server, decrypted here.

use std::path::PathBuf;

use blindfold_cli::predict::predict_row;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Context, read_rows};

#[derive(Args)]
/// Predict every row of a CSV whose header names the model's features, with your one key
/// (made by `blindfold keygen`, uploaded by `blindfold upload-key`), whichever the model.
pub struct Predict {
    /// The model to ask (any model: the same key serves them all).
    #[arg(long, default_value = blindfold_api::DEFAULT_MODEL_ID)]
    model: String,
    #[arg(long)]
    features: PathBuf,
    /// One JSON object per row instead of text.
    #[arg(long)]
    json: bool,
}

impl Predict {
    pub async fn run(self, context: &Context) -> anyhow::Result<()> {
        context.require_login()?;
        let (served, key, keys) = context.spec_and_key(&self.model).await?;
        let spec = &served.spec;
        let inputs = context.inputs(&self.model).await?;
        let rows = read_rows(&self.features, spec, &inputs)?;
        let fingerprint = context.check_server_key(&keys, spec.encryption.parameter_set()).await?;
        let binding = served.binding(&fingerprint);
        let bar = ProgressBar::new(rows.len() as u64);
        bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"));
        if self.json {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let mut refused = 0;
        for (i, row) in rows.iter().enumerate() {
            let number = i + 1;
            let values = match &row.values {
                Ok(values) => values,
                // A bad row is reported and skipped: the others are predicted.
                Err(why) => {
                    refused += 1;
                    bar.inc(1);
                    let line = if self.json {
                        serde_json::json!({ "row": number, "line": row.line, "error": why }).to_string()
                    } else {
                        format!("row {number} (line {}): not predicted: {why}", row.line)
                    };
                    bar.suspend(|| println!("{line}"));
                    continue;
                }
            };
            let (prediction, job) = predict_row(&context.client, &self.model, spec, &binding, &key, values, |stage| {
                bar.set_message(format!("row {number}: {stage}"))
            })
            .await?;
            bar.inc(1);
            let outside = spec.outside_calibration(values);
            let line = if self.json {
                // The prediction's id: `blindfold decrypt --prediction ID` reads it again.
                let mut object = prediction_json(&prediction);
                object["row"] = serde_json::json!(number);
                object["prediction"] = serde_json::json!(job.id);
                if !outside.is_empty() {
                    object["outside_calibration"] = outside
                        .iter()
                        .map(|o| {
                            serde_json::json!({
                                "feature": o.feature,
                                "value": o.value,
                                "calibration_min": o.calibration_min,
                                "calibration_max": o.calibration_max,
                                "treated_as": o.treated_as(),
                            })
                        })
                        .collect();
                }
                object.to_string()
            } else {
                let mut text = describe(&spec.labels, &prediction, number);
                for note in &outside {
                    text.push_str(&format!("\n  note: {note}"));
                }
                text
            };
            bar.suspend(|| println!("{line}"));
        }
        bar.finish_and_clear();
        anyhow::ensure!(
            refused == 0,
            "{refused} of {} rows not predicted (each said why above)",
            rows.len()
        );
        Ok(())
    }
}

/// A prediction as `--json` prints it: the class with its probabilities (or its decision
/// scores, for a classifier without probabilities), or the value.
pub fn prediction_json(prediction: &blindfold_model::Prediction) -> serde_json::Value {
    match (&prediction.class, prediction.value) {
        (Some(class), _) if prediction.probabilities.is_empty() => {
            serde_json::json!({ "class": class, "scores": prediction.scores })
        }
        (Some(class), _) => serde_json::json!({ "class": class, "probabilities": prediction.probabilities }),
        (None, value) => serde_json::json!({ "value": value }),
    }
}

pub fn describe(labels: &[String], prediction: &blindfold_model::Prediction, row: usize) -> String {
    match (&prediction.class, prediction.value) {
        (Some(class), _) if prediction.probabilities.is_empty() => {
            let scores: Vec<String> = labels
                .iter()
                .zip(&prediction.scores)
                .map(|(l, s)| format!("{l} {s:.3}"))
                .collect();
            format!("row {row}: {class} (scores: {})", scores.join(", "))
        }
        (Some(class), _) => {
            let probabilities: Vec<String> = labels
                .iter()
                .zip(&prediction.probabilities)
                .map(|(l, p)| format!("{l} {:.1}%", p * 100.0))
                .collect();
            format!("row {row}: {class} ({})", probabilities.join(", "))
        }
        (None, Some(value)) => format!("row {row}: {value:.3}"),
        _ => format!("row {row}: no prediction"),
    }
}

#[cfg(test)]
mod tests {
    use blindfold_model::Prediction;

    use super::{describe, prediction_json};

    fn prediction(probabilities: Vec<f64>, scores: Vec<f64>) -> Prediction {
        Prediction {
            raw: vec![0, 0],
            margins: vec![0.0, 0.0],
            probabilities,
            scores,
            class: Some("b".into()),
            value: None,
        }
    }

    #[test]
    fn classes_print_with_their_probabilities_or_their_scores() {
        let labels = ["a".to_owned(), "b".to_owned()];
        let probable = prediction(vec![0.25, 0.75], vec![]);
        assert_eq!(describe(&labels, &probable, 1), "row 1: b (a 25.0%, b 75.0%)");
        assert_eq!(
            prediction_json(&probable),
            serde_json::json!({"class": "b", "probabilities": [0.25, 0.75]})
        );
        let scored = prediction(vec![], vec![-1.5, 1.5]);
        assert_eq!(describe(&labels, &scored, 2), "row 2: b (scores: a -1.500, b 1.500)");
        assert_eq!(
            prediction_json(&scored),
            serde_json::json!({"class": "b", "scores": [-1.5, 1.5]})
        );
    }
}
