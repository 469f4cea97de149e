//! The operating system's random source, as the core asks for randomness.

use portaldm_shared::rand::{RandomUnavailable, SecureRandom};

use crate::exit::ClientError;

/// `getrandom`.
pub struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomUnavailable> {
        getrandom::fill(dest).map_err(|_| RandomUnavailable)
    }
}

/// A fresh SessionID for a session this device opens.
pub fn session_id() -> Result<String, ClientError> {
    portaldm_shared::session::client::fresh_session_id(&mut OsRandom)
        .map_err(|e| ClientError::State(std::io::Error::other(e)))
}
