//! Drives a client DM session over HTTP until it ends.

use portaldm_shared::session::ProtocolError;
use portaldm_shared::session::client::{ClientSession, ClientStep};

use crate::exit::ClientError;
use crate::http;

/// Most messages one session may take, so a misbehaving server cannot loop us forever.
const MAX_MESSAGES: usize = 200;
/// Tries per message when the server is unreachable or failing (it may be restarting).
const TRIES: u32 = 6;

/// Posts `msg`, retrying transport failures with backoff. Resending is safe: the server
/// answers a repeated message with its previous answer instead of acting twice.
fn exchange_retrying(
    enc: portaldm_shared::media::DmEncoding,
    agent: &ureq::Agent,
    url: &str,
    msg: &portaldm_shared::syncml::SyncMl,
) -> Result<portaldm_shared::syncml::SyncMl, ClientError> {
    let mut delay = std::time::Duration::from_millis(250);
    let mut tries = 1;
    loop {
        match http::exchange(agent, url, msg, enc) {
            Err(ClientError::Transport(e)) if tries < TRIES => {
                eprintln!("DM server unavailable ({e}); retrying in {delay:?}");
                std::thread::sleep(delay);
                delay *= 2;
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Runs `s` against `url`.
pub fn drive(
    enc: portaldm_shared::media::DmEncoding,
    agent: &ureq::Agent,
    url: &str,
    s: &mut ClientSession,
) -> Result<(), ClientError> {
    let mut out = s.first_message();
    for _ in 0..MAX_MESSAGES {
        let answer = exchange_retrying(enc, agent, url, &out)?;
        match s.handle(&answer).map_err(ClientError::Protocol)? {
            ClientStep::Send(m) => out = *m,
            ClientStep::Done => return Ok(()),
        }
    }
    Err(ClientError::Protocol(ProtocolError::Unexpected("session did not end")))
}
