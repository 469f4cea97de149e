//! `dmclient status`: the account and every job with its FUMO state.

use portaldm_shared::job::{Action, FumoState};

use crate::config::Config;
use crate::exit::ClientError;
use crate::{jobs, slots};

/// Prints the status to standard output.
pub fn run(cfg: &Config) -> Result<(), ClientError> {
    let a = &cfg.account;
    println!("device   {}", cfg.device.dev_id);
    println!("account  {} at {} ({:?})", a.server_id, a.dm_url, a.encoding);
    match &a.auth {
        Some(auth) => println!(
            "auth     {:?} as {}{}",
            auth.scheme,
            auth.client_name,
            if auth.server_name.is_some() { ", server must prove itself" } else { "" }
        ),
        None => println!("auth     session tokens only"),
    }
    if let Some(dir) = &cfg.install.slots_dir {
        let active = slots::active(dir).map_err(ClientError::State)?;
        let held =
            |slot: &str| slots::package(dir, slot).map_or("empty".to_owned(), |p| format!("{} {}", p.name, p.version));
        let other = slots::inactive(dir).map_err(ClientError::State)?;
        println!("slots    active {active} ({}), fallback {other} ({})", held(active), held(other));
    }
    let all = jobs::load_all(&cfg.state_dir)?;
    if all.is_empty() {
        println!("jobs     none");
    }
    let now = jobs::now();
    for j in all {
        let d = &j.delivery;
        let result = j.result.map_or("-".to_owned(), |c| format!("{} ({})", c.0, c.describe()));
        let report = match j.next(now) {
            // Two steps: downloaded, and the Update is the server's to order.
            Action::Done if j.state == FumoState::DownloadComplete => "the server never ordered the install".to_owned(),
            _ if j.state == FumoState::DownloadComplete => "waiting for the server's order to install".to_owned(),
            Action::Done => "reported".to_owned(),
            Action::WaitUntil(t) => {
                format!(
                    "not reported; attempt {} failed, next in {} s",
                    j.report_attempts,
                    t.0.saturating_sub(now.0) / 1000
                )
            }
            Action::Report(_) => "not reported yet".to_owned(),
            _ => "in progress".to_owned(),
        };
        println!(
            "job      {} {} [{}] state {} {}, result {}, {}",
            d.pkg_name,
            d.pkg_version,
            d.correlator,
            j.state.code(),
            j.state.describe(),
            result,
            report
        );
    }
    Ok(())
}
