//! dmclient against a hostile DM server: garbage, oversized, truncated, refused, foreign and
//! endless answers each end the run with a clear error and exit code, never a panic (a panic
//! exits with 101), and nothing is installed.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use portaldm_shared::pkg0::{Package0, UiMode};
use portaldm_shared::syncml::{Command, Status, SyncBody, SyncHdr, SyncMl, xml};
use portaldm_shared::token::{Claims, TokenSigner};
use portaldm_tests::{Options, System, now};

/// How the fake server answers every POST.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Garbage,
    Huge,
    Truncated,
    NotFound,
    ForeignSession,
    Endless,
}

fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

fn answer(mode: Mode, request: &[u8]) -> Vec<u8> {
    let reply = |status: &str, body: &[u8], length: usize| {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/vnd.syncml.dm+xml\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    let echo = |session: &str, final_: bool| {
        let req = xml::decode(request).unwrap_or_default();
        let msg = SyncMl {
            hdr: SyncHdr {
                ver_dtd: "1.2".into(),
                ver_proto: "DM/1.2".into(),
                session_id: session.into(),
                msg_id: "1".into(),
                target: req.hdr.source.clone(),
                source: req.hdr.target.clone(),
                ..SyncHdr::default()
            },
            body: SyncBody {
                commands: vec![Command::Status(Status {
                    cmd_id: "1".into(),
                    msg_ref: req.hdr.msg_id.clone(),
                    cmd_ref: "0".into(),
                    cmd: "SyncHdr".into(),
                    data: 200,
                    ..Status::default()
                })],
                final_,
            },
        };
        (req.hdr.session_id, xml::encode(&msg))
    };
    match mode {
        Mode::Garbage => {
            let body = b"\x00\xff<<not syncml>>";
            reply("200 OK", body, body.len())
        }
        Mode::Huge => {
            let body = vec![b'<'; 3 << 20];
            reply("200 OK", &body, body.len())
        }
        Mode::Truncated => reply("200 OK", b"<SyncML><Sync", 4000),
        Mode::NotFound => reply("404 Not Found", b"no", 2),
        Mode::ForeignSession => {
            let body = echo("FFFF", true).1;
            reply("200 OK", &body, body.len())
        }
        Mode::Endless => {
            let req = xml::decode(request).unwrap_or_default();
            let body = echo(&req.hdr.session_id, false).1;
            reply("200 OK", &body, body.len())
        }
    }
}

/// A server on a free loopback port answering every request in `mode`.
fn hostile(mode: Mode) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                if let Some(req) = read_request(&mut stream) {
                    let _ = stream.write_all(&answer(mode, &req));
                }
            });
        }
    });
    format!("http://{addr}/dm")
}

#[test]
fn dmclient_survives_a_hostile_server() {
    let sys = System::start(Options::default());
    let keys = sys.keys();
    let text = std::fs::read_to_string(sys.client_config()).expect("config");
    let dm_line = text.lines().find(|l| l.starts_with("dm_url")).expect("dm_url").to_owned();
    let cases = [
        (Mode::Garbage, 8, "undecodable"),
        (Mode::Huge, 8, "larger than"),
        (Mode::Truncated, 7, "unreachable or failing"),
        (Mode::NotFound, 8, "HTTP 404"),
        (Mode::ForeignSession, 8, "session failed"),
        (Mode::Endless, 8, "session failed"),
    ];
    for (n, (mode, code, words)) in cases.into_iter().enumerate() {
        let url = hostile(mode);
        let cfg = sys.dir.path().join(format!("hostile-{n}.toml"));
        std::fs::write(&cfg, text.replace(&dm_line, &format!("dm_url = \"{url}\""))).expect("write");
        let t = now().as_secs();
        let claims = Claims {
            iss: "edge".into(),
            aud: "portaldm-origin".into(),
            sid: format!("s{n}"),
            nsid: 0x100 + n as u16,
            srv: "portaldm".into(),
            iat: t,
            nbf: t,
            exp: t + 300,
            jti: format!("j{n}"),
            bnd: "b".into(),
            colo: "T".into(),
            ctry: None,
            net: None,
        };
        let token = TokenSigner::new(&keys.token).expect("signer").sign(&claims).expect("signs");
        let trigger = Package0::with_token(claims.nsid, "portaldm", UiMode::UserInteraction, &token)
            .encode(keys.server_password.as_bytes(), b"")
            .expect("encodes");
        let started = std::time::Instant::now();
        let out = sys.run_dmclient(&cfg, &trigger);
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{mode:?}: {log}");
        assert!(log.contains(words), "{mode:?}: {log}");
        assert!(!log.contains("panicked"), "{mode:?}: {log}");
        assert!(started.elapsed() < Duration::from_secs(30), "{mode:?} took {:?}", started.elapsed());
    }
    assert_eq!(sys.installed(), Vec::<std::path::PathBuf>::new(), "nothing installed");
}
