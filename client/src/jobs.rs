//! Firmware jobs on disk: one JSON file per delivery under `state_dir/jobs/`, rewritten
//! (write, then rename) after every step of the core's job machine, so a crash or reboot at
//! any point resumes the job: the download from its `.part` file, the report in a new
//! session, and never a second install.

use std::path::{Path, PathBuf};

use portaldm_shared::fumo::ResultCode;
use portaldm_shared::job::{Action, Job};
use portaldm_shared::time::UnixMillis;

use crate::config::Config;
use crate::exit::ClientError;
use crate::{download, install, report};

/// The folder of jobs and their partial downloads.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("jobs")
}

/// The current time.
pub fn now() -> UnixMillis {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64);
    UnixMillis(ms.unwrap_or(0))
}

fn file_stem(job: &Job) -> String {
    job.delivery
        .correlator
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect()
}

fn state_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::State(std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

/// Where the installer of `job` writes its FUMO result code (read back after a crash).
pub fn result_file(state_dir: &Path, job: &Job) -> PathBuf {
    dir(state_dir).join(format!("{}.result", file_stem(job)))
}

/// Saves `job` atomically.
pub fn save(state_dir: &Path, job: &Job) -> Result<(), ClientError> {
    let dir = dir(state_dir);
    crate::private::dir(state_dir).map_err(ClientError::State)?;
    crate::private::dir(&dir).map_err(ClientError::State)?;
    let stem = file_stem(job);
    let tmp = dir.join(format!(".{stem}.json.tmp"));
    let json = serde_json::to_vec_pretty(job).map_err(state_err)?;
    // The rename is atomic; syncing the file first makes it durable across power loss.
    crate::private::write(&tmp, &json, true).map_err(ClientError::State)?;
    std::fs::rename(&tmp, dir.join(format!("{stem}.json"))).map_err(ClientError::State)
}

/// Every job on disk, oldest first. A file that no longer parses is reported and skipped.
pub fn load_all(state_dir: &Path) -> Result<Vec<Job>, ClientError> {
    let entries = match std::fs::read_dir(dir(state_dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ClientError::State(e)),
    };
    let mut jobs = Vec::new();
    for entry in entries {
        let path = entry.map_err(ClientError::State)?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(ClientError::State)?;
        match serde_json::from_slice::<Job>(&bytes) {
            Ok(j) => jobs.push(j),
            Err(e) => eprintln!("skipping unreadable job {}: {e}", path.display()),
        }
    }
    jobs.sort_by_key(|j| j.created_at);
    Ok(jobs)
}

/// How one run of the jobs ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Jobs whose update failed (code), reported or not.
    pub failed: Vec<ResultCode>,
    /// Why results are still unreported, if some are.
    pub unreported: Option<String>,
}

/// Runs every unfinished job as far as it can go now. `patient`: honour the report back-off
/// (a background retry); otherwise report at once (the user asked).
pub fn run_all(cfg: &Config, agent: &ureq::Agent, patient: bool) -> Result<Outcome, ClientError> {
    let mut outcome = Outcome::default();
    for mut job in load_all(&cfg.state_dir)? {
        let was_finished = job.finished();
        run(cfg, agent, &mut job, patient, &mut outcome)?;
        if !was_finished && job.result.is_some_and(|c| c != ResultCode::SUCCESS) {
            outcome.failed.push(job.result.unwrap_or(ResultCode::UPDATE_FAILED));
        }
    }
    Ok(outcome)
}

fn run(cfg: &Config, agent: &ureq::Agent, job: &mut Job, patient: bool, out: &mut Outcome) -> Result<(), ClientError> {
    let state = &cfg.state_dir;
    let jobs = dir(state);
    loop {
        let d = job.delivery.clone();
        match job.next(now()) {
            Action::Download => {
                let fetched = if d.inline {
                    download::verify_part(&d, &jobs)
                } else {
                    eprintln!("downloading {} {} ({} bytes)", d.pkg_name, d.pkg_version, d.size);
                    download::fetch(agent, &d, &jobs)
                };
                // A package is installed only with a valid signature, when the device trusts
                // package keys.
                let checked = fetched.and_then(|_| {
                    let keys = cfg.package_keys().map_err(|_| ResultCode::VALIDATION_FAILED)?;
                    portaldm_shared::pkgsig::verify(d.signature.as_deref(), &d.sha256, d.size, &keys).map_err(|e| {
                        eprintln!("{} {} refused: {e}", d.pkg_name, d.pkg_version);
                        let _ = std::fs::remove_file(download::part_path(&jobs, &d));
                        ResultCode::VALIDATION_FAILED
                    })
                });
                job.downloaded(checked);
                save(state, job)?;
            }
            Action::Install => {
                job.installing();
                save(state, job)?;
                let _ = std::fs::remove_file(result_file(state, job));
                let code =
                    install::install(&cfg.install, &d, &download::part_path(&jobs, &d), &result_file(state, job));
                job.installed(code);
                save(state, job)?;
                eprintln!("result {}: {}", code.0, code.describe());
                let _ = std::fs::remove_file(download::part_path(&jobs, &d));
            }
            Action::RecoverInstall => {
                // The device stopped while the installer ran; the installer may have said how
                // it ended. Never run it again.
                let said = std::fs::read_to_string(result_file(state, job)).ok();
                let code =
                    said.and_then(|s| s.trim().parse().ok()).map(ResultCode).unwrap_or(ResultCode::UPDATE_FAILED);
                eprintln!("install of {} {} was interrupted; its outcome: {}", d.pkg_name, d.pkg_version, code.0);
                job.installed(code);
                save(state, job)?;
                let _ = std::fs::remove_file(download::part_path(&jobs, &d));
            }
            Action::Report(r) if r.downloaded_node().is_some() => {
                // Two steps: the download is done; the server's answer may order the Update.
                match report::report_one(cfg, agent, &r) {
                    Ok(orders) => {
                        let order = orders.into_iter().next().map(|o| o.correlator);
                        let ordered = order.is_some();
                        job.download_acknowledged(order, now(), jitter());
                        save(state, job)?;
                        if !ordered {
                            eprintln!(
                                "{} {} downloaded; the server has not ordered the install yet",
                                d.pkg_name, d.pkg_version
                            );
                            out.unreported = Some("downloaded; waiting for the server's order to install".into());
                            return Ok(());
                        }
                        eprintln!("the server ordered the install of {} {}", d.pkg_name, d.pkg_version);
                    }
                    Err(e) => {
                        job.report_failed(now(), jitter());
                        out.unreported = Some(e.to_string());
                        save(state, job)?;
                        return Ok(());
                    }
                }
            }
            Action::Report(r) => {
                match report::report_one(cfg, agent, &r) {
                    Ok(_) => {
                        eprintln!("reported result {} for {}", r.code.0, r.source);
                        job.report_done();
                    }
                    Err(e) => {
                        job.report_failed(now(), jitter());
                        out.unreported = Some(e.to_string());
                        save(state, job)?;
                        return Ok(());
                    }
                }
                save(state, job)?;
            }
            Action::WaitUntil(_) if !patient => {
                // Asked by the user: try now, whatever the back-off says.
                job.next_report_at = now();
            }
            Action::WaitUntil(t) => {
                out.unreported = Some(format!("next attempt in {} s", t.0.saturating_sub(now().0) / 1000));
                return Ok(());
            }
            Action::Done => return Ok(()),
        }
    }
}

/// Up to 5 s of random delay, so devices that lost the server together do not return together.
fn jitter() -> u64 {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).map_or(0, |()| u64::from(u16::from_be_bytes(b)) % 5000)
}
