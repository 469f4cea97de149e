//! DM authentication on real parts: devices with accounts (MD5 over WBXML, HMAC over XML)
//! run the whole portal flow; stale nonces cost one challenge; wrong passwords end the
//! session after three tries; a server that cannot prove
//! itself is refused by the device; libdmclient's captured messages get proper answers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use portaldm_shared::syncml::{Command, xml};
use portaldm_tests::browser::{Browser, post};
use portaldm_tests::{Options, System, wait_with_timeout};
use serde_json::json;

const DEV_ID: &str = "IMEI:490154203237518";

/// Gives the demo device an account; returns the `[account.auth]` table the origin printed.
fn account(sys: &System, args: &[&str]) -> String {
    let mut all = vec!["device", "account"];
    all.extend_from_slice(args);
    let out = sys.origin_cmd(&all).output().expect("origin runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("[account.auth]") && text.contains("client_password"), "{text}");
    text
}

/// `table` with the value of `key` replaced.
fn with_value(table: &str, key: &str, value: &str) -> String {
    let line = format!("{key} = {value:?}");
    table.lines().map(|l| if l.starts_with(key) { line.as_str() } else { l }).collect::<Vec<_>>().join("\n")
}

/// A dmclient configuration with `encoding` and the `[account.auth]` table.
fn config(sys: &System, name: &str, encoding: &str, auth: &str) -> PathBuf {
    let path = sys.client_config_with(name, &format!("encoding = \"{encoding}\""));
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push('\n');
    text.push_str(auth);
    std::fs::write(&path, text).expect("write");
    path
}

fn flow(sys: &System, cfg: &Path) {
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "dmclient: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
}

fn origin_log(sys: &System) -> String {
    std::fs::read_to_string(sys.dir.path().join("origin.log")).unwrap_or_default()
}

#[test]
fn a_wbxml_md5_handset_runs_the_whole_flow_and_recovers_a_stale_nonce() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let auth = account(&sys, &[DEV_ID, "--scheme", "md5"]);
    assert!(auth.contains("server_password"), "the server proves itself by default");
    let cfg = config(&sys, "md5.toml", "wbxml", &auth);
    flow(&sys, &cfg);
    assert!(!origin_log(&sys).contains("DM credentials refused"), "fresh accounts start in step");
    let nonces = sys.dir.path().join("dmclient/auth-nonces.json");
    let kept = std::fs::read_to_string(&nonces).expect("nonces kept");
    assert!(kept.contains("\"client\"") && !kept.contains("\"client\": \"\""), "the server handed out a nonce: {kept}");

    // The device loses its nonces (say, a restored backup): one challenge, then it goes on.
    std::fs::write(&nonces, r#"{"client":"c3RhbGU=","server":"c3RhbGU="}"#).expect("write");
    flow(&sys, &cfg);
    let log = origin_log(&sys);
    assert_eq!(log.matches("DM credentials refused").count(), 1, "{log}");
}

#[test]
fn an_hmac_handset_runs_the_whole_flow() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let auth = account(&sys, &[DEV_ID, "--scheme", "hmac"]);
    flow(&sys, &config(&sys, "hmac.toml", "xml", &auth));
    assert!(!origin_log(&sys).contains("DM credentials refused"));
}

