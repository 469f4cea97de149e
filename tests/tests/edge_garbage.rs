//! The edge (the real wasm in workerd) fed garbage: bad paths, bad methods, bad and huge
//! headers, bad ranges, bad signatures, raw junk on the socket. Every request gets the answer
//! that says what is wrong with it (no 500 from a crashed worker, no relayed 502, nothing hung
//! or closed unanswered) and the edge keeps serving.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use portaldm_tests::browser::{get, get_with};
use portaldm_tests::{Options, System};

/// Sends raw bytes and returns the status code of the answer (0 if the connection was closed
/// without one). Bounded by a read timeout, so a hang fails the test.
fn raw(addr: &str, bytes: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let _ = s.write_all(bytes);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                panic!("the edge hung on {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(60)]))
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn garbage_gets_deliberate_answers_and_the_edge_keeps_serving() {
    let sys = System::start(Options::default());
    let addr = sys.edge.trim_start_matches("http://").to_owned();
    let blob = "ab".repeat(32);
    let huge = "x".repeat(200 * 1024);
    let requests: Vec<(String, Vec<u8>)> = vec![
        ("unknown path".into(), b"GET /nothing/here HTTP/1.1\r\nHost: e\r\n\r\n".to_vec()),
        ("path traversal".into(), b"GET /dl/../../etc/passwd HTTP/1.1\r\nHost: e\r\n\r\n".to_vec()),
        ("bad percent-encoding".into(), b"GET /dl/%zz%ff?d=%%&e=x&s=%G1 HTTP/1.1\r\nHost: e\r\n\r\n".to_vec()),
        ("non-UTF-8 path".into(), b"GET /portal/\xff\xfe HTTP/1.1\r\nHost: e\r\n\r\n".to_vec()),
        ("unsigned download".into(), format!("GET /dl/{blob} HTTP/1.1\r\nHost: e\r\n\r\n").into_bytes()),
        (
            "bad signature".into(),
            format!("GET /dl/{blob}?d=IMEI%3A1&e=99999999999&s=cdn1.AAAA HTTP/1.1\r\nHost: e\r\n\r\n").into_bytes(),
        ),
        (
            "bad range on a bad URL".into(),
            format!("GET /dl/{blob}?d=x&e=1&s=k.s HTTP/1.1\r\nHost: e\r\nRange: bytes=9-2,zz\r\n\r\n").into_bytes(),
        ),
        ("odd method".into(), b"BREW /portal/ HTTP/1.1\r\nHost: e\r\n\r\n".to_vec()),
        ("DELETE on /dm".into(), b"DELETE /dm HTTP/1.1\r\nHost: e\r\n\r\n".to_vec()),
        (
            "binary junk as DM body".into(),
            b"POST /dm HTTP/1.1\r\nHost: e\r\nContent-Type: application/vnd.syncml.dm+wbxml\r\nContent-Length: 5\r\n\r\n\x03\x00\xff\x01\x02"
                .to_vec(),
        ),
        (
            "bad cookie".into(),
            b"GET /portal/api/session HTTP/1.1\r\nHost: e\r\nCookie: __Host-pdm=\xff\xff.....; __Host-pdm=;;;\r\n\r\n".to_vec(),
        ),
        (
            "absurd Accept".into(),
            format!("GET /portal/ HTTP/1.1\r\nHost: e\r\nAccept: {}\r\n\r\n", "application/vnd.syncml.notification;q=,".repeat(200))
                .into_bytes(),
        ),
        ("huge header".into(), format!("GET /portal/ HTTP/1.1\r\nHost: e\r\nX-Big: {huge}\r\n\r\n").into_bytes()),
        ("not HTTP at all".into(), b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec()),
    ];
    // Each one's answer, exactly: a refusal that says what is wrong, never a crashed worker
    // (500), an origin failure relayed (502) or a closed connection (0).
    let expected = |what: &str| match what {
        "unknown path" => 404,
        "path traversal" | "bad percent-encoding" | "non-UTF-8 path" | "unsigned download" => 400,
        // A signed URL that does not verify, or of the old format: gone.
        "bad signature" | "bad range on a bad URL" => 410,
        // workerd refuses a method it does not know before the worker runs.
        "odd method" => 501,
        "DELETE on /dm" => 405,
        "binary junk as DM body" => 400,
        "bad cookie" => 401,
        // The Accept header is only read for the trigger's type: the landing page.
        "absurd Accept" => 200,
        "huge header" => 431,
        "not HTTP at all" => 400,
        other => panic!("no expected answer for {other}"),
    };
    for (what, bytes) in &requests {
        let code = raw(&addr, bytes);
        assert_eq!(code, expected(what), "{what}");
        assert_eq!(get(&format!("{}/portal/", sys.edge)).status, 200, "the edge stopped serving after {what}");
    }
    // A Range header on a page that is not a download is ignored, not an error.
    let r = get_with(&format!("{}/portal/", sys.edge), &[("Range", "bytes=abc")]);
    assert_eq!(r.status, 200);
}
