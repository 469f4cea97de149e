//! Bad input in the walking skeleton: forged, expired and replayed tokens, malformed DM
//! messages, guarded portal calls, bad triggers at dmclient, and an origin that dies
//! mid-session. Each gets a clear refusal (or a clean recovery), never a crash.

use std::net::TcpListener;
use std::time::Duration;

use portaldm_shared::device::DeviceDetails;
use portaldm_shared::keys::NamedKey;
use portaldm_shared::pkg0::{Package0, UiMode};
use portaldm_shared::rand::TestRng;
use portaldm_shared::session::client::ClientSession;
use portaldm_shared::syncml::{Command, xml};
use portaldm_shared::token::{Claims, TokenSigner};
use portaldm_tests::browser::{Browser, post};
use portaldm_tests::{Options, System, now, wait_with_timeout};
use serde_json::json;

const DM_XML: &str = "application/vnd.syncml.dm+xml";

fn claims(nsid: u16, jti: &str) -> Claims {
    let t = now().as_secs();
    Claims {
        iss: "test".into(),
        aud: "portaldm-origin".into(),
        sid: format!("sid-{jti}"),
        nsid,
        srv: "portaldm".into(),
        iat: t,
        nbf: t,
        exp: t + 300,
        jti: jti.into(),
        bnd: "bnd".into(),
        colo: "TEST".into(),
        ctry: None,
        net: None,
    }
}

fn sign(key: &NamedKey, c: &Claims) -> String {
    TokenSigner::new(key).expect("signer").sign(c).expect("signs")
}

fn pkg1(token: &str, dev_id: &str, nsid: u16) -> Vec<u8> {
    let device = DeviceDetails {
        dev_id: dev_id.into(),
        model: Some("PDM-Phone-1".into()),
        fw_v: Some("1.0.0".into()),
        ..Default::default()
    };
    xml::encode(&ClientSession::server_initiated(device, "http://x/dm", &format!("{nsid:X}"), token).first_message())
}

/// The status the server gave the message header.
fn header_status(body: &[u8]) -> u16 {
    let m = xml::decode(body).unwrap_or_else(|e| panic!("answer is SyncML ({e}): {}", String::from_utf8_lossy(body)));
    m.body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.cmd == "SyncHdr" => Some(s.data),
            _ => None,
        })
        .expect("a header status")
}

#[test]
fn forged_expired_replayed_and_misused_tokens_are_refused() {
    let sys = System::start(Options::default());
    let key = sys.keys().token;
    let dm = format!("{}/dm", sys.edge);
    let dm_post = |body: &[u8]| {
        let r = post(&dm, DM_XML, body);
        assert_eq!(r.status, 200);
        header_status(&r.body)
    };

    let good = sign(&key, &claims(0x10, "good"));
    assert_eq!(dm_post(&pkg1(&good, "IMEI:1", 0x10)), 212, "a valid token opens the session");
    assert_eq!(dm_post(&pkg1(&good, "IMEI:2", 0x10)), 401, "the same token from another device is a replay");

    let forger = NamedKey::generate("dev1", &mut TestRng(77)).expect("key");
    assert_eq!(dm_post(&pkg1(&sign(&forger, &claims(0x11, "forged")), "IMEI:3", 0x11)), 401, "forged");

    let mut expired = claims(0x12, "expired");
    expired.exp = now().as_secs() - 3600;
    assert_eq!(dm_post(&pkg1(&sign(&key, &expired), "IMEI:4", 0x12)), 401, "expired");

    let mut early = claims(0x13, "early");
    early.nbf = now().as_secs() + 3600;
    assert_eq!(dm_post(&pkg1(&sign(&key, &early), "IMEI:5", 0x13)), 401, "not yet valid");

    let mut foreign = claims(0x14, "foreign");
    foreign.aud = "someone-else".into();
    assert_eq!(dm_post(&pkg1(&sign(&key, &foreign), "IMEI:6", 0x14)), 401, "wrong audience");

    let other_trigger = sign(&key, &claims(0x15, "other-trigger"));
    assert_eq!(dm_post(&pkg1(&other_trigger, "IMEI:7", 0x16)), 401, "token of another trigger's session id");

    let mut no_token = xml::decode(&pkg1("x", "IMEI:8", 0x17)).expect("decodes");
    no_token.body.commands.truncate(2);
    assert_eq!(dm_post(&xml::encode(&no_token)), 404, "an Alert 1200 without a token: no portal session for it");
    let mut bare = no_token.clone();
    bare.body.commands.retain(|c| !matches!(c, Command::Alert(_)));
    assert_eq!(dm_post(&xml::encode(&bare)), 407, "no session to open and no result report: missing credentials");
}

