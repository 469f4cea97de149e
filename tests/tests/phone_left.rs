//! A portal session never strands: a phone whose client leaves after a held package 4 ended
//! without `Final` (as libdmclient does: no command, nothing to send, no Alert 1222) ends the
//! session once a hold and a grace have passed, the browser says so and offers to start
//! again, and a choice made after that is refused instead of showing "selected" for good.

use std::time::{Duration, Instant};

use portaldm_shared::session::client::ClientStep;
use portaldm_shared::syncml::xml;
use portaldm_tests::browser::{Browser, post};
use portaldm_tests::{Options, System, handset_session};
use serde_json::json;

#[test]
fn a_phone_that_leaves_while_the_user_decides_ends_the_session() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger").body;
    let mut s = handset_session(&sys.edge, &trig, "IMEI:3540000000000001");
    // Packages 1 and 3; the answer to package 3 is the held package 4 without Final.
    let mut out = s.first_message();
    for _ in 0..2 {
        let r = post(s.next_url(), "application/vnd.syncml.dm+xml", &xml::encode(&out));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let answer = xml::decode(&r.body).expect("SyncML");
        match s.handle(&answer).expect("handles") {
            ClientStep::Send(m) => out = *m,
            ClientStep::Done => panic!("ended early"),
        }
    }
    // The phone now leaves, as a client that ignores the missing Final does.
    assert_eq!(phone.session()["state"], "identified");
    let deadline = Instant::now() + Duration::from_secs(40);
    let view = loop {
        let v = phone.session();
        if v["state"] != "identified" {
            break v;
        }
        assert!(Instant::now() < deadline, "the session stranded: {v}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(view["state"], "ended", "{view}");
    let page = String::from_utf8_lossy(&phone.get("/portal/status").body).into_owned();
    assert!(page.contains("This session has ended") && page.contains("Start again"), "{page}");
    assert_eq!(phone.identify(true).status, 409, "too late to say it is mine");
    assert_eq!(phone.post_json("/portal/api/select", &json!({ "package_id": 1 })).status, 409, "a late choice");
    // The phone coming back late is told the session is over.
    let r = post(s.next_url(), "application/vnd.syncml.dm+xml", &xml::encode(&out));
    let answer = xml::decode(&r.body).expect("SyncML");
    assert!(answer.body.final_, "the late phone's session ends");
    assert_eq!(phone.session()["state"], "ended");
}
