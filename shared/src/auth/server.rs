//! The server's side of DM authentication for one device: it checks the client's credentials,
//! hands out the next client nonce, keeps the nonce the client gave for the server, proves the
//! server to the client, and ends a session after three failed tries.
//!
//! The origin keeps one [`ServerAuth`] per device (serde) beside its [`Account`], calls
//! [`ServerAuth::check`] on every message before the session machines see it, and
//! [`ServerAuth::seal`] on every answer.

use serde::{Deserialize, Serialize};

use super::{Account, AuthError, HmacProof, Nonce, Scheme, chal, check, cred, hmac_header};
use crate::rand::{RandomUnavailable, SecureRandom, bytes};
use crate::session::server::IDLE_LIMIT_MS;
use crate::session::{header_status, message, reply_header};
use crate::syncml::codes::StatusCode;
use crate::syncml::{Chal, Command, SyncMl};
use crate::time::UnixMillis;

/// Which devices must hold a DM account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Devices with an account must authenticate; others may open portal sessions with a
    /// session token and report results of their deliveries (open enrolment).
    #[default]
    Open,
    /// Every device must hold an account and authenticate.
    Accounts,
}

impl Policy {
    /// Whether a device with no account is refused.
    pub fn requires_account(self) -> bool {
        self == Policy::Accounts
    }
}

/// Failed tries after which a session ends (OMA-TS-DM_Security, 5.3).
pub const MAX_TRIES: u8 = 3;

/// Per-device authentication state, persisted between messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerAuth {
    /// The nonce the client must use in its next credential.
    pub client_nonce: Nonce,
    /// The nonce the client told the server to use.
    pub server_nonce: Nonce,
    /// The SessionID the state below is about.
    session: String,
    /// Whether that session has authenticated.
    authenticated: bool,
    /// Failed tries in that session.
    failures: u8,
    /// When that session last moved.
    at: u64,
    /// The credential that authenticated that session's message 1: a message 1 carrying
    /// the same is that message repeated (its answer was lost); any other opens a new session.
    #[serde(default)]
    opened_by: Option<String>,
}

/// Proof that the client has proved itself in the current session, made only by
/// [`ServerAuth::check`] when it accepts a message. Sealing an answer with the server's own
/// credential takes one: the server proves itself to nobody else, so no stranger can have it
/// compute that credential over a nonce of the stranger's choosing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProved(());

/// What to do with a client message after [`ServerAuth::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Go on; attach `chal` (a fresh client nonce), if any, to the header Status with [`attach`],
    /// and seal the answer with `proved`.
    Accepted {
        /// The challenge carrying the next nonce.
        chal: Option<Chal>,
        /// The client proved itself in this session.
        proved: ClientProved,
    },
    /// Send this answer, unsealed, and nothing else; no command of the message is executed.
    Refused {
        /// The closing answer (401 or 407 with a `Chal`).
        reply: Box<SyncMl>,
        /// Why.
        error: AuthError,
        /// The session has used up its tries.
        ended: bool,
    },
}

