//! Rate limits for trigger minting: how many triggers one client address may mint, as a
//! GCRA (a token bucket kept as one timestamp), and which addresses count as one client.
//! Sans-I/O: the caller keeps the state and passes the time.

use crate::time::UnixMillis;

/// A limit: `per_minute` on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Sustained rate.
    pub per_minute: u32,
    /// How many may come back to back.
    pub burst: u32,
}

impl Default for Limit {
    fn default() -> Self {
        // Generous: carriers put many handsets behind one address (CGNAT), and a person
        // opening the portal mints one trigger per visit.
        Limit { per_minute: 120, burst: 60 }
    }
}

/// Why a request was refused: when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests; retry in {retry_after_secs} s")]
pub struct Limited {
    /// Seconds until one more is allowed (at least 1).
    pub retry_after_secs: u64,
}

/// The state of one client's limit: its theoretical arrival time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    tat: u64,
}

impl Bucket {
    /// Takes one request at `now` under `limit`.
    pub fn take(&mut self, limit: Limit, now: UnixMillis) -> Result<(), Limited> {
        if limit.per_minute == 0 {
            return Err(Limited { retry_after_secs: 60 });
        }
        let interval = 60_000 / u64::from(limit.per_minute).max(1);
        let tolerance = interval.saturating_mul(u64::from(limit.burst.max(1) - 1));
        let tat = self.tat.max(now.0);
        let allowed_at = tat.saturating_sub(tolerance);
        if allowed_at > now.0 {
            return Err(Limited { retry_after_secs: (allowed_at - now.0).div_ceil(1000).max(1) });
        }
        self.tat = tat + interval;
        Ok(())
    }

    /// Whether the bucket is full again at `now` (forgetting it changes nothing).
    pub fn is_idle(&self, now: UnixMillis) -> bool {
        self.tat <= now.0
    }
}

/// The client an address belongs to: the address itself for IPv4, its /64 for IPv6 (one
/// subscriber's prefix), `unknown` for anything else.
pub fn client_key(address: &str) -> String {
    match address.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.to_string(),
        Ok(std::net::IpAddr::V6(a)) => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => "unknown".to_owned(),
    }
}

/// The network an address belongs to, for telling whether a browser and a phone's DM client
/// are on the same one: its /24 for IPv4 (carriers' NAT pools hand one subscriber neighbouring
/// addresses), its /64 for IPv6; `None` for anything else.
pub fn network_of(address: &str) -> Option<String> {
    match address.trim().parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(a) => {
            let o = a.octets();
            Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
        }
        std::net::IpAddr::V6(a) => {
            let s = a.segments();
            Some(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limit = Limit { per_minute: 60, burst: 3 };
        let mut b = Bucket::default();
        let t = UnixMillis(1_000_000);
        for _ in 0..3 {
            assert_eq!(b.take(limit, t), Ok(()));
        }
        assert_eq!(b.take(limit, t), Err(Limited { retry_after_secs: 1 }));
        assert_eq!(b.take(limit, t.plus_millis(999)), Err(Limited { retry_after_secs: 1 }));
        assert_eq!(b.take(limit, t.plus_millis(1000)), Ok(()));
        assert!(b.take(limit, t.plus_millis(1000)).is_err());
        // After a quiet spell the whole burst is there again, no more.
        for _ in 0..3 {
            assert_eq!(b.take(limit, t.plus_secs(60)), Ok(()));
        }
        assert!(b.take(limit, t.plus_secs(60)).is_err());
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let mut b = Bucket::default();
        assert!(b.take(Limit { per_minute: 0, burst: 5 }, UnixMillis(5)).is_err());
    }

    #[test]
    fn networks_by_address() {
        assert_eq!(network_of("203.0.113.7").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(network_of("203.0.113.7"), network_of("203.0.113.250"));
        assert_ne!(network_of("203.0.113.7"), network_of("203.0.114.7"));
        assert_eq!(network_of("2001:db8:1:2::9"), network_of("2001:db8:1:2:ffff::1"));
        assert_eq!(network_of("unknown"), None);
    }

    #[test]
    fn clients_by_address() {
        assert_eq!(client_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(client_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2::9"), client_key("2001:db8:1:2:ffff::1"));
        assert_eq!(client_key("not an address"), "unknown");
        assert_eq!(client_key(""), "unknown");
    }

    proptest! {
        #[test]
        fn never_more_than_burst_plus_rate(per_minute in 1u32..600, burst in 1u32..50, steps in proptest::collection::vec(0u64..3000, 1..300)) {
            let limit = Limit { per_minute, burst };
            let (mut b, mut now, mut allowed) = (Bucket::default(), 1_000_000u64, 0u64);
            for s in &steps {
                now += s;
                if b.take(limit, UnixMillis(now)).is_ok() {
                    allowed += 1;
                }
            }
            let elapsed = now - 1_000_000;
            let interval = 60_000 / u64::from(per_minute);
            prop_assert!(allowed <= u64::from(burst) + elapsed / interval);
        }
    }
}
