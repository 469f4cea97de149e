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

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01, UTC
/// (Howard Hinnant's `civil_from_days`): for dates in logs and charts without a date library.
pub fn civil_date(days_since_epoch: i64) -> (i64, u32, u32) {
    let z = days_since_epoch + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod civil_tests {
    use super::civil_date;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(20_418), (2025, 11, 26));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
    }
}
