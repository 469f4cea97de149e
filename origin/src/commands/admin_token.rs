//! `admin-token create|list|revoke`: bearer tokens for the admin API.

use portaldm_shared::rand::bytes;

use crate::admin::bearer;
use crate::catalog_changes::cli_actor;
use crate::cli::AdminTokenCommand;
use crate::clock::{OsRandom, now_ms};
use crate::config::Config;

/// Runs an admin-token subcommand.
pub async fn run(cfg: &Config, cmd: AdminTokenCommand) -> anyhow::Result<()> {
    let store = super::open_store(cfg).await?;
    match cmd {
        AdminTokenCommand::Create { name, read_only } => {
            if name.trim().is_empty() || name.len() > 200 {
                anyhow::bail!("--name must say what the token is for (1 to 200 characters)");
            }
            let issued = bearer::issue(&bytes::<{ bearer::RANDOM_LEN }>(&mut OsRandom)?);
            store
                .create_admin_token(&issued.id, &name, &issued.secret_sha256, read_only, &cli_actor(), now_ms())
                .await?;
            eprintln!("admin token {} created for {name:?}; it is shown once, store it now:", issued.id);
            println!("{}", issued.token);
        }
        AdminTokenCommand::List => {
            for t in store.admin_tokens().await? {
                let state = t.revoked_at.map_or("live".to_owned(), |at| format!("revoked at {at}"));
                let scope = if t.read_only { "read-only" } else { "read-write" };
                println!("{}  {:<32} {scope:<10} created {}  {state}", t.id, t.name, t.created_at);
            }
        }
        AdminTokenCommand::Revoke { id } => {
            if !store.revoke_admin_token(&id, &cli_actor(), now_ms()).await? {
                anyhow::bail!("no live admin token {id}");
            }
            println!("revoked admin token {id}");
        }
    }
    Ok(())
}
