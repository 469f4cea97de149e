//! Reporting results in client-initiated sessions (Alert 1201 + generic alert 1226).

use portaldm_shared::device::DeviceDetails;
use portaldm_shared::fumo::{FumoResult, UpdateOrder};
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

/// `dmclient report --wait`: runs the jobs now, then again whenever the earliest back-off
/// ends, until every result is reported (or `limit` has passed).
pub fn run_until_reported(cfg: &Config, limit: Option<std::time::Duration>) -> Result<(), ClientError> {
    let started = std::time::Instant::now();
    let agent = http::agent();
    let mut patient = false;
    loop {
        let outcome = jobs::run_all(cfg, &agent, patient)?;
        let Some(why) = outcome.unreported else { return Ok(()) };
        let now = crate::jobs::now();
        let next = jobs::load_all(&cfg.state_dir)?
            .iter()
            .filter(|j| j.result.is_some() && !j.reported)
            .map(|j| j.next_report_at.0)
            .min()
            .unwrap_or(now.0);
        let wait = std::time::Duration::from_millis(next.saturating_sub(now.0).clamp(1_000, 3_600_000));
        if limit.is_some_and(|l| started.elapsed() + wait > l) {
            return Err(ClientError::ReportPending(why));
        }
        eprintln!("results not reported yet ({why}); next attempt in {} s", wait.as_secs());
        std::thread::sleep(wait);
        patient = true;
    }
}

/// One report session for one result of this device; Ok once the server acknowledged it,
/// with the Update it ordered if the result was a finished two-step download.
pub fn report_one(cfg: &Config, agent: &ureq::Agent, r: &FumoResult) -> Result<Vec<UpdateOrder>, ClientError> {
    report_as(cfg, agent, cfg.device(), r).map(|(_, orders)| orders)
}

/// [`report_one`] for another device identity (the swarm's simulated handsets); also returns
/// the number of messages the session took.
pub fn report_as(
    cfg: &Config,
    agent: &ureq::Agent,
    device: DeviceDetails,
    r: &FumoResult,
) -> Result<(u32, Vec<UpdateOrder>), ClientError> {
    let session_id = random::session_id()?;
    let s = ClientSession::report(device, &cfg.account.dm_url, &session_id, r);
    let s = session::drive(cfg, agent, s, &mut |_, _| Ok(()))?;
    match s.report_statuses() {
        [StatusCode::OK] => Ok((s.messages_sent(), s.updates_ordered().to_vec())),
        other => Err(ClientError::ReportPending(format!("server answered {other:?}"))),
    }
}
