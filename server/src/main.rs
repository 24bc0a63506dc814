//! `blindfold-server serve`, `blindfold-server worker`, `blindfold-server import-model` and
//! `blindfold-server grant-owner`.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use blindfold_api::Role;
use blindfold_model::compiler::import::MAX_MODEL_BYTES;
use blindfold_model::compiler::import::import_any;
use blindfold_model::{CompileOptions, Dataset};
use blindfold_server::services::accounts;
use blindfold_server::services::catalogue::{Installation, ModelCatalogue};
use blindfold_server::services::compile::{Reported, compile_and_report};
use blindfold_server::store::db::{Backend, Db};
use blindfold_server::{Application, Settings};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "blindfold-server", version, about = "Private predictions on encrypted data")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the site and the API, evaluating jobs with `--workers` workers (the default
    /// command; `--workers 0` for a web node only).
    Serve(Settings),
    /// Evaluate jobs only, beside any number of `serve` nodes and other workers sharing one
    /// PostgreSQL database (`--database-url postgres://…`); `--workers` jobs at once.
    Worker(Settings),
    /// Compile a tree model (XGBoost JSON or UBJSON, LightGBM text, scikit-learn through ONNX)
    /// and add it to the catalogue.
    ImportModel {
        #[command(flatten)]
        settings: Settings,
        /// The model file as its library saved it; the format is read from the content (see
        /// the book's "Publishing models").
        #[arg(long)]
        model: PathBuf,
        /// Calibration rows: CSV with the feature names as header (the training rows).
        #[arg(long)]
        calibration: PathBuf,
        /// Model id used in URLs (lower-case letters, digits, dashes).
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// What the model predicts, from what, on what data (shown in the catalogue).
        #[arg(long, default_value = "")]
        description: String,
        /// Class labels, comma-separated, in class order (classifiers).
        #[arg(long, value_delimiter = ',')]
        labels: Vec<String>,
        /// Bits per input feature (at most 2^bits levels; each level step costs the client one ciphertext);
        /// by default the compiler picks the cheapest that meets the accuracy target.
        #[arg(long)]
        input_bits: Option<u32>,
        /// Leaf precision in bits; by default the compiler picks it from the calibration rows.
        #[arg(long)]
        leaf_bits: Option<u32>,
    },
    /// Make an account a model owner (it may then upload, compile and publish models), or with
    /// `--revoke` a plain user again; its sessions see the change from their next request.
    GrantOwner {
        #[command(flatten)]
        settings: Settings,
        /// The account's username (as it logs in).
        username: String,
        /// Take the role away instead.
        #[arg(long)]
        revoke: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info,sqlx=warn".into()),
        )
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("blindfold-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(command) => command,
        // No subcommand: serve with settings from the environment and defaults.
        None => Command::Serve(Settings::from_env()),
    };
    match command {
        Command::Serve(settings) => {
            // Handlers first: a signal that arrives while the server starts must stop it
            // gracefully too, not kill it.
            let shutdown = shutdown_signal()?;
            let app = Application::build(settings).await?;
            app.run_until(shutdown).await
        }
        Command::Worker(settings) => {
            let shutdown = shutdown_signal()?;
            let app = Application::build_worker(settings).await?;
            app.run_until(shutdown).await
        }
        Command::ImportModel {
            settings,
            model,
            calibration,
            id,
            name,
            description,
            labels,
            input_bits,
            leaf_bits,
        } => {
            let size = std::fs::metadata(&model)
                .with_context(|| format!("reading {}", model.display()))?
                .len();
            if size > MAX_MODEL_BYTES as u64 {
                anyhow::bail!(
                    "{} is {size} bytes; model files may have at most {MAX_MODEL_BYTES}",
                    model.display()
                );
            }
            let bytes = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
            let csv =
                std::fs::read_to_string(&calibration).with_context(|| format!("reading {}", calibration.display()))?;
            let (format, imported) = import_any(&bytes)?;
            let options = CompileOptions {
                labels: (!labels.is_empty()).then_some(labels),
                input_bits,
                leaf_bits,
                ..Default::default()
            };
            let calibration = Dataset::from_csv(&csv)?;
            // The report users see: quality measured on the calibration rows themselves.
            let Reported { compiled, report } = compile_and_report(
                &format.to_string(),
                &imported,
                &calibration,
                None,
                &options,
                &mut |_| ControlFlow::Continue(()),
            )?;
            let db = open_database(&settings).await?;
            ModelCatalogue::new(db)
                .install_with(&Installation {
                    id: &id,
                    name: &name,
                    description: &description,
                    inputs: &[],
                    report: Some(&report),
                    compiled: &compiled,
                    examples: &[],
                })
                .await?;
            println!(
                "imported `{id}` ({format}, {}): {} features, {} bootstraps per prediction",
                imported.family(),
                compiled.spec().features.len(),
                compiled.cost().bootstraps
            );
            Ok(())
        }
        Command::GrantOwner {
            settings,
            username,
            revoke,
        } => {
            let role = if revoke { Role::User } else { Role::Owner };
            let db = open_database(&settings).await?;
            let pool = db.pool.clone();
            let updated = accounts::set_role(db, &username, role).await;
            pool.close().await;
            match updated? {
                Some(name) if revoke => println!("`{name}` is no longer a model owner"),
                Some(name) => println!("`{name}` is a model owner now"),
                None => anyhow::bail!("there is no account named `{username}`"),
            }
            Ok(())
        }
    }
}

/// The database alone, migrated: a server may be running on this data directory, and start-up
/// work (recovering jobs, sweeping files) is for the server that owns it.
async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let url = settings.database_url();
    if Backend::of_url(&url)? == Backend::Sqlite {
        blindfold_server::store::disk::private_dir(&settings.data_dir)
            .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    }
    blindfold_server::store::db::connect(&url, 1).await
}

/// Completes on SIGTERM (what service managers and container runtimes send to stop a
/// process) or SIGINT (Ctrl-C); the handlers are installed at once.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "shutting down: finishing open requests and the jobs in hand"
        );
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing open requests and the jobs in hand");
    })
}
