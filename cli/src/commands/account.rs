//! `register`, `login`, `logout`.

use clap::Args;

use super::{Context, password};

#[derive(Args)]
/// Create an account (the password comes from BLINDFOLD_PASSWORD or a prompt).
pub struct Register {
    #[arg(long)]
    username: String,
}

impl Register {
    pub async fn run(self, context: &Context) -> anyhow::Result<()> {
        let first = password("Password: ")?;
        let second = match std::env::var("BLINDFOLD_PASSWORD") {
            Ok(_) => first.clone(),
            Err(_) => password("Password (again): ")?,
        };
        let mut client = context.client.clone();
        match client.register(&self.username, &first, &second).await {
            Ok(session) => {
                context.store.save_session(&session)?;
                println!("registered and logged in as {}", session.username);
                Ok(())
            }
            Err(blindfold_cli::ClientError::Api { body, .. }) if !body.fields.is_empty() => {
                for (field, problems) in &body.fields {
                    for problem in problems {
                        eprintln!("{field}: {problem}");
                    }
                }
                anyhow::bail!("registration refused")
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Args)]
/// Log in (the password comes from BLINDFOLD_PASSWORD or a prompt).
pub struct Login {
    #[arg(long)]
    username: String,
}

impl Login {
    pub async fn run(self, context: &Context) -> anyhow::Result<()> {
        let mut client = context.client.clone();
        let session = client.login(&self.username, &password("Password: ")?).await?;
        context.store.save_session(&session)?;
        println!("logged in as {}", session.username);
        Ok(())
    }
}

/// Ends the session on the server and forgets it here.
pub async fn logout(context: &Context) -> anyhow::Result<()> {
    let mut client = context.client.clone();
    if client.session().is_some() {
        // A session the server already forgot is still forgotten here.
        let _ = client.logout().await;
    }
    context.store.clear_session()?;
    println!("logged out");
    Ok(())
}
