//! Binding a stock client's DM session to its browser. A handset's own DM client knows nothing
//! of portaldm: its Alert 1200 session carries only the package #0 session id, written into
//! `SyncHdr/SessionID` in its own spelling. The origin learns of a live trigger when its browser
//! first shows its token (the `pdmt` cookie, [`crate::binding::TRIGGER_COOKIE`]), and binds a
//! stock session to the one live trigger its SessionID can name — never to a guess: when two
//! could be meant and nothing known tells them apart, the binding is refused and both browsers
//! trigger again.
//!
//! [`Binder`] is the decision, sans-I/O: the origin feeds it the live triggers it reads and the
//! time, and looks again when it says [`Poll::Retry`].

use serde::{Deserialize, Serialize};

use crate::ratelimit::network_of;
use crate::time::UnixMillis;
use crate::token::{Claims, LEEWAY_SECS};

/// The trigger session ids a stock client's SessionID may be the spelling of: upper- or
/// lower-case hex as the Notification spec writes it, decimal, and either of those byte-swapped
/// (libdmclient's reading). Each counts toward the clash rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spellings(Vec<u16>);

impl Spellings {
    /// The ids `session_id` may spell (none for anything that is not 1–4 hex or 1–5 decimal
    /// digits; 0 is never a trigger's id).
    pub fn of(session_id: &str) -> Self {
        let s = session_id.trim();
        let mut ids = Vec::with_capacity(4);
        let mut add = |n: u16| {
            for n in [n, n.swap_bytes()] {
                if n != 0 && !ids.contains(&n) {
                    ids.push(n);
                }
            }
        };
        if (1..=4).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(n) = u16::from_str_radix(s, 16)
        {
            add(n);
        }
        if (1..=5).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = s.parse::<u16>()
        {
            add(n);
        }
        Spellings(ids)
    }

    /// The candidate ids, at most four.
    pub fn ids(&self) -> &[u16] {
        &self.0
    }

    /// Whether `nsid` is one of them.
    pub fn contains(&self, nsid: u16) -> bool {
        self.0.contains(&nsid)
    }
}

/// What the origin keeps of a trigger its browser has shown, for binding a stock session to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveTrigger {
    /// The portal session id.
    pub sid: String,
    /// The package #0 session id.
    pub nsid: u16,
    /// The token's id, spent when a session binds (by token or by SessionID).
    pub jti: String,
    /// When the token was minted (its `iat`).
    pub minted_at: UnixMillis,
    /// When the token expires (its `exp`): the trigger is live until then.
    pub expires_at: UnixMillis,
    /// The network the trigger was requested from, when the edge knew it.
    pub net: Option<String>,
}

impl LiveTrigger {
    /// The trigger a verified token describes.
    pub fn of(claims: &Claims) -> Self {
        LiveTrigger {
            sid: claims.sid.clone(),
            nsid: claims.nsid,
            jti: claims.jti.clone(),
            minted_at: UnixMillis(claims.iat.saturating_mul(1000)),
            expires_at: UnixMillis(claims.exp.saturating_mul(1000)),
            net: claims.net.clone(),
        }
    }

    /// Whether a session that arrived at `arrived` may answer this trigger: it was minted
    /// before (give or take the edge's clock) and has not expired.
    fn could_answer(&self, arrived: UnixMillis, now: UnixMillis) -> bool {
        self.minted_at.0 <= arrived.0.saturating_add(LEEWAY_SECS * 1000) && now.0 < self.expires_at.0
    }
}

/// How the origin binds stock sessions (from its configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Bind only to a trigger requested from the network the phone's session comes from.
    pub same_network: bool,
    /// How long a session waits for its trigger's browser to show the trigger.
    pub wait_ms: u64,
    /// How long after the first candidate shows up the binder looks for a second one (two
    /// browsers that triggered at once may show their triggers a moment apart).
    pub settle_ms: u64,
}

/// The outcome for a stock session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// Exactly one live trigger is meant: this one.
    Bound(LiveTrigger),
    /// No live trigger has an id the SessionID spells (not shown by its browser in time, expired,
    /// or a guess).
    NoTrigger,
    /// Only triggers requested from another network match, and the policy asks for the same.
    OtherNetwork,
    /// More than one live trigger could be meant and nothing known tells them apart: refused;
    /// these triggers' browsers are told to start again.
    Clash(Vec<LiveTrigger>),
}

/// What the binder needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Read the live triggers again at this time and call [`Binder::poll`] again.
    Retry(UnixMillis),
    /// Decided.
    Done(Binding),
}

/// The binding of one stock session, from its arrival to its outcome.
#[derive(Debug, Clone)]
pub struct Binder {
    spellings: Spellings,
    network: Option<String>,
    policy: Policy,
    arrived: UnixMillis,
    first_seen: Option<UnixMillis>,
}

/// How often the binder looks again while it waits.
pub const RETRY_MS: u64 = 500;

