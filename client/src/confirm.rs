//! Asking the phone's user before acting on a trigger that asks for user interaction
//! (package #0 ui-mode 11, OMA-TS-DM_Notification-V1_2, 6.2: "user interaction"): portal
//! triggers are of that kind, since the phone's owner should know a server is about to manage
//! it. The question is a command of the device's (`confirm` in the configuration): it exits 0
//! to accept. Without one, such triggers are refused and nothing is contacted.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portaldm_shared::pkg0::{Package0, UiMode};

use crate::config::Config;
use crate::exit::ClientError;

/// How long the user has to answer.
const ANSWER_TIME: Duration = Duration::from_secs(120);

/// Asks, if the trigger wants the user asked; `Ok` when they accepted (or were not asked).
pub fn ask(cfg: &Config, pkg: &Package0) -> Result<(), ClientError> {
    if pkg.ui_mode != UiMode::UserInteraction {
        return Ok(());
    }
    let Some((program, args)) = cfg.confirm.as_deref().and_then(<[String]>::split_first) else {
        return Err(ClientError::NotConfirmed("no `confirm` command is configured to ask the phone's user".into()));
    };
    let mut child = Command::new(program)
        .args(args)
        // What the question can show: who asks, and for which session.
        .env("PDM_SERVER_ID", &pkg.server_id)
        .env("PDM_SESSION_ID", pkg.session_id_hex())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| ClientError::NotConfirmed(format!("the `confirm` command did not start: {e}")))?;
    let deadline = Instant::now() + ANSWER_TIME;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(ClientError::NotConfirmed(format!("the phone's user declined ({status})"))),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ClientError::NotConfirmed("the phone's user did not answer in time".into()));
            }
            Err(e) => return Err(ClientError::NotConfirmed(format!("the `confirm` command failed: {e}"))),
        }
    }
}
