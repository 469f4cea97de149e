//! `dmclient trigger`: check a package #0, run the DM session it asks for, install what
//! the server delivers, and report the result.

use std::io::Read as _;
use std::path::Path;

use portaldm_shared::pkg0::{MAX_PACKAGE_LEN, Package0};
use portaldm_shared::session::client::ClientSession;
use portaldm_shared::token::TokenVerifier;
use portaldm_shared::trigger;

use crate::config::Config;
use crate::exit::ClientError;
use crate::{deliver, http, jobs};

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
pub fn check(cfg: &Config, bytes: &[u8]) -> Result<(Package0, String), ClientError> {
    let verifier = TokenVerifier::new(&cfg.trusted_keys()?, &cfg.account.audience, &cfg.account.server_id);
    let account = trigger::Account {
        server_id: &cfg.account.server_id,
        server_password: cfg.account.server_password.as_deref().map(str::as_bytes),
        nonce: cfg.account.nonce.as_bytes(),
    };
    let accepted = trigger::accept(bytes, account, &verifier, jobs::now()).map_err(|r| match r {
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
    crate::confirm::ask(cfg, &pkg)?;
    eprintln!("trigger accepted: session {} with {}", pkg.session_id_hex(), cfg.account.dm_url);
    let agent = http::agent();
    let s = ClientSession::server_initiated(cfg.device(), &cfg.account.dm_url, &pkg.session_id_hex(), &token);
    deliver::deliver(cfg, &agent, s)
}
