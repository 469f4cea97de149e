//! Trigger minting is rate-limited per client address by a Durable Object, in workerd as on
//! Cloudflare (dev-setup's limit: a burst of 60, then 120 a minute).

use portaldm_tests::browser::get_with;
use portaldm_tests::{Options, System};

fn mint(sys: &System, address: &str) -> (u16, Option<String>) {
    let r = get_with(&format!("{}/portal/trigger", sys.edge), &[("CF-Connecting-IP", address)]);
    (r.status, r.header("retry-after").map(str::to_owned))
}

/// Mints from `address(i)` until refused: how many were allowed, and the `Retry-After`.
fn until_limited(sys: &System, address: impl Fn(usize) -> String) -> (usize, String) {
    for i in 0..200 {
        let (status, retry) = mint(sys, &address(i));
        if status == 429 {
            return (i, retry.expect("a 429 says when to retry"));
        }
        assert_eq!(status, 200);
    }
    panic!("200 mints from one client were never limited");
}

#[test]
fn one_address_cannot_mint_in_bulk_and_others_are_not_affected() {
    let sys = System::start(Options::default());
    // The burst, plus the few that the sustained rate adds while the test runs.
    let (allowed, retry) = until_limited(&sys, |_| "198.51.100.7".to_owned());
    assert!((60..75).contains(&allowed), "{allowed} minted before the limit");
    let secs: u64 = retry.parse().expect("seconds");
    assert!((1..=60).contains(&secs), "{secs}");
    // A handset asking on an entry page is held to the same limit.
    let entry = get_with(
        &format!("{}/portal/", sys.edge),
        &[("CF-Connecting-IP", "198.51.100.7"), ("Accept", portaldm_shared::media::NOTIFICATION)],
    );
    assert_eq!(entry.status, 429);
    assert!(String::from_utf8_lossy(&entry.body).contains("Try again in"));
    // Another address still mints.
    assert_eq!(mint(&sys, "198.51.100.8").0, 200);
    // One IPv6 subscriber (a /64) is one client, whatever its interface ids.
    let (allowed, _) = until_limited(&sys, |i| format!("2001:db8:7:7::{:x}", i + 1));
    assert!((60..75).contains(&allowed), "{allowed} minted before the limit");
    assert_eq!(mint(&sys, "2001:db8:7:7:ffff::1").0, 429);
    assert_eq!(mint(&sys, "2001:db8:7:8::1").0, 200);
}
