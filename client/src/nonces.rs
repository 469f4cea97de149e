//! The DM account's authentication on this device: its nonces kept on disk between sessions.

use std::path::{Path, PathBuf};

use portaldm_shared::auth::client::{ClientAuth, Nonces};
use portaldm_shared::session::client::ClientSession;

use crate::config::Config;
use crate::exit::ClientError;
use crate::random::OsRandom;

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("auth-nonces.json")
}

/// Gives `s` the account's authentication, if the account has credentials.
pub fn attach(cfg: &Config, s: ClientSession) -> Result<ClientSession, ClientError> {
    let Some(a) = &cfg.account.auth else { return Ok(s) };
    let nonces = load(&cfg.state_dir)?;
    let password = Some(a.client_password.clone());
    let auth = ClientAuth::new(a.account()?, password, nonces, &mut OsRandom)
        .map_err(|e| ClientError::State(std::io::Error::other(e)))?;
    Ok(s.with_auth(auth))
}

/// Keeps the nonces `s` ended with.
pub fn keep(cfg: &Config, s: &ClientSession) -> Result<(), ClientError> {
    let Some(a) = s.auth() else { return Ok(()) };
    crate::private::dir(&cfg.state_dir).map_err(ClientError::State)?;
    let tmp = cfg.state_dir.join(".auth-nonces.json.tmp");
    let json = serde_json::to_vec_pretty(a.nonces())
        .map_err(|e| ClientError::State(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    crate::private::write(&tmp, &json, false).map_err(ClientError::State)?;
    std::fs::rename(&tmp, path(&cfg.state_dir)).map_err(ClientError::State)
}

fn load(state_dir: &Path) -> Result<Nonces, ClientError> {
    match std::fs::read(path(state_dir)) {
        // A damaged file costs one challenge round trip, not the session.
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Nonces::default()),
        Err(e) => Err(ClientError::State(e)),
    }
}
