//! The stock handset (`portaldm_tests::stock`, an OMA DM 1.2 client written from the specs
//! with no portaldm protocol code) against the real origin, and its own parts on their own.

use std::time::Duration;

use portaldm_tests::browser::Browser;
use portaldm_tests::stock::{
    Account, Encoding, End, Handset, Profile, SessionIdStyle, SessionLog, Tree, auth_md5, msg, pkg0,
};
use portaldm_tests::{Options, System};
use serde_json::json;

const DEV_ID: &str = "IMEI:490154203237518";

/// Gives the demo device an md5 account and returns a stock handset holding it.
fn md5_handset(sys: &System) -> Handset {
    sys.stock_handset(DEV_ID)
}

fn transcript(logs: &[SessionLog]) -> String {
    logs.iter()
        .flat_map(|l| l.exchanges.iter())
        .map(|e| {
            format!(
                "--> {}\n{}\n<-- {:?}\n{}\n",
                e.url,
                String::from_utf8_lossy(&e.sent_bytes),
                e.content_type,
                e.received_xml
            )
        })
        .collect()
}

fn check_in_runs_clean(phone: &mut Handset) {
    let logs = phone.check_in().unwrap_or_else(|e| panic!("check-in: {e}"));
    let t = transcript(&logs);
    assert_eq!(logs.len(), 1, "{t}");
    let log = &logs[0];
    assert_eq!(log.end, End::Final, "{t}");
    assert!(log.server_proved, "the server proved itself: {t}");
    assert_eq!(log.server_refusals, 0, "{t}");
    let first = &log.exchanges[0].received;
    assert_eq!(first.header_status().map(|s| s.code()), Some(212), "{t}");
    assert!(log.gets.iter().any(|g| g.starts_with("./DevDetail")), "the server read DevDetail: {t}");
    assert!(log.exchanges.len() >= 2 && log.exchanges[1].url != log.exchanges[0].url, "RespURI followed: {t}");
}

#[test]
fn a_stock_md5_handset_checks_in_over_xml() {
    let sys = System::start(Options::default());
    let mut phone = md5_handset(&sys);
    check_in_runs_clean(&mut phone);
}

#[test]
fn a_stock_md5_handset_checks_in_over_wbxml_through_libwbxml() {
    let sys = System::start(Options::default());
    let mut phone = md5_handset(&sys);
    phone.profile.encoding = portaldm_tests::stock::Encoding::Wbxml;
    check_in_runs_clean(&mut phone);
    // Both ways through libwbxml: it wrote what the origin read, and read what the origin wrote.
    let logs = phone.check_in().expect("second check-in");
    for e in &logs[0].exchanges {
        assert_eq!(e.sent_bytes.first(), Some(&0x02), "WBXML 1.2 sent");
        assert_eq!(e.content_type.as_deref(), Some("application/vnd.syncml+wbxml"), "answered in WBXML");
    }
}

/// The portal's flow with a stock handset that carries no token: its browser shows the trigger
/// (the `pdmt` cookie, at its first look at the session), the handset answers the package #0
/// in its own SessionID spelling, md5 both ways, and the session binds to that browser; the
/// browser is asked "is this your phone?", sees offers only after yes, chooses, and the
/// handset gets the delivery in the same session.
fn stock_portal_flow(
    sys: &System,
    phone: Handset,
    style: SessionIdStyle,
) -> (Handset, Vec<SessionLog>, serde_json::Value) {
    stock_portal_flow_choosing(sys, phone, style, None)
}

