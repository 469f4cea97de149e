//! dmclient's errors and the exit codes that tell a handset's shell why.

use portaldm_shared::pkg0::Pkg0Error;
use portaldm_shared::session::ProtocolError;
use portaldm_shared::syncml::DecodeError;
use portaldm_shared::token::TokenError;

/// The exit codes, for `--help`.
pub const HELP: &str = "Exit codes:
  0  the session completed (and any update was installed and reported)
  2  the configuration is unusable
  3  the trigger is malformed
  4  the trigger is for a ServerID this device has no account for
  5  the trigger's digest does not match the account's server credentials
  6  the trigger's session token is invalid, expired or not for this device's server
  7  the DM server could not be reached or answered with an HTTP error
  8  the DM server broke the protocol or refused the session
  9  the update failed to download, verify or install (the failure was reported)
 10  the result could not be reported yet (kept; `dmclient report` retries)
 11  the phone's user did not accept a trigger that asks them (nothing was contacted)";

/// Everything that ends a dmclient run early.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// Reading the trigger failed.
    #[error("cannot read the trigger: {0}")]
    TriggerRead(#[source] std::io::Error),
    /// Malformed trigger.
    #[error("malformed trigger")]
    Trigger(#[source] Pkg0Error),
    /// Unknown ServerID.
    #[error("trigger is for ServerID {0:?}, which has no account here; nothing was contacted")]
    UnknownServer(String),
    /// Digest mismatch.
    #[error("trigger digest does not match the server credentials; nothing was contacted")]
    BadDigest,
    /// Bad token.
    #[error("trigger session token refused; nothing was contacted")]
    Token(#[source] TokenError),
    /// The token belongs to another trigger.
    #[error("trigger session token is for another session; nothing was contacted")]
    TokenMismatch,
    /// Network or HTTP failure.
    #[error("DM server unreachable or failing: {0}")]
    Transport(String),
    /// The server refused a message at the HTTP level (4xx).
    #[error("DM server refused the message with HTTP {0}: {1}")]
    Refused(u16, String),
    /// The server's answer is larger than dmclient reads.
    #[error("DM server's answer is larger than {0} bytes")]
    AnswerTooLarge(u64),
    /// The server's message does not decode.
    #[error("DM server sent an undecodable message")]
    Decode(#[source] DecodeError),
    /// Protocol failure.
    #[error("DM session failed")]
    Protocol(#[source] ProtocolError),
    /// The server did not prove itself with the account's server credentials.
    #[error("DM server failed to authenticate itself; nothing it asked for was done")]
    ServerUnauthenticated,
    /// The update failed (and was reported).
    #[error("update failed with FUMO result {0}: {1}")]
    UpdateFailed(u16, &'static str),
    /// The result could not be reported yet.
    #[error("result not reported yet: {0}")]
    ReportPending(String),
    /// Local storage failed.
    #[error("local state: {0}")]
    State(#[source] std::io::Error),
    /// The trigger asks for the user's consent and did not get it.
    #[error("trigger not accepted on this phone: {0}; nothing was contacted")]
    NotConfirmed(String),
}

impl ClientError {
    /// The exit code for this error (see [`HELP`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Config(_) | ClientError::State(_) => 2,
            ClientError::TriggerRead(_) | ClientError::Trigger(_) => 3,
            ClientError::UnknownServer(_) => 4,
            ClientError::BadDigest => 5,
            ClientError::Token(_) | ClientError::TokenMismatch => 6,
            ClientError::Transport(_) => 7,
            ClientError::Decode(_)
            | ClientError::Protocol(_)
            | ClientError::Refused(..)
            | ClientError::AnswerTooLarge(_)
            | ClientError::ServerUnauthenticated => 8,
            ClientError::UpdateFailed(..) => 9,
            ClientError::ReportPending(_) => 10,
            ClientError::NotConfirmed(_) => 11,
        }
    }
}
