//! `encrypt` and `decrypt`, for people who move files by hand.

use std::path::PathBuf;

use blindfold_cli::store::write_private;
use blindfold_model::{decrypt_prediction, encrypt_row};
use clap::Args;

use super::{Context, read_rows};

#[derive(Args)]
/// Encrypt the first row of a CSV into a file to upload, with your one key.
pub struct Encrypt {
    /// The model whose features and encoding to use.
    #[arg(long, default_value = blindfold_api::DEFAULT_MODEL_ID)]
    model: String,
    #[arg(long)]
    features: PathBuf,
    #[arg(long)]
    output: PathBuf,
}

impl Encrypt {
    pub async fn run(self, context: &Context) -> anyhow::Result<()> {
        let (spec, key, _) = context.spec_and_key(&self.model).await?;
        let rows = read_rows(&self.features, &spec)?;
        let bytes = encrypt_row(&spec, &key, &rows[0])?.to_bytes();
        write_private(&self.output, &bytes)?;
        println!("wrote {} ({} bytes)", self.output.display(), bytes.len());
        Ok(())
    }
}

#[derive(Args)]
/// Decrypt a downloaded result file, with your one key.
pub struct Decrypt {
    /// The model that computed the result.
    #[arg(long, default_value = blindfold_api::DEFAULT_MODEL_ID)]
    model: String,
    #[arg(long)]
    input: PathBuf,
    #[arg(long)]
    json: bool,
}

impl Decrypt {
    pub async fn run(self, context: &Context) -> anyhow::Result<()> {
        let (spec, key, _) = context.spec_and_key(&self.model).await?;
        let bytes = std::fs::read(&self.input)?;
        let prediction = decrypt_prediction(&spec, &key, &bytes)?;
        if self.json {
            println!(
                "{}",
                serde_json::json!({"class": prediction.class, "probabilities": prediction.probabilities, "value": prediction.value})
            );
        } else {
            println!("{}", super::predict::describe(&spec.labels, &prediction, 1));
        }
        Ok(())
    }
}
