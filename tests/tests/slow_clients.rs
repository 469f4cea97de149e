//! Slow and greedy clients are cut off: a client that dribbles its request headers
//! (slowloris) is disconnected by the origin (10 s) and by workerd at the edge (its own 15 s),
//! while others are served meanwhile; an oversized body is refused by the origin itself too,
//! not only by the edge in front of it. Every connection to the origin is bounded: a silent one
//! is closed after the first-byte deadline, an idle keep-alive one after the idle deadline, and
//! past the connection cap a new one gets 503 while the open ones are served on.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use portaldm_shared::edgeauth;
use portaldm_tests::browser::{get, post_with};
use portaldm_tests::{Options, System, now};

/// Opens a connection to `addr`, sends half a request, then one header byte a second; returns
/// how long until the server closed the connection (`None`: still open after `limit`).
fn slowloris(addr: String, limit: Duration) -> Option<Duration> {
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let start = Instant::now();
    s.write_all(b"GET /portal/ HTTP/1.1\r\nHost: slow\r\nX-Slow: ").expect("write");
    let mut buf = [0u8; 256];
    while start.elapsed() < limit {
        if s.write_all(b"a").is_err() {
            return Some(start.elapsed());
        }
        match s.read(&mut buf) {
            Ok(_) => return Some(start.elapsed()), // closed (0) or answered (408): cut off either way
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    None
}

#[test]
fn slow_headers_are_cut_off_and_others_are_served_meanwhile() {
    let sys = System::start(Options::default());
    let origin = sys.origin.trim_start_matches("http://").to_owned();
    let edge = sys.edge.trim_start_matches("http://").to_owned();
    let at_origin = std::thread::spawn(move || slowloris(origin, Duration::from_secs(25)));
    let at_edge = std::thread::spawn(move || slowloris(edge, Duration::from_secs(25)));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(get(&format!("{}/portal/", sys.edge)).status, 200, "others are served meanwhile");
    let o = at_origin.join().expect("thread");
    let e = at_edge.join().expect("thread");
    assert!(o.is_some_and(|d| d < Duration::from_secs(15)), "origin kept a slowloris connection: {o:?}");
    assert!(e.is_some_and(|d| d < Duration::from_secs(20)), "edge kept a slowloris connection: {e:?}");
}

#[test]
fn the_origin_refuses_oversized_bodies_itself() {
    let sys = System::start(Options::default());
    let cred = edgeauth::sign(std::slice::from_ref(&sys.keys().edge), "POST", "/dm", now()).expect("sign");
    let r = post_with(
        &format!("{}/dm", sys.origin),
        &[("Content-Type", "application/vnd.syncml.dm+xml"), (edgeauth::HEADER, &cred)],
        &vec![b'a'; 70 * 1024],
    );
    assert_eq!(r.status, 413);
}

/// The origin's `host:port`.
fn origin_addr(sys: &System) -> String {
    sys.origin.trim_start_matches("http://").to_owned()
}

/// What the server sends on `s` until it closes it, and how long after `since` it closed
/// (`None`: still open at `limit` after `since`).
fn until_closed(s: &mut TcpStream, since: Instant, limit: Duration) -> (String, Option<Duration>) {
    s.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while since.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), Some(since.elapsed())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), Some(since.elapsed())),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), None)
}

/// Sends `request` on `s` and reads one answer framed by its `content-length` (or none).
fn exchange(s: &mut TcpStream, request: &str) -> String {
    s.write_all(request.as_bytes()).expect("write");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n").map(|i| i + 4) {
            let head = text[..head_end].to_ascii_lowercase();
            let len = head.lines().find_map(|l| l.strip_prefix("content-length: ")).and_then(|v| v.trim().parse().ok());
            if request.starts_with("HEAD ") || text.len() >= head_end + len.unwrap_or(0) {
                return text;
            }
        }
        match s.read(&mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            other => panic!("{other:?} after {:?}", String::from_utf8_lossy(&got)),
        }
    }
}

/// Opens `n` connections to `addr` that send nothing.
fn silent(addr: &str, n: usize) -> Vec<(TcpStream, Instant)> {
    (0..n).map(|_| (TcpStream::connect(addr).expect("connect"), Instant::now())).collect()
}