/// [`stock_portal_flow`], choosing package `package` (the first offer when `None`).
fn stock_portal_flow_choosing(
    sys: &System,
    phone: Handset,
    style: SessionIdStyle,
    package: Option<i64>,
) -> (Handset, Vec<SessionLog>, serde_json::Value) {
    let mut browser = Browser::new(&sys.edge);
    let trig = browser.get("/portal/trigger");
    assert_eq!(trig.status, 200);
    let n = pkg0::decode(&trig.body).expect("the portal's package #0 decodes in the stock handset");
    assert!(n.server_initiated && n.session_id != 0, "{n:?}");
    assert_eq!(n.server_id, phone.profile.account.server_id);
    assert!(n.digest_matches(&sys.keys().server_password, b""), "digest over the server password, empty nonce");
    assert_eq!(browser.session()["state"], "waiting");
    let mut phone = phone;
    phone.profile.pkg0_session_id = style;
    let body = trig.body.clone();
    let handset = std::thread::spawn(move || {
        let logs = phone.on_package0(&body);
        (phone, logs)
    });
    let asked = browser.wait_for("identified", Duration::from_secs(30));
    assert!(asked["offers"].as_array().is_some_and(|o| o.is_empty()), "no offer before yes: {asked}");
    let shown = asked["device"].to_string();
    assert!(shown.contains("PDM-Phone-1") && shown.contains("7518"), "model and masked DevId: {shown}");
    assert!(!shown.contains(&DEV_ID[5..]), "never the whole DevId: {shown}");
    assert_eq!(browser.identify(true).status, 200);
    let view = browser.wait_for("choosing", Duration::from_secs(10));
    let pick = json!({ "package_id": package.map_or(view["offers"][0]["package"]["id"].clone(), |id| json!(id)) });
    assert_eq!(browser.post_json("/portal/api/select", &pick).status, 200);
    let (phone, logs) = handset.join().expect("handset thread");
    let logs = logs.unwrap_or_else(|e| {
        let origin_log = std::fs::read_to_string(sys.dir.path().join("origin.log")).unwrap_or_default();
        panic!("{style:?}: {e}\norigin.log:\n{origin_log}")
    });
    let end = browser.wait_for_any(&["done", "failed"], Duration::from_secs(30));
    (phone, logs, end)
}

/// A stock handset modelled on the demo phone (so the demo catalog has offers for it).
fn stock_demo_phone(sys: &System) -> Handset {
    let mut phone = md5_handset(sys);
    phone.profile.model = "PDM-Phone-1".into();
    Handset::new(phone.profile)
}

#[test]
fn a_stock_handset_binds_to_its_browser_by_the_package0_session_id_in_every_spelling() {
    let sys = System::start(Options { origin_extra: "stock_settle_ms = 200\n", ..Options::default() });
    let mut phone = stock_demo_phone(&sys);
    for style in
        [SessionIdStyle::UpperHex, SessionIdStyle::LowerHex, SessionIdStyle::Decimal, SessionIdStyle::ByteSwapped]
    {
        let (back, logs, end) = stock_portal_flow(&sys, phone, style);
        phone = back;
        let t = transcript(&logs);
        let first = &logs[0];
        // (From the second session on, libdmclient's lost nonce costs one refused proof.)
        assert!(first.server_proved && first.server_refusals <= 1, "{style:?}: {t}");
        assert_eq!(first.exchanges[0].received.header_status().map(|s| s.code()), Some(212), "{style:?}: {t}");
        assert!(first.exchanges.len() >= 3, "package 2, 4 and on: {t}");
        let origin_log = std::fs::read_to_string(sys.dir.path().join("origin.log")).unwrap_or_default();
        assert!(origin_log.contains("stock DM session bound to its trigger"), "{origin_log}");
        assert_eq!(end["state"], "done", "{style:?}: {end}\n{t}");
        // The server found the handset's own FUMO node and wrote only what FUMO defines there.
        let writes: Vec<&str> =
            t.lines().filter(|l| l.contains("<Replace>") || l.contains("<Exec>")).collect::<Vec<_>>();
        assert!(t.contains("<LocURI>./FwUpdate/stock/DownloadAndUpdate</LocURI>"), "{t}");
        assert!(!t.contains("./FUMO/") && !t.contains("/Ext/"), "no node the handset lacks: {writes:?}");
        let download = phone.downloads.last().expect("it downloaded");
        assert_eq!((download.result, download.job.node.as_str()), (200, "./FwUpdate/stock/DownloadAndUpdate"));
        assert_eq!(phone.tree.value("./DevDetail/FwV"), Some("1.2.0"), "installed");
        phone.tree.replace("./DevDetail/FwV", "1.0.0");
    }
}

/// libdmclient's nonce habit: it checks the server's proof on the server's last message,
/// rotates its nonce and never sends it; the next session's first proof is refused (401 with
/// the new nonce) and the server's re-sent proof is accepted.
#[test]
fn after_libdmclients_lost_nonce_the_server_proves_itself_again() {
    let sys = System::start(Options::default());
    let mut phone = md5_handset(&sys);
    check_in_runs_clean(&mut phone);
    let logs = phone.check_in().expect("second check-in");
    let t = transcript(&logs);
    let log = &logs[0];
    assert_eq!(log.end, End::Final, "{t}");
    assert_eq!(log.server_refusals, 1, "{t}");
    assert!(log.server_proved, "{t}");
    assert_eq!(log.exchanges[0].sent.hdr.session_id, "1", "SessionID reused");
    assert_eq!(log.exchanges[1].sent.header_status().map(|s| s.code()), Some(401), "{t}");
}

