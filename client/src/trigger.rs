//! `dmclient trigger`: check a package #0, run the DM session it asks for, install what
//! the server delivers, and report the result.

use std::io::Read as _;
use std::path::Path;

use portaldm_shared::fumo::{FumoResult, ResultCode};
use portaldm_shared::pkg0::{MAX_PACKAGE_LEN, Package0};
use portaldm_shared::session::client::ClientSession;
use portaldm_shared::time::UnixMillis;
use portaldm_shared::token::TokenVerifier;
use portaldm_shared::trigger;

use crate::config::Config;
use crate::exit::ClientError;
use crate::{download, http, install, pending, report, session};

fn now() -> UnixMillis {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64);
    UnixMillis(ms.unwrap_or(0))
}

fn read_trigger(file: &Path) -> Result<Vec<u8>, ClientError> {
    let mut bytes = Vec::new();
    let limit = (MAX_PACKAGE_LEN + 1) as u64;
    if file.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_end(&mut bytes).map_err(ClientError::TriggerRead)?;
    } else {
        std::fs::File::open(file)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .map_err(ClientError::TriggerRead)?;
    }
    Ok(bytes)
}

/// Checks the trigger (the rules are the core's); nothing is contacted unless it passes.
fn check(cfg: &Config, bytes: &[u8]) -> Result<(Package0, String), ClientError> {
    let verifier = TokenVerifier::new(&cfg.trusted_keys()?, &cfg.account.audience, &cfg.account.server_id);
    let account = trigger::Account {
        server_id: &cfg.account.server_id,
        server_password: cfg.account.server_password.as_deref().map(str::as_bytes),
        nonce: cfg.account.nonce.as_bytes(),
    };
    let accepted = trigger::accept(bytes, account, &verifier, now()).map_err(|r| match r {
        trigger::Refusal::Malformed(e) => ClientError::Trigger(e),
        trigger::Refusal::UnknownServer(s) => ClientError::UnknownServer(s),
        trigger::Refusal::BadDigest => ClientError::BadDigest,
        trigger::Refusal::TokenMismatch => ClientError::TokenMismatch,
        trigger::Refusal::Token(e) => ClientError::Token(e),
    })?;
    Ok((accepted.package, accepted.token))
}

/// Runs the subcommand.
pub fn run(cfg: &Config, file: &Path) -> Result<(), ClientError> {
    let bytes = read_trigger(file)?;
    let (pkg, token) = check(cfg, &bytes)?;
    eprintln!("trigger accepted: session {} with {}", pkg.session_id_hex(), cfg.account.dm_url);
    let agent = http::agent();
    let s = ClientSession::server_initiated(cfg.device(), &cfg.account.dm_url, &pkg.session_id_hex(), &token);
    let s = session::drive(cfg, &agent, s)?;
    let deliveries = s.deliveries().to_vec();
    if deliveries.is_empty() {
        eprintln!("session ended without a delivery");
        return Ok(());
    }
    let jobs = cfg.state_dir.join("jobs");
    std::fs::create_dir_all(&jobs).map_err(ClientError::State)?;
    let mut failure = None;
    for d in &deliveries {
        let fetched = if d.inline {
            eprintln!("received {} {} inside the session ({} bytes)", d.pkg_name, d.pkg_version, d.size);
            download::store_inline(d, s.pkg_data(d), &jobs)
        } else {
            eprintln!("downloading {} {} ({} bytes)", d.pkg_name, d.pkg_version, d.size);
            download::fetch(&agent, d, &jobs)
        };
        let code = match fetched {
            Ok(file) => {
                let code = install::install(&cfg.install, d, &file);
                let _ = std::fs::remove_file(&file);
                code
            }
            Err(code) => code,
        };
        eprintln!("result {}: {}", code.0, code.describe());
        if code != ResultCode::SUCCESS {
            failure = Some(code);
        }
        // Kept on disk first, so the result survives if reporting fails.
        let mut all = pending::load(&cfg.state_dir)?;
        all.push(FumoResult { source: d.operation(), correlator: d.correlator.clone(), code });
        pending::save(&cfg.state_dir, &all)?;
    }
    report::run_pending(cfg)?;
    match failure {
        Some(code) => Err(ClientError::UpdateFailed(code.0, code.describe())),
        None => Ok(()),
    }
}
