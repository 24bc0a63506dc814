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
        let rows = read_rows(&self.features, spec)?;
        let fingerprint = context.check_server_key(&keys, &spec.encryption.parameter_set).await?;
        let binding = served.binding(&fingerprint);
        let bar = ProgressBar::new(rows.len() as u64);
        bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"));
        if self.json {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        for (i, row) in rows.iter().enumerate() {
            let (prediction, job) = predict_row(&context.client, &self.model, spec, &binding, &key, row, |stage| {
                bar.set_message(format!("row {}: {stage}", i + 1))
            })
            .await?;
            bar.inc(1);
            let line = if self.json {
                // The prediction's id: `blindfold decrypt --prediction ID` reads it again.
                let mut object = serde_json::json!({ "row": i + 1, "prediction": job.id });
                match (&prediction.class, prediction.value) {
                    (Some(class), _) => {
                        object["class"] = serde_json::json!(class);
                        object["probabilities"] = serde_json::json!(prediction.probabilities);
                    }
                    (None, value) => object["value"] = serde_json::json!(value),
                }
                object.to_string()
            } else {
                describe(&spec.labels, &prediction, i + 1)
            };
            bar.suspend(|| println!("{line}"));
        }
        bar.finish_and_clear();
        Ok(())
    }
}

pub fn describe(labels: &[String], prediction: &blindfold_model::Prediction, row: usize) -> String {
    match (&prediction.class, prediction.value) {
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