#[test]
fn the_md5_digest_matches_the_security_specs_example() {
    // OMA-TS-DM_Security 1.2 (and SyncML RepPro) example: the text says "Bruce1", but the
    // printed Zz6EivR3yeaaENcRN6lpAQ== is the digest for "Bruce2", a known erratum.
    assert_eq!(auth_md5::md5_cred("Bruce2", "OhBehave", b"Nonce"), "Zz6EivR3yeaaENcRN6lpAQ==");
    assert_ne!(auth_md5::md5_cred("Bruce1", "OhBehave", b"Nonce"), "Zz6EivR3yeaaENcRN6lpAQ==");
    // Nonces travel as base64 and are digested raw.
    assert_eq!(auth_md5::nonce_bytes(&auth_md5::b64(b"Nonce")), b"Nonce");
    // libdmclient-pkg1-md5.xml is not checked: its account's password was not recorded.
}

#[test]
fn the_package0_decoder_reads_the_notification_layout() {
    let bytes = pkg0::encode(12, 3, true, 0x6424, "srv", b"tail", "pw", b"n");
    let n = pkg0::decode(&bytes).expect("decodes");
    assert_eq!((n.version, n.ui_mode, n.server_initiated, n.session_id), (12, 3, true, 0x6424));
    assert_eq!((n.server_id.as_str(), n.vendor.as_slice()), ("srv", b"tail".as_slice()));
    assert!(n.digest_matches("pw", b"n") && !n.digest_matches("pw", b"") && !n.digest_matches("other", b"n"));
    // Bits: version 12 is 0b0000001100 then ui-mode 11, initiator 1, 27 future-use bits.
    assert_eq!(&bytes[16..23], &[0x03, 0x38, 0, 0, 0, 0x64, 0x24]);
    assert_eq!(bytes[23], 3);
    let spell = |s: SessionIdStyle| n.session_id_as(s);
    assert_eq!(spell(SessionIdStyle::UpperHex), "6424");
    assert_eq!(spell(SessionIdStyle::ByteSwapped), "2464", "libdmclient's swap, as in the vector");
    assert_eq!(SessionIdStyle::LowerHex.spell(0x1A2B), "1a2b");
    assert_eq!(SessionIdStyle::Decimal.spell(0x1A2B), "6699");
    // Short, truncated and empty-server-id packages are refused with a typed error, no panic.
    for bad in [&bytes[..10], &bytes[..23], &bytes[..25]] {
        assert!(pkg0::decode(bad).is_err());
    }
    let mut empty_id = bytes.clone();
    empty_id[23] = 0;
    assert!(pkg0::decode(&empty_id).is_err());
    assert!(pkg0::decode(&vec![0u8; pkg0::MAX_PKG0 + 1]).is_err());
}

#[test]
fn the_stock_tree_answers_404_for_what_it_does_not_have() {
    let account = Account {
        node: "acc".into(),
        server_id: "srv".into(),
        addr: String::new(),
        client_name: "c".into(),
        client_password: "cp".into(),
        server_name: "s".into(),
        server_password: "sp".into(),
    };
    let mut phone = Handset::new(Profile::new("dev", "http://127.0.0.1:1/dm", account));
    let t: &mut Tree = &mut phone.tree;
    assert_eq!(t.get("./DevInfo/DevId").map(|v| v.data), Ok("dev".into()));
    let devinfo = t.get("./DevInfo").expect("interior");
    assert_eq!((devinfo.format.as_str(), devinfo.data.as_str()), ("node", "DevId/DmV/Lang/Man/Mod"));
    assert_eq!(t.get("./FwUpdate/stock").map(|v| v.data), Ok("DownloadAndUpdate/PkgName/PkgVersion/State".into()));
    assert_eq!(t.get("./FUMO/pdm2/PkgName"), Err(404));
    assert_eq!(t.replace("./FUMO/pdm2/DownloadAndUpdate/PkgURL", "http://x"), 404);
    assert_eq!(t.replace("./FwUpdate/stock/Ext/PkgSHA256", "00"), 404);
    assert_eq!(t.replace("./FwUpdate/stock/DownloadAndUpdate/PkgURL", "http://x/fw"), 200);
    assert_eq!(t.replace("./DevInfo", "x"), 405, "interior nodes have no value");
    assert_eq!(t.get("./DMAcc/acc/AppAuth/client/AAuthSecret"), Err(405), "secrets are not read out");
    assert_eq!(t.get("./DevInfo?list=Struct"), Err(406));
    assert_eq!(t.delete("./Nothing"), 404);
    assert_eq!(t.add("./Vendor/x", "1", None), 404, "no parent");
    assert_eq!(t.add("./DevInfo/Ext", "", Some("node")), 200);
    assert_eq!(t.add("./DevInfo/Ext", "", Some("node")), 418);
}

