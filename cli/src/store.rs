//! What the CLI keeps on disk, per server: the session, and the user's keys — one pair per TFHE
//! parameter set, which serves every model of that set (every model today: this build knows one
//! set, [`PARAMETER_SET_NAME`](blindfold_model::params::PARAMETER_SET_NAME)). Files are created with mode 0600 in directories of mode 0700;
//! the secret key never leaves this directory.
//!
//! Layout, under the server's data directory (`~/.local/share/blindfold/<host_port>/`):
//!
//! ```text
//! keys/<parameter_set>/client.key   the secret client key
//! keys/<parameter_set>/server.key   the compressed server key (what `upload-key` sends)
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use blindfold_api::client::Session;

/// Where one key pair lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPaths {
    /// The secret client key.
    pub client: PathBuf,
    /// The compressed server key.
    pub server: PathBuf,
}

impl KeyPaths {
    fn in_dir(dir: &Path) -> Self {
        Self {
            client: dir.join("client.key"),
            server: dir.join("server.key"),
        }
    }

    /// Whether the pair is there (the client key is written last, so it marks a whole pair).
    pub fn exist(&self) -> bool {
        self.client.is_file() && self.server.is_file()
    }
}

/// The fingerprint the server gives a compressed server key (`KeyInfo.fingerprint`): SHA-256 of
/// its bytes, lower-case hex.
pub fn fingerprint(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The fingerprint of the key file at `path`.
pub fn file_fingerprint(path: &Path) -> anyhow::Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

pub struct LocalStore {
    /// Keys, per parameter set.
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

    /// A store in these directories (keys under `data`, the session under `config`).
    pub fn in_dirs(data: PathBuf, config: PathBuf) -> Self {
        Self { root: data, config }
    }

    /// Where the keys of `parameter_set` live (they may not exist yet).
    pub fn keys(&self, parameter_set: &str) -> anyhow::Result<KeyPaths> {
        anyhow::ensure!(
            !parameter_set.is_empty()
                && parameter_set.len() <= 128
                && parameter_set
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "invalid parameter set name `{parameter_set}`"
        );
        Ok(KeyPaths::in_dir(&self.root.join("keys").join(parameter_set)))
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

#[cfg(test)]
mod tests {
    use blindfold_model::params::PARAMETER_SET_NAME;

    use super::{LocalStore, file_fingerprint, fingerprint, write_private};

    fn store(dir: &tempfile::TempDir) -> LocalStore {
        LocalStore::in_dirs(dir.path().join("data"), dir.path().join("config"))
    }

    #[test]
    fn parameter_set_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let keys = store.keys(PARAMETER_SET_NAME).unwrap();
        assert_eq!(
            keys.client,
            dir.path().join("data/keys").join(PARAMETER_SET_NAME).join("client.key")
        );
        for bad in ["", "..", "a/b", "a b", "../models", &"x".repeat(129)] {
            assert!(store.keys(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_pair_exists_once_both_files_are_written_only_their_owner_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let keys = store(&dir).keys(PARAMETER_SET_NAME).unwrap();
        assert!(!keys.exist());
        write_private(&keys.server, b"server").unwrap();
        assert!(!keys.exist(), "a server key alone is not a pair");
        write_private(&keys.client, b"client").unwrap();
        assert!(keys.exist());
        assert_eq!(file_fingerprint(&keys.server).unwrap(), fingerprint(b"server"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&keys.client), 0o600);
            assert_eq!(mode(keys.client.parent().unwrap()), 0o700);
        }
    }
}
