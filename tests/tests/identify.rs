//! "Is this your phone?": before any offer is listed, the browser shows which phone answered
//! its trigger (model and masked DevId) and its user confirms. Until then the browser sees no
//! offer and never the whole DevId; another browser cannot answer for it; "no" ends the
//! session, and the phone's held DM session with it, with nothing delivered.

use std::time::Duration;

use portaldm_tests::browser::Browser;
use portaldm_tests::{Options, System, jobs, wait_with_timeout};

const DEV_ID: &str = "IMEI:490154203237518";

/// Polls the session (without answering anything) until it is `state`.
fn reach(phone: &mut Browser, state: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = phone.session();
        if v["state"] == state {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "never {state}: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn offers_wait_for_the_browsers_user_to_recognise_the_phone() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    let v = reach(&mut phone, "identified");
    assert_eq!(v["offers"].as_array().map(Vec::len), Some(0), "offers before the phone is confirmed: {v}");
    let shown = v["device"]["dev_id"].as_str().expect("a DevId");
    assert!(shown.ends_with("7518") && !shown.contains("4901542"), "the whole DevId reached the browser: {shown}");
    assert_eq!(v["device"]["model"], "PDM-Phone-1");
    // The page says the same, and offers nothing to install yet.
    let page = String::from_utf8_lossy(&phone.get("/portal/status").body).into_owned();
    assert!(page.contains("Is this your phone?") && page.contains("PDM-Phone-1") && !page.contains(DEV_ID), "{page}");
    assert!(!page.contains("/portal/choose"), "an offer form before the phone is confirmed");
    // Choosing is refused until then.
    let pick = serde_json::json!({ "package_id": 1 });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 409);
    // Another browser cannot answer for this one.
    let mut other = Browser::new(&sys.edge);
    other.get("/portal/trigger");
    assert_eq!(other.identify(true).status, 409, "the other browser's own session is not asking");
    assert_eq!(phone.session()["state"], "identified");
    // Its owner says yes: the offers appear, still with the DevId masked.
    assert_eq!(phone.identify(true).status, 200);
    let v = reach(&mut phone, "choosing");
    assert!(v["offers"].as_array().is_some_and(|o| !o.is_empty()), "{v}");
    assert!(!v.to_string().contains("4901542"), "{v}");
    assert_eq!(phone.identify(true).status, 409, "asked once");
    let pick = serde_json::json!({ "package_id": v["offers"][0]["package"]["id"] });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 200);
    let out = wait_with_timeout(client, Duration::from_secs(60));
    assert!(out.status.success(), "dmclient: {}", String::from_utf8_lossy(&out.stderr));
    phone.wait_for("done", Duration::from_secs(10));
}

#[test]
fn not_my_phone_ends_the_session_and_nothing_is_delivered() {
    let sys = System::start(Options { hold_secs: 1, ..Options::default() });
    let mut phone = Browser::new(&sys.edge);
    let trig = phone.get("/portal/trigger");
    let client = sys.spawn_dmclient(&sys.client_config(), &trig.body);
    reach(&mut phone, "identified");
    assert_eq!(phone.identify(false).status, 200);
    assert_eq!(reach(&mut phone, "ended")["offers"].as_array().map(Vec::len), Some(0));
    let out = wait_with_timeout(client, Duration::from_secs(30));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(jobs(&sys).is_empty(), "a delivery reached the phone: {log}");
    let pick = serde_json::json!({ "package_id": 1 });
    assert_eq!(phone.post_json("/portal/api/select", &pick).status, 409, "a late choice is refused");
}
