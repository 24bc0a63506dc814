//! What the CLI keeps on disk, per server: the session, and the user's keys — one pair per TFHE
//! parameter set, which serves every model of that set (every model today: this build knows one
//! set, [`PARAMETER_SET_NAME`]). Files are created with mode 0600 in directories of mode 0700;
//! the secret key never leaves this directory.
//!
//! Layout, under the server's data directory (`~/.local/share/blindfold/<host_port>/`):
//!
//! ```text
//! keys/<parameter_set>/client.key   the secret client key
//! keys/<parameter_set>/server.key   the compressed server key (what `upload-key` sends)
//! ```
//!
//! Earlier versions kept one pair per model, `models/<model>/client.key` and `server.key`.
//! When a parameter set's pair is missing, [`LocalStore::adopt_legacy`] copies one of those
//! (they are all of [`PARAMETER_SET_NAME`]) into its place: the pair whose `server.key` has the
//! fingerprint of the key the server holds for the user (the server kept the key the user
//! uploaded last), or, when the server's fingerprint is unknown or no pair has it, the most
//! recently modified pair. The legacy files are left where they are.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use sha2::{Digest, Sha256};

use blindfold_api::client::Session;
use blindfold_model::params::PARAMETER_SET_NAME;

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

/// A legacy per-model pair adopted as a parameter set's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// The model whose directory the pair came from.
    pub model: String,
    pub from: KeyPaths,
    pub to: KeyPaths,
    /// Why this pair: its server key is the one the server holds (`true`), or it is the most
    /// recently modified pair (`false`).
    pub matches_server: bool,
}

