//! A DM session that may deliver updates, and the jobs it leaves: shared by `trigger` and
//! `check`.

use portaldm_shared::fumo::FumoDelivery;
use portaldm_shared::job::Job;
use portaldm_shared::session::client::ClientSession;

use crate::config::Config;
use crate::exit::ClientError;
use crate::{download, jobs, session, settings};

/// Runs a DM session that may deliver updates, then the jobs: each delivery becomes a job on
/// disk before its Exec is acknowledged (202), so a crash after that cannot lose it.
pub fn deliver(cfg: &Config, agent: &ureq::Agent, s: ClientSession) -> Result<(), ClientError> {
    let dir = jobs::dir(&cfg.state_dir);
    let mut keep = |s: &ClientSession, d: &FumoDelivery| -> Result<(), ClientError> {
        if d.inline {
            eprintln!("received {} {} inside the session ({} bytes)", d.pkg_name, d.pkg_version, d.size);
            // Bytes that are missing or not base64 leave no part file: the job reports 402.
            if let Some(bytes) = s.pkg_data(d) {
                download::store_inline(d, &bytes, &dir).map_err(ClientError::State)?;
            }
        }
        jobs::save(&cfg.state_dir, &Job::new(d.clone(), jobs::now()))
    };
    let s = session::drive(cfg, agent, s, &mut keep)?;
    let written = s.settings_written();
    if !written.is_empty() {
        let n = written.len();
        settings::keep(&cfg.state_dir, written).map_err(ClientError::State)?;
        eprintln!("applied {n} settings (kept in {})", settings::file(&cfg.state_dir).display());
    }
    if s.deliveries().is_empty() {
        eprintln!("session ended without a delivery");
        return Ok(());
    }
    let outcome = jobs::run_all(cfg, agent, false)?;
    if let Some(e) = outcome.unreported {
        return Err(ClientError::ReportPending(e));
    }
    match outcome.failed.first() {
        Some(code) => Err(ClientError::UpdateFailed(code.0, code.describe())),
        None => Ok(()),
    }
}
