//! What the CLI keeps on disk, per server: the session, and per model the secret client key
//! and the compressed server key. Files are created with mode 0600 in directories of mode
//! 0700; the secret key never leaves this directory.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use blindfold_api::client::Session;

pub struct LocalStore {
    /// Keys, per model.
    root: PathBuf,
    /// The session (configuration, not data).
    config: PathBuf,
}

impl LocalStore {
    /// The store for `server`: keys under the user's data directory, the session under their
    /// configuration directory, or both under `$BLINDFOLD_HOME` when it is set.
    pub fn for_server(server: &str) -> anyhow::Result<Self> {
        let (data, config) = match std::env::var_os("BLINDFOLD_HOME") {
            Some(home) => (PathBuf::from(&home), PathBuf::from(home)),
            None => (
                dirs::data_dir()
                    .context("no data directory for this user")?
                    .join("blindfold"),
                dirs::config_dir()
                    .context("no configuration directory for this user")?
                    .join("blindfold"),
            ),
        };
        let url = url::Url::parse(server).context("server URL")?;
        let name: String = format!(
            "{}_{}",
            url.host_str().unwrap_or("server"),
            url.port_or_known_default().unwrap_or(0)
        )
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
        Ok(Self {
            root: data.join(&name),
            config: config.join(name),
        })
    }

    fn model_dir(&self, model: &str) -> anyhow::Result<PathBuf> {
        anyhow::ensure!(
            !model.is_empty() && model.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "invalid model id `{model}`"
        );
        Ok(self.root.join("models").join(model))
    }

    pub fn client_key_path(&self, model: &str) -> anyhow::Result<PathBuf> {
        Ok(self.model_dir(model)?.join("client.key"))
    }

    pub fn server_key_path(&self, model: &str) -> anyhow::Result<PathBuf> {
        Ok(self.model_dir(model)?.join("server.key"))
    }

    fn session_path(&self) -> PathBuf {
        self.config.join("session.json")
    }

    pub fn session(&self) -> anyhow::Result<Option<Session>> {
        match fs::read_to_string(self.session_path()) {
            Ok(text) => Ok(Some(serde_json::from_str(&text).context("session file")?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context("reading the session"),
        }
    }

    pub fn save_session(&self, session: &Session) -> anyhow::Result<()> {
        write_private(&self.session_path(), serde_json::to_string(session)?.as_bytes())
    }

    pub fn clear_session(&self) -> anyhow::Result<()> {
        match fs::remove_file(self.session_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).context("removing the session"),
            _ => Ok(()),
        }
    }
}

/// Writes a file only its owner can read, atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("file without a directory")?;
    create_private_dir(dir)?;
    let temporary = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}