#[test]
fn a_wrong_password_ends_the_session_after_three_tries() {
    let sys = System::start(Options::default());
    let auth = account(&sys, &[DEV_ID, "--scheme", "md5", "--no-server-auth"]);
    let wrong = with_value(&auth, "client_password", "guess");
    let bad = config(&sys, "bad.toml", "xml", &wrong);
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let out = sys.run_dmclient(&bad, &trig.body);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{log}");
    assert!(log.contains("401"), "{log}");
    assert_eq!(origin_log(&sys).matches("DM credentials refused").count(), 3);
    assert_eq!(phone.session()["state"], "waiting", "nothing opened");

    // That session has ended; the device's next one (a message 1 again, here for the same
    // trigger, whose token was never used) is new and authenticates afresh.
    let good = config(&sys, "good.toml", "xml", &auth);
    let client = sys.spawn_dmclient(&good, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(origin_log(&sys).matches("DM credentials refused").count(), 3);
}

#[test]
fn a_server_that_cannot_prove_itself_is_refused_by_the_device() {
    let sys = System::start(Options::default());
    let auth = account(&sys, &[DEV_ID, "--scheme", "md5"]);
    let other = with_value(&auth, "server_password", "not-the-server");
    let cfg = config(&sys, "suspicious.toml", "xml", &other);
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let out = sys.run_dmclient(&cfg, &trig.body);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{log}");
    assert!(log.contains("failed to authenticate itself"), "{log}");
    assert_eq!(sys.installed(), Vec::<std::path::PathBuf>::new(), "nothing installed");
}

#[test]
fn libdmclients_captured_messages_get_proper_answers() {
    let sys = System::start(Options::default());
    let vector = include_bytes!("../../shared/fixtures/vectors/libdmclient-pkg1-basic-auth.xml");
    let dm = format!("{}/dm", sys.edge);
    let statuses = |body: &[u8]| -> Vec<(String, u16)> {
        let m = xml::decode(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)));
        m.body
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Status(s) => Some((s.cmd.clone(), s.data)),
                _ => None,
            })
            .collect()
    };
    // Without an account the open policy has nothing to let a bare 1201 do: the credential it
    // carries opens nothing (401), with a challenge, and each command gets the 401 libdmclient
    // re-sends on.
    let r = post(&dm, "application/vnd.syncml+xml", vector);
    assert_eq!(r.status, 200);
    let want = |code: u16| vec![("SyncHdr".to_owned(), code), ("Alert".to_owned(), code), ("Replace".to_owned(), code)];
    assert_eq!(statuses(&r.body), want(401));
    let refused = xml::decode(&r.body).expect("SyncML");
    assert!(
        matches!(refused.body.commands.first(), Some(Command::Status(s)) if s.chal.is_some()),
        "a challenge to act on"
    );

    account(&sys, &["DMCtest", "--scheme", "basic", "--client-name", "funambol", "--client-password", "funambol"]);
    let r = post(&dm, "application/vnd.syncml+xml", vector);
    assert_eq!(r.header("content-type"), Some("application/vnd.syncml+xml"), "answered in the client's type");
    let answer = xml::decode(&r.body).expect("SyncML");
    assert!(answer.body.final_);
    assert!(answer.hdr.cred.is_some(), "the server proves itself, as libdmclient demands");
    assert_eq!(
        statuses(&r.body),
        vec![("SyncHdr".to_owned(), 212), ("Alert".to_owned(), 200), ("Replace".to_owned(), 200)]
    );
    assert!(answer.body.commands.iter().any(|c| matches!(c, Command::Get(_))), "the server reads ./DevDetail");

    // Its package 3 (WBXML: Statuses and Results), posted to the RespURI the server gave as
    // the client must, ends the check-in.
    let resp = answer.hdr.resp_uri.clone().expect("the server names where the session goes on");
    assert!(resp.starts_with(&dm) && resp.len() > dm.len() + 16, "{resp}");
    let results = include_bytes!("../../shared/fixtures/vectors/libdmclient-pkg3-results.wbxml");
    // Posted to /dm itself, without the session's secret, it does not continue the session.
    let stranger = post(&dm, "application/vnd.syncml+wbxml", results);
    let stranger = portaldm_shared::syncml::wbxml::decode(&stranger.body).expect("WBXML answer");
    assert!(
        !stranger.body.commands.iter().any(|c| matches!(c, Command::Status(s) if s.cmd == "SyncHdr" && s.data == 200))
    );
    let r = post(&resp, "application/vnd.syncml+wbxml", results);
    assert_eq!(r.header("content-type"), Some("application/vnd.syncml+wbxml"));
    let answer = portaldm_shared::syncml::wbxml::decode(&r.body).expect("WBXML answer");
    assert!(answer.body.final_ && answer.body.commands.iter().all(|c| matches!(c, Command::Status(_))));

    // A new check-in, from the WBXML package 1, whose package 3 reports an Exec outcome
    // with a generic alert.
    let wb = include_bytes!("../../shared/fixtures/vectors/libdmclient-pkg1.wbxml");
    let r = post(&dm, "application/vnd.syncml+wbxml", wb);
    let answer = portaldm_shared::syncml::wbxml::decode(&r.body).expect("WBXML answer");
    let first = answer.body.commands.first();
    assert!(matches!(first, Some(Command::Status(s)) if s.data == 212), "{first:?}");
    let resp = answer.hdr.resp_uri.clone().expect("RespURI");
    let exec = include_bytes!("../../shared/fixtures/vectors/libdmclient-pkg3-exec-generic-alert.xml");
    let r = post(&resp, "application/vnd.syncml+xml", exec);
    let got = statuses(&r.body);
    assert_eq!(got.first(), Some(&("SyncHdr".to_owned(), 200)));
    assert!(got.contains(&("Alert".to_owned(), 200)), "the generic alert is acknowledged: {got:?}");
}

