//! What the edge tells the origin about a request: the handset's address and the edge
//! location, set by the edge itself; the same headers sent by a client are replaced. Outside
//! Cloudflare (dev-setup's workerd) a client's `CF-Connecting-IP` and cf blob are its own
//! claims: not believed, not passed on.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portaldm_shared::pkg0::Package0;
use portaldm_shared::token::TokenVerifier;
use portaldm_tests::browser::{agent, get_with};
use portaldm_tests::{Options, System, free_port, now, workspace};

/// What a client forges: Cloudflare's address header, a forwarded-for, the edge's own colo
/// header, and workerd's local cf blob (`cfBlobHeader` in dev-setup's configuration).
const FORGED: [(&str, &str); 4] = [
    ("CF-Connecting-IP", "203.0.113.9"),
    ("X-Forwarded-For", "6.6.6.6"),
    ("X-Portaldm-Colo", "EVIL"),
    ("x-pdm-local-cf", r#"{"country":"DE","colo":"EVL"}"#),
];

/// A second edge in front of the same origin (or `origin`), from dev-setup's workerd
/// configuration with `vars` set instead of `PDM_TRUST_CLOUDFLARE = "false"`: a deployment
/// configured otherwise. Killed (by PID) when dropped.
struct Edge {
    child: Child,
    url: String,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn edge_with(sys: &System, vars: &[(&str, &str)], origin: Option<&str>) -> Edge {
    let text = std::fs::read_to_string(sys.dir.path().join("workerd.capnp")).expect("workerd.capnp");
    let port = free_port();
    let own = format!("\"{}\"", sys.edge.trim_start_matches("http://"));
    let lines: String = vars.iter().map(|(n, v)| format!("    (name = {n:?}, text = {v:?}),\n")).collect();
    let mut text = text
        .replace(&own, &format!("\"127.0.0.1:{port}\""))
        .replace("    (name = \"PDM_TRUST_CLOUDFLARE\", text = \"false\"),\n", "")
        .replacen("bindings = [\n", &format!("bindings = [\n{lines}"), 1);
    if let Some(o) = origin {
        text = text.replace(&format!("text = {:?}", sys.origin), &format!("text = {o:?}"));
    }
    let cfg = sys.dir.path().join(format!("workerd-{port}.capnp"));
    std::fs::write(&cfg, text).expect("write");
    let bin = std::env::var_os("WORKERD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("node_modules/.bin/workerd"));
    let log = std::fs::File::create(sys.dir.path().join(format!("workerd-{port}.log"))).expect("log");
    let child = Command::new(bin)
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("workerd starts");
    let edge = Edge { child, url: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !agent().get(&format!("{}/portal/", edge.url)).call().is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "the second edge did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    edge
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
