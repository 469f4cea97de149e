//! `profile list|add|remove`: device profiles from the command line (changes audited as
//! `cli:<user>`).

use portaldm_shared::profile::{DeviceProfile, encoding_name, scheme_name};

use crate::catalog_changes::cli_actor;
use crate::cli::ProfileCommand;
use crate::config::Config;
use crate::profiles;

/// Runs a profile subcommand.
pub async fn run(cfg: &Config, cmd: ProfileCommand) -> anyhow::Result<()> {
    let store = super::open_store(cfg).await?;
    match cmd {
        ProfileCommand::List => {
            for p in store.device_profiles().await? {
                println!("{}", line(&p));
            }
        }
        ProfileCommand::Add(a) => {
            let a = *a;
            let p = DeviceProfile {
                id: 0,
                name: a.name,
                man: a.man,
                models: a.models,
                fumo_root: a.fumo_root,
                scomo_root: a.scomo_root,
                encoding: a.encoding,
                auth_scheme: a.auth_scheme,
                max_msg_size: a.max_msg_size,
                hold_secs: a.hold_secs,
            };
            let stored = profiles::add(cfg, store.as_ref(), p, &cli_actor()).await?;
            println!("added device profile {}", stored.id);
        }
        ProfileCommand::Remove { id } => {
            profiles::remove(store.as_ref(), id, &cli_actor()).await?;
            println!("removed device profile {id}");
        }
    }
    Ok(())
}

/// One profile on one line: id, name, then each field it sets (`-` for what it leaves open).
fn line(p: &DeviceProfile) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    format!(
        "{:>4}  {:<24} man={} models={} fumo_root={} scomo_root={} encoding={} auth={} max_msg_size={} hold_secs={}",
        p.id,
        p.name,
        opt(p.man.clone()),
        p.models.join(","),
        opt(p.fumo_root.clone()),
        opt(p.scomo_root.clone()),
        opt(p.encoding.map(|e| encoding_name(e).to_owned())),
        opt(p.auth_scheme.map(|s| scheme_name(s).to_owned())),
        opt(p.max_msg_size.map(|n| n.to_string())),
        opt(p.hold_secs.map(|n| n.to_string())),
    )
}