/// One raw HTTP/1.1 POST on `stream`; returns the status and body (read by Content-Length).
fn raw_post(stream: &mut std::net::TcpStream, host: &str, path: &str, body: &[u8], close: bool) -> (u16, Vec<u8>) {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let conn = if close { "close" } else { "keep-alive" };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.syncml+xml\r\nContent-Length: {}\r\nConnection: {conn}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status code");
    let mut len = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().expect("length");
        }
    }
    let mut out = vec![0u8; len];
    reader.read_exact(&mut out).expect("body");
    (status, out)
}

#[test]
fn one_connection_per_post_and_keep_alive_both_work() {
    let sys = System::start(Options::default());
    account(&sys, &["DMCtest", "--scheme", "basic", "--client-name", "funambol", "--client-password", "funambol"]);
    let vector = include_bytes!("../../shared/fixtures/vectors/libdmclient-pkg1-basic-auth.xml");
    let results = include_bytes!("../../shared/fixtures/vectors/libdmclient-pkg3-exec-generic-alert.xml");
    let host = sys.edge.trim_start_matches("http://").to_owned();
    let header_code = |body: &[u8]| match xml::decode(body).expect("SyncML").body.commands.first() {
        Some(Command::Status(s)) => s.data,
        other => panic!("no header status: {other:?}"),
    };
    // Where the session goes on: the path of the RespURI in the server's answer.
    let resp_path = |answer: &[u8]| {
        let resp = xml::decode(answer).expect("SyncML").hdr.resp_uri.expect("RespURI");
        portaldm_shared::path::of_url(&resp).to_owned()
    };
    // As libdmclient does: a new TCP connection for every POST, closed after the answer.
    let mut s = std::net::TcpStream::connect(&host).expect("connect");
    let (status, answer) = raw_post(&mut s, &host, "/dm", vector, true);
    assert_eq!((status, header_code(&answer)), (200, 212));
    let mut s = std::net::TcpStream::connect(&host).expect("connect");
    let (status, answer) = raw_post(&mut s, &host, &resp_path(&answer), results, true);
    assert_eq!((status, header_code(&answer)), (200, 200));
    // Both messages of a session over one kept-alive connection.
    let mut s = std::net::TcpStream::connect(&host).expect("connect");
    let (status, answer) = raw_post(&mut s, &host, "/dm", vector, false);
    assert_eq!((status, header_code(&answer)), (200, 212));
    let (status, answer) = raw_post(&mut s, &host, &resp_path(&answer), results, false);
    assert_eq!((status, header_code(&answer)), (200, 200));
}

