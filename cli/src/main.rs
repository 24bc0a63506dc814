//! `blindfold`: register, manage keys and get private predictions from the command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

#[derive(Parser)]
#[command(
    name = "blindfold",
    version,
    about = "Private predictions: your data is encrypted before it leaves this machine"
)]
struct Cli {
    /// Blindfold server.
    #[arg(
        long,
        global = true,
        env = "BLINDFOLD_SERVER",
        default_value = "http://127.0.0.1:3000"
    )]
    server: String,
    /// PEM file of a private CA to trust for the server's certificate (besides the platform's
    /// and webpki's roots).
    #[arg(long, global = true, env = "BLINDFOLD_CA_CERT", value_name = "FILE")]
    ca_cert: Option<std::path::PathBuf>,
    /// Talk plain HTTP to a server that is not on this machine: your password and session
    /// cross the network in clear. Refused without it.
    #[arg(long, global = true, env = "BLINDFOLD_ALLOW_PLAIN_HTTP")]
    allow_plain_http: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Register(commands::account::Register),
    Login(commands::account::Login),
    Logout,
    Keygen(commands::keys::Keygen),
    UploadKey(commands::keys::UploadKey),
    Predict(commands::predict::Predict),
    Encrypt(commands::files::Encrypt),
    Decrypt(commands::files::Decrypt),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("blindfold: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        let context = commands::Context::new(&cli.server, cli.ca_cert.as_deref(), cli.allow_plain_http)?;
        match cli.command {
            Command::Register(cmd) => cmd.run(&context).await,
            Command::Login(cmd) => cmd.run(&context).await,
            Command::Logout => commands::account::logout(&context).await,
            Command::Keygen(cmd) => cmd.run(&context).await,
            Command::UploadKey(cmd) => cmd.run(&context).await,
            Command::Predict(cmd) => cmd.run(&context).await,
            Command::Encrypt(cmd) => cmd.run(&context).await,
            Command::Decrypt(cmd) => cmd.run(&context).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("blindfold: {error:#}");
            ExitCode::from(2)
        }
    }
}