impl Binder {
    /// A binder for a session with `session_id` from `address` (as the edge saw the phone),
    /// arrived at `now`.
    pub fn new(session_id: &str, address: &str, policy: Policy, now: UnixMillis) -> Self {
        Binder {
            spellings: Spellings::of(session_id),
            network: network_of(address),
            policy,
            arrived: now,
            first_seen: None,
        }
    }

    /// The ids to read live triggers for.
    pub fn spellings(&self) -> &Spellings {
        &self.spellings
    }

    /// Decides from `live` (the live triggers with any of [`Binder::spellings`]' ids) at `now`.
    pub fn poll(&mut self, live: &[LiveTrigger], now: UnixMillis) -> Poll {
        let mut candidates: Vec<&LiveTrigger> =
            live.iter().filter(|t| self.spellings.contains(t.nsid) && t.could_answer(self.arrived, now)).collect();
        let any = !candidates.is_empty();
        if self.policy.same_network {
            candidates.retain(|t| self.same_network(t));
        }
        let retry = UnixMillis(now.0.saturating_add(RETRY_MS));
        if candidates.is_empty() {
            // A candidate that went (bound elsewhere) leaves none to settle on: a later one
            // settles afresh.
            self.first_seen = None;
            if now.0 < self.arrived.0.saturating_add(self.policy.wait_ms) {
                return Poll::Retry(retry);
            }
            return Poll::Done(if any { Binding::OtherNetwork } else { Binding::NoTrigger });
        }
        let first = *self.first_seen.get_or_insert(now);
        if now.0 < first.0.saturating_add(self.policy.settle_ms) {
            return Poll::Retry(retry);
        }
        // Several are a clash: a shared network is no proof (a carrier's NAT puts a stranger on
        // the phone's network while its owner's browser is on Wi-Fi); under the same-network
        // policy only triggers from the phone's network are candidates at all.
        match candidates[..] {
            [only] => Poll::Done(Binding::Bound(only.clone())),
            _ => Poll::Done(Binding::Clash(candidates.into_iter().cloned().collect())),
        }
    }

