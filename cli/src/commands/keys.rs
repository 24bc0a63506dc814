//! `keygen` and `upload-key`.

use std::time::Instant;

use blindfold_cli::store::write_private;
use blindfold_model::ClientKey;
use clap::Args;

use super::Context;

#[derive(Args)]
/// Generate this machine's secret key and the public server key for a model.
pub struct Keygen {
    #[arg(long, default_value = blindfold_api::DEFAULT_MODEL_ID)]
    model: String,
    /// Replace existing keys (results encrypted under the old key become unreadable).
    #[arg(long)]
    force: bool,
}

impl Keygen {
    pub async fn run(self, context: &Context) -> anyhow::Result<()> {
        let client_path = context.store.client_key_path(&self.model)?;
        anyhow::ensure!(
            self.force || !client_path.exists(),
            "keys for `{}` exist already at {} (use --force to replace them)",
            self.model,
            client_path.display()
        );
        let start = Instant::now();
        let (client_key, server_key) = tokio::task::spawn_blocking(|| {
            let client = ClientKey::generate();
            let server = client.compressed_server_key().to_bytes();
            (client.to_bytes(), server)
        })
        .await?;
        write_private(&client_path, &client_key)?;
        write_private(&context.store.server_key_path(&self.model)?, &server_key)?;
        println!(
            "generated keys for `{}` in {:.1} s: secret key {} (stays here), server key {} bytes",
            self.model,
            start.elapsed().as_secs_f64(),
            client_path.display(),
            server_key.len()
        );
        Ok(())
    }
}

#[derive(Args)]
/// Upload the public server key for a model.
pub struct UploadKey {
    #[arg(long, default_value = blindfold_api::DEFAULT_MODEL_ID)]
    model: String,
}

impl UploadKey {
    pub async fn run(self, context: &Context) -> anyhow::Result<()> {
        context.require_login()?;
        let path = context.store.server_key_path(&self.model)?;
        let bytes = std::fs::read(&path)
            .map_err(|_| anyhow::anyhow!("no server key: run `blindfold keygen --model {}`", self.model))?;
        let info = context.client.upload_key(&self.model, bytes).await?;
        println!(
            "server key stored: {} bytes, fingerprint {}",
            info.size_bytes,
            &info.fingerprint[..16]
        );
        Ok(())
    }
}
