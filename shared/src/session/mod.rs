//! DM session state machines (OMA-TS-DM_Protocol-V1_2, section 8), server and client side.
//!
//! Both are sans-I/O: they take decoded messages and return the messages to send and what
//! happened. The origin persists [`server::ServerSession`] between HTTP requests (serde);
//! dmclient drives [`client::ClientSession`] over its HTTP connection.

pub mod client;
pub mod continuation;
pub mod discovery;
pub mod hold;
pub mod opening;
pub mod package;
pub mod report;
pub mod server;

/// Sessions of devices with a profile: its cap, encoding and known nodes.
#[cfg(test)]
mod profile_tests;
/// A server and a client session stepped together (the two-sided tests).
#[cfg(test)]
mod tests;

use crate::syncml::codes::StatusCode;
use crate::syncml::{Command, Status, SyncHdr, SyncMl};

/// The protocol versions portaldm speaks.
pub const VER_DTD: &str = "1.2";
/// `VerProto` of DM 1.2.
pub const VER_PROTO: &str = "DM/1.2";
/// MaxMsgSize portaldm announces.
pub const MAX_MSG_SIZE: u64 = 65_536;

/// A protocol fault by the peer, mapped once to a SyncML status (and by the origin to HTTP).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Not DM 1.2.
    #[error("unsupported protocol version {0}")]
    Version(String),
    /// A required command or value is missing.
    #[error("incomplete message: {0}")]
    Incomplete(&'static str),
    /// The message does not belong to this session or this point of it.
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
    /// The session token does not fit this session.
    #[error("session token does not match the message: {0}")]
    TokenMismatch(&'static str),
    /// The session has ended.
    #[error("the session has ended")]
    Ended,
    /// The message asks for something only an authenticated device may do.
    #[error("credentials required: {0}")]
    NeedsCredentials(&'static str),
    /// The server refused the client's credentials (401, 407).
    #[error("server refused authentication with status {0}")]
    Unauthorized(u16),
    /// The server refused the message header with another failure status and ended the session.
    #[error("server refused the session with status {0}")]
    Refused(u16),
}

impl ProtocolError {
    /// The SyncML status that answers this fault.
    pub fn status(&self) -> StatusCode {
        match self {
            ProtocolError::Version(_) => StatusCode(505),
            ProtocolError::Incomplete(_) => StatusCode::INCOMPLETE,
            ProtocolError::Unexpected(_) | ProtocolError::Ended | ProtocolError::Refused(_) => StatusCode::BAD_REQUEST,
            ProtocolError::TokenMismatch(_) | ProtocolError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ProtocolError::NeedsCredentials(_) => StatusCode::MISSING_CREDENTIALS,
        }
    }
}

/// A closing answer that refuses `msg` with `code` in the header Status (e.g. 401 for a
/// bad token, 407 for no credentials) and ends the session.
pub fn refuse(msg: &SyncMl, server_uri: &str, code: StatusCode) -> SyncMl {
    let mut ids = CmdIds::default();
    let mut cmds = vec![Command::Status(header_status(&msg.hdr, ids.next(), code))];
    cmds.extend(refused_commands(msg, code, &mut ids));
    message(reply_header(&msg.hdr, 1, server_uri, &msg.hdr.source), cmds, true)
}

/// Most commands of a refused message that get a status of their own: enough for any real
/// package 1, and a hostile one cannot make a refusal grow.
pub const MAX_REFUSED_STATUSES: usize = 4;

/// Statuses for the commands of a message refused with `code` on its header: the same 401 or
/// 407 (a client re-sends the commands that got one, with credentials: libdmclient acts on
/// nothing else), else 215 (not executed).
pub(crate) fn refused_commands(msg: &SyncMl, code: StatusCode, ids: &mut CmdIds) -> Vec<Command> {
    let each = if matches!(code, StatusCode::UNAUTHORIZED | StatusCode::MISSING_CREDENTIALS) {
        code
    } else {
        StatusCode::NOT_EXECUTED
    };
    msg.body
        .commands
        .iter()
        .filter(|c| !matches!(c, Command::Status(_) | Command::Results(_)) && !c.no_resp())
        .take(MAX_REFUSED_STATUSES)
        .map(|c| Command::Status(command_status(&msg.hdr.msg_id, c, ids.next(), each)))
        .collect()
}

/// The closing answer to a message whose header decodes but whose body does not: 505 on the
/// header for another DM version (a DM 1.1.2 client gets a SyncML answer it can act on,
/// never an HTTP error), 400 otherwise.
pub fn refuse_undecodable(hdr: &SyncHdr, server_uri: &str) -> SyncMl {
    let code = match check_version(hdr) {
        Err(e) => e.status(),
        Ok(()) => StatusCode::BAD_REQUEST,
    };
    let msg = SyncMl { hdr: hdr.clone(), body: crate::syncml::SyncBody::default() };
    refuse(&msg, server_uri, code)
}

/// Checks the version fields of a header: portaldm speaks DM 1.2 only (505 otherwise).
pub fn check_version(hdr: &SyncHdr) -> Result<(), ProtocolError> {
    if hdr.ver_dtd != VER_DTD || !hdr.ver_proto.eq_ignore_ascii_case(VER_PROTO) {
        return Err(ProtocolError::Version(format!("{} {}", hdr.ver_dtd, hdr.ver_proto)));
    }
    Ok(())
}

/// The header of a message answering `to`, from `source` to `target`.
pub(crate) fn reply_header(to: &SyncHdr, msg_id: u32, source: &str, target: &str) -> SyncHdr {
    SyncHdr {
        ver_dtd: VER_DTD.into(),
        ver_proto: VER_PROTO.into(),
        session_id: to.session_id.clone(),
        msg_id: msg_id.to_string(),
        target: target.to_owned(),
        source: source.to_owned(),
        meta: crate::syncml::Meta { max_msg_size: Some(MAX_MSG_SIZE), ..Default::default() },
        ..SyncHdr::default()
    }
}

/// The Status answering the header of `to`.
pub(crate) fn header_status(to: &SyncHdr, cmd_id: String, code: StatusCode) -> Status {
    Status {
        cmd_id,
        msg_ref: to.msg_id.clone(),
        cmd_ref: "0".into(),
        cmd: "SyncHdr".into(),
        target_refs: vec![to.target.clone()],
        source_refs: vec![to.source.clone()],
        data: code.0,
        ..Status::default()
    }
}

/// The Status answering command `c` of message `msg_id`.
pub(crate) fn command_status(msg_id: &str, c: &Command, cmd_id: String, code: StatusCode) -> Status {
    Status {
        cmd_id,
        msg_ref: msg_id.to_owned(),
        cmd_ref: c.cmd_id().to_owned(),
        cmd: c.name().into(),
        data: code.0,
        ..Status::default()
    }
}

/// Numbers commands within one message.
#[derive(Debug, Default)]
pub(crate) struct CmdIds(u32);

impl CmdIds {
    pub(crate) fn next(&mut self) -> String {
        self.0 += 1;
        self.0.to_string()
    }
}

/// A message from its header and commands.
pub(crate) fn message(hdr: SyncHdr, commands: Vec<Command>, final_: bool) -> SyncMl {
    SyncMl { hdr, body: crate::syncml::SyncBody { commands, final_ } }
}