impl ServerAuth {
    /// Checks the client's credentials on `msg` (`proof` carries the HMAC header and body);
    /// `admitted` says the message proved it belongs to the stored session it names (its
    /// RespURI secret, or the repeat of its message 1: `ServerSession::admit`).
    ///
    /// A session that has authenticated is not asked again for messages admitted to it,
    /// except under HMAC, which covers every message. A message 1 opens a new session (which
    /// authenticates afresh) unless it repeats the one that opened the current session. Only
    /// an accepted message's nonce for the server is kept, and a refused message never
    /// disturbs a live authenticated session: a stranger naming its DevId (or its SessionID
    /// without its secret) can neither end it, use up its tries nor change its nonces.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &mut self,
        account: &Account,
        msg: &SyncMl,
        proof: HmacProof<'_>,
        admitted: bool,
        server_uri: &str,
        now: UnixMillis,
        rng: &mut dyn SecureRandom,
    ) -> Result<Verdict, RandomUnavailable> {
        let credential = opening_credential(msg, proof);
        let live = now.0.saturating_sub(self.at) < IDLE_LIMIT_MS;
        let repeats_opening = msg.hdr.msg_id != "1" || (credential.is_some() && credential == self.opened_by);
        // This message belongs to the session the state is about: same live id, no new opening.
        let tracked = live && msg.hdr.session_id.eq_ignore_ascii_case(&self.session) && repeats_opening;
        // A live authenticated session is the real device's; only what proves itself moves it.
        let protected = live && self.authenticated;
        let failures = if tracked { self.failures } else { 0 };
        if failures >= MAX_TRIES {
            return self.refuse(account.scheme, msg, server_uri, AuthError::Invalid, true, rng);
        }
        if tracked && admitted && self.authenticated && account.scheme != Scheme::Hmac {
            self.at = now.0;
            self.absorb(msg);
            return Ok(Verdict::Accepted { chal: None, proved: ClientProved(()) });
        }
        // The account was found by the header's Source (the DevId); the user name it holds
        // may differ (Basic and HMAC carry it and are checked against it).
        match check(account.scheme, msg.hdr.cred.as_ref(), proof, &account.client, &self.client_nonce) {
            Ok(()) => {
                let again = tracked && self.authenticated;
                if !tracked {
                    self.session = msg.hdr.session_id.clone();
                    self.opened_by = None;
                }
                self.failures = 0;
                self.authenticated = true;
                self.at = now.0;
                self.absorb(msg);
                if again {
                    // Under HMAC, a later message of the session: the nonce stays.
                    return Ok(Verdict::Accepted { chal: None, proved: ClientProved(()) });
                }
                if msg.hdr.msg_id == "1" {
                    self.opened_by = credential;
                }
                // A fresh nonce for next time, so a captured credential cannot be replayed.
                self.client_nonce = Nonce::from_bytes(&bytes::<16>(rng)?);
                Ok(Verdict::Accepted { chal: Some(chal(account.scheme, &self.client_nonce)), proved: ClientProved(()) })
            }
            Err(e) if protected => {
                // Counted nowhere: the live session is not the stranger's to use up.
                self.refuse(account.scheme, msg, server_uri, e, false, rng)
            }
            Err(e) => {
                if !tracked {
                    self.session = msg.hdr.session_id.clone();
                    self.authenticated = false;
                    self.opened_by = None;
                }
                self.failures = failures + 1;
                self.at = now.0;
                let ended = self.failures >= MAX_TRIES;
                self.refuse(account.scheme, msg, server_uri, e, ended, rng)
            }
        }
    }

    /// The refusal of `msg`, with a challenge unless the session has `ended`. The nonce it
    /// names stays until a credential is accepted: a refused message (a stranger's, say) must
    /// not make the real device's next credential stale.
    fn refuse(
        &mut self,
        scheme: Scheme,
        msg: &SyncMl,
        server_uri: &str,
        error: AuthError,
        ended: bool,
        rng: &mut dyn SecureRandom,
    ) -> Result<Verdict, RandomUnavailable> {
        let code = match error {
            AuthError::Missing => StatusCode::MISSING_CREDENTIALS,
            AuthError::Invalid => StatusCode::UNAUTHORIZED,
        };
        let mut ids = crate::session::CmdIds::default();
        let mut status = header_status(&msg.hdr, ids.next(), code);
        if !ended {
            if self.client_nonce.0.is_empty() {
                self.client_nonce = Nonce::from_bytes(&bytes::<16>(rng)?);
            }
            status.chal = Some(chal(scheme, &self.client_nonce));
        }
        // Each command gets the same code, so a client re-sends them with credentials.
        let mut cmds = vec![Command::Status(status)];
        if !ended {
            cmds.extend(crate::session::refused_commands(msg, code, &mut ids));
        }
        let reply = message(reply_header(&msg.hdr, 1, server_uri, &msg.hdr.source), cmds, true);
        Ok(Verdict::Refused { reply: Box::new(reply), error, ended })
    }

    /// Takes the nonce the client gave for the server (a `Chal` in its Status for our header),
    /// from a message that has been accepted.
    fn absorb(&mut self, msg: &SyncMl) {
        if let Some(next) = header_chal(msg) {
            self.server_nonce = Nonce(next);
        }
    }

    /// Proves the server on an answer to a client that has proved itself: a `Cred` in the
    /// header (MD5) or, under HMAC, the value of the `x-syncml-hmac` header to send with
    /// `encode(reply)`. Call [`ServerAuth::hmac`] for the latter once the bytes exist.
    pub fn seal(&self, _proved: &ClientProved, account: &Account, reply: &mut SyncMl) {
        if let Some(server) = &account.server
            && account.scheme != Scheme::Hmac
        {
            // The server has only the key, never the password: it proves itself with MD5.
            reply.hdr.cred = cred(Scheme::Md5, server, None, &self.server_nonce);
        }
    }

    /// The `x-syncml-hmac` header for an encoded answer to a client that has proved itself,
    /// when the account uses HMAC.
    pub fn hmac(&self, _proved: &ClientProved, account: &Account, body: &[u8]) -> Option<String> {
        match (&account.server, account.scheme) {
            (Some(server), Scheme::Hmac) => Some(hmac_header(server, &self.server_nonce, body)),
            _ => None,
        }
    }
}

/// What identifies the credential of a message 1: its `Cred` data, or under HMAC the MAC.
fn opening_credential(msg: &SyncMl, proof: HmacProof<'_>) -> Option<String> {
    match &msg.hdr.cred {
        Some(c) => Some(c.data.trim().to_owned()),
        None => proof.header.and_then(|h| super::parse_hmac_header(h).ok()).map(|v| v.mac),
    }
}

/// The NextNonce in the Status a message gives for its peer's header, if any.
pub(crate) fn header_chal(msg: &SyncMl) -> Option<String> {
    msg.body.commands.iter().find_map(|c| match c {
        Command::Status(s) if s.cmd == "SyncHdr" && s.cmd_ref == "0" => {
            s.chal.as_ref().and_then(|c| c.meta.next_nonce.clone())
        }
        _ => None,
    })
}

/// Puts `chal` into the Status that `reply` gives for the header of the message it answers.
pub fn attach(reply: &mut SyncMl, chal: Option<Chal>) {
    let Some(chal) = chal else { return };
    for c in &mut reply.body.commands {
        if let Command::Status(s) = c
            && s.cmd == "SyncHdr"
        {
            s.chal = Some(chal);
            return;
        }
    }
}

/// A refusal for a device the server has no account for, when policy demands one.
pub fn unknown_device(
    msg: &SyncMl,
    server_uri: &str,
    scheme: Scheme,
    rng: &mut dyn SecureRandom,
) -> Result<SyncMl, RandomUnavailable> {
    let code = if msg.hdr.cred.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::MISSING_CREDENTIALS };
    let mut ids = crate::session::CmdIds::default();
    let mut status = header_status(&msg.hdr, ids.next(), code);
    // The same challenge a known device gets, so refusals do not tell which devices exist.
    status.chal = Some(chal(scheme, &Nonce::from_bytes(&bytes::<16>(rng)?)));
    let mut cmds = vec![Command::Status(status)];
    cmds.extend(crate::session::refused_commands(msg, code, &mut ids));
    Ok(message(reply_header(&msg.hdr, 1, server_uri, &msg.hdr.source), cmds, true))
}
