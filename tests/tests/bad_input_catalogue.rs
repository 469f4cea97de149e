//! The catalogue of bad inputs, one entry point after another (issue 9): DM messages in XML
//! and WBXML, the portal API, `/dl`, triggers (pkg#0) handed to dmclient and dmclient's own
//! configuration. Every one gets a clear refusal (a 4xx with a reason, or an exit code with an
//! `error:` line), none crashes or hangs anything, and the system serves on afterwards. The
//! server's answers to dmclient (garbage, huge, truncated) are in `hostile_server.rs`.

use std::time::Duration;

use portaldm_shared::pkg0::{Package0, UiMode};
use portaldm_tests::browser::{Reply, agent, get_with, post_with};
use portaldm_tests::{Options, System};

const DM_XML: &str = "application/vnd.syncml.dm+xml";
const DM_WBXML: &str = "application/vnd.syncml.dm+wbxml";

/// An HTTP case: what is sent, and the status it must get.
struct Http {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
}

fn dm(name: &'static str, content_type: &str, body: impl Into<Vec<u8>>, status: u16) -> Http {
    Http {
        name,
        method: "POST",
        path: "/dm".into(),
        headers: vec![("Content-Type", content_type.to_owned())],
        body: body.into(),
        status,
    }
}

fn select(name: &'static str, headers: Vec<(&'static str, String)>, body: impl Into<Vec<u8>>, status: u16) -> Http {
    Http { name, method: "POST", path: "/portal/api/select".into(), headers, body: body.into(), status }
}

fn download(name: &'static str, path: String, headers: Vec<(&'static str, String)>, status: u16) -> Http {
    Http { name, method: "GET", path, headers, body: Vec::new(), status }
}

fn send(base: &str, c: &Http) -> Reply {
    let url = format!("{base}{}", c.path);
    let headers: Vec<(&str, &str)> = c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match c.method {
        "POST" => post_with(&url, &headers, &c.body),
        _ => get_with(&url, &headers),
    }
}

/// A SyncML message with `hdr` as its header and an empty body.
fn syncml(hdr: &str) -> String {
    format!("<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr>{hdr}</SyncHdr><SyncBody><Final/></SyncBody></SyncML>")
}

/// 64 KiB of WBXML: a string table of one 32 KiB entry, and a SyncML element whose text is
/// 15,000 references to it.
fn wbxml_bomb() -> Vec<u8> {
    let mut b = b"\x02\xa4\x01\x6a\x82\x80\x00".to_vec(); // WBXML 1.2, SyncML 1.2, UTF-8, 32 KiB table
    b.extend(std::iter::repeat_n(b'A', 32 * 1024 - 1));
    b.push(0);
    b.push(0x6d); // SyncML, with content
    for _ in 0..15_000 {
        b.extend_from_slice(&[0x83, 0x00]); // STR_T 0
    }
    b.push(0x01);
    b
}

/// Longest refusal body the catalogue accepts: a reason, never an echo of the input.
const MAX_REFUSAL_BYTES: usize = 1024;

