//! What the edge tells the origin about a request: the handset's address and the edge
//! location, set by the edge itself; the same headers sent by a client are replaced.

use portaldm_tests::browser::get_with;
use portaldm_tests::{Options, System};

#[test]
fn the_origin_learns_the_handsets_address_and_edge_location_from_the_edge_only() {
    let sys = System::start(Options::default());
    let r = get_with(
        &format!("{}/portal/?probe=1", sys.edge),
        &[("CF-Connecting-IP", "198.51.100.23"), ("X-Forwarded-For", "6.6.6.6"), ("X-Portaldm-Colo", "EVIL")],
    );
    assert_eq!(r.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let line = loop {
        let log = std::fs::read_to_string(sys.dir.path().join("origin.log")).expect("origin.log");
        if let Some(l) = log.lines().find(|l| l.contains("/portal/?probe=1")) {
            break l.to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no access log line for the request:\n{log}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(line.contains("client=198.51.100.23") && line.contains("colo=LOCAL"), "{line}");
    assert!(!line.contains("6.6.6.6") && !line.contains("EVIL"), "client-sent values must not pass: {line}");
}