const HEALTH: &str = "GET /healthz HTTP/1.1\r\nHost: origin\r\n\r\n";

#[test]
fn silent_connections_are_closed_after_the_first_byte_deadline() {
    let sys = System::start(Options { origin_extra: "first_byte_timeout_secs = 2\n", ..Options::default() });
    let addr = origin_addr(&sys);
    let mut quiet = silent(&addr, 10);
    // Meanwhile, a client that speaks is served.
    assert_eq!(get(&format!("{}/healthz", sys.origin)).status, 200);
    for (s, opened) in &mut quiet {
        let (sent, closed) = until_closed(s, *opened, Duration::from_secs(8));
        assert!(sent.is_empty(), "sent {sent:?}");
        assert!(
            closed.is_some_and(|d| d >= Duration::from_millis(1500) && d < Duration::from_secs(5)),
            "closed after {closed:?}"
        );
    }
}

#[test]
fn idle_keep_alive_connections_are_closed_after_the_idle_deadline() {
    let sys = System::start(Options { origin_extra: "idle_timeout_secs = 2\n", ..Options::default() });
    let addr = origin_addr(&sys);
    // One read by the origin's own loop, one handed to hyper (HEAD), whose own header timer
    // would take 10 s.
    for request in [HEALTH, "HEAD /healthz HTTP/1.1\r\nHost: origin\r\n\r\n"] {
        let mut s = TcpStream::connect(&addr).expect("connect");
        let answer = exchange(&mut s, request);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        let answered = Instant::now();
        let (sent, closed) = until_closed(&mut s, answered, Duration::from_secs(8));
        assert!(sent.is_empty(), "sent {sent:?}");
        assert!(
            closed.is_some_and(|d| d >= Duration::from_millis(1500) && d < Duration::from_secs(5)),
            "{request:?}: closed after {closed:?}"
        );
    }
    // A fresh connection is served, and so is the edge, whose pooled connections were cut.
    assert_eq!(get(&format!("{}/healthz", sys.origin)).status, 200);
    assert_eq!(get(&format!("{}/portal/", sys.edge)).status, 200);
}

#[test]
fn past_the_connection_cap_new_connections_get_503_until_the_silent_ones_are_cut() {
    let sys = System::start(Options {
        origin_extra: "max_connections = 20\nfirst_byte_timeout_secs = 3\nidle_timeout_secs = 3\n",
        ..Options::default()
    });
    let addr = origin_addr(&sys);
    // Let the origin cut the connections the edge's pool opened while starting.
    std::thread::sleep(Duration::from_millis(3500));
    let mut open = TcpStream::connect(&addr).expect("connect");
    assert!(exchange(&mut open, HEALTH).starts_with("HTTP/1.1 200"));
    let mut quiet = silent(&addr, 19);
    // The 21st connection, silent, and the 22nd, with a request: both refused.
    let mut refused = TcpStream::connect(&addr).expect("connect");
    let (sent, closed) = until_closed(&mut refused, Instant::now(), Duration::from_secs(3));
    assert!(closed.is_some(), "refused connection left open");
    assert!(sent.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{sent:?}");
    assert!(sent.to_ascii_lowercase().contains("\r\nretry-after: "), "{sent:?}");
    assert!(sent.ends_with("\r\n\r\ntoo many connections open: try again in a while\n"), "{sent:?}");
    let mut asking = TcpStream::connect(&addr).expect("connect");
    let answer = exchange(&mut asking, HEALTH);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    // The connection already open is served on.
    assert!(exchange(&mut open, HEALTH).starts_with("HTTP/1.1 200"));
    drop(open);
    // The silent ones were counted, not refused, and are cut at the first-byte deadline.
    for (s, opened) in &mut quiet {
        let (sent, closed) = until_closed(s, *opened, Duration::from_secs(8));
        assert!(sent.is_empty() && closed.is_some(), "sent {sent:?}, closed after {closed:?}");
    }
    // Then new connections are served again.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(get(&format!("{}/healthz", sys.origin)).status, 200);
}
