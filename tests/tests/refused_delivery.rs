//! A device that refuses a delivery in the session (it has no such FUMO node: 404 to every
//! `Replace` and to the `Exec`, as libdmclient does without a FUMO tree) gets a recorded
//! result in FUMO's words, and the portal says in plain words why nothing was installed.

use std::time::Duration;

use portaldm_shared::session::client::ClientStep;
use portaldm_shared::syncml::{Command, SyncMl, xml};
use portaldm_tests::browser::{Browser, post};
use portaldm_tests::{Options, System, handset_session};
use serde_json::json;

/// Whether `m` is the message that answers the delivery (it has a Status for an Exec).
fn answers_exec(m: &SyncMl) -> bool {
    m.body.commands.iter().any(|c| matches!(c, Command::Status(s) if s.cmd == "Exec"))
}

#[test]
fn a_delivery_the_device_cannot_take_is_a_recorded_failure_with_a_reason() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger").body;
    let mut s = handset_session(&sys.edge, &trig, "IMEI:3540000000000002");
    let mut out = s.first_message();
    let mut chose = false;
    for _ in 0..20 {
        if answers_exec(&out) {
            // The device has no such node: every Replace and the Exec fail with 404.
            for c in &mut out.body.commands {
                if let Command::Status(st) = c
                    && st.cmd != "SyncHdr"
                {
                    st.data = 404;
                }
            }
        }
        let r = post(s.next_url(), "application/vnd.syncml.dm+xml", &xml::encode(&out));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let answer = xml::decode(&r.body).expect("SyncML");
        if !chose && !answer.body.final_ {
            // Held: the user recognises the phone and chooses.
            let view = phone.wait_for("choosing", Duration::from_secs(10));
            let pick = json!({ "package_id": view["offers"][0]["package"]["id"] });
            assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
            chose = true;
        }
        match s.handle(&answer).expect("handles") {
            ClientStep::Send(m) => out = *m,
            ClientStep::Done => break,
        }
    }
    let view = phone.wait_for("failed", Duration::from_secs(10));
    assert_eq!(view["result"]["code"], 408, "{view}");
    let page = String::from_utf8_lossy(&phone.get("/portal/status").body).into_owned();
    assert!(page.contains("cannot take this kind of update"), "{page}");
    let shown = sys.origin_cmd(&["device", "show", "IMEI:3540000000000002"]).output().expect("device show");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains(": 408 (the device does not support this kind of update)"), "{text}");
}
