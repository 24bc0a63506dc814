//! Server configuration: flags, each also readable from a `BLINDFOLD_*` environment variable.
//! The defaults need nothing: SQLite and files under `./data`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser};

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "BLINDFOLD_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Directory for the database (unless --database-url is given), keys and job files.
    #[arg(long, env = "BLINDFOLD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL; default `sqlite://<data-dir>/blindfold.db`.
    #[arg(long, env = "BLINDFOLD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Largest accepted server key upload, in bytes.
    #[arg(long, env = "BLINDFOLD_MAX_KEY_BYTES", default_value_t = blindfold_model::keys::MAX_COMPRESSED_SERVER_KEY_BYTES)]
    pub max_key_bytes: u64,
    /// Largest accepted encrypted row, in bytes (also bounded by each model's own row size).
    #[arg(long, env = "BLINDFOLD_MAX_ROW_BYTES", default_value_t = 1 << 20)]
    pub max_row_bytes: u64,
    /// Prediction jobs evaluated at once (each one also uses all cores through rayon).
    #[arg(long, env = "BLINDFOLD_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Memory budget for decompressed server keys kept in memory, in MiB.
    #[arg(long, env = "BLINDFOLD_KEY_CACHE_MIB", default_value_t = 4096)]
    pub key_cache_mib: u64,
    /// The built site (`cargo leptos build`'s `target/site`): the page's wasm, styles and the
    /// crypto worker.
    #[arg(long, env = "BLINDFOLD_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Mark session cookies `Secure` (set this when served over HTTPS).
    #[arg(long, env = "BLINDFOLD_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
}

impl Settings {
    /// The defaults, as `blindfold-server serve` without flags has them (the `BLINDFOLD_*`
    /// environment included).
    pub fn from_env() -> Self {
        DefaultSettings::parse_from(["blindfold-server"]).settings
    }

    /// The defaults alone, whatever the environment says: the flags' own default values.
    pub fn defaults() -> Self {
        let command = DefaultSettings::command().mut_args(|arg| arg.env(None::<&'static str>));
        let matches = command
            .try_get_matches_from(["blindfold-server"])
            .expect("every setting has a valid default");
        DefaultSettings::from_arg_matches(&matches)
            .expect("the defaults make settings")
            .settings
    }

    /// Settings for tests and embedding: the defaults, with everything under `data_dir` and the
    /// port chosen by the OS. The `BLINDFOLD_*` environment does not apply.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            ..Self::defaults()
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("blindfold.db").display()))
    }
}

/// Settings alone, as a command line of their own.
#[derive(Parser)]
struct DefaultSettings {
    #[command(flatten)]
    settings: Settings,
}