/// A scripted DM server on loopback for the handset's own behaviour: `answer(n, path, body)`
/// gives the n-th request's HTTP status, Content-Type and body. Returns the base URL and the
/// requests seen (path, body), one connection each.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

fn scripted<F>(answer: F) -> (String, Seen)
where
    F: Fn(usize, &str, &[u8]) -> (u16, &'static str, Vec<u8>) + Send + 'static,
{
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Default::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { return };
            let mut r = BufReader::new(conn.try_clone().expect("clone"));
            let mut line = String::new();
            r.read_line(&mut line).expect("request line");
            let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
            let mut len = 0;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).expect("header");
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().expect("length");
                }
                assert!(!h.to_ascii_lowercase().starts_with("connection: keep-alive"));
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).expect("body");
            log.lock().expect("lock").push((path.clone(), body.clone()));
            let (status, ct, out) = answer(n, &path, &body);
            let head = format!("HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n", out.len());
            let _ = conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(&out));
        }
    });
    (base, seen)
}

fn scripted_phone(base: &str) -> Handset {
    let account = Account {
        node: "fake".into(),
        server_id: "fake".into(),
        addr: String::new(),
        client_name: "dev".into(),
        client_password: "cpw".into(),
        server_name: "fake".into(),
        server_password: "spw".into(),
    };
    Handset::new(Profile::new("dev", &format!("{base}/dm"), account))
}

/// A server message answering `req` (header 212), proving itself over the nonce the handset
/// gave last (in `nonce`), with `cmds`.
fn server_msg(
    req: &msg::Msg,
    nonce: &mut String,
    resp_uri: Option<String>,
    cmds: Vec<msg::Cmd>,
    final_: bool,
) -> Vec<u8> {
    if let Some(n) = req.header_status().and_then(|s| s.chal.as_ref()).and_then(|c| c.next_nonce.clone()) {
        *nonce = n;
    }
    let mut all = vec![msg::Cmd {
        msg_ref: Some(req.hdr.msg_id.clone()),
        cmd_ref: Some("0".into()),
        cmd: Some("SyncHdr".into()),
        data: Some(if req.hdr.cred.is_some() { "212" } else { "200" }.into()),
        ..msg::Cmd::new("Status")
    }];
    all.extend(cmds);
    for (i, c) in all.iter_mut().enumerate() {
        c.cmd_id = (i + 1).to_string();
    }
    let m = msg::Msg {
        hdr: msg::Hdr {
            session_id: req.hdr.session_id.clone(),
            msg_id: req.hdr.msg_id.clone(),
            target: req.hdr.source.clone(),
            source: req.hdr.target.clone(),
            resp_uri,
            cred: Some(msg::Cred {
                meta: msg::AuthMeta { typ: "syncml:auth-md5".into(), format: "b64".into(), next_nonce: None },
                data: auth_md5::md5_cred("fake", "spw", &auth_md5::nonce_bytes(nonce)),
            }),
            max_msg_size: None,
        },
        cmds: all,
        final_,
    };
    msg::to_xml(&m)
}

fn replace(uri: &str, data: &str) -> msg::Cmd {
    let item = msg::Item { target: Some(uri.into()), data: Some(data.into()), ..msg::Item::default() };
    msg::Cmd { items: vec![item], ..msg::Cmd::new("Replace") }
}

