//! Reporting results in client-initiated sessions (Alert 1201 + generic alert 1226).

use portaldm_shared::device::DeviceDetails;
use portaldm_shared::fumo::FumoResult;
use portaldm_shared::session::client::ClientSession;
use portaldm_shared::syncml::codes::StatusCode;

use crate::config::Config;
use crate::exit::ClientError;
use crate::{http, jobs, random, session};

/// `dmclient report`: runs every unfinished job now (downloads resume, results are sent).
pub fn run_pending(cfg: &Config) -> Result<(), ClientError> {
    let outcome = jobs::run_all(cfg, &http::agent(), false)?;
    match outcome.unreported {
        Some(e) => Err(ClientError::ReportPending(e)),
        None => Ok(()),
    }
}

/// One report session for one result of this device; Ok once the server acknowledged it.
pub fn report_one(cfg: &Config, agent: &ureq::Agent, r: &FumoResult) -> Result<(), ClientError> {
    report_as(cfg, agent, cfg.device(), r).map(drop)
}

/// [`report_one`] for another device identity (the swarm's simulated handsets); returns the
/// number of messages the session took.
pub fn report_as(cfg: &Config, agent: &ureq::Agent, device: DeviceDetails, r: &FumoResult) -> Result<u32, ClientError> {
    let session_id = random::session_id()?;
    let s = ClientSession::report(device, &cfg.account.dm_url, &session_id, r);
    let s = session::drive(cfg, agent, s, &mut |_, _| Ok(()))?;
    match s.report_statuses() {
        [StatusCode::OK] => Ok(s.messages_sent()),
        other => Err(ClientError::ReportPending(format!("server answered {other:?}"))),
    }
}
