//! What proves that a DM message continues a session: the 16-bit SessionID and the DevId are
//! guessable (a stranger scanning 65,536 ids finds a live session in seconds), so the server
//! hands each session an unguessable secret in its first answer, as the `RespURI` the client
//! must post the rest of the session to (OMA-TS-DM_RepPro-V1_2, 5.1.22 `RespURI`): the path
//! `/dm/<secret>`. A later message without it does not belong to the session, unless it
//! proves itself on its own (an HMAC over every message).
//!
//! A message 1 is that session's opening repeated (its answer was lost) only when it is the
//! same message: the server keeps a digest of it ([`opening_digest`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::media::DM_PATH;
use crate::rand::{RandomUnavailable, SecureRandom, bytes};
use crate::syncml::SyncMl;

/// Characters of a secret: base64url of 16 random bytes.
const SECRET_LEN: usize = 22;

/// A session's continuation secret.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Continuation(String);

impl std::fmt::Debug for Continuation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Continuation(…)")
    }
}

impl Continuation {
    /// A fresh secret.
    pub fn generate(rng: &mut dyn SecureRandom) -> Result<Self, RandomUnavailable> {
        Ok(Continuation(B64URL.encode(bytes::<16>(rng)?)))
    }

    /// Whether this is no secret at all (sessions stored before secrets existed).
    pub fn is_none(&self) -> bool {
        self.0.is_empty()
    }

    /// The `RespURI` for a server whose DM URL is `server_uri` (`…/dm`).
    pub fn resp_uri(&self, server_uri: &str) -> String {
        format!("{}/{}", server_uri.trim_end_matches('/'), self.0)
    }

    /// Whether `presented` (the secret in the path the message was posted to) is this one,
    /// compared in constant time.
    pub fn matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(self.0.as_bytes())))
    }
}

/// The secret in a DM path: `Some` for `/dm/<secret>`, `None` for `/dm` itself.
pub fn in_path(path: &str) -> Option<&str> {
    path.strip_prefix(DM_PATH)?.strip_prefix('/').filter(|s| is_secret(s))
}

/// Whether `path` is where DM messages are posted: `/dm`, or `/dm/<secret>`.
pub fn is_dm_path(path: &str) -> bool {
    path == DM_PATH || in_path(path).is_some()
}

/// `path` with any secret in it hidden, for logs.
pub fn loggable(path: &str) -> &str {
    if in_path(path).is_some() { "/dm/…" } else { path }
}

fn is_secret(s: &str) -> bool {
    s.len() == SECRET_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A digest of a decoded message (its canonical XML): what tells a repeated message 1 from a
/// new session's.
pub fn opening_digest(msg: &SyncMl) -> String {
    B64URL.encode(Sha256::digest(crate::syncml::xml::encode(msg)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::TestRng;

    #[test]
    fn the_secret_travels_in_the_resp_uri_path() {
        let c = Continuation::generate(&mut TestRng(3)).expect("random");
        let uri = c.resp_uri("https://edge.example/dm");
        let path = crate::path::of_url(&uri);
        assert!(is_dm_path(path) && is_dm_path("/dm"));
        assert!(c.matches(in_path(path)));
        assert_eq!(loggable(path), "/dm/…");
        assert!(!format!("{c:?}").contains(&c.0));
    }

    #[test]
    fn another_or_no_secret_does_not_match() {
        let c = Continuation::generate(&mut TestRng(3)).expect("random");
        let other = Continuation::generate(&mut TestRng(4)).expect("random");
        assert!(!c.matches(in_path(crate::path::of_url(&other.resp_uri("http://h/dm")))));
        assert!(!c.matches(None));
        assert!(!c.matches(Some("")));
    }

    #[test]
    fn only_well_formed_secrets_make_a_dm_path() {
        for p in
            ["/dm/", "/dm/short", "/dm/../admin", "/dmx", "/dm/AAAAAAAAAAAAAAAAAAAAAA/x", "/dm/AAAAAAAAAAAAAAAAAAAA%2"]
        {
            assert!(!is_dm_path(p), "{p}");
        }
        assert!(is_dm_path("/dm/AAAAAAAAAAAAAAAAAAAAAA"));
    }
}
