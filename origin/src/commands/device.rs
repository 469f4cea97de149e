//! `device show|account`: the registry and DM accounts, from the command line.

use crate::cli::DeviceCommand;
use crate::config::Config;

/// Runs a device subcommand.
pub async fn run(cfg: &Config, cmd: DeviceCommand) -> anyhow::Result<()> {
    let store = super::open_store(cfg).await?;
    match cmd {
        DeviceCommand::Show { dev_id } => {
            let Some(d) = store.device(&dev_id).await? else {
                anyhow::bail!("no device {dev_id:?} has contacted this server");
            };
            let when = |ms: i64| {
                std::time::UNIX_EPOCH
                    .checked_add(std::time::Duration::from_millis(ms.max(0) as u64))
                    .map(humantime_utc)
                    .unwrap_or_default()
            };
            let v = &d.details;
            println!("device     {}", v.dev_id);
            let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            println!("model      {} by {} (hardware {})", opt(&v.model), opt(&v.man), opt(&v.hw_v));
            println!(
                "firmware   {} (software {}, DM {}, language {})",
                opt(&v.fw_v),
                opt(&v.sw_v),
                opt(&v.dm_v),
                opt(&v.lang)
            );
            println!("seen       first {}, last {}", when(d.first_seen), when(d.last_seen));
            match store.device_account(&dev_id).await? {
                Some(a) => println!(
                    "account    {:?}, client {}{}",
                    a.account.scheme,
                    a.account.client.name,
                    a.account
                        .server
                        .as_ref()
                        .map(|s| format!(", server proves itself as {}", s.name))
                        .unwrap_or_default()
                ),
                None => println!("account    none (portal tokens and result reports only)"),
            }
            let results = store.results_for(&dev_id).await?;
            if results.is_empty() {
                println!("results    none");
            }
            for r in results {
                let code = portaldm_shared::fumo::ResultCode(r.code);
                println!(
                    "result     {} package {} at {}: {} ({})",
                    r.correlator,
                    r.package_id.map_or("-".into(), |p| p.to_string()),
                    when(r.recorded_at),
                    r.code,
                    code.describe()
                );
            }
        }
        DeviceCommand::Account {
            dev_id,
            scheme,
            client_name,
            client_password,
            server_name,
            server_password,
            no_server_auth,
        } => {
            let req = crate::admin::api_types::AccountRequest {
                scheme,
                client_name,
                client_password,
                server_auth: !no_server_auth,
                server_name,
                server_password,
            };
            let issued =
                crate::accounts::set(cfg, store.as_ref(), &dev_id, req, &crate::catalog_changes::cli_actor()).await?;
            println!("# dmclient configuration for {dev_id}");
            print!("{}", issued.dmclient_toml);
        }
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS UTC` without a date library.
fn humantime_utc(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = portaldm_shared::time::civil_date(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_times() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        assert_eq!(super::humantime_utc(t), "2026-11-18 11:06:40 UTC");
        assert_eq!(super::humantime_utc(std::time::UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
    }
}
