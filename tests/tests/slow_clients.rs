//! Slow and greedy clients are cut off: a client that dribbles its request headers
//! (slowloris) is disconnected by the origin (10 s) and by workerd at the edge (its own 15 s),
//! while others are served meanwhile; an oversized body is refused by the origin itself too,
//! not only by the edge in front of it.

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
