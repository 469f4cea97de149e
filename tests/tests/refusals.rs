//! Bad input in the walking skeleton, through the edge: malformed DM messages, guarded portal
//! calls, bad triggers at dmclient, and an origin that dies mid-session. Each gets a clear
//! refusal (or a clean recovery), never a crash. (Refused tokens are the handler's answer,
//! tested in-process: `origin/src/app/tests/dm_messages.rs`.)

use std::net::TcpListener;
use std::time::Duration;

use portaldm_shared::keys::NamedKey;
use portaldm_shared::pkg0::{Package0, UiMode};
use portaldm_shared::rand::TestRng;
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
    let log = sys.dir.path().join("report-wait.log");
    let waiting = portaldm_tests::dmclient(&cfg)
        .args(["report", "--wait", "--max-wait-secs", "90"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("dmclient report --wait");
    // Past one attempt's own quick retries (250 ms doubling to 4 s, about 8 s): into the
    // job's back-off, which it says.
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    portaldm_tests::wait_until("dmclient waiting for its back-off", Duration::from_secs(30), || {
        said().contains("next attempt in")
    });
    sys.start_origin();
    let report = wait_with_timeout(waiting, Duration::from_secs(100));
    assert!(report.status.success(), "{}", said());
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
    let job = portaldm_tests::jobs(&sys).pop().expect("the job is kept");
    assert_eq!(job["reported"].as_bool(), Some(true), "nothing left to report: {job}");
    // With nothing pending, another report run is a clean no-op.
    let again = portaldm_tests::dmclient(&cfg).arg("report").output().expect("dmclient report");
    assert!(again.status.success());
}