    /// Whether `t` was requested from the phone's network (false when either is unknown).
    fn same_network(&self, t: &LiveTrigger) -> bool {
        self.network.is_some() && t.net == self.network
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMillis = UnixMillis(1_800_000_000_000);
    const POLICY: Policy = Policy { same_network: false, wait_ms: 5_000, settle_ms: 1_000 };

    fn live(sid: &str, nsid: u16, net: Option<&str>) -> LiveTrigger {
        LiveTrigger {
            sid: sid.into(),
            nsid,
            jti: format!("jti-{sid}"),
            minted_at: UnixMillis(T0.0 - 2_000),
            expires_at: UnixMillis(T0.0 + 300_000),
            net: net.map(str::to_owned),
        }
    }

    /// Polls as the origin would, every `RETRY_MS`, with `live` as it stands at each time.
    fn run(b: &mut Binder, live: impl Fn(UnixMillis) -> Vec<LiveTrigger>) -> (Binding, u64) {
        let mut now = T0;
        loop {
            match b.poll(&live(now), now) {
                Poll::Done(d) => return (d, now.0 - T0.0),
                Poll::Retry(next) => {
                    assert!(next.0 > now.0, "retries move on");
                    now = next;
                }
            }
        }
    }

    #[test]
    fn the_spellings_stock_clients_use_are_candidates() {
        // libdmclient's vector: SessionID 2464 for a package #0 whose id was 0x6424.
        let s = Spellings::of("2464");
        for n in [0x2464, 0x6424, 2464, u16::swap_bytes(2464)] {
            assert!(s.contains(n), "{n:#x} in {s:?}");
        }
        assert_eq!(s.ids().len(), 4);
        assert_eq!(Spellings::of("1a2b"), Spellings::of("1A2B"));
        assert!(Spellings::of("1a2b").contains(0x1A2B) && Spellings::of("1a2b").contains(0x2B1A));
        assert_eq!(Spellings::of("6699").ids().len(), 4, "decimal and hex both");
        assert!(Spellings::of("6699").contains(0x1A2B), "decimal 6699 is 0x1A2B");
        assert!(Spellings::of("65535").contains(0xFFFF));
        for none in ["", "0", "00", "65536", "123456", "12g4", "-1", "1 2", "0x12"] {
            assert!(Spellings::of(none).ids().is_empty(), "{none:?}: {:?}", Spellings::of(none));
        }
    }

    #[test]
    fn one_live_trigger_binds_after_the_settle_time() {
        let mut b = Binder::new("2464", "", POLICY, T0);
        let (d, waited) = run(&mut b, |_| vec![live("a", 0x6424, None), live("other", 0x1111, None)]);
        assert_eq!(d, Binding::Bound(live("a", 0x6424, None)));
        assert_eq!(waited, POLICY.settle_ms, "looked for a clash for the settle time, no longer");
    }

    #[test]
    fn two_live_triggers_the_session_may_mean_are_a_clash_never_a_guess() {
        // 0x6424 (byte-swapped) and 0x2464 (as written): either could be meant.
        let mut b = Binder::new("2464", "192.0.2.7", POLICY, T0);
        let (d, _) = run(&mut b, |_| vec![live("a", 0x6424, None), live("b", 0x2464, None)]);
        let Binding::Clash(all) = d else { panic!("{d:?}") };
        assert_eq!(all.len(), 2);
        // The same id twice, too.
        let mut b = Binder::new("6424", "", POLICY, T0);
        let (d, _) = run(&mut b, |_| vec![live("a", 0x6424, None), live("b", 0x6424, None)]);
        assert!(matches!(d, Binding::Clash(ref all) if all.len() == 2), "{d:?}");
    }

    #[test]
    fn a_second_trigger_shown_while_settling_is_a_clash() {
        let mut b = Binder::new("6424", "", POLICY, T0);
        let (d, _) = run(&mut b, |now| {
            let mut v = vec![live("a", 0x6424, None)];
            if now.0 >= T0.0 + 600 {
                v.push(live("b", 0x6424, None));
            }
            v
        });
        assert!(matches!(d, Binding::Clash(_)), "{d:?}");
    }

    #[test]
    fn a_shared_network_tells_two_triggers_apart_only_under_the_same_network_policy() {
        let phone = "198.51.100.23";
        let both = || vec![live("far", 0x6424, Some("192.0.2.0/24")), live("near", 0x6424, Some("198.51.100.0/24"))];
        // Without the policy a stranger on the phone's carrier network would win: a clash.
        let mut b = Binder::new("6424", phone, POLICY, T0);
        assert!(matches!(run(&mut b, |_| both()).0, Binding::Clash(_)));
        let mut b = Binder::new("6424", phone, Policy { same_network: true, ..POLICY }, T0);
        assert_eq!(run(&mut b, |_| both()).0, Binding::Bound(live("near", 0x6424, Some("198.51.100.0/24"))));
    }

    #[test]
    fn a_candidate_that_goes_leaves_the_next_one_to_settle_afresh() {
        let mut b = Binder::new("6424", "", POLICY, T0);
        let (d, waited) = run(&mut b, |now| match now.0 - T0.0 {
            0..500 => vec![live("a", 0x6424, None)],
            500..1_000 => vec![],
            _ => vec![live("b", 0x6424, None)],
        });
        assert_eq!(d, Binding::Bound(live("b", 0x6424, None)));
        assert!(waited >= 1_000 + POLICY.settle_ms, "b settled for its own settle time: {waited}");
    }

    #[test]
    fn the_same_network_policy_refuses_a_trigger_from_elsewhere() {
        let policy = Policy { same_network: true, ..POLICY };
        let mut b = Binder::new("6424", "198.51.100.23", policy, T0);
        let (d, waited) = run(&mut b, |_| vec![live("far", 0x6424, Some("192.0.2.0/24"))]);
        assert_eq!(d, Binding::OtherNetwork);
        assert_eq!(waited, policy.wait_ms);
        let mut b = Binder::new("6424", "198.51.100.23", policy, T0);
        let (d, _) = run(&mut b, |_| vec![live("near", 0x6424, Some("198.51.100.0/24"))]);
        assert!(matches!(d, Binding::Bound(_)), "{d:?}");
        // Without the phone's address nothing can be checked: refused, not guessed.
        let mut b = Binder::new("6424", "", policy, T0);
        let (d, _) = run(&mut b, |_| vec![live("near", 0x6424, Some("198.51.100.0/24"))]);
        assert_eq!(d, Binding::OtherNetwork);
    }

    #[test]
    fn it_waits_for_the_browser_to_show_its_trigger_then_gives_up() {
        let mut b = Binder::new("6424", "", POLICY, T0);
        let (d, _) = run(&mut b, |now| if now.0 >= T0.0 + 2_000 { vec![live("a", 0x6424, None)] } else { vec![] });
        assert!(matches!(d, Binding::Bound(_)), "{d:?}");
        let mut b = Binder::new("6424", "", POLICY, T0);
        let (d, waited) = run(&mut b, |_| vec![]);
        assert_eq!((d, waited), (Binding::NoTrigger, POLICY.wait_ms));
    }

    #[test]
    fn expired_triggers_and_triggers_minted_after_the_session_are_not_candidates() {
        let mut expired = live("old", 0x6424, None);
        expired.expires_at = T0;
        let mut later = live("later", 0x6424, None);
        later.minted_at = UnixMillis(T0.0 + (LEEWAY_SECS + 1) * 1000);
        let mut b = Binder::new("6424", "", Policy { wait_ms: 0, ..POLICY }, T0);
        assert_eq!(b.poll(&[expired, later], T0), Poll::Done(Binding::NoTrigger));
    }
}