#[test]
fn dmclient_check_gets_the_recommended_update_without_a_browser() {
    let sys = System::start(Options::default());
    let run = |cfg: &Path, args: &[&str]| {
        std::process::Command::new(portaldm_tests::bin("dmclient"))
            .arg("-c")
            .arg(cfg)
            .args(args)
            .output()
            .expect("runs")
    };
    // Without credentials there is no way to ask.
    let out = run(&sys.client_config(), &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));

    let auth = account(&sys, &[DEV_ID, "--scheme", "md5"]);
    let cfg = config(&sys, "check.toml", "xml", &auth);
    let out = run(&cfg, &["check"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("reported result 200"), "{log}");
    // The recommended offer for PDM-Phone-1 on 1.0.0 is 1.2.0; it was installed and reported.
    let status = String::from_utf8_lossy(&run(&cfg, &["status"]).stdout).into_owned();
    assert!(status.contains("PDM Phone 1 firmware 1.2.0"), "{status}");
    assert!(status.contains("state 100 updated, result 200 (installed successfully), reported"), "{status}");
    let staged = std::fs::read_dir(sys.staged_dir()).expect("staged").count();
    assert_eq!(staged, 1);

    // The admin sees the device, its account and its result.
    let shown = sys.origin_cmd(&["device", "show", DEV_ID]).output().expect("device show");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    assert!(text.contains("model      PDM-Phone-1"), "{text}");
    assert!(text.contains("account    Md5"), "{text}");
    assert!(text.contains(": 200 (installed successfully)"), "{text}");
    let unknown = sys.origin_cmd(&["device", "show", "IMEI:0"]).output().expect("device show");
    assert!(!unknown.status.success());

    // And the package's own page: its signature and the one successful delivery.
    let listed =
        String::from_utf8_lossy(&sys.origin_cmd(&["catalog", "list"]).output().expect("list").stdout).into_owned();
    let id = listed
        .lines()
        .find(|l| l.contains("PDM Phone 1 firmware") && l.contains("1.2.0"))
        .and_then(|l| l.split_whitespace().next())
        .expect("package 1.2.0 listed")
        .to_owned();
    let shown = sys.origin_cmd(&["catalog", "show", &id]).output().expect("catalog show");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    assert!(text.contains("signature  pkg1."), "{text}");
    assert!(text.contains("results    1 x 200 (installed successfully)"), "{text}");
}

/// A message from `DEV_ID` in session `sid` whose Status for the server's header hands the
/// server `nonce` for its proof, with `cred` (a `<Cred>` element) if any.
fn offering_nonce(sid: &str, nonce: &str, cred: &str) -> String {
    format!(
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
         <SessionID>{sid}</SessionID><MsgID>1</MsgID><Target><LocURI>http://x/dm</LocURI></Target>\
         <Source><LocURI>{DEV_ID}</LocURI></Source>{cred}</SyncHdr><SyncBody>\
         <Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>\
         <Chal><Meta><Format xmlns=\"syncml:metinf\">b64</Format><Type xmlns=\"syncml:metinf\">syncml:auth-md5</Type>\
         <NextNonce xmlns=\"syncml:metinf\">{nonce}</NextNonce></Meta></Chal><Data>212</Data></Status>\
         <Alert><CmdID>2</CmdID><Data>1201</Data></Alert><Final/></SyncBody></SyncML>"
    )
}

#[test]
fn the_server_never_proves_itself_to_a_stranger() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    for scheme in ["md5", "hmac"] {
        let auth = account(&sys, &[DEV_ID, "--scheme", scheme]);
        assert!(auth.contains("server_password"));
        let wrong_cred = "<Cred><Meta><Format xmlns=\"syncml:metinf\">b64</Format>\
                          <Type xmlns=\"syncml:metinf\">syncml:auth-md5</Type></Meta><Data>AAAAAAAAAAAAAAAAAAAAAA==</Data></Cred>";
        for (n, cred) in ["", wrong_cred].into_iter().enumerate() {
            let body = offering_nonce(&format!("{}", 40 + n), "YXR0YWNrZXItbm9uY2U=", cred);
            let r = post(&format!("{}/dm", sys.edge), "application/vnd.syncml.dm+xml", body.as_bytes());
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let answer = xml::decode(&r.body).expect("a SyncML answer");
            assert!(answer.hdr.cred.is_none(), "{scheme}: the refusal carries the server's credential");
            assert!(r.header("x-syncml-hmac").is_none(), "{scheme}: the refusal carries the server's HMAC");
            let refused = answer
                .body
                .commands
                .iter()
                .any(|c| matches!(c, Command::Status(s) if s.cmd == "SyncHdr" && s.data >= 400));
            assert!(refused, "{scheme}: not refused");
        }
    }
    // The device itself, with its real account, still runs the whole flow: its nonces were
    // not replaced by the stranger's.
    let auth = account(&sys, &[DEV_ID, "--scheme", "md5"]);
    let cfg = config(&sys, "after-stranger.toml", "xml", &auth);
    for _ in 0..2 {
        let body = offering_nonce("77", "YXR0YWNrZXItbm9uY2U=", "");
        post(&format!("{}/dm", sys.edge), "application/vnd.syncml.dm+xml", body.as_bytes());
    }
    flow(&sys, &cfg);
}
