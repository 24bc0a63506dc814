//! Server configuration: flags, each also readable from a `BLINDFOLD_*` environment variable.
//! The defaults need nothing: SQLite and files under `./data`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser};

/// No `Debug`: the database URL may carry a password, and settings printed whole would log it.
#[derive(Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "BLINDFOLD_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Address for Prometheus metrics (`GET /metrics`), a listener of its own so that they
    /// are not exposed with the site; none by default (no metrics are collected).
    #[arg(long, env = "BLINDFOLD_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Directory for the SQLite database (unless --database-url is given), keys and job
    /// files. Unused with PostgreSQL, which holds keys, rows and results itself.
    #[arg(long, env = "BLINDFOLD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` (one process) or `postgres://USER:PASSWORD@HOST/DB` (any
    /// number of `serve` and `worker` processes); default `sqlite://<data-dir>/blindfold.db`.
    #[arg(long, env = "BLINDFOLD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Database connections this process keeps at most.
    #[arg(long, env = "BLINDFOLD_DATABASE_CONNECTIONS", default_value_t = 8)]
    pub database_connections: u32,
    /// Largest accepted server key upload, in bytes.
    #[arg(long, env = "BLINDFOLD_MAX_KEY_BYTES", default_value_t = blindfold_model::keys::MAX_COMPRESSED_SERVER_KEY_BYTES)]
    pub max_key_bytes: u64,
    /// Largest accepted encrypted row, in bytes (also bounded by each model's own row size).
    #[arg(long, env = "BLINDFOLD_MAX_ROW_BYTES", default_value_t = 1 << 20)]
    pub max_row_bytes: u64,
    /// Prediction jobs evaluated at once by this process (each one also uses all cores through
    /// rayon); 0 for a web node that leaves evaluation to `blindfold-server worker`s.
    #[arg(long, env = "BLINDFOLD_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Memory budget for decompressed server keys kept in memory, in MiB.
    #[arg(long, env = "BLINDFOLD_KEY_CACHE_MIB", default_value_t = 4096)]
    pub key_cache_mib: u64,
    /// The built site (`cargo leptos build`'s `target/site`): the page's wasm, styles and the
    /// crypto worker.
    #[arg(long, env = "BLINDFOLD_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Served over HTTPS: the session cookie is `Secure` and named `__Host-…`, and responses
    /// carry `Strict-Transport-Security`.
    #[arg(long, env = "BLINDFOLD_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
    /// A file of at least 32 random bytes keying the usernames the login throttle counts (give
    /// every process of a deployment the same). Without it the server makes a key at its first
    /// start and keeps it in its database: then a copy of the database holds the key beside
    /// the keyed names.
    #[arg(long, env = "BLINDFOLD_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (comma-separated addresses). A
    /// request from any other peer is attributed to the peer's own address.
    #[arg(long, env = "BLINDFOLD_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<IpAddr>,

    // Connections: every one bounded in number and in time.
    /// Open HTTP connections this process serves at once; further ones wait in the kernel's
    /// backlog until one closes. Never more than the open-file limit (raised to its hard
    /// limit at start-up) less the descriptors kept for the database and files.
    #[arg(long, env = "BLINDFOLD_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Open HTTP connections one client address (an IPv6 /64) may hold; further ones are
    /// closed at once. Trusted proxies are exempt: their connections are many clients'.
    #[arg(long, env = "BLINDFOLD_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64)]
    pub max_connections_per_address: usize,
    /// Longest a connection may take to send a request's headers, counted from when it
    /// opens and again from each answer: also how long an idle keep-alive connection stays
    /// open. Slower ones are closed.
    #[arg(long, env = "BLINDFOLD_HEADER_TIMEOUT_S", default_value_t = 10)]
    pub header_timeout_s: u64,
    /// Every request body may take this many seconds, and must then keep arriving at
    /// --body-min-rate-kib (all it has sent, on average since the grace ended); a slower one
    /// is cut with 408.
    #[arg(long, env = "BLINDFOLD_BODY_GRACE_S", default_value_t = 10)]
    pub body_grace_s: u64,
    /// Slowest accepted request body after its grace period, in KiB per second.
    #[arg(long, env = "BLINDFOLD_BODY_MIN_RATE_KIB", default_value_t = 16)]
    pub body_min_rate_kib: u64,

    // Accounts and sessions.
    /// Password hashes (argon2id) and password checks computed at once; by default the
    /// number of cores. Account requests beyond wait for a turn (at most 10 s, then 503).
    #[arg(long, env = "BLINDFOLD_PASSWORD_HASHERS")]
    pub password_hashers: Option<usize>,
    /// Failed logins allowed for one username from one client address before each further
    /// attempt waits (1 s, doubling up to --login-max-delay-s).
    #[arg(long, env = "BLINDFOLD_LOGIN_ATTEMPTS_PER_USER", default_value_t = 5)]
    pub login_attempts_per_user: u32,
    /// Failed logins allowed from one client address, all usernames together, before each
    /// further attempt from it waits.
    #[arg(long, env = "BLINDFOLD_LOGIN_ATTEMPTS_PER_ADDRESS", default_value_t = 50)]
    pub login_attempts_per_address: u32,
    /// Longest wait the login throttle imposes, in seconds.
    #[arg(long, env = "BLINDFOLD_LOGIN_MAX_DELAY_S", default_value_t = 300)]
    pub login_max_delay_s: u64,
    /// Logins one account may have per hour, from anywhere, correct ones included (wrong
    /// passwords are counted by the two limits above instead); more are answered 429 before
    /// any password is hashed.
    #[arg(long, env = "BLINDFOLD_LOGINS_PER_ACCOUNT_PER_HOUR", default_value_t = 60)]
    pub logins_per_account_per_hour: u32,
    /// Sessions one account may hold; a login beyond ends the oldest.
    #[arg(long, env = "BLINDFOLD_MAX_SESSIONS_PER_USER", default_value_t = 16)]
    pub max_sessions_per_user: u32,
    /// Accounts one client address may create per hour.
    #[arg(long, env = "BLINDFOLD_REGISTRATIONS_PER_HOUR", default_value_t = 10)]
    pub registrations_per_hour: u32,
    /// Accounts one IPv6 /48 may create per hour, all its /64s together (a /48 holds 65,536
    /// of them, each with its own --registrations-per-hour).
    #[arg(long, env = "BLINDFOLD_REGISTRATIONS_PER_HOUR_PER_IPV6_48", default_value_t = 30)]
    pub registrations_per_hour_per_ipv6_48: u32,
    /// A session unused for this many hours ends.
    #[arg(long, env = "BLINDFOLD_SESSION_IDLE_HOURS", default_value_t = 72)]
    pub session_idle_hours: u64,
    /// A session ends this many hours after login, however much it is used.
    #[arg(long, env = "BLINDFOLD_SESSION_LIFETIME_HOURS", default_value_t = 336)]
    pub session_lifetime_hours: u64,
    /// The first account registered (while no account exists) is made a model owner: for a
    /// fresh deployment whose operator registers first. Others are made owners with
    /// `blindfold-server grant-owner USERNAME`.
    #[arg(long, env = "BLINDFOLD_FIRST_ACCOUNT_OWNER", default_value_t = false)]
    pub first_account_owner: bool,

    // Uploads, predictions and storage quotas.
    /// Server key uploads read and validated at once (each decompresses to ~120 MB); more
    /// are answered 503 with `Retry-After`.
    #[arg(long, env = "BLINDFOLD_MAX_KEY_UPLOADS", default_value_t = 2)]
    pub max_key_uploads: usize,
    /// Of those, the most one user may hold; more are answered 429.
    #[arg(long, env = "BLINDFOLD_MAX_KEY_UPLOADS_PER_USER", default_value_t = 1)]
    pub max_key_uploads_per_user: usize,
    /// Encrypted rows read and checked at once (~15 KB each); more are answered 503 with
    /// `Retry-After`.
    #[arg(long, env = "BLINDFOLD_MAX_ROW_UPLOADS", default_value_t = 64)]
    pub max_row_uploads: usize,
    /// Of those, the most one user may hold; more are answered 429.
    #[arg(long, env = "BLINDFOLD_MAX_ROW_UPLOADS_PER_USER", default_value_t = 4)]
    pub max_row_uploads_per_user: usize,
    /// Longest an upload (a key, a row or a model) may take to arrive, in seconds; slower ones
    /// get 408 (as do ones slower than --body-min-rate-kib after --body-grace-s).
    #[arg(long, env = "BLINDFOLD_UPLOAD_TIMEOUT_S", default_value_t = 120)]
    pub upload_timeout_s: u64,
    /// Server keys one user may store.
    #[arg(long, env = "BLINDFOLD_MAX_KEYS_PER_USER", default_value_t = 8)]
    pub max_keys_per_user: u32,
    /// Bytes of server keys one user may store, in MiB.
    #[arg(long, env = "BLINDFOLD_MAX_KEY_STORAGE_MIB", default_value_t = 256)]
    pub max_key_storage_mib: u64,
    /// Bytes of server keys the whole deployment stores, all users together, in MiB (100 GiB
    /// by default: ~3,300 keys); an upload beyond is answered 507.
    #[arg(long, env = "BLINDFOLD_MAX_TOTAL_KEY_STORAGE_MIB", default_value_t = 100 << 10)]
    pub max_total_key_storage_mib: u64,
    /// Predictions one user may have queued or running; more are answered 429.
    #[arg(long, env = "BLINDFOLD_MAX_PENDING_PER_USER", default_value_t = 16)]
    pub max_pending_per_user: u32,
    /// Long polls (`?wait=`) one user may hold open at once; more are answered 429.
    #[arg(long, env = "BLINDFOLD_MAX_WAITS_PER_USER", default_value_t = 8)]
    pub max_waits_per_user: usize,
    /// A server key no prediction has used for this many days is deleted (the Keys page says
    /// when); 0 keeps keys for ever.
    #[arg(long, env = "BLINDFOLD_KEY_RETENTION_DAYS", default_value_t = 90.0)]
    pub key_retention_days: f64,
    /// Finished predictions (their results) are deleted this many days after they finish.
    #[arg(long, env = "BLINDFOLD_RESULT_RETENTION_DAYS", default_value_t = 30.0)]
    pub result_retention_days: f64,
    /// Times a job is started before it is failed: a job whose evaluation crashed the server
    /// this often is not tried again.
    #[arg(long, env = "BLINDFOLD_JOB_ATTEMPTS", default_value_t = 3)]
    pub job_attempts: u32,
    /// A running job whose worker has not renewed its lease for this many seconds is queued
    /// again (its worker is gone).
    #[arg(long, env = "BLINDFOLD_JOB_LEASE_S", default_value_t = 30)]
    pub job_lease_s: u64,
    /// A job's evaluation is stopped (and the job failed) after this many seconds plus
    /// `--job-time-per-bootstrap-ms` for each bootstrap its model costs.
    #[arg(long, env = "BLINDFOLD_JOB_TIME_BASE_S", default_value_t = 10)]
    pub job_time_base_s: u64,
    /// What each bootstrap of a model adds to its jobs' time limit, in milliseconds: about five
    /// times a bootstrap's time on one core.
    #[arg(long, env = "BLINDFOLD_JOB_TIME_PER_BOOTSTRAP_MS", default_value_t = 100)]
    pub job_time_per_bootstrap_ms: u64,

    // Model owners' uploads and compilations.
    /// Largest model file an owner may upload, in bytes (ONNX decoding takes about ten times
    /// the file's size in memory).
    #[arg(long, env = "BLINDFOLD_MAX_MODEL_BYTES", default_value_t = 16 << 20)]
    pub max_model_bytes: u64,
    /// Largest CSV (calibration rows, test rows) an owner may upload with a model, in bytes,
    /// each.
    #[arg(long, env = "BLINDFOLD_MAX_CSV_BYTES", default_value_t = 16 << 20)]
    pub max_csv_bytes: u64,
    /// Most rows of an uploaded calibration CSV, and of a test CSV, each.
    #[arg(long, env = "BLINDFOLD_MAX_CSV_ROWS", default_value_t = 50_000)]
    pub max_csv_rows: usize,
    /// Models one owner may have (in any state); more are answered 409.
    #[arg(long, env = "BLINDFOLD_MAX_MODELS_PER_OWNER", default_value_t = 20)]
    pub max_models_per_owner: u32,
    /// Model uploads read and checked at once (each holds its files and the imported model in
    /// memory); more are answered 503 with `Retry-After`.
    #[arg(long, env = "BLINDFOLD_MAX_MODEL_UPLOADS", default_value_t = 2)]
    pub max_model_uploads: usize,
    /// Of those, the most one owner may hold; more are answered 429.
    #[arg(long, env = "BLINDFOLD_MAX_MODEL_UPLOADS_PER_OWNER", default_value_t = 1)]
    pub max_model_uploads_per_owner: usize,
    /// Compilations this process runs at once (each uses a core); further uploads wait their
    /// turn, at most four per compilation slot, and beyond that are answered 503.
    #[arg(long, env = "BLINDFOLD_MAX_COMPILATIONS", default_value_t = 1)]
    pub max_compilations: usize,
    /// The most work an upload may ask of the compiler: the model's splits times its
    /// calibration and test rows (each row goes through the trees and the circuit at every
    /// input precision tried). Beyond, the upload is refused with 422.
    #[arg(long, env = "BLINDFOLD_MAX_COMPILE_SPLIT_ROWS", default_value_t = 2_000_000_000)]
    pub max_compile_split_rows: u64,
    /// A compilation still running after this many seconds is stopped (at its next step) and
    /// fails.
    #[arg(long, env = "BLINDFOLD_MAX_COMPILE_S", default_value_t = 1800)]
    pub max_compile_s: u64,
    /// The most bootstraps one prediction of an owner's model may cost: the compiler keeps
    /// only input precisions within it and fails a model with none.
    #[arg(long, env = "BLINDFOLD_MAX_BOOTSTRAPS_PER_PREDICTION", default_value_t = 4096)]
    pub max_bootstraps_per_prediction: usize,
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

    /// Password hashers at once: the setting, or the number of cores.
    pub fn password_hashers(&self) -> usize {
        self.password_hashers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_hours * 3600)
    }

    pub fn session_lifetime(&self) -> Duration {
        Duration::from_secs(self.session_lifetime_hours * 3600)
    }

    pub fn result_retention(&self) -> Duration {
        Duration::from_secs_f64((self.result_retention_days * 86_400.0).clamp(0.0, 1e12))
    }

    /// How long an unused server key is kept; none: for ever.
    pub fn key_retention(&self) -> Option<Duration> {
        (self.key_retention_days > 0.0)
            .then(|| Duration::from_secs_f64((self.key_retention_days * 86_400.0).clamp(0.001, 1e12)))
    }

    pub fn job_lease(&self) -> Duration {
        Duration::from_secs(self.job_lease_s.max(1))
    }

    pub fn upload_timeout(&self) -> Duration {
        Duration::from_secs(self.upload_timeout_s.max(1))
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_s.max(1))
    }

    pub fn body_grace(&self) -> Duration {
        Duration::from_secs(self.body_grace_s)
    }

    /// The slowest accepted body after its grace period, in bytes per second.
    pub fn body_min_rate(&self) -> u64 {
        self.body_min_rate_kib.saturating_mul(1024).max(1)
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
