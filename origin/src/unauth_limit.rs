//! DM messages that prove no account (from devices without one, with refused credentials, or
//! naming a live session without its secret) are limited per client address and per DevId
//! (`shared::ratelimit`), so nobody scans session ids, correlators or passwords at speed.
//! Per process: replicas each keep their own buckets.

use std::collections::HashMap;
use std::sync::Mutex;

use portaldm_shared::ratelimit::{Bucket, Limit, Limited, client_key};
use portaldm_shared::time::UnixMillis;

/// Most keys kept per map; past it idle buckets are forgotten, and if that is not enough the
/// map starts afresh (a flood of addresses must not grow the process without bound).
const MAX_KEYS: usize = 100_000;

/// The buckets.
pub struct UnauthLimit {
    per_address: Option<Limit>,
    per_device: Option<Limit>,
    addresses: Mutex<HashMap<String, Bucket>>,
    devices: Mutex<HashMap<String, Bucket>>,
}

impl UnauthLimit {
    /// Limits of `per_minute` (0: none), each with a burst of half as many.
    pub fn new(per_address: u32, per_device: u32) -> Self {
        let limit = |n: u32| (n > 0).then(|| Limit { per_minute: n, burst: (n / 2).max(1) });
        UnauthLimit {
            per_address: limit(per_address),
            per_device: limit(per_device),
            addresses: Mutex::default(),
            devices: Mutex::default(),
        }
    }

    /// Takes one unauthenticated message from `address` (as the edge saw it), at `now`, and
    /// for a miss (refused credentials, a later message that continues no session, a live
    /// session's id without its secret) one from the DevId it claims, `miss_of`; refused when
    /// a bucket is empty. A device's own sessions
    /// without an account are not misses: they draw on their address only.
    pub fn admit(&self, address: &str, miss_of: Option<&str>, now: UnixMillis) -> Result<(), Limited> {
        // Where the edge knows no address every client is `unknown`: one shared bucket would
        // let anyone starve every device, so only the DevId limit applies then.
        let key = client_key(address);
        if let Some(limit) = self.per_address.filter(|_| key != "unknown") {
            take(&self.addresses, key, limit, now)?;
        }
        if let (Some(limit), Some(dev_id)) = (self.per_device, miss_of) {
            // DevIds are peer text: bounded before they become a key.
            let key: String = dev_id.chars().take(portaldm_shared::device::MAX_LEAF_LEN).collect();
            take(&self.devices, key, limit, now)?;
        }
        Ok(())
    }
}

fn take(map: &Mutex<HashMap<String, Bucket>>, key: String, limit: Limit, now: UnixMillis) -> Result<(), Limited> {
    // A poisoned lock only means another request panicked mid-update; the buckets are still
    // usable numbers.
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= MAX_KEYS && !map.contains_key(&key) {
        map.retain(|_, b| !b.is_idle(now));
        if map.len() >= MAX_KEYS {
            // Forgetting live buckets would refill a victim's; a flood of new keys waits.
            tracing::warn!("unauthenticated DM limit: too many clients at once; refusing new ones");
            return Err(Limited { retry_after_secs: 60 });
        }
    }
    map.entry(key).or_default().take(limit, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_and_a_device_each_run_out() {
        let l = UnauthLimit::new(10, 4);
        let now = UnixMillis(1_000_000);
        // Per device: a burst of 2.
        assert!(l.admit("203.0.113.1", Some("IMEI:1"), now).is_ok());
        assert!(l.admit("203.0.113.2", Some("IMEI:1"), now).is_ok());
        assert!(l.admit("203.0.113.3", Some("IMEI:1"), now).is_err(), "one device from many addresses");
        // Per address: a burst of 5, whatever DevIds it claims.
        for n in 0..4 {
            assert!(l.admit("198.51.100.7", Some(&format!("IMEI:{n}0")), now).is_ok());
        }
        assert!(l.admit("198.51.100.7", None, now).is_ok());
        assert!(l.admit("198.51.100.7", None, now).is_err(), "many devices from one address");
        assert!(l.admit("198.51.100.7", None, UnixMillis(now.0 + 60_000)).is_ok(), "refilled");
    }

    #[test]
    fn an_unknown_address_is_not_one_bucket_for_everyone() {
        let l = UnauthLimit::new(2, 0);
        for n in 0..50 {
            assert!(l.admit("unknown", Some(&format!("IMEI:{n}")), UnixMillis(1)).is_ok());
        }
    }

    #[test]
    fn zero_is_no_limit() {
        let l = UnauthLimit::new(0, 0);
        for _ in 0..1000 {
            assert!(l.admit("a", Some("b"), UnixMillis(1)).is_ok());
        }
    }

    #[test]
    fn a_flood_of_keys_stays_bounded() {
        let l = UnauthLimit::new(1000, 0);
        for n in 0..(MAX_KEYS + 10) {
            let _ = l.admit(&format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255), None, UnixMillis(1));
        }
        assert!(l.addresses.lock().map(|m| m.len()).unwrap_or(0) <= MAX_KEYS);
    }
}
