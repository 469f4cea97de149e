//! A stranger who knows a live DM session's DevId and guesses its 16-bit SessionID: without
//! the session's `RespURI` secret, its messages neither continue the session nor change it,
//! and the real handset's flow goes on undisturbed.

use std::time::Duration;

use portaldm_shared::pkg0::Package0;
use portaldm_shared::syncml::{Command, xml};
use portaldm_tests::browser::{Browser, post, post_with};
use portaldm_tests::{Options, System, wait_with_timeout};
use serde_json::json;

/// The demo handset's DevId (dev-setup's dmclient configuration).
const DEV_ID: &str = "IMEI:490154203237518";

/// A message `msg_id` of session `sid` from the demo handset: `body` is its commands.
fn message(sid: &str, msg_id: u32, body: &str) -> Vec<u8> {
    format!(
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
         <SessionID>{sid}</SessionID><MsgID>{msg_id}</MsgID><Target><LocURI>http://x/dm</LocURI></Target>\
         <Source><LocURI>{DEV_ID}</LocURI></Source></SyncHdr><SyncBody>{body}<Final/></SyncBody></SyncML>"
    )
    .into_bytes()
}

#[test]
fn a_guessed_session_id_without_the_sessions_secret_gets_nothing() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let sid = format!("{:X}", Package0::decode(&trig.body).expect("pkg0").package.session_id);
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let view = phone.wait_for("choosing", Duration::from_secs(20));
    // Past the first hold: the session is stored as held in package 4, as a scanner finds it.
    sys.wait_for_held(1);

    // The stranger has the DevId and the SessionID, and tries what the handset would send.
    let dm = format!("{}/dm", sys.edge);
    let next = "<Alert><CmdID>1</CmdID><Data>1222</Data></Alert>";
    let failed = "<Status><CmdID>1</CmdID><MsgRef>4</MsgRef><CmdRef>3</CmdRef><Cmd>Exec</Cmd><Data>410</Data></Status>";
    for (n, body) in [(3, next), (4, next), (5, failed), (9, failed)] {
        let r = post(&dm, "application/vnd.syncml.dm+xml", &message(&sid, n, body));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let answer = xml::decode(&r.body).expect("SyncML");
        let header = answer.body.commands.iter().find_map(|c| match c {
            Command::Status(s) if s.cmd == "SyncHdr" => Some(s.data),
            _ => None,
        });
        assert!(header.is_some_and(|c| c >= 400), "message {n} was taken as the session's: {header:?}");
        assert!(answer.hdr.resp_uri.is_none(), "the refusal names the session's RespURI");
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains("/dl/") && !text.contains("Correlator"), "the stranger got a delivery: {text}");
    }
    // The portal still waits for its user, who chooses; the real handset gets it and reports.
    assert_eq!(phone.session()["state"], "choosing");
    let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "dmclient: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(phone.wait_for("done", Duration::from_secs(10))["result"]["code"], 200);
}

#[test]
fn guessing_a_devices_session_ids_is_limited_per_device_and_per_address() {
    let extra = "dm_unauth_per_minute_per_device = 10\ndm_unauth_per_minute_per_address = 40\n";
    // The edge knows the guesser's address only from a source it trusts (here, as if behind
    // Cloudflare): where it knows none, no address bucket is kept at all.
    let sys = System::start(Options { origin_extra: extra, trust_cloudflare: true, ..Options::default() });
    let guesser = [("Content-Type", "application/vnd.syncml.dm+xml"), ("CF-Connecting-IP", "198.51.100.7")];
    let dm = format!("{}/dm", sys.edge);
    let next = "<Alert><CmdID>1</CmdID><Data>1222</Data></Alert>";
    let statuses = |sid_from: u32, dev: &str, n: u32| -> Vec<u16> {
        (sid_from..sid_from + n)
            .map(|sid| {
                let body = message(&format!("{sid:X}"), 3, next).into_iter().collect::<Vec<u8>>();
                let body = String::from_utf8(body).expect("utf-8").replace(DEV_ID, dev);
                post_with(&dm, &guesser, body.as_bytes()).status
            })
            .collect()
    };
    // One device's session ids: a burst of 5 guesses, then 429 with Retry-After.
    let got = statuses(0x100, "IMEI:victim", 8);
    assert_eq!(&got[..5], &[200; 5], "{got:?}");
    assert!(got[5..].iter().all(|s| *s == 429), "{got:?}");
    let r = post_with(&dm, &[guesser[0], ("CF-Connecting-IP", "203.0.113.1")], &message("9999", 3, next));
    assert_eq!(r.status, 200, "another device is not limited by the first one's misses");
    // Many devices from one address: the address's burst (20) runs out too.
    let mut limited = 0;
    for n in 0..30 {
        limited += statuses(0x200 + n, &format!("IMEI:other-{n}"), 1).iter().filter(|s| **s == 429).count();
    }
    assert!(limited >= 5, "only {limited} of 30 refused");
}
