//! SyncML alert and status codes (OMA-TS-DM_RepPro-V1_2, section 10; OMA-TS-DM_Protocol-V1_2, 8.7).

/// Alert codes as a newtype: unknown values are kept, named ones are constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlertCode(pub u16);

impl AlertCode {
    /// 1200: server-initiated management session.
    pub const SERVER_INITIATED: AlertCode = AlertCode(1200);
    /// 1201: client-initiated management session.
    pub const CLIENT_INITIATED: AlertCode = AlertCode(1201);
    /// 1222: next message (more messages of a package follow).
    pub const NEXT_MESSAGE: AlertCode = AlertCode(1222);
    /// 1223: session abort.
    pub const SESSION_ABORT: AlertCode = AlertCode(1223);
    /// 1226: generic alert.
    pub const GENERIC: AlertCode = AlertCode(1226);
}

/// Status codes as a newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// 200 OK.
    pub const OK: StatusCode = StatusCode(200);
    /// 202 accepted for processing (asynchronous Exec).
    pub const ACCEPTED: StatusCode = StatusCode(202);
    /// 213 chunked item accepted and buffered.
    pub const CHUNK_BUFFERED: StatusCode = StatusCode(213);
    /// 212 authentication accepted.
    pub const AUTH_ACCEPTED: StatusCode = StatusCode(212);
    /// 215 Not executed: the command was not run (its message was refused).
    pub const NOT_EXECUTED: StatusCode = StatusCode(215);
    /// 216 command rolled back (inside a failed Atomic).
    pub const ROLLED_BACK: StatusCode = StatusCode(216);
    /// 400 bad request.
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    /// 401 invalid credentials.
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    /// 403 forbidden.
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    /// 404 not found.
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    /// 405 command not allowed.
    pub const NOT_ALLOWED: StatusCode = StatusCode(405);
    /// 406 optional feature not supported.
    pub const NOT_SUPPORTED: StatusCode = StatusCode(406);
    /// 407 missing credentials.
    pub const MISSING_CREDENTIALS: StatusCode = StatusCode(407);
    /// 412 incomplete command.
    pub const INCOMPLETE: StatusCode = StatusCode(412);
    /// 413 request entity too large.
    pub const TOO_LARGE: StatusCode = StatusCode(413);
    /// 424 size mismatch (a chunked object's data does not match its declared Size).
    pub const SIZE_MISMATCH: StatusCode = StatusCode(424);
    /// 415 unsupported media type or format.
    pub const UNSUPPORTED_MEDIA: StatusCode = StatusCode(415);
    /// 500 command failed.
    pub const FAILED: StatusCode = StatusCode(500);
    /// 507 atomic failed.
    pub const ATOMIC_FAILED: StatusCode = StatusCode(507);
}

/// Meta Type of portaldm's session-token alert in package 1.
pub const SESSION_TOKEN_TYPE: &str = "org.portaldm.session-token";