#[test]
fn a_fumo_exec_downloads_the_package_and_reports_in_a_new_session() {
    let base_cell = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let b = base_cell.clone();
    let nonce = std::sync::Mutex::new(String::new());
    let (base, seen) = scripted(move |n, path, body| {
        let base = b.lock().expect("lock").clone();
        if path == "/fw.bin" {
            return (200, "application/octet-stream", b"new firmware".to_vec());
        }
        let req = msg::from_xml(body).expect("the handset's XML reads back");
        let mut nonce = nonce.lock().expect("lock");
        let xml = match n {
            0 => {
                let url = format!("{base}/fw.bin");
                let exec = msg::Cmd {
                    correlator: Some("corr-7".into()),
                    items: vec![msg::Item {
                        target: Some("./FwUpdate/stock/DownloadAndUpdate".into()),
                        ..msg::Item::default()
                    }],
                    ..msg::Cmd::new("Exec")
                };
                let cmds = vec![
                    replace("./FwUpdate/stock/PkgVersion", "2.0.0"),
                    replace("./FwUpdate/stock/DownloadAndUpdate/PkgURL", &url),
                    replace("./FwUpdate/stock/Ext/PkgSHA256", "00"),
                    exec,
                ];
                server_msg(&req, &mut nonce, Some(format!("{base}/dm/s1")), cmds, true)
            }
            _ => server_msg(&req, &mut nonce, None, Vec::new(), true),
        };
        (200, "application/vnd.syncml+xml", xml)
    });
    *base_cell.lock().expect("lock") = base.clone();
    let mut phone = scripted_phone(&base);
    phone.profile.nonce_rotation = portaldm_tests::stock::NonceRotation::WhenSent;
    let logs = phone.check_in().expect("check-in and report");
    let t = transcript(&logs);
    assert_eq!(logs.len(), 2, "a second session reports the update: {t}");
    let statuses = logs[0].exchanges[1].sent.statuses();
    assert_eq!(
        statuses,
        vec![
            ("SyncHdr".into(), 212),
            ("Replace".into(), 200),
            ("Replace".into(), 200),
            ("Replace".into(), 404),
            ("Exec".into(), 202)
        ],
        "{t}"
    );
    assert_eq!(logs[0].exchanges[1].url, format!("{base}/dm/s1"), "RespURI followed");
    assert_eq!(phone.downloads.len(), 1);
    assert_eq!((phone.downloads[0].result, phone.downloads[0].bytes), (200, 12));
    assert_eq!(phone.tree.value("./DevDetail/FwV"), Some("2.0.0"));
    assert_eq!(phone.tree.value("./FwUpdate/stock/State"), Some("100"));
    let report = &logs[1].exchanges[0].sent;
    assert_eq!(report.hdr.session_id, "1", "SessionID reused");
    let kinds: Vec<_> = report.cmds.iter().map(|c| (c.kind.as_str(), c.data.clone())).collect();
    assert_eq!(kinds[0], ("Alert", Some("1201".into())));
    assert_eq!(kinds[1].0, "Replace");
    let generic = &report.cmds[2];
    assert_eq!((generic.data.as_deref(), generic.correlator.as_deref()), (Some("1226"), Some("corr-7")));
    let item = &generic.items[0];
    assert_eq!(item.source.as_deref(), Some("./FwUpdate/stock/DownloadAndUpdate"));
    assert_eq!(item.typ.as_deref(), Some("org.openmobilealliance.dm.firmwareupdate.downloadandupdate"));
    assert_eq!(item.data.as_deref(), Some("200"));
    assert_eq!(logs[1].end, End::Final);
    let paths: Vec<String> = seen.lock().expect("lock").iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(paths, ["/dm", "/dm/s1", "/fw.bin", "/dm"], "one connection per request");
}

#[test]
fn a_server_message_without_final_or_commands_ends_the_session_without_alert_1222() {
    let nonce = std::sync::Mutex::new(String::new());
    let (base, seen) = scripted(move |_, _, body| {
        let req = msg::from_xml(body).expect("XML");
        let xml = server_msg(&req, &mut nonce.lock().expect("lock"), None, Vec::new(), false);
        (200, "application/vnd.syncml+xml", xml)
    });
    let mut phone = scripted_phone(&base);
    let logs = phone.check_in().expect("check-in");
    assert_eq!(logs[0].end, End::NoFinal);
    assert_eq!(seen.lock().expect("lock").len(), 1, "nothing more sent");
}

