//! The client's side of DM authentication: it proves the device to the server, follows the
//! server's challenges (retrying with the new nonce, at most [`MAX_TRIES`] times), and, when
//! the account holds a server secret, refuses a server that does not prove itself.
//!
//! dmclient keeps the [`Nonces`] on disk between sessions; a lost or stale nonce costs one
//! challenge round trip, never the session.

use serde::{Deserialize, Serialize};

use super::server::MAX_TRIES;
use super::{Account, AuthError, HmacProof, Nonce, Scheme, chal, check, check_cred, cred, hmac_header};
use crate::rand::{RandomUnavailable, SecureRandom, bytes};
use crate::session::ProtocolError;
use crate::syncml::codes::StatusCode;
use crate::syncml::{Chal, Cred, Status, SyncMl};

/// The nonces a device keeps per account, one per direction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nonces {
    /// The nonce the server told the client to use.
    pub client: Nonce,
    /// The nonce the client told the server to use.
    pub server: Nonce,
}

/// What the server's Status for the client's header means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderOutcome {
    /// Accepted (or no authentication involved): go on.
    Accepted,
    /// Challenged: resend the opening with fresh credentials.
    Retry,
}

/// One session's authentication on the client side.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    account: Account,
    /// Needed for Basic only; MD5 and HMAC use the key.
    password: Option<String>,
    nonces: Nonces,
    /// A nonce drawn up front to hand the server for its next proof.
    fresh: Nonce,
    tries: u8,
    client_ok: bool,
    server_ok: bool,
    server_failures: u8,
    server_refused: bool,
}

impl ClientAuth {
    /// Authentication for one session with `account` and the stored `nonces`.
    pub fn new(
        account: Account,
        password: Option<String>,
        nonces: Nonces,
        rng: &mut dyn SecureRandom,
    ) -> Result<Self, RandomUnavailable> {
        Ok(ClientAuth {
            account,
            password,
            nonces,
            fresh: Nonce::from_bytes(&bytes::<16>(rng)?),
            tries: 0,
            client_ok: false,
            server_ok: false,
            server_failures: 0,
            server_refused: false,
        })
    }

    /// The nonces to keep for the next session.
    pub fn nonces(&self) -> &Nonces {
        &self.nonces
    }

    /// Whether this client has given up on the server's proof (the session then does nothing).
    pub fn server_refused(&self) -> bool {
        self.server_refused
    }

    /// The `Cred` for the next client header, until the server has accepted one.
    pub fn cred(&self) -> Option<Cred> {
        if self.client_ok {
            return None;
        }
        cred(self.account.scheme, &self.account.client, self.password.as_deref(), &self.nonces.client)
    }

    /// The `x-syncml-hmac` header for an encoded client message, under HMAC.
    pub fn hmac(&self, body: &[u8]) -> Option<String> {
        (self.account.scheme == Scheme::Hmac).then(|| hmac_header(&self.account.client, &self.nonces.client, body))
    }

    /// Reads the server's Status for the client's header.
    pub fn on_header_status(&mut self, status: &Status) -> Result<HeaderOutcome, ProtocolError> {
        if let Some(next) = status.chal.as_ref().and_then(|c| c.meta.next_nonce.clone()) {
            self.nonces.client = Nonce(next);
        }
        match status.code() {
            StatusCode::UNAUTHORIZED | StatusCode::MISSING_CREDENTIALS => {
                self.tries += 1;
                if status.chal.is_some() && self.tries < MAX_TRIES {
                    Ok(HeaderOutcome::Retry)
                } else {
                    Err(ProtocolError::Unauthorized(status.data))
                }
            }
            c if c.0 >= 300 => Err(ProtocolError::Refused(status.data)),
            _ => {
                self.client_ok = true;
                Ok(HeaderOutcome::Accepted)
            }
        }
    }

    /// Checks the server's proof on `msg`; returns the code and challenge for the client's
    /// Status for the server's header. 212 the first time, 200 after; 401/407 refuse it.
    pub fn check_server(&mut self, msg: &SyncMl, proof: HmacProof<'_>) -> (StatusCode, Option<Chal>) {
        let Some(server) = &self.account.server else { return (StatusCode::OK, None) };
        if self.server_ok && self.account.scheme != Scheme::Hmac {
            return (StatusCode::OK, None);
        }
        let result = match self.account.scheme {
            Scheme::Hmac => check(Scheme::Hmac, None, proof, server, &self.nonces.server),
            // Servers prove themselves with MD5 (they hold the key, not a password).
            _ => match check_cred(msg.hdr.cred.as_ref(), server, &self.nonces.server) {
                Ok(Scheme::Md5) => Ok(()),
                Ok(_) => Err(AuthError::Invalid),
                Err(e) => Err(e),
            },
        };
        let scheme = if self.account.scheme == Scheme::Hmac { Scheme::Hmac } else { Scheme::Md5 };
        match result {
            Ok(()) if self.server_ok => (StatusCode::OK, None),
            Ok(()) => {
                self.server_ok = true;
                self.nonces.server = self.fresh.clone();
                (StatusCode::AUTH_ACCEPTED, Some(chal(scheme, &self.nonces.server)))
            }
            Err(e) => {
                // The server may have a stale nonce: it gets the fresh one and tries again,
                // up to the same bound the server gives clients.
                self.server_failures += 1;
                self.server_refused = self.server_failures >= MAX_TRIES;
                self.nonces.server = self.fresh.clone();
                let code = match e {
                    AuthError::Missing => StatusCode::MISSING_CREDENTIALS,
                    AuthError::Invalid => StatusCode::UNAUTHORIZED,
                };
                (code, Some(chal(scheme, &self.nonces.server)))
            }
        }
    }
}
