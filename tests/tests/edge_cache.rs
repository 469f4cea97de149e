//! The edge's blob cache, on the real wasm in workerd (with the local stand-in for
//! Cloudflare's cache): a hit is served without the origin, ranges and validators are answered
//! from the cached copy, a resumed download fills the cache, and a revoked package is purged.

use std::time::{Duration, Instant};

use portaldm_shared::{cdn, edgeauth};
use portaldm_tests::browser::{Reply, delete_with, get, get_with, head};
use portaldm_tests::{Options, System, now};
use sha2::{Digest as _, Sha256};

/// The demo catalog's first package: (id, blob).
fn first_package(sys: &System) -> (String, String) {
    let listing = sys.origin_cmd(&["catalog", "list"]).output().expect("list");
    let text = String::from_utf8_lossy(&listing.stdout).into_owned();
    let line = text.lines().next().expect("a package").to_owned();
    let id = line.split_whitespace().next().expect("id").to_owned();
    let blob = line.split("sha256=").nth(1).expect("sha").trim().to_owned();
    (id, blob)
}

fn signed_url(sys: &System, id: &str, blob: &str, device: &str) -> String {
    let keys = sys.keys();
    let package = id.parse().expect("a package id");
    let path = cdn::sign(std::slice::from_ref(&keys.cdn), blob, package, device, now().as_secs() + 600).expect("sign");
    format!("{}{path}", sys.edge)
}

