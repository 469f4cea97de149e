//! The portal's JSON API: its cookie door (401 without, 403 with another browser's secret),
//! and the states a session passes through, with what each refuses (409 out of turn, 404 for
//! what is not offered, 422 for a malformed choice), and a phone that left ending its session.

use axum::http::StatusCode;
use portaldm_shared::portal::PortalState;
use portaldm_shared::syncml::xml;
use serde_json::json;

use super::{Browser, DM_XML, TestApp, dm_target, handset, reach, run_phone, to_package_3};

#[tokio::test]
async fn without_the_cookie_every_call_is_401() {
    let app = TestApp::start().await;
    let stranger = Browser::new(&app).with_cookie("theme=dark");
    assert_eq!(stranger.get(&app, "/portal/api/session").await.status, StatusCode::UNAUTHORIZED);
    let pick = json!({ "package_id": 1 });
    assert_eq!(stranger.post_json(&app, "/portal/api/select", pick).await.status, StatusCode::UNAUTHORIZED);
    let yes = json!({ "mine": true });
    assert_eq!(stranger.post_json(&app, "/portal/api/identify", yes).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn before_the_phone_answers_the_session_waits_and_refuses_choices() {
    let app = TestApp::start().await;
    let browser = Browser::new(&app);
    let v = browser.session(&app).await;
    assert_eq!(v["state"], "waiting", "{v}");
    assert_eq!(v["offers"].as_array().map(Vec::len), Some(0), "{v}");
    let pick = json!({ "package_id": 1 });
    assert_eq!(browser.post_json(&app, "/portal/api/select", pick).await.status, StatusCode::CONFLICT);
    let yes = json!({ "mine": true });
    assert_eq!(browser.post_json(&app, "/portal/api/identify", yes).await.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn another_browsers_secret_for_the_session_is_403() {
    let app = TestApp::start().await;
    let browser = Browser::new(&app);
    let phone = run_phone(&app, handset(&browser, "IMEI:1"));
    let user = async {
        reach(&app, &browser, "identified").await;
        // The session id is right, the secret is someone else's.
        let sid = &browser.minted.claims.sid;
        let other = browser.with_cookie(&format!("__Host-pdm={sid}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        assert_eq!(other.get(&app, "/portal/api/session").await.status, StatusCode::FORBIDDEN);
        let yes = json!({ "mine": true });
        assert_eq!(other.post_json(&app, "/portal/api/identify", yes).await.status, StatusCode::FORBIDDEN);
        assert_eq!(browser.session(&app).await["state"], "identified", "the stranger changed nothing");
        let no = json!({ "mine": false });
        assert_eq!(browser.post_json(&app, "/portal/api/identify", no).await.status, StatusCode::OK);
    };
    tokio::join!(phone, user);
}

#[tokio::test]
async fn a_session_goes_identified_choosing_selected_done_refusing_what_is_out_of_turn() {
    let app = TestApp::start().await;
    let browser = Browser::new(&app);
    let phone = run_phone(&app, handset(&browser, "IMEI:490154203237518"));
    let user = async {
        let v = reach(&app, &browser, "identified").await;
        assert_eq!(v["offers"].as_array().map(Vec::len), Some(0), "offers before the phone is confirmed: {v}");
        let shown = v["device"]["dev_id"].as_str().expect("a DevId");
        assert!(shown.ends_with("7518") && !shown.contains("4901542"), "the whole DevId reached the browser: {shown}");
        let pick = json!({ "package_id": 1 });
        assert_eq!(browser.post_json(&app, "/portal/api/select", pick).await.status, StatusCode::CONFLICT);

        let yes = json!({ "mine": true });
        let v = browser.post_json(&app, "/portal/api/identify", yes.clone()).await;
        assert_eq!(v.status, StatusCode::OK, "{}", v.text());
        assert_eq!(v.json()["state"], "choosing");
        assert_eq!(
            browser.post_json(&app, "/portal/api/identify", yes).await.status,
            StatusCode::CONFLICT,
            "asked once"
        );
        let v = browser.session(&app).await;
        let offers = v["offers"].as_array().expect("offers");
        assert!(!offers.is_empty(), "{v}");
        // The demo's package 4 is for the other model; 999 does not exist.
        for id in [4, 999] {
            let a = browser.post_json(&app, "/portal/api/select", json!({ "package_id": id })).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "package {id}: {}", a.text());
        }
        let a = browser.post_json(&app, "/portal/api/select", json!({ "id": "x" })).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());

        let pick = json!({ "package_id": offers[0]["package"]["id"] });
        let a = browser.post_json(&app, "/portal/api/select", pick.clone()).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["state"], "selected");
        assert_eq!(
            browser.post_json(&app, "/portal/api/select", pick).await.status,
            StatusCode::CONFLICT,
            "chosen once"
        );
    };
    let (phone, ()) = tokio::join!(phone, user);
    assert_eq!(phone.deliveries().len(), 1, "the chosen package was delivered");
}

#[tokio::test]
async fn not_my_phone_ends_the_session_with_nothing_delivered() {
    let app = TestApp::start().await;
    let browser = Browser::new(&app);
    let phone = run_phone(&app, handset(&browser, "IMEI:2"));
    let user = async {
        reach(&app, &browser, "identified").await;
        let no = json!({ "mine": false });
        assert_eq!(browser.post_json(&app, "/portal/api/identify", no).await.status, StatusCode::OK);
    };
    let (phone, ()) = tokio::join!(phone, user);
    assert!(phone.deliveries().is_empty(), "a delivery reached the phone");
    assert_eq!(browser.session(&app).await["state"], "ended");
    let pick = json!({ "package_id": 1 });
    assert_eq!(browser.post_json(&app, "/portal/api/select", pick).await.status, StatusCode::CONFLICT, "too late");
}

#[tokio::test]
async fn a_phone_that_left_ends_the_session_and_a_message_of_its_arriving_then_reads_the_end() {
    let app = TestApp::start().await;
    let browser = Browser::new(&app);
    let mut phone = handset(&browser, "IMEI:3");
    // The phone reaches its held package 4 (the hold is 1 s) and never asks for the next one.
    let (_pkg2, pkg3) = to_package_3(&app, &mut phone).await;
    let hold = app.post_dm(dm_target(phone.next_url()), DM_XML, xml::encode(&pkg3)).await;
    assert_eq!(hold.status, StatusCode::OK, "{}", hold.text());
    let sid = &browser.minted.claims.sid;
    // Last seen longer ago than a hold and the grace after it.
    let long_ago = crate::clock::now_ms() - 1_000 - portaldm_shared::portal::PHONE_GRACE_MS - 1;
    app.state.store.phone_seen(sid, long_ago).await.expect("store");
    // A message of the phone's looked its session up before the browser's next look.
    let looked_up = app.state.wake.since_now();
    assert_eq!(browser.session(&app).await["state"], "ended", "the phone left");
    let (_waiting, changed) = app.state.wake.register_since(sid, looked_up);
    assert!(changed, "a message that read the session before the end would hold on, not read it again");
    assert_eq!(app.state.store.portal(sid).await.expect("store").expect("stored").state, PortalState::Ended);
}
