//! Reporting results in client-initiated sessions (Alert 1201 + generic alert 1226).

use portaldm_shared::fumo::FumoResult;
use portaldm_shared::session::client::ClientSession;
use portaldm_shared::syncml::codes::StatusCode;

use crate::config::Config;
use crate::exit::ClientError;
use crate::{http, pending, session};

/// Reports every pending result; those the server acknowledged are removed.
pub fn run_pending(cfg: &Config) -> Result<(), ClientError> {
    let agent = http::agent();
    let mut left = Vec::new();
    let mut last_err = None;
    for r in pending::load(&cfg.state_dir)? {
        match report_one(cfg, &agent, &r) {
            Ok(()) => eprintln!("reported result {} for {}", r.code.0, r.source),
            Err(e) => {
                last_err = Some(e.to_string());
                left.push(r);
            }
        }
    }
    pending::save(&cfg.state_dir, &left)?;
    match last_err {
        Some(e) => Err(ClientError::ReportPending(e)),
        None => Ok(()),
    }
}

/// One report session for one result.
fn report_one(cfg: &Config, agent: &ureq::Agent, r: &FumoResult) -> Result<(), ClientError> {
    let mut sid = [0u8; 2];
    getrandom::fill(&mut sid).map_err(|e| ClientError::State(std::io::Error::other(e.to_string())))?;
    let session_id = format!("{:X}", u16::from_be_bytes(sid).max(1));
    let s = ClientSession::report(cfg.device(), &cfg.account.dm_url, &session_id, r);
    let s = session::drive(cfg, agent, s)?;
    match s.report_statuses() {
        [StatusCode::OK] => Ok(()),
        other => Err(ClientError::ReportPending(format!("server answered {other:?}"))),
    }
}