impl std::fmt::Display for Adoption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = if self.matches_server {
            "its server key is the one the server holds for you"
        } else {
            "the most recently modified pair; if the server holds another key, run `blindfold upload-key`"
        };
        write!(
            f,
            "using the keys made for model `{}` ({}) for every model: {why}; copied to {}",
            self.model,
            self.from.client.parent().unwrap_or(Path::new("")).display(),
            self.to.client.parent().unwrap_or(Path::new("")).display(),
        )
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

    /// The pairs of earlier versions, `models/<model>/{client,server}.key`, with the model's
    /// name and when the pair was last modified (the later of its two files).
    pub fn legacy_keys(&self) -> anyhow::Result<Vec<(String, KeyPaths, SystemTime)>> {
        let dir = self.root.join("models");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        let mut pairs = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let Some(model) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let paths = KeyPaths::in_dir(&entry.path());
            let modified = |path: &Path| fs::metadata(path).and_then(|m| m.modified()).ok();
            if let (Some(client), Some(server)) = (modified(&paths.client), modified(&paths.server)) {
                pairs.push((model, paths, client.max(server)));
            }
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(pairs)
    }

    /// When `parameter_set` has no keys here yet, copies a legacy per-model pair into its place
    /// (see the module's documentation for which one) and says which; `None` when the set has
    /// keys already, is not the one legacy keys are of, or there is no legacy pair.
    /// `server_fingerprint` is the fingerprint of the key the server holds, when known.
    pub fn adopt_legacy(
        &self,
        parameter_set: &str,
        server_fingerprint: Option<&str>,
    ) -> anyhow::Result<Option<Adoption>> {
        let to = self.keys(parameter_set)?;
        if to.exist() || parameter_set != PARAMETER_SET_NAME {
            return Ok(None);
        }
        let pairs = self.legacy_keys()?;
        let mut matching = None;
        if let Some(wanted) = server_fingerprint {
            for (model, paths, _) in &pairs {
                if file_fingerprint(&paths.server)?.eq_ignore_ascii_case(wanted) {
                    matching = Some((model, paths));
                    break;
                }
            }
        }
        let matches_server = matching.is_some();
        // The newest pair; of pairs modified at the same instant, the first by model name.
        let newest = || {
            pairs
                .iter()
                .rev()
                .max_by_key(|(_, _, modified)| *modified)
                .map(|(model, paths, _)| (model, paths))
        };
        let Some((model, from)) = matching.or_else(newest) else {
            return Ok(None);
        };
        // The server key first: a client key marks a complete pair.
        let read = |path: &Path| fs::read(path).with_context(|| format!("reading {}", path.display()));
        write_private(&to.server, &read(&from.server)?)?;
        write_private(&to.client, &read(&from.client)?)?;
        Ok(Some(Adoption {
            model: model.clone(),
            from: from.clone(),
            to,
            matches_server,
        }))
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
    use std::time::{Duration, SystemTime};

    use blindfold_model::params::PARAMETER_SET_NAME;

    use super::{LocalStore, fingerprint};

    fn store(dir: &tempfile::TempDir) -> LocalStore {
        LocalStore::in_dirs(dir.path().join("data"), dir.path().join("config"))
    }

    /// A legacy pair for `model` whose files hold `name` and were modified `age` ago.
    fn legacy(store: &LocalStore, model: &str, name: &str, age: Duration) {
        let dir = store.root.join("models").join(model);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, bytes) in [
            ("client.key", format!("client {name}")),
            ("server.key", format!("server {name}")),
        ] {
            let path = dir.join(file);
            std::fs::write(&path, bytes).unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(SystemTime::now() - age).unwrap();
        }
    }

    fn adopted(store: &LocalStore) -> (String, String) {
        let keys = store.keys(PARAMETER_SET_NAME).unwrap();
        (
            std::fs::read_to_string(keys.client).unwrap(),
            std::fs::read_to_string(keys.server).unwrap(),
        )
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
    fn the_pair_the_server_holds_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        legacy(&store, "breast-cancer", "a", Duration::from_secs(3600));
        legacy(&store, "wine", "b", Duration::from_secs(60));
        let adoption = store
            .adopt_legacy(PARAMETER_SET_NAME, Some(&fingerprint(b"server a")))
            .unwrap()
            .unwrap();
        assert_eq!(adoption.model, "breast-cancer");
        assert!(adoption.matches_server);
        assert!(adoption.to_string().contains("the one the server holds"));
        assert_eq!(adopted(&store), ("client a".into(), "server a".into()));
        // Adopted once: the set has keys now.
        assert_eq!(store.adopt_legacy(PARAMETER_SET_NAME, None).unwrap(), None);
        // The legacy files stay.
        assert!(store.root.join("models/wine/client.key").exists());
    }

    #[test]
    fn otherwise_the_most_recently_modified_pair_is_adopted() {
        for server in [None, Some(fingerprint(b"server of a browser"))] {
            let dir = tempfile::tempdir().unwrap();
            let store = store(&dir);
            legacy(&store, "breast-cancer", "a", Duration::from_secs(3600));
            legacy(&store, "wine", "b", Duration::from_secs(60));
            legacy(&store, "iris", "c", Duration::from_secs(7200));
            let adoption = store
                .adopt_legacy(PARAMETER_SET_NAME, server.as_deref())
                .unwrap()
                .unwrap();
            assert_eq!(adoption.model, "wine");
            assert!(!adoption.matches_server);
            assert!(adoption.to_string().contains("most recently modified"));
            assert_eq!(adopted(&store), ("client b".into(), "server b".into()));
        }
    }

    #[test]
    fn nothing_is_adopted_without_a_whole_legacy_pair_or_over_existing_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        assert_eq!(store.adopt_legacy(PARAMETER_SET_NAME, None).unwrap(), None);
        let half = store.root.join("models/wine");
        std::fs::create_dir_all(&half).unwrap();
        std::fs::write(half.join("server.key"), "server").unwrap();
        assert_eq!(store.adopt_legacy(PARAMETER_SET_NAME, None).unwrap(), None);
        assert!(!store.keys(PARAMETER_SET_NAME).unwrap().exist());

        // Legacy keys are of this build's one set: another set adopts nothing.
        legacy(&store, "breast-cancer", "a", Duration::ZERO);
        assert_eq!(store.adopt_legacy("ANOTHER_SET", None).unwrap(), None);

        let keys = store.keys(PARAMETER_SET_NAME).unwrap();
        super::write_private(&keys.server, b"new server").unwrap();
        super::write_private(&keys.client, b"new client").unwrap();
        assert_eq!(store.adopt_legacy(PARAMETER_SET_NAME, None).unwrap(), None);
        assert_eq!(adopted(&store), ("new client".into(), "new server".into()));
    }
}