#[test]
fn a_server_that_never_proves_itself_gets_401_and_a_chal_and_nothing_runs() {
    let (base, seen) = scripted(move |_, _, body| {
        let req = msg::from_xml(body).expect("XML");
        let mut m = msg::from_xml(&server_msg(&req, &mut String::new(), None, Vec::new(), true)).expect("XML");
        m.hdr.cred = None;
        let get = msg::Cmd {
            cmd_id: "2".into(),
            items: vec![msg::Item { target: Some("./DevDetail/FwV".into()), ..msg::Item::default() }],
            ..msg::Cmd::new("Get")
        };
        m.cmds.push(get);
        (200, "application/vnd.syncml+xml", msg::to_xml(&m))
    });
    let mut phone = scripted_phone(&base);
    let err = phone.check_in().expect_err("refused");
    assert!(matches!(err, portaldm_tests::stock::StockError::ServerNotAuthenticated { refusals: 4 }), "{err}");
    let seen = seen.lock().expect("lock");
    let second = msg::from_xml(&seen[1].1).expect("XML");
    let hdr = second.header_status().expect("header status");
    assert_eq!(hdr.code(), 401);
    assert!(hdr.chal.as_ref().and_then(|c| c.next_nonce.as_ref()).is_some(), "its own Chal");
    assert_eq!(second.statuses(), vec![("SyncHdr".into(), 401), ("Get".into(), 401)]);
    assert!(!second.cmds.iter().any(|c| c.kind == "Results"), "nothing read out");
}

#[test]
fn bad_server_answers_are_typed_errors() {
    for (status, ct, body) in [
        (200, "application/vnd.syncml+xml", b"<SyncML><SyncHdr>".to_vec()),
        (200, "application/vnd.syncml+xml", b"not xml at all".to_vec()),
        (200, "application/vnd.syncml+wbxml", vec![0x02, 0xff, 0xff]),
        (500, "text/plain", b"boom".to_vec()),
    ] {
        let (base, _) = scripted(move |_, _, _| (status, ct, body.clone()));
        let err = scripted_phone(&base).check_in().expect_err("refused");
        let ok = match status {
            500 => matches!(err, portaldm_tests::stock::StockError::Http { status: 500, .. }),
            _ => {
                matches!(err, portaldm_tests::stock::StockError::Parse(_) | portaldm_tests::stock::StockError::Wbxml(_))
            }
        };
        assert!(ok, "{err:?}");
    }
}

#[test]
fn a_stock_wbxml_handset_goes_through_the_portal_flow_too() {
    let sys = System::start(Options { origin_extra: "stock_settle_ms = 200\n", ..Options::default() });
    let mut phone = stock_demo_phone(&sys);
    phone.profile.encoding = Encoding::Wbxml;
    let (phone, logs, end) = stock_portal_flow(&sys, phone, SessionIdStyle::ByteSwapped);
    let t = transcript(&logs);
    assert_eq!(end["state"], "done", "{end}\n{t}");
    assert!(
        logs.iter()
            .flat_map(|l| &l.exchanges)
            .all(|e| e.content_type.as_deref() == Some(Encoding::Wbxml.content_type())),
        "{t}"
    );
    assert_eq!(phone.downloads.last().map(|d| d.result), Some(200));
}

/// A handset whose tree has no FUMO node is offered no firmware: the server never writes a
/// node the device lacks.
#[test]
fn a_stock_handset_without_a_fumo_node_is_offered_no_firmware() {
    let sys = System::start(Options { origin_extra: "stock_settle_ms = 200\n", ..Options::default() });
    let mut phone = stock_demo_phone(&sys);
    assert_eq!(phone.tree.delete("./FwUpdate"), 200);
    let mut browser = Browser::new(&sys.edge);
    let trig = browser.get("/portal/trigger");
    assert_eq!(browser.session()["state"], "waiting");
    let body = trig.body.clone();
    let handset = std::thread::spawn(move || phone.on_package0(&body));
    browser.wait_for("identified", Duration::from_secs(30));
    assert_eq!(browser.identify(true).status, 200);
    let view = browser.wait_for("choosing", Duration::from_secs(10));
    assert_eq!(view["offers"], json!([]), "firmware is offered only to a device that can take it: {view}");
    let logs = handset.join().expect("thread").expect("session");
    let t = transcript(&logs);
    assert!(t.contains("<LocURI>.</LocURI>"), "the server looked for a FUMO node: {t}");
    let asked: Vec<&str> =
        logs.iter().flat_map(|l| &l.exchanges).flat_map(|e| e.received.cmds.iter().map(|c| c.kind.as_str())).collect();
    assert!(!asked.iter().any(|k| ["Replace", "Add", "Exec"].contains(k)), "nothing written: {asked:?}\n{t}");
}

