//! HTTP for dmclient: posting SyncML and fetching downloads, with timeouts.

use std::time::Duration;

use portaldm_shared::media::{self, DmEncoding};
use portaldm_shared::syncml::{self, SyncMl};

use crate::exit::ClientError;

/// Largest DM answer read.
const MAX_ANSWER: u64 = 1 << 20;

/// An HTTP agent whose timeouts outlast a held package-4 message (≤ 25 s).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .timeout_connect(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Posts `msg` to `url` in `enc` and decodes the answer (in the encoding it declares).
pub fn exchange(agent: &ureq::Agent, url: &str, msg: &SyncMl, enc: DmEncoding) -> Result<SyncMl, ClientError> {
    let body = syncml::encode(enc, msg).map_err(ClientError::Decode)?;
    let ct = match enc {
        DmEncoding::Xml => media::DM_XML,
        DmEncoding::Wbxml => media::DM_WBXML,
    };
    let mut resp = agent
        .post(url)
        .header("Content-Type", ct)
        .header("Accept", ct)
        .send(&body[..])
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    let status = resp.status();
    let answer_enc =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).and_then(media::dm_encoding).unwrap_or(enc);
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    if status.is_client_error() {
        // The server refused this message as such: resending it will not help.
        let text = String::from_utf8_lossy(&bytes);
        return Err(ClientError::Refused(status.as_u16(), text.chars().take(200).collect()));
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&bytes);
        return Err(ClientError::Transport(format!("HTTP {status}: {}", text.chars().take(200).collect::<String>())));
    }
    syncml::decode(answer_enc, &bytes).map_err(ClientError::Decode)
}
