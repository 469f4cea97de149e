//! The edge when its origin fails: down (connection refused) is a quick 502, silent (accepts
//! and never answers) is a 504 after the edge's timeout, never a hung request; when the origin
//! is back, the edge serves again.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use portaldm_tests::browser::{get, post};
use portaldm_tests::{Options, System};

#[test]
fn an_unreachable_or_silent_origin_gets_clean_errors_and_the_edge_recovers() {
    let mut sys = System::start(Options::default());
    // The portal's API answers for one browser session: never from the edge's cache.
    let page = format!("{}/portal/api/session", sys.edge);
    assert_eq!(get(&page).status, 401, "no cookie");

    // Down: refused connections.
    sys.kill_origin();
    let t = Instant::now();
    assert_eq!(get(&page).status, 502);
    assert_eq!(post(&format!("{}/dm", sys.edge), "application/vnd.syncml.dm+xml", b"<SyncML/>").status, 502);
    assert!(t.elapsed() < Duration::from_secs(5), "refusals are quick: {:?}", t.elapsed());

    // Silent: something holds the origin's port, accepts, and never answers.
    let addr = sys.origin.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind(&addr).expect("take the origin's port");
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).expect("nonblocking");
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until && !stopped.load(Ordering::Relaxed) {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let t = Instant::now();
    let r = get(&page);
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    assert!(t.elapsed() < Duration::from_secs(15), "the edge gave up in time: {:?}", t.elapsed());
    stop.store(true, Ordering::Relaxed);
    holder.join().expect("holder");

    // Back: the edge serves again.
    sys.start_origin();
    assert_eq!(get(&page).status, 401);
}
