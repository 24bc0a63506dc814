//! `keygen` and `upload-key`: the user's one key pair, which serves every model.

use std::time::Instant;

use blindfold_cli::store::{file_fingerprint, write_private};
use blindfold_model::ClientKey;
use blindfold_model::params::PARAMETER_SET_NAME;
use clap::Args;

use super::{Context, short};

#[derive(Args)]
/// Generate this machine's secret key and the public server key. One pair serves every model
/// (every model of its TFHE parameter set: all of them today); upload the server key once with
/// `blindfold upload-key`.
pub struct Keygen {
    /// Make the keys for this model's parameter set (default: the set this version uses). The
    /// keys serve every model of that set, not only this one.
    #[arg(long)]
    model: Option<String>,
    /// Replace existing keys (results encrypted under the old key become unreadable, and the
    /// new server key must be uploaded).
    #[arg(long)]
    force: bool,
}

impl Keygen {
    pub async fn run(self, context: &Context) -> anyhow::Result<()> {
        let parameter_set = context.parameter_set(self.model.as_deref()).await?;
        anyhow::ensure!(
            parameter_set == PARAMETER_SET_NAME,
            "`{}` uses parameter set `{parameter_set}`; this version of blindfold makes keys of \
             `{PARAMETER_SET_NAME}` only",
            self.model.as_deref().unwrap_or_default()
        );
        let keys = context.store.keys(&parameter_set)?;
        anyhow::ensure!(
            self.force || !keys.exist(),
            "you have keys already at {}, for every model (use --force to replace them)",
            keys.client.parent().unwrap_or(&keys.client).display()
        );
        let start = Instant::now();
        let (client_key, server_key) = tokio::task::spawn_blocking(|| {
            let client = ClientKey::generate();
            let server = client.compressed_server_key().to_bytes();
            (client.to_bytes(), server)
        })
        .await?;
        // The server key first: a client key marks a complete pair.
        write_private(&keys.server, &server_key)?;
        write_private(&keys.client, &client_key)?;
        println!(
            "generated your keys for every model (parameter set {parameter_set}) in {:.1} s: secret key {} \
             (stays here), server key {} bytes; upload it with `blindfold upload-key`",
            start.elapsed().as_secs_f64(),
            keys.client.display(),
            server_key.len()
        );
        Ok(())
    }
}

#[derive(Args)]
/// Upload the public server key: the one key serves every model (of its parameter set: all of
/// them today), and replaces any key uploaded before, from this machine or a browser.
pub struct UploadKey {
    /// Upload the key of this model's parameter set (default: the set this version uses); it
    /// serves every model of that set, not only this one.
    #[arg(long)]
    model: Option<String>,
}

impl UploadKey {
    pub async fn run(self, context: &Context) -> anyhow::Result<()> {
        context.require_login()?;
        let parameter_set = context.parameter_set(self.model.as_deref()).await?;
        let keys = context.store.keys(&parameter_set)?;
        let bytes = std::fs::read(&keys.server)
            .map_err(|_| anyhow::anyhow!("no server key at {}: run `blindfold keygen`", keys.server.display()))?;
        if let Some(held) = context.server_key().await?
            && held.parameter_set == parameter_set
            && held.fingerprint.eq_ignore_ascii_case(&file_fingerprint(&keys.server)?)
        {
            println!(
                "the server holds this key already, for every model: fingerprint {}",
                short(&held.fingerprint)
            );
            return Ok(());
        }
        let info = context.client.upload_key(bytes).await?;
        anyhow::ensure!(
            info.parameter_set == parameter_set,
            "the server stored the key as parameter set `{}`, not `{parameter_set}`",
            info.parameter_set
        );
        println!(
            "server key stored for every model (parameter set {}): {} bytes, fingerprint {}",
            info.parameter_set,
            info.size_bytes,
            short(&info.fingerprint)
        );
        Ok(())
    }
}