/// A device profile naming the handset's FUMO node and SCOMO root spares the search: package
/// 2 lists no tree, and the firmware still goes to the handset's own node.
#[test]
fn a_device_profile_names_the_fumo_node_and_nothing_is_searched() {
    let sys = System::start(Options { origin_extra: "stock_settle_ms = 200\n", ..Options::default() });
    let added = sys
        .origin_cmd(&[
            "profile",
            "add",
            "--name",
            "stock",
            "--models",
            "PDM-Phone-*",
            "--fumo-root",
            "./FwUpdate/stock",
            "--scomo-root",
            "./Apps/SCOMO",
        ])
        .output()
        .expect("profile add");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let phone = stock_demo_phone(&sys);
    let (phone, logs, end) = stock_portal_flow(&sys, phone, SessionIdStyle::UpperHex);
    let t = transcript(&logs);
    assert_eq!(end["state"], "done", "{end}\n{t}");
    assert!(!t.contains("<LocURI>.</LocURI>"), "no tree listed: {t}");
    assert!(t.contains("<LocURI>./FwUpdate/stock/DownloadAndUpdate</LocURI>"), "{t}");
    assert_eq!(phone.downloads.last().map(|d| d.result), Some(200));
}

/// Adds a device profile with the CLI.
fn add_profile(sys: &System, flags: &[&str]) {
    let mut args = vec!["profile", "add", "--name", "stock", "--models", "PDM-Phone-*"];
    args.extend(flags);
    let added = sys.origin_cmd(&args).output().expect("profile add");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
}

/// A profile's encoding is what the server answers in (the handset posts XML, the profile
/// says WBXML), and its scheme is the challenge a handset without an account gets.
#[test]
fn a_profiles_encoding_and_scheme_are_what_the_handset_gets() {
    let sys = System::start(Options { origin_extra: "stock_settle_ms = 200\n", ..Options::default() });
    add_profile(&sys, &["--encoding", "wbxml", "--auth-scheme", "basic"]);
    let phone = stock_demo_phone(&sys);
    assert_eq!(phone.profile.encoding, Encoding::Xml);
    let (phone, logs, end) = stock_portal_flow(&sys, phone, SessionIdStyle::UpperHex);
    let t = transcript(&logs);
    assert_eq!(end["state"], "done", "{end}\n{t}");
    let portal = &logs[0];
    assert!(
        portal.exchanges.iter().all(|e| e.content_type.as_deref() == Some(Encoding::Wbxml.content_type())),
        "every answer of the portal session in WBXML: {:?}",
        portal.exchanges.iter().map(|e| e.content_type.clone()).collect::<Vec<_>>()
    );
    assert!(portal.exchanges.iter().all(|e| e.sent_bytes.starts_with(b"<?xml")), "while the handset posts XML");
    assert_eq!(phone.downloads.last().map(|d| d.result), Some(200));

    // A handset of the same model without an account: challenged in the profile's scheme.
    let mut stranger = Handset::new(Profile { dev_id: "IMEI:356938035643809".into(), ..phone.profile.clone() });
    let logs = stranger.check_in().expect("answered");
    let first = &logs[0].exchanges[0].received;
    let chal = first.header_status().and_then(|s| s.chal.clone()).expect("a challenge");
    assert_eq!(chal.typ, "syncml:auth-basic", "{}", logs[0].exchanges[0].received_xml);
}

