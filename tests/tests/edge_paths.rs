//! Paths that a URL parser would rewrite after the edge has routed them (`shared::path`): dot
//! segments in any spelling, backslashes, encoded slashes. Through the real edge (wasm in
//! workerd) none reaches the origin's own routes; and the origin refuses its own routes
//! (admin API, console, metrics, readiness) to any request carrying the edge's headers.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use portaldm_tests::browser::get_with;
use portaldm_tests::{Options, System};

/// Sends `GET <path>` exactly as written (no client library normalises it) and returns the
/// status and body of the answer.
fn raw_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

#[test]
fn dot_segment_paths_never_reach_the_origins_own_routes_through_the_edge() {
    let sys = System::start(Options::default());
    let token = sys.admin_token("paths");
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let origin = sys.origin.trim_start_matches("http://").to_owned();
    // The token works where it is meant to: on the origin's own address.
    assert_eq!(raw_get(&origin, "/admin/api/tokens", &auth).0, 200);

    let edge = sys.edge.trim_start_matches("http://").to_owned();
    let tricks = [
        "/portal/../admin/api/tokens",
        "/portal/%2e%2e/admin/api/tokens",
        "/portal/%2E%2E/metrics",
        "/portal/.%2e/readyz",
        "/portal/../admin/sign-in",
        "/dm/../metrics",
        "/portal\\..\\admin/api/tokens",
        "/portal/%2f..%2fadmin/api/tokens",
        "/portal/./../admin/api/tokens",
        "/portal//../admin/api/tokens",
    ];
    for path in tricks {
        let (status, body) = raw_get(&edge, path, &auth);
        assert_eq!(status, 400, "{path}: {status} {body}");
        assert!(!body.contains("\"tokens\"") && !body.contains("portaldm_"), "{path} leaked: {body}");
    }
    // Ordinary paths still route.
    assert_eq!(raw_get(&edge, "/portal/", &[]).0, 200);
    assert_eq!(raw_get(&edge, "/portal/assets/portal.css", &[]).0, 200);
}

#[test]
fn the_origin_refuses_its_own_routes_to_requests_that_came_through_the_edge() {
    let sys = System::start(Options::default());
    let token = sys.admin_token("forwarded");
    let bearer = format!("Bearer {token}");
    for (name, value) in [("x-portaldm-edge", "k1.1.AAAA"), ("x-portaldm-colo", "LHR")] {
        for path in ["/admin/api/tokens", "/metrics", "/readyz", "/admin/sign-in"] {
            let r = get_with(&format!("{}{path}", sys.origin), &[("Authorization", &bearer), (name, value)]);
            assert_eq!(r.status, 403, "{path} with {name}: {}", String::from_utf8_lossy(&r.body));
        }
    }
    // Without them, the same requests are served.
    assert_eq!(get_with(&format!("{}/admin/api/tokens", sys.origin), &[("Authorization", &bearer)]).status, 200);
    assert_eq!(get_with(&format!("{}/metrics", sys.origin), &[]).status, 200);
}

#[test]
fn a_refused_edge_credential_does_not_say_why() {
    let sys = System::start(Options::default());
    for cred in ["", "garbage", "nokey.1.AAAA", "k1.1.AAAA"] {
        let r = get_with(&format!("{}/portal/api/session", sys.origin), &[("x-portaldm-edge", cred)]);
        assert_eq!(r.status, 403);
        let body = String::from_utf8_lossy(&r.body);
        for detail in ["malformed", "unknown", "time window", "invalid"] {
            assert!(!body.contains(detail), "{cred:?}: {body}");
        }
    }
}
