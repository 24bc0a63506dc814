//! One module per group of subcommands, each a clap struct with `run`.

pub mod account;
pub mod files;
pub mod keys;
pub mod predict;

use anyhow::Context as _;
use blindfold_cli::ApiClient;
use blindfold_cli::predict::fetch_spec;
use blindfold_cli::store::LocalStore;
use blindfold_model::{ClientKey, ClientSpec, Dataset};

/// What every command needs: the API client (with the saved session) and the local store.
pub struct Context {
    pub client: ApiClient,
    pub store: LocalStore,
}

impl Context {
    pub fn new(server: &str) -> anyhow::Result<Self> {
        let store = LocalStore::for_server(server)?;
        let client = ApiClient::new(server)?.with_session(store.session()?);
        Ok(Self { client, store })
    }

    pub fn require_login(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.client.session().is_some(),
            "not logged in: run `blindfold login --username NAME`"
        );
        Ok(())
    }

    /// The model's spec from the server and this machine's secret key for it.
    pub async fn spec_and_key(&self, model: &str) -> anyhow::Result<(ClientSpec, ClientKey)> {
        Ok((fetch_spec(&self.client, model).await?, self.client_key(model)?))
    }

    fn client_key(&self, model: &str) -> anyhow::Result<ClientKey> {
        let path = self.store.client_key_path(model)?;
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "no key for `{model}` at {}: run `blindfold keygen --model {model}`",
                path.display()
            )
        })?;
        Ok(ClientKey::from_bytes(&bytes)?)
    }
}

/// The password from `BLINDFOLD_PASSWORD`, or asked for on the terminal.
pub fn password(prompt: &str) -> anyhow::Result<String> {
    match std::env::var("BLINDFOLD_PASSWORD") {
        Ok(password) => Ok(password),
        Err(_) => rpassword::prompt_password(prompt).context("reading the password"),
    }
}

/// Rows of a CSV whose header names the spec's features (any order, extra columns ignored).
pub fn read_rows(path: &std::path::Path, spec: &blindfold_model::ClientSpec) -> anyhow::Result<Vec<Vec<f64>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let rows = Dataset::from_csv(&text)?.select(&spec.feature_names())?;
    anyhow::ensure!(!rows.is_empty(), "{} has no rows", path.display());
    Ok(rows)
}
