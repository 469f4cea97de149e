//! Drives a client DM session over HTTP until it ends.

use portaldm_shared::session::ProtocolError;
use portaldm_shared::session::client::{ClientSession, ClientStep};
use portaldm_shared::syncml::Command;
use portaldm_shared::syncml::codes::StatusCode;

use crate::exit::ClientError;
use crate::http;

/// Most messages one session may take, so a misbehaving server cannot loop us forever.
const MAX_MESSAGES: usize = 200;

/// Runs `s` against `url`.
pub fn drive(agent: &ureq::Agent, url: &str, s: &mut ClientSession) -> Result<(), ClientError> {
    let mut out = s.first_message();
    for _ in 0..MAX_MESSAGES {
        let answer = http::exchange(agent, url, &out)?;
        refused(&answer)?;
        match s.handle(&answer).map_err(ClientError::Protocol)? {
            ClientStep::Send(m) => out = m,
            ClientStep::Done => return Ok(()),
        }
    }
    Err(ClientError::Protocol(ProtocolError::Unexpected(
        "session did not end",
    )))
}

/// A server that refuses the header (401, 407, 400, …) and ends the session.
fn refused(answer: &portaldm_shared::syncml::SyncMl) -> Result<(), ClientError> {
    let header = answer.body.commands.iter().find_map(|c| match c {
        Command::Status(s) if s.cmd == "SyncHdr" => Some(s.code()),
        _ => None,
    });
    match header {
        Some(code) if code.0 >= 400 && answer.body.final_ => {
            Err(ClientError::Protocol(ProtocolError::Unauthorized(code.0)))
        }
        Some(StatusCode(_)) | None => Ok(()),
    }
}
