//! A firmware job on the device: what dmclient does with one FUMO delivery, as a state machine
//! whose every step is persisted, so a crash or reboot at any point resumes it instead of
//! losing it or doing a step twice. States are FUMO's `State` node values (FUMO 1.0, 5.3).
//!
//! The caller asks [`Job::next`] what to do, does it, and tells the job how it went; it saves
//! the job after each call that changes it — in particular *before* running the installer
//! ([`Job::installing`]), so a crash during the install is never followed by a second one.
//!
//! A two-step delivery (FUMO `Download`, then `Update`) stops after the download at 40
//! (`DownloadComplete`) and reports it; the server's answer to that report orders the
//! `Update` ([`Job::download_acknowledged`]). A report the server acknowledged without an
//! order is repeated with the report back-off, at most [`MAX_UPDATE_WAITS`] times.

use serde::{Deserialize, Serialize};

use crate::fumo::{FumoDelivery, FumoResult, ResultCode, UpdateOrder};
use crate::time::UnixMillis;

/// FUMO `State` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FumoState {
    /// 10: no job.
    Idle,
    /// 20: the download failed.
    DownloadFailed,
    /// 30: downloading.
    DownloadProgressing,
    /// 40: downloaded and verified.
    DownloadComplete,
    /// 50: ready to update.
    ReadyToUpdate,
    /// 60: the installer is running (or was, when the device stopped).
    UpdateProgressing,
    /// 70: the update failed; the package is still on the device.
    UpdateFailedHaveData,
    /// 80: the update failed; the package is gone.
    UpdateFailedNoData,
    /// 90: updated; the package is still on the device.
    UpdateSuccessfulHaveData,
    /// 100: updated; the package is gone.
    UpdateSuccessfulNoData,
}

impl FumoState {
    /// The numeric value of the FUMO `State` node.
    pub fn code(self) -> u16 {
        match self {
            FumoState::Idle => 10,
            FumoState::DownloadFailed => 20,
            FumoState::DownloadProgressing => 30,
            FumoState::DownloadComplete => 40,
            FumoState::ReadyToUpdate => 50,
            FumoState::UpdateProgressing => 60,
            FumoState::UpdateFailedHaveData => 70,
            FumoState::UpdateFailedNoData => 80,
            FumoState::UpdateSuccessfulHaveData => 90,
            FumoState::UpdateSuccessfulNoData => 100,
        }
    }

    /// Plain words, for `dmclient status`.
    pub fn describe(self) -> &'static str {
        match self {
            FumoState::Idle => "idle",
            FumoState::DownloadFailed => "download failed",
            FumoState::DownloadProgressing => "downloading",
            FumoState::DownloadComplete => "downloaded",
            FumoState::ReadyToUpdate => "ready to update",
            FumoState::UpdateProgressing => "installing",
            FumoState::UpdateFailedHaveData | FumoState::UpdateFailedNoData => "update failed",
            FumoState::UpdateSuccessfulHaveData | FumoState::UpdateSuccessfulNoData => "updated",
        }
    }
}

/// What the device does next for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fetch the package (resuming what is on disk) and verify it.
    Download,
    /// Run the installer (call [`Job::installing`] and save first).
    Install,
    /// The device stopped while the installer ran: find out how it ended (the installer's
    /// result file) and call [`Job::installed`]; never run it again.
    RecoverInstall,
    /// Report this result in a client-initiated session.
    Report(FumoResult),
    /// A report failed recently: try again at this time.
    WaitUntil(UnixMillis),
    /// Nothing left to do.
    Done,
}

/// Longest pause between report attempts.
pub const MAX_BACKOFF_MS: u64 = 60 * 60 * 1000;
/// First pause after a failed report.
pub const FIRST_BACKOFF_MS: u64 = 15 * 1000;
/// Reports of a finished download that may go without the server ordering the Update
/// before the job gives up waiting (the package stays downloaded, nothing is installed).
pub const MAX_UPDATE_WAITS: u32 = 8;

/// One delivery's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// What was delivered.
    pub delivery: FumoDelivery,
    /// Where the job stands.
    pub state: FumoState,
    /// The outcome, once there is one.
    pub result: Option<ResultCode>,
    /// Whether the server acknowledged the result.
    pub reported: bool,
    /// Failed report attempts so far.
    pub report_attempts: u32,
    /// No report attempt before this time.
    pub next_report_at: UnixMillis,
    /// When the delivery arrived.
    pub created_at: UnixMillis,
    /// The correlator of the server's `Update` order (two steps), once it came.
    #[serde(default)]
    pub update_correlator: Option<String>,
}

impl Job {
    /// A job for a delivery the server just handed over (Exec accepted with 202).
    pub fn new(delivery: FumoDelivery, now: UnixMillis) -> Self {
        Job {
            delivery,
            state: FumoState::DownloadProgressing,
            result: None,
            reported: false,
            report_attempts: 0,
            next_report_at: now,
            created_at: now,
            update_correlator: None,
        }
    }

