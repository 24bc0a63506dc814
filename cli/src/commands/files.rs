//! `encrypt` and `decrypt`, for people who move files by hand.

use std::path::PathBuf;

use anyhow::Context as _;
use blindfold_api::JobStatus;
use blindfold_cli::predict::check_bound;
use blindfold_cli::store::{file_fingerprint, write_private};
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
        let (served, key, keys) = context.spec_and_key(&self.model).await?;
        let inputs = context.inputs(&self.model).await?;
        let rows = read_rows(&self.features, &served.spec, &inputs)?;
        let first = rows[0]
            .values
            .as_ref()
            .map_err(|why| anyhow::anyhow!("line {}: {why}", rows[0].line))?;
        for note in served.spec.outside_calibration(first) {
            eprintln!("note: {note}");
        }
        let bytes = encrypt_row(&served.spec, &key, first)?.to_bytes();
        write_private(&self.output, &bytes)?;
        println!("wrote {} ({} bytes)", self.output.display(), bytes.len());
        // The server takes the row only bound to the key and spec it was made with.
        if let Ok(fingerprint) = file_fingerprint(&keys.server) {
            let binding = served.binding(&fingerprint);
            println!(
                "submit it to {}",
                blindfold_api::paths::model_predictions_bound(&self.model, &binding)
            );
        }
        Ok(())
    }
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("result").required(true).args(["input", "prediction"])))]
/// Decrypt a result with your one key: a past prediction's, fetched from the server and
/// decrypted only if it was evaluated under this machine's key and the model's current spec,
/// or a downloaded result file (which records neither: give the model that computed it).
pub struct Decrypt {
    /// The model that computed the result.
    #[arg(long, default_value = blindfold_api::DEFAULT_MODEL_ID)]
    model: String,
    /// A result file.
    #[arg(long)]
    input: Option<PathBuf>,
    /// The id of one of your predictions (its model is the prediction's own).
    #[arg(long)]
    prediction: Option<String>,
    #[arg(long)]
    json: bool,
}

impl Decrypt {
    pub async fn run(self, context: &Context) -> anyhow::Result<()> {
        let (model, bytes) = match (&self.prediction, &self.input) {
            (Some(id), _) => {
                context.require_login()?;
                let job = context.client.job(id).await?;
                (job.model_id.clone(), Some(job))
            }
            (None, _) => (self.model.clone(), None),
        };
        let (served, key, keys) = context.spec_and_key(&model).await?;
        let spec = &served.spec;
        let bytes = match (bytes, &self.input) {
            (Some(job), _) => {
                anyhow::ensure!(
                    job.status == JobStatus::Done,
                    "prediction {} is {}: no result to decrypt",
                    job.id,
                    job.status
                );
                let local = file_fingerprint(&keys.server)
                    .context("this machine's server key, which the result must have been evaluated under")?;
                check_bound(&job, &served.binding(&local))?;
                context.client.result(&job.id).await?
            }
            (None, Some(path)) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            (None, None) => unreachable!("clap requires --input or --prediction"),
        };
        let prediction = decrypt_prediction(spec, &key, &bytes)?;
        if self.json {
            println!("{}", super::predict::prediction_json(&prediction));
        } else {
            println!("{}", super::predict::describe(&spec.labels, &prediction, 1));
        }
        Ok(())
    }
}
