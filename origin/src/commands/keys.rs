//! `keys list`: which keys this origin trusts and uses, by key id (never the keys).

use crate::cli::KeysCommand;
use crate::config::Config;

/// Runs a keys subcommand.
pub fn run(cfg: &Config, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::List => {
            let v = cfg.keys_view()?;
            println!("token keys (verify session tokens)      {}", v.token_keys.join(", "));
            println!("cdn keys (first signs download URLs)    {}", v.cdn_keys.join(", "));
            println!("edge keys (edge request credential)     {}", v.edge_keys.join(", "));
            println!("package signing key                     {}", v.package_key.as_deref().unwrap_or("none"));
        }
    }
    Ok(())
}