    /// What to do now.
    pub fn next(&self, now: UnixMillis) -> Action {
        match self.state {
            FumoState::Idle | FumoState::DownloadProgressing => Action::Download,
            // Two steps: the download is reported, and the Update waits for the server's order.
            FumoState::DownloadComplete if self.report_attempts >= MAX_UPDATE_WAITS => Action::Done,
            FumoState::DownloadComplete if now < self.next_report_at => Action::WaitUntil(self.next_report_at),
            FumoState::DownloadComplete => Action::Report(FumoResult {
                source: self.delivery.operation(),
                correlator: self.delivery.correlator.clone(),
                code: ResultCode::SUCCESS,
            }),
            FumoState::ReadyToUpdate => Action::Install,
            FumoState::UpdateProgressing => Action::RecoverInstall,
            FumoState::DownloadFailed
            | FumoState::UpdateFailedHaveData
            | FumoState::UpdateFailedNoData
            | FumoState::UpdateSuccessfulHaveData
            | FumoState::UpdateSuccessfulNoData => match (self.reported, self.result) {
                (true, _) => Action::Done,
                (false, _) if now < self.next_report_at => Action::WaitUntil(self.next_report_at),
                (false, code) => Action::Report(self.outcome(code.unwrap_or(ResultCode::UPDATE_FAILED))),
            },
        }
    }

    /// The report of the job's outcome: of the Update the server ordered, if it ordered one,
    /// else of the delivery's own operation.
    fn outcome(&self, code: ResultCode) -> FumoResult {
        match &self.update_correlator {
            Some(correlator) => {
                UpdateOrder { node: self.delivery.node.clone(), correlator: correlator.clone() }.outcome(code)
            }
            None => {
                FumoResult { source: self.delivery.operation(), correlator: self.delivery.correlator.clone(), code }
            }
        }
    }

    /// The download ended: verified, or failed with a FUMO code.
    pub fn downloaded(&mut self, outcome: Result<(), ResultCode>) {
        match outcome {
            Ok(()) if self.delivery.two_step => {
                self.state = FumoState::DownloadComplete;
                self.report_attempts = 0;
            }
            Ok(()) => self.state = FumoState::ReadyToUpdate,
            Err(code) => {
                self.state = FumoState::DownloadFailed;
                self.result = Some(code);
            }
        }
    }

    /// The server took the report of a finished two-step download: with the correlator of
    /// its `Update` order (install now), or without one (ask again after the back-off).
    pub fn download_acknowledged(&mut self, order: Option<String>, now: UnixMillis, jitter_ms: u64) {
        match order {
            Some(correlator) if self.state == FumoState::DownloadComplete => {
                self.update_correlator = Some(correlator);
                self.state = FumoState::ReadyToUpdate;
                self.report_attempts = 0;
                self.next_report_at = now;
            }
            // An order for a job past its download changes nothing.
            Some(_) => {}
            None => self.report_failed(now, jitter_ms),
        }
    }

    /// The installer is about to run. Save the job before running it.
    pub fn installing(&mut self) {
        self.state = FumoState::UpdateProgressing;
    }

    /// The installer ended with `code` (or, after a crash, what its result file says; an
    /// install whose outcome is unknown counts as failed: 410).
    pub fn installed(&mut self, code: ResultCode) {
        self.result = Some(code);
        self.state =
            if code == ResultCode::SUCCESS { FumoState::UpdateSuccessfulNoData } else { FumoState::UpdateFailedNoData };
    }

    /// The server acknowledged the result.
    pub fn report_done(&mut self) {
        self.reported = true;
    }

    /// A report attempt failed: back off exponentially (15 s, 30 s, … up to an hour) plus
    /// `jitter_ms`, so many devices coming back together do not all report at once.
    pub fn report_failed(&mut self, now: UnixMillis, jitter_ms: u64) {
        self.report_attempts = self.report_attempts.saturating_add(1);
        let exp = FIRST_BACKOFF_MS.saturating_mul(1 << self.report_attempts.saturating_sub(1).min(16));
        self.next_report_at = UnixMillis(now.0.saturating_add(exp.min(MAX_BACKOFF_MS)).saturating_add(jitter_ms));
    }

