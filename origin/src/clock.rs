//! The origin's clock and randomness, fed into the sans-I/O core.

use portaldm_shared::rand::{RandomUnavailable, SecureRandom};
use portaldm_shared::time::UnixMillis;

/// Now, from the OS clock.
pub fn now() -> UnixMillis {
    let ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    UnixMillis(ms)
}

/// Now as signed milliseconds, as the store keeps time.
pub fn now_ms() -> i64 {
    now().0 as i64
}

/// The OS's random source.
pub struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomUnavailable> {
        getrandom::fill(dest).map_err(|_| RandomUnavailable)
    }
}
