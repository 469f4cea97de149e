//! What the edge tells the origin about a request: the handset's address and the edge
//! location, set by the edge itself; the same headers sent by a client are replaced. Outside
//! Cloudflare (dev-setup's workerd) a client's `CF-Connecting-IP` and cf blob are its own
//! claims: not believed, not passed on.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portaldm_shared::pkg0::Package0;
use portaldm_shared::token::TokenVerifier;
use portaldm_tests::browser::get_with;
use portaldm_tests::{Options, SecondEdge, System, now};

/// What a client forges: Cloudflare's address header, a forwarded-for, the edge's own colo
/// header, and workerd's local cf blob (`cfBlobHeader` in dev-setup's configuration).
const FORGED: [(&str, &str); 4] = [
    ("CF-Connecting-IP", "203.0.113.9"),
    ("X-Forwarded-For", "6.6.6.6"),
    ("X-Portaldm-Colo", "EVIL"),
    ("x-pdm-local-cf", r#"{"country":"DE","colo":"EVL"}"#),
];

/// A second edge in front of the same origin (or `origin`), configured with `vars`.
fn edge_with(sys: &System, vars: &[(&str, &str)], origin: Option<&str>) -> SecondEdge {
    sys.second_edge(vars, origin)
}

/// The origin's access log line for `marker`.
fn access_line(sys: &System, marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(sys.dir.path().join("origin.log")).expect("origin.log");
        if let Some(l) = log.lines().find(|l| l.contains(marker)) {
            return l.to_owned();
        }
        assert!(Instant::now() < deadline, "no access log line for {marker}:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The country in the token of a trigger minted at `edge` with `headers`.
fn minted_country(sys: &System, edge: &str, headers: &[(&str, &str)]) -> Option<String> {
    let trig = get_with(&format!("{edge}/portal/trigger"), headers);
    assert_eq!(trig.status, 200);
    let pkg = Package0::decode(&trig.body).expect("trigger").package;
    let verifier = TokenVerifier::new(&[sys.keys().token.ed25519_public()], "portaldm-origin", "portaldm");
    verifier.verify(pkg.token().expect("token"), now()).expect("verifies").claims().ctry.clone()
}

#[test]
fn outside_cloudflare_the_origin_learns_neither_a_client_sent_address_nor_edge_location() {
    let sys = System::start(Options::default());
    let r = get_with(&format!("{}/portal/?probe=1", sys.edge), &FORGED);
    assert_eq!(r.status, 200);
    let line = access_line(&sys, "/portal/?probe=1");
    assert!(line.contains("client=unknown") && line.contains("colo=LOCAL"), "{line}");
    for forged in ["203.0.113.9", "6.6.6.6", "EVIL", "EVL"] {
        assert!(!line.contains(forged), "client-sent {forged} must not pass: {line}");
    }
}

#[test]
fn outside_cloudflare_a_forged_cf_blob_does_not_set_the_tokens_country() {
    let sys = System::start(Options::default());
    assert_eq!(minted_country(&sys, &sys.edge, &FORGED), None);
    // The same headers through an edge configured as behind Cloudflare do: the test can tell.
    let cloudflare = edge_with(&sys, &[("PDM_TRUST_CLOUDFLARE", "true")], None);
    assert_eq!(minted_country(&sys, &cloudflare.url, &FORGED).as_deref(), Some("DE"));
    let r = get_with(&format!("{}/portal/?probe=2", cloudflare.url), &FORGED);
    assert_eq!(r.status, 200);
    let line = access_line(&sys, "/portal/?probe=2");
    assert!(line.contains("client=203.0.113.9") && line.contains("colo=EVL"), "{line}");
    assert!(!line.contains("6.6.6.6") && !line.contains("EVIL"), "{line}");
}

/// Accepts connections on `listener` as a stand-in origin: each request's head goes to `tx`,
/// and every request gets `200 ok`.
fn fake_origin(listener: TcpListener, tx: mpsc::Sender<String>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        let mut head = String::new();
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        if tx.send(head).is_err() {
            return;
        }
    }
}

#[test]
fn outside_cloudflare_a_client_sent_address_header_is_not_passed_on_and_a_trusted_proxys_is_used() {
    let sys = System::start(Options::default());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || fake_origin(listener, tx));
    // A local deployment behind a proxy that sets X-Real-IP to the client's address.
    let edge = edge_with(&sys, &[("PDM_CLIENT_ADDRESS_HEADER", "X-Real-IP")], Some(&origin));
    let mut headers = FORGED.to_vec();
    headers.push(("X-Real-IP", "192.0.2.44"));
    assert_eq!(get_with(&format!("{}/portal/api/session?probe=3", edge.url), &headers).status, 200);
    let head = loop {
        let h = rx.recv_timeout(Duration::from_secs(10)).expect("the request reached the origin");
        if h.contains("probe=3") {
            break h.to_ascii_lowercase();
        }
    };
    assert!(head.contains("x-forwarded-for: 192.0.2.44\r\n"), "{head}");
    assert!(!head.contains("cf-connecting-ip") && !head.contains("203.0.113.9"), "{head}");
    assert!(head.contains("x-portaldm-colo: local\r\n"), "{head}");
}