/// GETs `url` until the edge says it served it from its cache (the put runs after the first
/// answer has gone out).
fn until_hit(url: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(url);
        if r.header("x-edge-cache") == Some("HIT") || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_cached_blob_is_served_without_the_origin_with_ranges_and_validators() {
    let mut sys = System::start(Options::default());
    let (id, blob) = first_package(&sys);
    let url = signed_url(&sys, &id, &blob, "IMEI:1");
    let first = get(&url);
    assert_eq!((first.status, first.header("x-edge-cache")), (200, Some("MISS")));
    assert_eq!(hex::encode(Sha256::digest(&first.body)), blob);
    // Another device's URL for the same blob shares the cached copy.
    let other = until_hit(&signed_url(&sys, &id, &blob, "IMEI:2"));
    assert_eq!(other.header("x-edge-cache"), Some("HIT"), "the second download comes from the edge cache");
    assert_eq!(other.body, first.body);

    sys.kill_origin();
    let hit = get(&url);
    assert_eq!((hit.status, hit.header("x-edge-cache")), (200, Some("HIT")), "no origin needed");
    assert_eq!(hex::encode(Sha256::digest(&hit.body)), blob);
    let len = first.body.len();
    let etag = format!("\"{blob}\"");
    let part = get_with(&url, &[("Range", "bytes=1000-1999")]);
    assert_eq!((part.status, part.header("content-range")), (206, Some(format!("bytes 1000-1999/{len}").as_str())));
    assert_eq!((part.header("content-length"), &part.body[..]), (Some("1000"), &first.body[1000..2000]));
    let tail = get_with(&url, &[("Range", "bytes=-16"), ("If-Range", &etag)]);
    assert_eq!((tail.status, &tail.body[..]), (206, &first.body[len - 16..]));
    assert_eq!(get_with(&url, &[("Range", "bytes=5-"), ("If-Range", "\"stale\"")]).body, first.body);
    let past = get_with(&url, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!((past.status, past.header("content-range")), (416, Some(format!("bytes */{len}").as_str())));
    let same = get_with(&url, &[("If-None-Match", &etag)]);
    assert_eq!((same.status, same.body.len()), (304, 0));
    let h = head(&url);
    assert_eq!((h.status, h.header("content-length"), h.body.len()), (200, Some(len.to_string().as_str()), 0));
    // A download cut anywhere resumes from the cache and ends with the same SHA-256.
    for cut in [1, 4095, 65_536, 100_001, len - 1] {
        let rest = get_with(&url, &[("Range", &format!("bytes={cut}-")), ("If-Range", &etag)]);
        assert_eq!(rest.status, 206, "cut at {cut}");
        let whole = [&first.body[..cut], &rest.body[..]].concat();
        assert_eq!(hex::encode(Sha256::digest(&whole)), blob, "cut at {cut}");
    }
    // The signature is still checked before any cached byte leaves.
    assert_eq!(get(&url.replace("IMEI%3A1", "IMEI%3A9")).status, 403);

    // Revoking purges the edge's copy: the URL stops working at once.
    sys.start_origin();
    let revoked = sys.origin_cmd(&["catalog", "revoke", &id]).output().expect("revoke");
    let said = String::from_utf8_lossy(&revoked.stdout);
    assert!(revoked.status.success() && said.contains("edge cache: purged"), "{said}");
    assert_eq!(get(&url).status, 404);
}

/// Until the edge serves `url` from its cache when the request names `host` (the put runs
/// after the first answer has gone out).
fn until_hit_on(url: &str, host: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get_with(url, &[("Host", host)]);
        if r.header("x-edge-cache") == Some("HIT") || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_cached_copy_whatever_the_host_and_a_revoke_purges_it() {
    let sys = System::start(Options::default());
    let (id, blob) = first_package(&sys);
    let url = signed_url(&sys, &id, &blob, "IMEI:1");
    let (own, other) = (sys.edge.trim_start_matches("http://").to_owned(), "edge-b.example");
    assert_eq!(get(&url).header("x-edge-cache"), Some("MISS"));
    assert_eq!(until_hit_on(&url, &own).header("x-edge-cache"), Some("HIT"));
    // Another Host name for the same edge finds the same copy (not a second one of its own).
    let first_other = get_with(&url, &[("Host", other)]);
    assert_eq!((first_other.status, first_other.header("x-edge-cache")), (200, Some("HIT")), "one copy per blob");
    assert_eq!(until_hit_on(&url, other).header("x-edge-cache"), Some("HIT"));

    let revoked = sys.origin_cmd(&["catalog", "revoke", &id]).output().expect("revoke");
    let said = String::from_utf8_lossy(&revoked.stdout);
    assert!(revoked.status.success() && said.contains("edge cache: purged"), "{said}");
    for host in [own.as_str(), other] {
        let r = get_with(&url, &[("Host", host)]);
        assert_eq!((r.status, r.header("x-edge-cache")), (404, None), "served from the cache through {host}");
    }
}

/// The download URL the origin signs for package `id` and device IMEI:1.
fn package_url(sys: &System, id: &str) -> String {
    let out = sys.origin_cmd(&["catalog", "url", id, "--device", "IMEI:1"]).output().expect("catalog url");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn revoking_a_package_stops_its_urls_but_not_those_of_another_with_the_same_bytes() {
    let sys = System::start(Options::default());
    let (first, blob) = first_package(&sys);
    let add = sys
        .origin_cmd(&["catalog", "add", "--name", "Same bytes", "--version", "9.9.9", "--models", "X", "--blob", &blob])
        .output()
        .expect("add");
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let (second, same) = first_package(&sys);
    assert_eq!((same.as_str(), second != first), (blob.as_str(), true), "a second package with the same blob");
    let (revoked_url, kept_url) = (package_url(&sys, &first), package_url(&sys, &second));
    assert_eq!(until_hit(&revoked_url).header("x-edge-cache"), Some("HIT"));
    assert_eq!(until_hit(&kept_url).header("x-edge-cache"), Some("HIT"));

    let revoked = sys.origin_cmd(&["catalog", "revoke", &first]).output().expect("revoke");
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    let r = get(&revoked_url);
    assert_eq!((r.status, r.header("x-edge-cache")), (404, None), "the revoked package's URL is refused");
    // The other package's URL works on, and once its copy is cached again the revoked
    // package's URL still does not reach it.
    let kept = until_hit(&kept_url);
    assert_eq!((kept.status, kept.header("x-edge-cache")), (200, Some("HIT")));
    assert_eq!(hex::encode(Sha256::digest(&kept.body)), blob);
    assert_eq!(get(&revoked_url).status, 404, "not served from the other package's copy");
    assert_ne!(revoked_url, kept_url, "each URL names its package");
}

#[test]
fn a_resumed_download_that_misses_fills_the_cache_for_the_next() {
    let mut sys = System::start(Options::default());
    let (id, blob) = first_package(&sys);
    let url = signed_url(&sys, &id, &blob, "IMEI:1");
    let part = get_with(&url, &[("Range", "bytes=10-19")]);
    assert_eq!(part.status, 206);
    let hit = until_hit(&url);
    assert_eq!(hit.header("x-edge-cache"), Some("HIT"), "the background fill cached the whole blob");
    sys.kill_origin();
    assert_eq!(hex::encode(Sha256::digest(&get(&url).body)), blob);
}

#[test]
fn only_the_origin_can_purge() {
    let sys = System::start(Options::default());
    let (id, blob) = first_package(&sys);
    let package: i64 = id.parse().expect("id");
    let target = cdn::purge_target(package, &blob);
    let url = format!("{}{target}", sys.edge);
    assert_eq!(delete_with(&url, &[]).status, 403, "no credential");
    let keys = sys.keys();
    let for_other = edgeauth::sign(std::slice::from_ref(&keys.edge), "DELETE", "/dl/other", now()).expect("sign");
    assert_eq!(delete_with(&url, &[(edgeauth::HEADER, &for_other)]).status, 403, "credential for another target");
    let get_cred = edgeauth::sign(std::slice::from_ref(&keys.edge), "GET", &target, now()).expect("sign");
    assert_eq!(delete_with(&url, &[(edgeauth::HEADER, &get_cred)]).status, 403, "credential for another method");
    let another = cdn::purge_target(package + 1, &blob);
    let for_another = edgeauth::sign(std::slice::from_ref(&keys.edge), "DELETE", &another, now()).expect("sign");
    assert_eq!(delete_with(&url, &[(edgeauth::HEADER, &for_another)]).status, 403, "credential for another package");
    let good = edgeauth::sign(std::slice::from_ref(&keys.edge), "DELETE", &target, now()).expect("sign");
    let r = delete_with(&url, &[(edgeauth::HEADER, &good)]);
    assert_eq!((r.status, String::from_utf8_lossy(&r.body).into_owned()), (200, "not cached".to_owned()));
    assert_eq!(delete_with(&format!("{}/dl/zz", sys.edge), &[(edgeauth::HEADER, &good)]).status, 400);
    let unnamed = format!("{}/dl/{blob}", sys.edge);
    assert_eq!(delete_with(&unnamed, &[(edgeauth::HEADER, &good)]).status, 400, "a purge names the package");
}

#[test]
fn the_portal_page_is_cached_at_the_edge_and_revalidated_there() {
    let mut sys = System::start(Options::default());
    let page = format!("{}/portal/", sys.edge);
    let first = get(&page);
    assert_eq!(first.status, 200);
    assert!(first.header("cache-control").is_some_and(|c| c.contains("public")));
    let hit = until_hit(&page);
    assert_eq!((hit.header("x-edge-cache"), &hit.body), (Some("HIT"), &first.body));
    sys.kill_origin();
    let cached = get(&page);
    assert_eq!((cached.status, cached.header("x-edge-cache")), (200, Some("HIT")), "served without the origin");
    let etag = cached.header("etag").expect("etag").to_owned();
    let same = get_with(&page, &[("If-None-Match", &etag)]);
    assert_eq!((same.status, same.body.len(), same.header("etag")), (304, 0, Some(etag.as_str())));
    // With a query string the page is not taken from (or put into) the cache.
    assert_eq!(get(&format!("{page}?anything=1")).status, 502);
    // The portal's API is never cached: it answers for one browser session.
    assert_eq!(get(&format!("{}/portal/api/session", sys.edge)).status, 502);
}
