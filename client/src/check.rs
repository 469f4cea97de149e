//! `dmclient check`: asking for an update without a browser.

use portaldm_shared::session::client::ClientSession;

use crate::config::Config;
use crate::exit::ClientError;
use crate::{deliver, http, random};

/// `dmclient check`: asks the server for an update without a browser (a client-initiated
/// session with the FUMO device request); needs the account's credentials.
pub fn run(cfg: &Config) -> Result<(), ClientError> {
    if cfg.account.auth.is_none() {
        return Err(ClientError::Config("`check` needs DM credentials in [account.auth]".into()));
    }
    let session_id = random::session_id()?;
    eprintln!("asking {} for updates", cfg.account.dm_url);
    deliver::deliver(cfg, &http::agent(), ClientSession::check(cfg.device(), &cfg.account.dm_url, &session_id))
}
