//! Drives a client DM session over HTTP until it ends, with the account's authentication.

use portaldm_shared::auth::HmacProof;
use portaldm_shared::fumo::FumoDelivery;
use portaldm_shared::session::ProtocolError;
use portaldm_shared::session::client::{ClientSession, ClientStep};
use portaldm_shared::syncml::{self, SyncMl};

use crate::config::Config;
use crate::exit::ClientError;
use crate::{http, nonces};

/// Most messages one session may take, so a misbehaving server cannot loop us forever.
const MAX_MESSAGES: usize = 200;
/// Tries per message when the server is unreachable or failing (it may be restarting).
const TRIES: u32 = 6;

/// Posts `body`, retrying transport failures with backoff. Resending is safe: the server
/// answers a repeated message with its previous answer instead of acting twice.
fn exchange_retrying(
    cfg: &Config,
    agent: &ureq::Agent,
    url: &str,
    body: &[u8],
    hmac: Option<&str>,
) -> Result<http::Answer, ClientError> {
    let mut delay = std::time::Duration::from_millis(250);
    let mut tries = 1;
    loop {
        match http::exchange(agent, url, body, hmac, cfg.account.encoding.dm()) {
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

/// Runs `s` against the account's DM URL. The account's nonces are kept whatever happens:
/// a stale one costs a challenge next time, a lost one is not recoverable without that.
///
/// `on_delivery` runs for each delivery the server hands over, before the message that
/// acknowledges it is sent.
pub fn drive(
    cfg: &Config,
    agent: &ureq::Agent,
    s: ClientSession,
    on_delivery: OnDelivery<'_>,
) -> Result<ClientSession, ClientError> {
    let s = s.with_settings_roots(cfg.settings.roots.clone());
    let mut s = nonces::attach(cfg, s.with_wire(cfg.account.encoding.dm()))?;
    let result = run(cfg, agent, &mut s, on_delivery);
    nonces::keep(cfg, &s)?;
    result?;
    if s.auth().is_some_and(|a| a.server_refused()) {
        return Err(ClientError::ServerUnauthenticated);
    }
    Ok(s)
}

/// What the caller does with each delivery as it arrives.
pub type OnDelivery<'a> = &'a mut dyn FnMut(&ClientSession, &FumoDelivery) -> Result<(), ClientError>;

fn run(
    cfg: &Config,
    agent: &ureq::Agent,
    s: &mut ClientSession,
    on_delivery: OnDelivery<'_>,
) -> Result<(), ClientError> {
    let mut out = s.first_message();
    let mut kept = 0;
    for _ in 0..MAX_MESSAGES {
        let body = encode(cfg, &out)?;
        let hmac = s.hmac_header(&body);
        let url = s.next_url().to_owned();
        let answer = exchange_retrying(cfg, agent, &url, &body, hmac.as_deref())?;
        let proof = HmacProof { header: answer.hmac.as_deref(), body: &answer.body };
        let step = s.handle_proved(&answer.msg, proof).map_err(ClientError::Protocol)?;
        for d in &s.deliveries()[kept..] {
            on_delivery(s, d)?;
        }
        kept = s.deliveries().len();
        match step {
            ClientStep::Send(m) => out = *m,
            ClientStep::Done => return Ok(()),
        }
    }
    Err(ClientError::Protocol(ProtocolError::Unexpected("session did not end")))
}

fn encode(cfg: &Config, msg: &SyncMl) -> Result<Vec<u8>, ClientError> {
    syncml::encode(cfg.account.encoding.dm(), msg).map_err(ClientError::Decode)
}