/// A node of another MO type with FUMO's children is not taken for the FUMO node: its type
/// (`?prop=Type`) says what it is. A handset that answers no property (406) is taken at its
/// children's word.
#[test]
fn the_fumo_node_is_the_one_whose_type_says_so() {
    let sys = System::start(Options { origin_extra: "stock_settle_ms = 200\n", ..Options::default() });
    let mut phone = stock_demo_phone(&sys);
    // Listed before ./FwUpdate, at the same depth, with a FUMO node's children.
    for leaf in ["PkgName", "PkgVersion", "DownloadAndUpdate/PkgURL"] {
        phone.tree.set(&format!("./Acme/Diag/{leaf}"), "");
    }
    phone.tree.set_mo_type("./Acme/Diag", "urn:acme:mo:diagnostics:1.0");
    let (mut phone, logs, end) = stock_portal_flow(&sys, phone, SessionIdStyle::UpperHex);
    let t = transcript(&logs);
    assert_eq!(end["state"], "done", "{end}\n{t}");
    assert!(logs[0].gets.iter().any(|g| g == "./FwUpdate/stock?prop=Type"), "{:?}", logs[0].gets);
    assert!(logs[0].gets.iter().any(|g| g == "./Acme/Diag?prop=Type"), "{:?}", logs[0].gets);
    assert!(t.contains("<LocURI>./FwUpdate/stock/DownloadAndUpdate</LocURI>"), "{t}");
    assert!(!t.contains("<LocURI>./Acme/Diag/"), "nothing written to the other node: {t}");

    // No properties: the node with FUMO's children is taken.
    assert_eq!(phone.tree.delete("./Acme"), 200);
    phone.tree.no_properties = true;
    phone.tree.replace("./DevDetail/FwV", "1.0.0");
    let (_, logs, end) = stock_portal_flow(&sys, phone, SessionIdStyle::UpperHex);
    let t = transcript(&logs);
    assert_eq!(end["state"], "done", "{end}\n{t}");
    let statuses: Vec<(String, u16)> = logs[0].exchanges.iter().flat_map(|e| e.sent.statuses()).collect();
    assert!(statuses.contains(&("Get".into(), 406)), "the property Get refused: {statuses:?}");
    assert!(t.contains("<LocURI>./FwUpdate/stock/DownloadAndUpdate</LocURI>"), "{t}");
}

/// The SCOMO root is found in the same search: an application goes under the handset's own
/// root with SCOMO's leaves only; a handset without one is offered no application.
#[test]
fn an_application_goes_under_the_handsets_own_scomo_root() {
    use portaldm_tests::admin::{firmware, post_json, upload};
    let sys = System::start(Options { origin_extra: "stock_settle_ms = 200\n", ..Options::default() });
    let token = sys.admin_token("apps team");
    let blob = upload(&sys, &token, &firmware(20_000)).json();
    let app = post_json(
        &sys,
        &token,
        "/packages",
        &json!({
            "kind": "application", "name": "PDM Maps", "version": "3.1", "models": ["PDM-Phone-*"],
            "base_min": "1.0.0", "notes": "Offline maps.", "blob": blob["sha256"],
        }),
    );
    assert_eq!(app.status, 201, "{}", String::from_utf8_lossy(&app.body));
    let id = app.json()["id"].as_i64().expect("id");

    let mut phone = stock_demo_phone(&sys);
    phone.profile.scomo = Some("./Apps/SCOMO".into());
    let phone = Handset::new(phone.profile);
    let (phone, logs, end) = stock_portal_flow_choosing(&sys, phone, SessionIdStyle::UpperHex, Some(id));
    let t = transcript(&logs);
    assert_eq!(end["state"], "done", "{end}\n{t}");
    assert_eq!(end["result"]["code"], 200, "{end}");
    let node = format!("./Apps/SCOMO/Download/pdm{id}");
    assert!(t.contains(&format!("<LocURI>{node}/Operations/DownloadInstall</LocURI>")), "{t}");
    assert!(!t.contains("./SCOMO/") && !t.contains("/Ext/"), "no node the handset lacks: {t}");
    assert_eq!(phone.downloads.last().map(|d| (d.result, d.job.app)), Some((200, true)));
    assert_eq!(phone.tree.value(&format!("./Apps/SCOMO/Inventory/Deployed/pdm{id}/Name")), Some("PDM Maps"));

    // Without a SCOMO root: firmware only.
    let bare = stock_demo_phone(&sys);
    let mut browser = Browser::new(&sys.edge);
    let trig = browser.get("/portal/trigger");
    assert_eq!(browser.session()["state"], "waiting");
    let body = trig.body.clone();
    let handset = std::thread::spawn(move || bare.clone().on_package0(&body));
    browser.wait_for("identified", Duration::from_secs(30));
    assert_eq!(browser.identify(true).status, 200);
    let view = browser.wait_for("choosing", Duration::from_secs(10));
    let kinds: Vec<&str> =
        view["offers"].as_array().expect("offers").iter().filter_map(|o| o["package"]["kind"].as_str()).collect();
    assert!(!kinds.is_empty() && kinds.iter().all(|k| *k == "firmware"), "{view}");
    // The handset's session is left to its hold.
    drop(handset);
}
