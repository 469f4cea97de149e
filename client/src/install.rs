//! Installs a verified package: a configured command, staging into a folder, or A/B slots.
//! Staging and slots write the FUMO result file themselves once the install is complete, so
//! an install cut short by a crash is known as failed (410) and a complete one as done.

use std::path::Path;
use std::process::Command;

use portaldm_shared::fumo::{FumoDelivery, ResultCode};

use crate::config::Install;

/// Installs `package`; the FUMO result code. A command installer also gets
/// `PDM_RESULT_FILE`: writing its FUMO result code there lets dmclient learn the outcome even
/// if dmclient itself stopped while the installer ran.
pub fn install(cfg: &Install, d: &FumoDelivery, package: &Path, result_file: &Path) -> ResultCode {
    if let Some(cmd) = &cfg.command {
        let Some((prog, args)) = cmd.split_first() else {
            return ResultCode::UPDATE_FAILED;
        };
        let status = Command::new(prog)
            .args(args)
            .env("PDM_PACKAGE", package)
            .env("PDM_PKG_NAME", &d.pkg_name)
            .env("PDM_PKG_VERSION", &d.pkg_version)
            .env("PDM_SHA256", &d.sha256)
            // `firmware` (FUMO) or `application` (SCOMO): the installer may treat them apart.
            .env(
                "PDM_PKG_KIND",
                match d.kind {
                    portaldm_shared::fumo::DeliveryKind::Firmware => "firmware",
                    portaldm_shared::fumo::DeliveryKind::Application => "application",
                    // Never installed: a settings delivery is applied in the session.
                    portaldm_shared::fumo::DeliveryKind::Settings => "settings",
                },
            )
            .env("PDM_RESULT_FILE", result_file)
            .status();
        return match status {
            Ok(s) if s.success() => ResultCode::SUCCESS,
            // An installer may say why with its exit status: 2 corrupted, 3 invalid; else failed.
            Ok(s) => match s.code() {
                Some(2) => ResultCode::CORRUPTED,
                Some(3) => ResultCode::VALIDATION_FAILED,
                _ => ResultCode::UPDATE_FAILED,
            },
            Err(_) => ResultCode::UPDATE_FAILED,
        };
    }
    let done = |r: std::io::Result<()>| match r.and_then(|()| crate::private::write(result_file, b"200\n", false)) {
        Ok(()) => ResultCode::SUCCESS,
        Err(e) => {
            eprintln!("install of {} {} failed: {e}", d.pkg_name, d.pkg_version);
            ResultCode::UPDATE_FAILED
        }
    };
    if let Some(dir) = &cfg.slots_dir {
        return match d.kind {
            portaldm_shared::fumo::DeliveryKind::Firmware => done(crate::slots::install(dir, d, package).map(|fw| {
                eprintln!("{} {} is in {}; it runs from there now", d.pkg_name, d.pkg_version, fw.display());
            })),
            _ => done(stage(&dir.join("apps"), d, package)),
        };
    }
    if let Some(dir) = &cfg.stage_dir {
        // Applications are staged apart from firmware, as a device keeps them apart.
        let dir = match d.kind {
            portaldm_shared::fumo::DeliveryKind::Firmware => dir.clone(),
            portaldm_shared::fumo::DeliveryKind::Application => dir.join("apps"),
            portaldm_shared::fumo::DeliveryKind::Settings => dir.join("settings"),
        };
        return done(stage(&dir, d, package));
    }
    ResultCode::UPDATE_FAILED
}

/// Copies `package` into `dir`, named by its name and version.
fn stage(dir: &Path, d: &FumoDelivery, package: &Path) -> std::io::Result<()> {
    let target = dir.join(format!("{}-{}.bin", sanitize(&d.pkg_name), sanitize(&d.pkg_version)));
    crate::private::dir(dir)?;
    crate::private::copy(package, &target)
}

/// A file-name-safe version of a server-supplied name.
fn sanitize(s: &str) -> String {
    let out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).take(64).collect();
    out.trim_start_matches('.').to_owned()
}
