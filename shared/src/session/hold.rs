//! How long the origin may hold a package-4 message while the user chooses, and the timeouts
//! of the hops in front of it, derived from that one limit so that each hop outlasts the one
//! behind it: the origin's own deadline, then the edge's, then dmclient's.

use core::time::Duration;

/// The longest hold an origin may be configured with (`hold_secs`), in seconds; also its
/// default.
pub const MAX_SECS: u64 = 25;

/// How long past its hold the origin may take to answer a held message (deciding package 4,
/// saving the session), in seconds; past it the origin answers 504 itself.
const ORIGIN_MARGIN_SECS: u64 = 15;

/// How much of a request's deadline a hold leaves for answering once it ends, in seconds
/// ([`hold_within`]).
pub const ANSWER_SECS: u64 = 5;
const _: () = assert!(ANSWER_SECS < ORIGIN_MARGIN_SECS);

/// The hold of a message that wants `hold` and has `left` of its request's deadline: no longer
/// than leaves [`ANSWER_SECS`] to answer (what came before the hold may have been slow).
pub fn hold_within(hold: Duration, left: Duration) -> Duration {
    hold.min(left.saturating_sub(Duration::from_secs(ANSWER_SECS)))
}

/// How long past the origin's own deadline the edge waits, so that the origin's 504 (or late
/// answer) comes through rather than the edge's.
const EDGE_MARGIN_SECS: u64 = 5;

/// How long past the edge's deadline dmclient waits, so that it reads the edge's 504 rather
/// than giving up first.
const CLIENT_MARGIN_SECS: u64 = 15;

/// The edge's deadline for the origin's answer to a `/dm` message: the longest hold and both
/// margins (45 s).
pub const EDGE_DM_TIMEOUT: Duration = Duration::from_secs(MAX_SECS + ORIGIN_MARGIN_SECS + EDGE_MARGIN_SECS);

/// dmclient's deadline for a whole HTTP exchange (60 s).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(EDGE_DM_TIMEOUT.as_secs() + CLIENT_MARGIN_SECS);

/// The origin's deadline for a request when it holds messages for `hold_secs` (at most
/// [`MAX_SECS`]): the hold and the origin's margin.
pub const fn origin_timeout(hold_secs: u64) -> Duration {
    Duration::from_secs(hold_secs.saturating_add(ORIGIN_MARGIN_SECS))
}

// Each hop waits longer than the one behind it, even at the longest hold.
const _: () = assert!(origin_timeout(MAX_SECS).as_secs() < EDGE_DM_TIMEOUT.as_secs());
const _: () = assert!(EDGE_DM_TIMEOUT.as_secs() < CLIENT_TIMEOUT.as_secs());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeouts_keep_their_values() {
        assert_eq!(
            (MAX_SECS, origin_timeout(MAX_SECS).as_secs(), EDGE_DM_TIMEOUT.as_secs(), CLIENT_TIMEOUT.as_secs()),
            (25, 40, 45, 60)
        );
        assert_eq!(origin_timeout(u64::MAX).as_secs(), u64::MAX);
    }

    #[test]
    fn a_hold_leaves_time_to_answer_before_the_request_deadline() {
        let s = Duration::from_secs;
        assert_eq!(hold_within(s(25), origin_timeout(25)), s(25), "a quick start keeps the whole hold");
        assert_eq!(hold_within(s(25), s(20)), s(15), "a slow start shortens it");
        assert_eq!(hold_within(s(25), s(3)), s(0), "no time left: answered at once");
    }
}
