//! A choice wakes the held DM message of its own portal session only, not every held one
//! (`portaldm_hold_wakeups` on `/metrics`), on SQLite and across PostgreSQL replicas; and a
//! held message whose handset hangs up leaves nothing registered behind.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use portaldm_shared::session::client::ClientStep;
use portaldm_shared::syncml::xml;
use portaldm_tests::browser::{Browser, get, post};
use portaldm_tests::{Options, System, handset_session, now};
use serde_json::json;

/// Held sessions in each test: a choice must wake one of them, not all.
const HELD: usize = 20;

/// The value of the unlabelled sample `name` on `base`'s `/metrics`.
fn sample(base: &str, name: &str) -> f64 {
    let page = String::from_utf8_lossy(&get(&format!("{base}/metrics")).body).into_owned();
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in {page}"))
}

/// A handset's held package 3: its browser, and the connection (straight to the origin, with
/// the edge's credential, so that the test can hang up on it) whose answer waits for a choice.
struct HeldPhone {
    phone: Browser,
    conn: TcpStream,
}

/// Opens a portal DM session for a new browser through the edge and leaves its package 3
/// held at the origin `origin`.
fn hold_one(sys: &System, origin: &str, i: usize) -> HeldPhone {
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger").body;
    let mut s = handset_session(&sys.edge, &trig, &format!("IMEI:35400000000{i:04}"));
    let pkg1 = xml::encode(&s.first_message());
    let r = post(s.next_url(), "application/vnd.syncml.dm+xml", &pkg1);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let ClientStep::Send(pkg3) = s.handle(&xml::decode(&r.body).expect("SyncML")).expect("handles") else {
        panic!("the session ended at package 2");
    };
    let path = portaldm_shared::path::of_url(s.next_url()).to_owned();
    let body = xml::encode(&pkg3);
    let cred = portaldm_shared::edgeauth::sign(&[sys.keys().edge], "POST", &path, now()).expect("sign");
    let addr = origin.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).expect("connect to the origin");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/vnd.syncml.dm+xml\r\n\
         Content-Length: {}\r\n{}: {cred}\r\n\r\n",
        body.len(),
        portaldm_shared::edgeauth::HEADER
    );
    conn.write_all(head.as_bytes()).and_then(|()| conn.write_all(&body)).expect("send package 3");
    HeldPhone { phone, conn }
}

/// The answer on a held connection: its status line and body.
fn answer(conn: &mut TcpStream) -> (String, String) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).expect("the held answer");
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&bytes));
        bytes.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .expect("content-length");
            if body.len() >= length {
                return (head.lines().next().unwrap_or_default().to_owned(), body.to_owned());
            }
        }
    }
}

/// Waits until `base` holds `n` DM messages.
fn wait_held(base: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sample(base, "portaldm_held_messages") != n as f64 {
        assert!(Instant::now() < deadline, "{base} holds {} messages, not {n}", sample(base, "portaldm_held_messages"));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The user of `held` says the phone is theirs and chooses its first offer, through `base`
/// (the edge, or an origin replica as if the edge had routed the choice there).
fn choose(sys: &System, held: &mut HeldPhone, base: &str) {
    assert_eq!(held.phone.identify(true).status, 200);
    let view = held.phone.wait_for("choosing", Duration::from_secs(10));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    if base == sys.edge {
        assert_eq!(held.phone.post_json("/portal/api/select", &pick).status, 200);
        return;
    }
    let body = pick.to_string();
    let cred = portaldm_shared::edgeauth::sign(&[sys.keys().edge], "POST", "/portal/api/select", now()).expect("sign");
    let r = portaldm_tests::browser::agent()
        .post(&format!("{base}/portal/api/select"))
        .header("Content-Type", "application/json")
        .header("Cookie", held.phone.cookie.as_deref().expect("cookie"))
        .header(portaldm_shared::edgeauth::HEADER, &cred)
        .send(body.as_bytes())
        .expect("select");
    assert_eq!(r.status(), 200);
}

/// Makes the choice of `held` through `base` and checks its package 4 delivers.
fn choose_and_deliver(sys: &System, held: &mut HeldPhone, base: &str) {
    choose(sys, held, base);
    let (status, body) = answer(&mut held.conn);
    assert!(status.contains(" 200 "), "{status}: {body}");
    assert!(body.contains("<Exec>"), "package 4 carries no delivery: {body}");
}

#[test]
fn a_choice_wakes_only_its_own_held_session() {
    let sys = System::start(Options { hold_secs: 20, unlimited_minting: true, ..Options::default() });
    let mut held: Vec<HeldPhone> = (0..HELD).map(|i| hold_one(&sys, &sys.origin, i)).collect();
    wait_held(&sys.origin, HELD);
    let (woken, chosen) =
        (sample(&sys.origin, "portaldm_hold_wakeups_total"), sample(&sys.origin, "portaldm_selections_total"));
    choose_and_deliver(&sys, &mut held[0], &sys.edge);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sample(&sys.origin, "portaldm_selections_total") - chosen, 1.0);
    assert_eq!(sample(&sys.origin, "portaldm_hold_wakeups_total") - woken, 1.0, "one choice, one wake-up");
    // The handsets still held hang up: their requests are dropped, and so are their waits.
    held.truncate(1);
    wait_held(&sys.origin, 0);
}

#[test]
fn across_postgresql_replicas_a_choice_wakes_its_session_once_wherever_it_is_made() {
    let sys = System::start(Options { hold_secs: 20, postgres: true, unlimited_minting: true, ..Options::default() });
    let replica = sys.start_replica();
    let mut held: Vec<HeldPhone> = (0..HELD).map(|i| hold_one(&sys, &sys.origin, i)).collect();
    wait_held(&sys.origin, HELD);
    let woken = |base: &str| sample(base, "portaldm_hold_wakeups_total");
    let (here, there) = (woken(&sys.origin), woken(&replica.url));
    // Made on the origin that holds the session: woken once (by this process, not again by
    // its own NOTIFY coming back).
    choose_and_deliver(&sys, &mut held[0], &sys.origin);
    // Made on the other replica: woken once, by NOTIFY.
    choose_and_deliver(&sys, &mut held[1], &replica.url);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(woken(&sys.origin) - here, 2.0, "two choices, one wake-up each");
    assert_eq!(woken(&replica.url) - there, 0.0, "the replica holds nothing");
    held.truncate(2);
    wait_held(&sys.origin, 0);
}
