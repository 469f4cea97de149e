//! HTTP for dmclient: posting SyncML and fetching downloads, with timeouts.

use std::time::Duration;

use portaldm_shared::auth;
use portaldm_shared::media::{self, DmEncoding};
use portaldm_shared::session::hold;
use portaldm_shared::syncml::{self, SyncMl};

use crate::exit::ClientError;

/// Largest DM answer read.
const MAX_ANSWER: u64 = 1 << 20;

/// An HTTP agent whose timeouts outlast a held package-4 message and the edge's deadline for it.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(hold::CLIENT_TIMEOUT))
        .timeout_connect(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A decoded DM answer with what an HMAC check needs.
#[derive(Debug)]
pub struct Answer {
    /// The message.
    pub msg: SyncMl,
    /// Its bytes as received.
    pub body: Vec<u8>,
    /// The `x-syncml-hmac` header, if any.
    pub hmac: Option<String>,
}

/// Posts the encoded message `body` (with its `x-syncml-hmac`, if any) to `url` and decodes
/// the answer (in the encoding it declares).
pub fn exchange(
    agent: &ureq::Agent,
    url: &str,
    body: &[u8],
    hmac: Option<&str>,
    enc: DmEncoding,
) -> Result<Answer, ClientError> {
    let ct = match enc {
        DmEncoding::Xml => media::DM_XML,
        DmEncoding::Wbxml => media::DM_WBXML,
    };
    let mut req = agent.post(url).header("Content-Type", ct).header("Accept", ct);
    if let Some(h) = hmac {
        req = req.header(auth::HMAC_HEADER, h);
    }
    let mut resp = req.send(body).map_err(|e| ClientError::Transport(e.to_string()))?;
    let answer_hmac = resp.headers().get(auth::HMAC_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = resp.status();
    let answer_enc =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).and_then(media::dm_encoding).unwrap_or(enc);
    let bytes = resp.body_mut().with_config().limit(MAX_ANSWER).read_to_vec().map_err(|e| match e {
        // Not transient: sending the message again would get the same answer.
        ureq::Error::BodyExceedsLimit(limit) => ClientError::AnswerTooLarge(limit),
        e => ClientError::Transport(e.to_string()),
    })?;
    if status.is_client_error() {
        // The server refused this message as such: resending it will not help.
        let text = String::from_utf8_lossy(&bytes);
        return Err(ClientError::Refused(status.as_u16(), text.chars().take(200).collect()));
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&bytes);
        return Err(ClientError::Transport(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>())));
    }
    let msg = syncml::decode(answer_enc, &bytes).map_err(ClientError::Decode)?;
    Ok(Answer { msg, body: bytes, hmac: answer_hmac })
}
