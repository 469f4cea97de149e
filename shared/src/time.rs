//! Wall-clock time as the core sees it: a value the caller passes in.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, supplied by the caller (`Date::now()` at the edge,
/// the OS clock at the origin and dmclient, a fixed value in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// Whole seconds, as JWT claims count time.
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This instant plus `secs` seconds (saturating).
    pub fn plus_secs(self, secs: u64) -> Self {
        UnixMillis(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    /// This instant plus `ms` milliseconds (saturating).
    pub fn plus_millis(self, ms: u64) -> Self {
        UnixMillis(self.0.saturating_add(ms))
    }
}