#[test]
fn malformed_dm_messages_get_clear_errors() {
    let sys = System::start(Options::default());
    let dm = format!("{}/dm", sys.edge);
    let cases: [(&str, &[u8], u16, &str); 6] = [
        (DM_XML, b"<SyncML><SyncHdr>", 400, "malformed"),
        (DM_XML, b"<html><body>hi</body></html>", 400, "invalid SyncML"),
        (DM_XML, b"<!DOCTYPE x [<!ENTITY a 'a'>]><SyncML>&a;</SyncML>", 400, "DOCTYPE"),
        (DM_XML, &[0xff, 0xfe, 0x00, 0x41], 400, "UTF-8"),
        ("text/plain", b"hello", 415, "syncml"),
        ("application/vnd.syncml.dm+wbxml", b"\x02\xa4\x01\x6a\x00", 400, "WBXML is truncated"),
    ];
    for (ct, body, status, words) in cases {
        let r = post(&dm, ct, body);
        let text = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, status, "{ct} {text}");
        assert!(text.to_lowercase().contains(&words.to_lowercase()), "reason {text:?} should mention {words}");
    }
    // Just over the origin's 64 KiB limit: small enough that the whole body is written before
    // the refusal arrives (a much larger one races the server's early close).
    let huge = vec![b'a'; 70 * 1024];
    assert_eq!(post(&dm, DM_XML, &huge).status, 413, "oversized body");
    // The edge and origin keep serving after all that.
    assert_eq!(portaldm_tests::browser::get(&format!("{}/portal/", sys.edge)).status, 200);
}

#[test]
fn dmclient_refuses_bad_triggers_without_contacting_anyone() {
    let sys = System::start(Options::default());
    let keys = sys.keys();
    // A listener in place of the DM server: it must never see a connection.
    let trap = TcpListener::bind("127.0.0.1:0").expect("bind");
    trap.set_nonblocking(true).expect("nonblocking");
    let cfg_text = std::fs::read_to_string(sys.client_config()).expect("config");
    let dm_line = cfg_text.lines().find(|l| l.starts_with("dm_url")).expect("dm_url").to_owned();
    let trapped = cfg_text.replace(&dm_line, &format!("dm_url = \"http://{}/dm\"", trap.local_addr().expect("addr")));
    let cfg = sys.dir.path().join("trapped.toml");
    std::fs::write(&cfg, &trapped).expect("write");

    let trigger = |token: &str, server: &str, password: &str| {
        Package0::with_token(0x42, server, UiMode::UserInteraction, token)
            .encode(password.as_bytes(), b"")
            .expect("encodes")
    };
    let good_token = sign(&keys.token, &claims(0x42, "t1"));
    let forger = NamedKey::generate("dev1", &mut TestRng(5)).expect("key");
    let mut expired = claims(0x42, "t2");
    expired.exp = now().as_secs() - 3600;
    let mut tampered = trigger(&good_token, "portaldm", &keys.server_password);
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let cases: Vec<(&str, Vec<u8>, i32)> = vec![
        ("garbage", b"not a trigger at all".to_vec(), 3),
        ("unknown ServerID", trigger(&good_token, "someone-else", &keys.server_password), 4),
        ("tampered bytes", tampered, 5),
        ("wrong server password", trigger(&good_token, "portaldm", "guess"), 5),
        ("forged token", trigger(&sign(&forger, &claims(0x42, "t3")), "portaldm", &keys.server_password), 6),
        ("expired token", trigger(&sign(&keys.token, &expired), "portaldm", &keys.server_password), 6),
    ];
    for (what, bytes, code) in cases {
        let out = sys.run_dmclient(&cfg, &bytes);
        assert_eq!(out.status.code(), Some(code), "{what}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error:"), "{what} explains itself");
    }
    assert!(trap.accept().is_err(), "nothing was contacted");
}

