//! Trigger minting is rate-limited per client address by a Durable Object, in workerd as on
//! Cloudflare (dev-setup's limit: a burst of 60, then 120 a minute). The address is only ever
//! one the deployment trusts: outside Cloudflare a client's `CF-Connecting-IP` is its own
//! claim, and changing it buys no new bucket.

use portaldm_tests::browser::get_with;
use portaldm_tests::{Options, SecondEdge, System};

/// A second edge in front of the same origin, configured with `vars`.
fn edge_with(sys: &System, vars: &[(&str, &str)]) -> SecondEdge {
    sys.second_edge(vars, None)
}

fn mint(edge: &str, headers: &[(&str, &str)]) -> (u16, Option<String>) {
    let r = get_with(&format!("{edge}/portal/trigger"), headers);
    (r.status, r.header("retry-after").map(str::to_owned))
}

/// Mints at `edge` with `headers(i)` until refused: how many were allowed, and the `Retry-After`.
fn until_limited(edge: &str, headers: impl Fn(usize) -> Vec<(String, String)>) -> (usize, String) {
    for i in 0..200 {
        let h = headers(i);
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (status, retry) = mint(edge, &h);
        if status == 429 {
            return (i, retry.expect("a 429 says when to retry"));
        }
        assert_eq!(status, 200);
    }
    panic!("200 mints from one client were never limited");
}

fn one(name: &str, value: String) -> Vec<(String, String)> {
    vec![(name.to_owned(), value)]
}

#[test]
fn outside_cloudflare_a_client_sent_address_buys_no_bucket_of_its_own() {
    let sys = System::start(Options::default());
    // A new CF-Connecting-IP on every request: all of them are one (unknown) client.
    let (allowed, retry) = until_limited(&sys.edge, |i| one("CF-Connecting-IP", format!("203.0.113.{}", i % 250)));
    assert!((60..75).contains(&allowed), "{allowed} minted before the limit");
    let secs: u64 = retry.parse().expect("seconds");
    assert!((1..=60).contains(&secs), "{secs}");
    // Without the header, or with an address not used yet, the same shared bucket.
    assert_eq!(mint(&sys.edge, &[]).0, 429);
    assert_eq!(mint(&sys.edge, &[("CF-Connecting-IP", "198.51.100.99")]).0, 429);
    // A handset asking on an entry page is held to the same limit.
    let entry = get_with(
        &format!("{}/portal/", sys.edge),
        &[("CF-Connecting-IP", "203.0.113.9"), ("Accept", portaldm_shared::media::NOTIFICATION)],
    );
    assert_eq!(entry.status, 429);
    assert!(String::from_utf8_lossy(&entry.body).contains("Try again in"));
}

#[test]
fn behind_a_trusted_proxy_one_address_cannot_mint_in_bulk_and_others_are_not_affected() {
    let sys = System::start(Options::default());
    // A local deployment behind a proxy that sets X-Real-IP to the client's address.
    let edge = edge_with(&sys, &[("PDM_CLIENT_ADDRESS_HEADER", "X-Real-IP")]);
    let url = edge.url.as_str();
    // The proxy's header counts; a rotating CF-Connecting-IP beside it changes nothing.
    let (allowed, _) = until_limited(url, |i| {
        vec![("X-Real-IP".into(), "198.51.100.7".into()), ("CF-Connecting-IP".into(), format!("203.0.113.{i}"))]
    });
    assert!((60..75).contains(&allowed), "{allowed} minted before the limit");
    // Another address still mints.
    assert_eq!(mint(url, &[("X-Real-IP", "198.51.100.8")]).0, 200);
    // One IPv6 subscriber (a /64) is one client, whatever its interface ids.
    let (allowed, _) = until_limited(url, |i| one("X-Real-IP", format!("2001:db8:7:7::{:x}", i + 1)));
    assert!((60..75).contains(&allowed), "{allowed} minted before the limit");
    assert_eq!(mint(url, &[("X-Real-IP", "2001:db8:7:7:ffff::1")]).0, 429);
    assert_eq!(mint(url, &[("X-Real-IP", "2001:db8:7:8::1")]).0, 200);
}

#[test]
fn behind_cloudflare_cf_connecting_ip_is_the_clients_address() {
    let sys = System::start(Options::default());
    let edge = edge_with(&sys, &[("PDM_TRUST_CLOUDFLARE", "true")]);
    let (allowed, _) = until_limited(&edge.url, |_| one("CF-Connecting-IP", "198.51.100.7".into()));
    assert!((60..75).contains(&allowed), "{allowed} minted before the limit");
    assert_eq!(mint(&edge.url, &[("CF-Connecting-IP", "198.51.100.8")]).0, 200);
}
