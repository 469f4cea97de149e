//! `device account`: DM accounts for devices, from the command line.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use portaldm_shared::auth::{Account, Scheme, Secret};
use portaldm_shared::rand::{SecureRandom, bytes};

use crate::cli::DeviceCommand;
use crate::clock::{OsRandom, now_ms};
use crate::config::Config;

/// Runs a device subcommand.
pub async fn run(cfg: &Config, cmd: DeviceCommand) -> anyhow::Result<()> {
    let store = super::open_store(cfg).await?;
    match cmd {
        DeviceCommand::Account {
            dev_id,
            scheme,
            client_name,
            client_password,
            server_name,
            server_password,
            no_server_auth,
        } => {
            let scheme = Scheme::parse(&scheme)
                .ok_or_else(|| anyhow::anyhow!("unknown scheme {scheme:?}: use md5, hmac or basic"))?;
            let client_name = client_name.unwrap_or_else(|| dev_id.clone());
            let client_password = match client_password {
                Some(p) => p,
                None => generated()?,
            };
            let server = if no_server_auth {
                None
            } else {
                let name = server_name.unwrap_or_else(|| cfg.server_id.clone());
                let password = match server_password {
                    Some(p) => p,
                    None => generated()?,
                };
                Some((name, password))
            };
            let account = Account {
                scheme,
                client: Secret::from_password(&client_name, &client_password),
                server: server.as_ref().map(|(n, p)| Secret::from_password(n, p)),
            };
            store.set_device_account(&dev_id, &account, now_ms()).await?;
            // The origin keeps only the keys; the passwords are shown once, for the device.
            println!("# dmclient configuration for {dev_id}");
            println!("[account.auth]");
            println!("scheme = {:?}", format!("{scheme:?}").to_ascii_lowercase());
            println!("client_name = {client_name:?}");
            println!("client_password = {client_password:?}");
            if let Some((name, password)) = server {
                println!("server_name = {name:?}");
                println!("server_password = {password:?}");
            }
        }
    }
    Ok(())
}

fn generated() -> anyhow::Result<String> {
    Ok(B64URL.encode(bytes::<18>(&mut OsRandom as &mut dyn SecureRandom)?))
}