#[test]
fn a_restarted_origin_continues_the_session_and_loses_no_result() {
    let mut sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let mut phone = Browser::new(&sys.edge);
    assert_eq!(phone.post_json("/portal/api/select", &json!({"package_id": 1})).status, 401, "no cookie yet");
    let trig = phone.get("/portal/trigger");
    assert_eq!(phone.post_json("/portal/api/select", &json!({"package_id": 1})).status, 409, "phone not connected");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));

    // Packages for another model, or that do not exist, cannot be chosen.
    assert_eq!(phone.post_json("/portal/api/select", &json!({"package_id": 4})).status, 404);
    assert_eq!(phone.post_json("/portal/api/select", &json!({"package_id": 999})).status, 404);
    assert_eq!(phone.post_json("/portal/api/select", &json!({"id": "x"})).status, 422);

    // The origin dies while package 4 is held, and comes back.
    sys.kill_origin();
    std::thread::sleep(Duration::from_millis(300));
    sys.start_origin();
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    let picked = phone.post_json("/portal/api/select", &pick);
    assert_eq!(picked.status, 200, "{}", String::from_utf8_lossy(&picked.body));

    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "dmclient: {}", String::from_utf8_lossy(&out.stderr));
    let done = phone.wait_for("done", Duration::from_secs(10));
    assert_eq!(done["result"]["code"], 200);
}

#[test]
fn a_result_that_cannot_be_reported_is_kept_and_sent_later() {
    let mut sys = System::start(Options::default());
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    // The installer takes a while (and says when it starts); the origin goes away meanwhile.
    let marker = sys.dir.path().join("installing");
    let cfg = sys.client_config_with_installer("slow.toml", &format!("touch '{}' && sleep 2", marker.display()));
    let client = sys.spawn_dmclient(&cfg, &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !marker.exists() {
        assert!(std::time::Instant::now() < deadline, "the installer never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    sys.kill_origin();
    let out = wait_with_timeout(client, Duration::from_secs(60));
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "result kept for later: {log}");
    let job = portaldm_tests::jobs(&sys).pop().expect("the job is kept");
    assert_eq!((job["result"].as_u64(), job["reported"].as_bool()), (Some(200), Some(false)), "{job}");

    // A boot-time `dmclient report --wait` started while the server is still down keeps
    // retrying (with the job's back-off) and finishes once the server is back.
    let waiting = portaldm_tests::dmclient(&cfg)
        .args(["report", "--wait", "--max-wait-secs", "90"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dmclient report --wait");
    // Longer than one attempt's own quick retries (250 ms doubling to 4 s, about 8 s).
    std::thread::sleep(Duration::from_secs(10));
    sys.start_origin();
    let report = wait_with_timeout(waiting, Duration::from_secs(100));
    let said = String::from_utf8_lossy(&report.stderr);
    assert!(report.status.success(), "{said}");
    assert!(said.contains("next attempt in"), "it waited for the back-off: {said}");
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    let job = portaldm_tests::jobs(&sys).pop().expect("the job is kept");
    assert_eq!(job["reported"].as_bool(), Some(true), "nothing left to report: {job}");
    // With nothing pending, another report run is a clean no-op.
    let again = portaldm_tests::dmclient(&cfg).arg("report").output().expect("dmclient report");
    assert!(again.status.success());
}