    /// Whether nothing is left to do.
    pub fn finished(&self) -> bool {
        self.next(UnixMillis(u64::MAX)) == Action::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> FumoDelivery {
        FumoDelivery {
            node: "pdm1".into(),
            pkg_name: "fw".into(),
            pkg_version: "1.2".into(),
            url: "https://edge/dl/x".into(),
            sha256: "ab".repeat(32),
            size: 10,
            correlator: "c1".into(),
            inline: false,
            signature: None,
            kind: Default::default(),
            settings: vec![],
            two_step: false,
            device_root: None,
        }
    }

    const T0: UnixMillis = UnixMillis(1_000_000);

    #[test]
    fn a_job_downloads_installs_once_and_reports() {
        let mut j = Job::new(delivery(), T0);
        assert_eq!(j.next(T0), Action::Download);
        j.downloaded(Ok(()));
        assert_eq!(j.next(T0), Action::Install);
        j.installing();
        // A crash here: the restarted device recovers the outcome instead of installing again.
        let restarted: Job = serde_json::from_str(&serde_json::to_string(&j).expect("saves")).expect("loads");
        assert_eq!(restarted.next(T0), Action::RecoverInstall);
        j.installed(ResultCode::SUCCESS);
        assert_eq!(j.state.code(), 100);
        let Action::Report(r) = j.next(T0) else { panic!("report") };
        assert_eq!(
            (r.code, r.correlator.as_str(), r.source.as_str()),
            (ResultCode::SUCCESS, "c1", "./FUMO/pdm1/DownloadAndUpdate")
        );
        j.report_done();
        assert!(j.finished());
    }

    #[test]
    fn a_failed_download_is_reported_with_its_code() {
        let mut j = Job::new(delivery(), T0);
        j.downloaded(Err(ResultCode::CORRUPTED));
        assert_eq!(j.state.code(), 20);
        assert!(matches!(j.next(T0), Action::Report(r) if r.code == ResultCode::CORRUPTED));
    }

    #[test]
    fn a_two_step_job_reports_the_download_then_installs_on_the_servers_order() {
        let mut j = Job::new(FumoDelivery { two_step: true, ..delivery() }, T0);
        j.downloaded(Ok(()));
        assert_eq!(j.state.code(), 40);
        let Action::Report(r) = j.next(T0) else { panic!("reports the download") };
        assert_eq!(
            (r.source.as_str(), r.code, r.downloaded_node()),
            ("./FUMO/pdm1/Download", ResultCode::SUCCESS, Some("pdm1"))
        );
        // Acknowledged without an order: asked again after the back-off, a bounded number of times.
        j.download_acknowledged(None, T0, 0);
        assert_eq!(j.next(T0), Action::WaitUntil(UnixMillis(T0.0 + FIRST_BACKOFF_MS)));
        assert!(matches!(j.next(UnixMillis(T0.0 + FIRST_BACKOFF_MS)), Action::Report(_)));
        j.download_acknowledged(Some("u1".into()), T0, 0);
        assert_eq!((j.state.code(), j.next(T0)), (50, Action::Install));
        // Survives a restart at every step, like any job.
        let mut j: Job = serde_json::from_str(&serde_json::to_string(&j).expect("saves")).expect("loads");
        j.installing();
        j.installed(ResultCode::SUCCESS);
        let Action::Report(r) = j.next(T0) else { panic!("reports the install") };
        assert_eq!(
            (r.source.as_str(), r.correlator.as_str(), r.code),
            ("./FUMO/pdm1/Update", "u1", ResultCode::SUCCESS)
        );
        assert_eq!(r.downloaded_node(), None);
        j.report_done();
        assert!(j.finished());

        // A server that never orders the Update: the job stops asking, and nothing is installed.
        let mut j = Job::new(FumoDelivery { two_step: true, ..delivery() }, T0);
        j.downloaded(Ok(()));
        for _ in 0..MAX_UPDATE_WAITS {
            assert!(!j.finished());
            j.download_acknowledged(None, T0, 0);
        }
        assert!(j.finished());
        assert_eq!(j.state, FumoState::DownloadComplete);

        // A failed two-step download is an outcome, reported as the Download's.
        let mut j = Job::new(FumoDelivery { two_step: true, ..delivery() }, T0);
        j.downloaded(Err(ResultCode::DOWNLOAD_SERVER_UNAVAILABLE));
        let Action::Report(r) = j.next(T0) else { panic!("reports the failure") };
        assert_eq!((r.source.as_str(), r.code), ("./FUMO/pdm1/Download", ResultCode(412)));
        assert_eq!(r.downloaded_node(), None);
    }

    #[test]
    fn failed_reports_back_off_with_jitter_up_to_an_hour() {
        let mut j = Job::new(delivery(), T0);
        j.downloaded(Ok(()));
        j.installing();
        j.installed(ResultCode(410));
        j.report_failed(T0, 0);
        assert_eq!(j.next(T0), Action::WaitUntil(UnixMillis(T0.0 + 15_000)));
        j.report_failed(T0, 7);
        assert_eq!(j.next(T0), Action::WaitUntil(UnixMillis(T0.0 + 30_007)));
        for _ in 0..40 {
            j.report_failed(T0, 0);
        }
        assert_eq!(j.next(T0), Action::WaitUntil(UnixMillis(T0.0 + MAX_BACKOFF_MS)));
        assert!(matches!(j.next(UnixMillis(T0.0 + MAX_BACKOFF_MS)), Action::Report(_)));
    }
}