fn http_cases(edge: &str, blob: &str, good_query: &str, session_cookie: &str) -> Vec<Http> {
    let good_hdr = "<VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID>\
                    <Target><LocURI>http://x/dm</LocURI></Target><Source><LocURI>IMEI:1</LocURI></Source>";
    let json = || vec![("Content-Type", "application/json".to_owned())];
    let cookie = |c: &str| vec![("Content-Type", "application/json".to_owned()), ("Cookie", c.to_owned())];
    // A browser with a live portal session: its bodies are read.
    let live = |ct: &str| vec![("Content-Type", ct.to_owned()), ("Cookie", session_cookie.to_owned())];
    // The edge's own host and port, over another scheme: another origin.
    let other_scheme = edge.replacen("http://", "https://", 1);
    let dl = |q: &str| format!("/dl/{blob}?{q}");
    vec![
        // SyncML over XML.
        dm("truncated XML", DM_XML, "<SyncML><SyncHdr>", 400),
        dm("not SyncML", DM_XML, "<html><body>hi</body></html>", 400),
        dm("DOCTYPE with an entity", DM_XML, "<!DOCTYPE x [<!ENTITY a 'a'>]><SyncML>&a;</SyncML>", 400),
        dm("UTF-16 instead of UTF-8", DM_XML, vec![0xff, 0xfe, 0x3c, 0x00, 0x53, 0x00], 400),
        dm("empty body", DM_XML, "", 400),
        dm("NUL bytes", DM_XML, b"<SyncML>\0\0\0</SyncML>".to_vec(), 400),
        dm("unterminated CDATA", DM_XML, "<SyncML><SyncHdr><![CDATA[abc</SyncHdr></SyncML>", 400),
        dm("5,000 levels deep", DM_XML, format!("{}{}", "<a>".repeat(5_000), "</a>".repeat(5_000)), 400),
        dm("15,000 elements", DM_XML, format!("<SyncML>{}</SyncML>", "<a/>".repeat(15_000)), 400),
        dm("MsgID not a number", DM_XML, syncml(&good_hdr.replace("<MsgID>1</MsgID>", "<MsgID>one</MsgID>")), 400),
        dm("no SyncHdr", DM_XML, "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncBody><Final/></SyncBody></SyncML>", 400),
        // Answered in SyncML: HTTP 200, header Status 505 (checked below).
        dm("unknown DM version", DM_XML, syncml(&good_hdr.replace("DM/1.2", "DM/9.9")), 200),
        // A header that decodes over a body that does not: answered in SyncML too.
        dm(
            "DM 1.1.2 with a body that does not decode",
            DM_XML,
            syncml(&good_hdr.replace("DM/1.2", "DM/1.1").replace("<VerDTD>1.2", "<VerDTD>1.1"))
                .replace("<Final/>", "<Frobnicate><CmdID>1</CmdID></Frobnicate><Final/>"),
            200,
        ),
        dm(
            "DM 1.2 with a body that does not decode",
            DM_XML,
            syncml(good_hdr).replace("<Final/>", "<Frobnicate><CmdID>1</CmdID></Frobnicate><Final/>"),
            200,
        ),
        dm("oversized (70 KiB)", DM_XML, vec![b'a'; 70 * 1024], 413),
        dm("another media type", "text/plain", "hello", 415),
        // SyncML over WBXML.
        dm("truncated WBXML", DM_WBXML, b"\x02\xa4\x01\x6a\x00".to_vec(), 400),
        dm("WBXML version 9", DM_WBXML, b"\x09\xa4\x01\x6a\x00\x6d\x01".to_vec(), 400),
        dm("WBXML string table of 4 GiB", DM_WBXML, b"\x02\xa4\x01\x6a\x8f\xff\xff\xff\x7f".to_vec(), 400),
        dm("WBXML unknown public id", DM_WBXML, b"\x02\x99\x01\x6a\x00\x45\x01".to_vec(), 400),
        dm("WBXML of random bytes", DM_WBXML, (0..512u32).map(|i| (i * 97 % 251) as u8).collect::<Vec<_>>(), 400),
        dm(
            "WBXML 5,000 levels deep",
            DM_WBXML,
            {
                let mut b = b"\x02\xa4\x01\x6a\x00".to_vec();
                b.extend(std::iter::repeat_n(0x6d, 5_000)); // SyncML tag with content, again and again
                b.extend(std::iter::repeat_n(0x01, 5_000));
                b
            },
            400,
        ),
        // 64 KiB that a string table would amplify to 480 MiB of text (a two-byte reference
        // to a 32 KiB entry, 15,000 times): refused before it grows.
        dm("WBXML string-table bomb", DM_WBXML, wbxml_bomb(), 400),
        // A refusal quotes at most a short, escaped excerpt of what it refuses.
        dm(
            "MsgID of 60 KiB",
            DM_XML,
            syncml(&good_hdr.replace("<MsgID>1</MsgID>", &format!("<MsgID>{}</MsgID>", "9x".repeat(30 * 1024)))),
            400,
        ),
        // The portal API.
        select("select without a cookie", json(), r#"{"package_id":1}"#, 401),
        select("select with a garbage cookie", cookie("__Host-pdm=%%%garbage"), r#"{"package_id":1}"#, 401),
        select(
            "select with an 8 KiB cookie",
            cookie(&format!("__Host-pdm={}", "A".repeat(8192))),
            r#"{"package_id":1}"#,
            431,
        ),
        select("select with broken JSON", live("application/json"), "{\"package_id\":", 400),
        select("select with a string id", live("application/json"), r#"{"package_id":"one"}"#, 422),
        select("select with a JSON string for an object", live("application/json"), "\"just text\"", 422),
        select("select as text/plain", live("text/plain"), "package_id=1", 415),
        select(
            "select with a 200 KiB body",
            live("application/json"),
            format!("{{\"package_id\":1,\"x\":\"{}\"}}", "a".repeat(200 * 1024)),
            413,
        ),
        select("select before the phone answered", live("application/json"), r#"{"package_id":1}"#, 409),
        select(
            "select from the same host over another scheme",
            [live("application/json"), vec![("Origin", other_scheme)]].concat(),
            r#"{"package_id":1}"#,
            403,
        ),
        // Downloads.
        download("download without a query", format!("/dl/{blob}"), vec![], 400),
        download("download of a non-hex blob", format!("/dl/{}?{good_query}", "z".repeat(64)), vec![], 404),
        download("download with a repeated parameter", dl(&format!("{good_query}&d=IMEI%3A2")), vec![], 400),
        download(
            "download with a 3,000-byte query",
            dl(&format!("{good_query}&pad={}", "p".repeat(3000))),
            vec![],
            400,
        ),
        download("download with a non-numeric expiry", dl("p=1&d=IMEI%3A1&e=soon&s=cdn1.AAAA"), vec![], 400),
        download("download with a garbage signature", dl("p=1&d=IMEI%3A1&e=99999999999&s=%00%01"), vec![], 400),
        download("download signed by an unknown key", dl("p=1&d=IMEI%3A1&e=99999999999&s=nokey.AAAA"), vec![], 403),
        download("download with a non-numeric package", dl("p=one&d=IMEI%3A1&e=99999999999&s=cdn1.AAAA"), vec![], 400),
        // The first format named only the blob, not the package it delivers: refused as old.
        download("download URL of the old format", dl("d=IMEI%3A1&e=99999999999&s=cdn1.AAAA"), vec![], 410),
        // Signed for one package, presented for another with the same blob.
        download("download naming another package", dl(&good_query.replacen("p=", "p=9", 1)), vec![], 403),
        download("download with a garbage Range", dl(good_query), vec![("Range", "bytes=zz-yy".into())], 200),
        download("download with two ranges", dl(good_query), vec![("Range", "bytes=0-1,5-9".into())], 200),
        download("download with a Range past the end", dl(good_query), vec![("Range", "bytes=999999999-".into())], 416),
    ]
}

#[test]
fn every_bad_input_gets_a_clear_refusal_and_nothing_breaks() {
    let sys = System::start(Options::default());
    let listing = sys.origin_cmd(&["catalog", "list"]).output().expect("list");
    let text = String::from_utf8_lossy(&listing.stdout).into_owned();
    let blob = text.lines().next().and_then(|l| l.split("sha256=").nth(1)).expect("a package").trim().to_owned();
    let id = text.lines().next().and_then(|l| l.split_whitespace().next()).expect("id").to_owned();
    let url = sys.origin_cmd(&["catalog", "url", &id, "--device", "IMEI:1"]).output().expect("catalog url");
    let url = String::from_utf8_lossy(&url.stdout).trim().to_owned();
    let good_query = url.split_once('?').expect("query").1.to_owned();

    let mut phone = portaldm_tests::browser::Browser::new(&sys.edge);
    assert_eq!(phone.get("/portal/trigger").status, 200);
    let session_cookie = phone.cookie.clone().expect("the trigger sets the portal cookie");
    let mut count = 0;
    let mut wrong = Vec::new();
    for c in http_cases(&sys.edge, &blob, &good_query, &session_cookie) {
        let r = send(&sys.edge, &c);
        // A refusal says why: in its body, or for 416 in Content-Range.
        let explained = r.status < 400 || !r.body.is_empty() || r.header("content-range").is_some();
        // Answered in SyncML: the header Status says why.
        let wanted = match c.name {
            "unknown DM version" | "DM 1.1.2 with a body that does not decode" => Some("<Data>505</Data>"),
            "DM 1.2 with a body that does not decode" => Some("<Data>400</Data>"),
            _ => None,
        };
        let syncml_ok = wanted.is_none_or(|w| String::from_utf8_lossy(&r.body).contains(w));
        let bounded = r.status < 400 || r.body.len() <= MAX_REFUSAL_BYTES;
        if r.status != c.status || !explained || !syncml_ok || !bounded {
            let body = String::from_utf8_lossy(&r.body[..r.body.len().min(300)]).into_owned();
            wrong.push(format!("{}: {} (wanted {}), {} bytes: {body}", c.name, r.status, c.status, r.body.len()));
        }
        count += 1;
    }
    assert!(wrong.is_empty(), "refused wrongly or without a reason:\n{}", wrong.join("\n"));

    // The admin API, on the origin's own address, with and without a good token.
    let token = sys.admin_token("catalogue");
    let bearer = format!("Bearer {token}");
    let admin =
        |name: &'static str, method: &'static str, path: &str, auth: &str, ctype: &str, body: Vec<u8>, status: u16| {
            Http {
                name,
                method,
                path: format!("/admin/api{path}"),
                headers: [("Authorization", auth.to_owned()), ("Content-Type", ctype.to_owned())]
                    .into_iter()
                    .filter(|(_, v)| !v.is_empty())
                    .collect(),
                body,
                status,
            }
        };
    let pkg = |extra: &str| {
        format!(r#"{{"name":"fw","version":"9","models":["X"],"blob":"{}"{extra}}}"#, "ab".repeat(32)).into_bytes()
    };
    let admin_cases = vec![
        admin("admin call without a token", "GET", "/packages", "", "", vec![], 401),
        admin(
            "admin call with a 7 KiB token",
            "GET",
            "/packages",
            &format!("Bearer pdm_admin_{}", "a".repeat(7 * 1024)),
            "",
            vec![],
            401,
        ),
        // Over the origin's 8 KiB request head (hyper's answer: the status is the reason).
        admin(
            "admin call with a 10 KiB token",
            "GET",
            "/packages",
            &format!("Bearer pdm_admin_{}", "a".repeat(10_240)),
            "",
            vec![],
            431,
        ),
        admin(
            "admin call with another scheme",
            "GET",
            "/packages",
            &bearer.replace("Bearer", "Token"),
            "",
            vec![],
            401,
        ),
        admin(
            "package with broken JSON",
            "POST",
            "/packages",
            &bearer,
            "application/json",
            b"{\"name\":".to_vec(),
            400,
        ),
        admin(
            "package 64 levels deep",
            "POST",
            "/packages",
            &bearer,
            "application/json",
            format!("{}{}", "[".repeat(64), "]".repeat(64)).into_bytes(),
            422,
        ),
        admin(
            "package with an unknown field",
            "POST",
            "/packages",
            &bearer,
            "application/json",
            pkg(r#","owner":"me""#),
            422,
        ),
        admin(
            "package with a 300-byte version",
            "POST",
            "/packages",
            &bearer,
            "application/json",
            format!(r#"{{"name":"fw","version":"{}","models":["X"],"blob":"{}"}}"#, "9".repeat(300), "ab".repeat(32))
                .into_bytes(),
            400,
        ),
        admin(
            "package with a rollout of 1000",
            "POST",
            "/packages",
            &bearer,
            "application/json",
            pkg(r#","rollout_percent":1000"#),
            422,
        ),
        admin("package for a blob never uploaded", "POST", "/packages", &bearer, "application/json", pkg(""), 400),
        admin("empty blob upload", "POST", "/blobs", &bearer, "application/octet-stream", vec![], 400),
        admin("sessions in an unknown state", "GET", "/sessions?state=%00", &bearer, "", vec![], 400),
    ];
    for c in admin_cases {
        let r = send(&sys.origin, &c);
        if r.status != c.status || (r.body.is_empty() && r.status != 431) {
            let body = String::from_utf8_lossy(&r.body[..r.body.len().min(300)]).into_owned();
            wrong.push(format!("{}: {} (wanted {}), {} bytes: {body}", c.name, r.status, c.status, r.body.len()));
        }
        count += 1;
    }
    assert!(wrong.is_empty(), "admin API refused wrongly or without a reason:\n{}", wrong.join("\n"));

    // Triggers handed to dmclient, and dmclient's own configuration.
    let keys = sys.keys();
    let valid = Package0::with_token(0x42, "portaldm", UiMode::UserInteraction, "t")
        .encode(keys.server_password.as_bytes(), b"")
        .expect("encodes");
    let mut wsp_garbage = vec![0x01, 0x06, 0x03, 0xc4, 0xaf, 0x87];
    wsp_garbage.extend_from_slice(b"not a package at all");
    let mut bad_version = valid.clone();
    bad_version[16] = 0xff; // version bits of the notification header
    let triggers: Vec<(&str, Vec<u8>)> = vec![
        ("empty trigger", Vec::new()),
        ("trigger of garbage", b"not a trigger at all".to_vec()),
        ("truncated trigger", valid[..10].to_vec()),
        ("1 MiB trigger", vec![0x5a; 1 << 20]),
        ("WSP push wrapping garbage", wsp_garbage),
        ("trigger of an unknown version", bad_version),
    ];
    for (what, bytes) in triggers {
        let out = sys.run_dmclient(&sys.client_config(), &bytes);
        assert_eq!(out.status.code(), Some(3), "{what}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error:"), "{what} explains itself");
        count += 1;
    }
    let good_cfg = std::fs::read_to_string(sys.client_config()).expect("config");
    let configs: Vec<(&str, String)> = vec![
        ("config that is not TOML", "this is [not toml".into()),
        ("config without [account]", good_cfg.split("[account]").next().expect("head").to_owned()),
        ("config with a number for dev_id", good_cfg.replace("dev_id = \"IMEI:490154203237518\"", "dev_id = 5")),
        ("config with a broken trusted key", {
            let line = good_cfg.lines().find(|l| l.starts_with("trusted_keys")).expect("trusted_keys").to_owned();
            good_cfg.replace(&line, "trusted_keys = \"dev1:not!base64\"")
        }),
        ("config with an unknown auth scheme", format!("{good_cfg}\n[account.auth]\nscheme = \"rot13\"\n")),
        ("config with an unknown field", good_cfg.replace("[device]\n", "[device]\nfavourite_colour = \"red\"\n")),
        ("config with two install methods", good_cfg.replace("[install]\n", "[install]\nslots_dir = \"/tmp/x\"\n")),
    ];
    for (what, text) in configs {
        let path = sys.dir.path().join("bad-config.toml");
        std::fs::write(&path, text).expect("write");
        let out = sys.run_dmclient(&path, &valid);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error:"), "{what} explains itself");
        count += 1;
    }
    assert!(count >= 40, "the catalogue has {count} entries");

    // Everything still serves, and nothing panicked.
    let page = agent().get(&format!("{}/portal/", sys.edge)).call().expect("portal");
    assert_eq!(page.status(), 200);
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(sys.dir.path().join("origin.log")).expect("origin.log");
    assert!(!log.contains("panicked"), "the origin panicked:\n{log}");
}
