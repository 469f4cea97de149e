//! A held package 4 at the handler: while it waits for the user, its DM session is in the
//! store, not in the origin's memory, and a copy of the held message sent again is held too
//! and answered as the first was; two copies woken by one choice get one delivery; a delivery
//! lost on its way is sent again to the phone that asks again.

use axum::http::StatusCode;
use portaldm_shared::portal::PortalState;
use portaldm_shared::session::client::{ClientSession, ClientStep};
use portaldm_shared::syncml::SyncMl;
use portaldm_shared::syncml::xml;
use serde_json::json;

use super::{Answer, Browser, DM_XML, TestApp, dm_target, handset, reach, to_package_3};

#[tokio::test]
async fn a_held_message_waits_in_the_store_and_a_copy_sent_again_gets_the_same_answer() {
    let app = TestApp::start_holding(2, "").await;
    let browser = Browser::new(&app);
    let dev_id = "IMEI:356938035643809";
    let mut phone = handset(&browser, dev_id);
    let (pkg2, pkg3) = to_package_3(&app, &mut phone).await;
    let target = dm_target(phone.next_url()).to_owned();
    let body = xml::encode(&pkg3);
    let first = app.post_dm(&target, DM_XML, body.clone());
    let again = async {
        reach(&app, &browser, "identified").await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let found = app.state.store.dm_lookup(dev_id, &pkg3.hdr.session_id).await.expect("store");
            let stored = found.session.expect("the DM session is stored");
            if stored.session.held_message().is_some() {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the held message's session never reached the store");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // The phone, or the edge, sends the held message again: it is held, not answered
        // with package 2, which is still the session's last answer.
        app.post_dm(&target, DM_XML, body.clone()).await
    };
    let (first, again) = tokio::join!(first, again);
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    let hold = xml::decode(&first.body).expect("SyncML");
    assert!(!hold.body.final_, "no choice was made: the hold's end, without Final");
    assert_ne!(again.body, pkg2.body, "the copy got package 2 again");
    assert_eq!(again.body, first.body, "the copy's answer differs from the first's");
    // The phone goes on from that answer; its session is the stored one.
    let ClientStep::Send(next) = phone.handle(&hold).expect("hold") else { panic!("the phone ended at the hold") };
    let a = app.post_dm(dm_target(phone.next_url()), DM_XML, xml::encode(&next)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
}

#[tokio::test]
async fn two_copies_of_a_held_message_woken_by_one_choice_get_one_delivery_and_the_session_goes_on() {
    let app = TestApp::start_holding(10, "").await;
    let browser = Browser::new(&app);
    let mut phone = handset(&browser, "IMEI:356938035643810");
    let (_pkg2, pkg3) = to_package_3(&app, &mut phone).await;
    let target = dm_target(phone.next_url()).to_owned();
    let body = xml::encode(&pkg3);
    let sid = browser.minted.claims.sid.clone();
    let first = app.post_dm(&target, DM_XML, body.clone());
    let second = async {
        reach(&app, &browser, "identified").await;
        app.post_dm(&target, DM_XML, body.clone()).await
    };
    let user = async {
        // Both copies wait before the user decides.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while app.state.wake.waiters() < 2 {
            assert!(tokio::time::Instant::now() < deadline, "the two copies never both waited");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        choose_first_offer(&app, &browser).await;
    };
    let (first, second, ()) = tokio::join!(first, second, user);
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    assert_eq!(first.body, second.body, "the copies got different answers");
    let delivery = xml::decode(&first.body).expect("SyncML");
    assert!(delivery.body.final_, "the delivery, with Final");
    // The phone takes it and reports the Exec's status: the stored session expects just that.
    let ClientStep::Send(pkg5) = phone.handle(&delivery).expect("delivery") else { panic!("the phone ended") };
    let a = app.post_dm(dm_target(phone.next_url()), DM_XML, xml::encode(&pkg5)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header_status(), 200, "{}", a.text());
    let state = app.state.store.portal(&sid).await.expect("store").expect("stored").state;
    assert!(matches!(state, PortalState::Delivered | PortalState::Done), "{state:?}");
}

#[tokio::test]
async fn a_phone_that_never_got_its_delivery_gets_it_again_when_it_asks_under_a_new_msg_id() {
    let app = TestApp::start_holding(10, "").await;
    let browser = Browser::new(&app);
    let mut phone = handset(&browser, "IMEI:356938035643811");
    let (pkg3, lost) = delivered(&app, &browser, &mut phone).await;
    let target = dm_target(phone.next_url()).to_owned();
    // The delivery is saved and lost on its way: the phone sends package 3 again, under its next MsgID.
    let mut again = pkg3.clone();
    again.hdr.msg_id = "3".into();
    let a = app.post_dm(&target, DM_XML, xml::encode(&again)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let resent = xml::decode(&a.body).expect("SyncML");
    let lost = xml::decode(&lost.body).expect("SyncML");
    // The delivery's items: the Replace of its signed URL and the Exec with its correlator.
    let delivery = |m: &portaldm_shared::syncml::SyncMl| {
        use portaldm_shared::syncml::Command;
        let items = m.body.commands.iter().filter_map(|c| match c {
            Command::Replace(r) => Some(r.items.clone()),
            Command::Exec(e) => Some(e.items.clone()),
            _ => None,
        });
        items.collect::<Vec<_>>()
    };
    assert_eq!(delivery(&resent).len(), 2, "the delivery was not sent again: {}", a.text());
    assert_eq!(delivery(&resent), delivery(&lost), "another delivery than the one lost");
    // The phone runs it; its status, numbered after the copy, ends the delivery as the first would have.
    let ClientStep::Send(mut pkg5) = phone.handle(&resent).expect("delivery") else { panic!("the phone ended") };
    pkg5.hdr.msg_id = "4".into();
    let a = app.post_dm(dm_target(phone.next_url()), DM_XML, xml::encode(&pkg5)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header_status(), 200, "{}", a.text());
    let state = app.state.store.portal(&browser.minted.claims.sid).await.expect("store").expect("stored").state;
    assert!(matches!(state, PortalState::Delivered | PortalState::Done), "{state:?}");
}

#[tokio::test]
async fn copies_racing_for_a_lost_delivery_get_it_no_more_often_than_the_bound() {
    let app = TestApp::start_holding(10, "").await;
    let browser = Browser::new(&app);
    let mut phone = handset(&browser, "IMEI:356938035643812");
    let (pkg3, _lost) = delivered(&app, &browser, &mut phone).await;
    let target = dm_target(phone.next_url()).to_owned();
    // Eight copies of package 3 at once, each under its own new MsgID: each reads the session
    // before any has saved, and only those whose save lands on the row they read may answer.
    let copies = (3..11).map(|id| {
        let mut again = pkg3.clone();
        again.hdr.msg_id = id.to_string();
        app.post_dm(&target, DM_XML, xml::encode(&again))
    });
    let answers = futures_util::future::join_all(copies).await;
    let resent = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .filter_map(|a| xml::decode(&a.body).ok())
        .filter(|m| m.body.commands.iter().any(|c| matches!(c, portaldm_shared::syncml::Command::Exec(_))))
        .count();
    assert!((1..=3).contains(&resent), "the delivery went out {resent} times");
}

#[tokio::test]
async fn copies_of_one_message_racing_each_other_all_get_its_one_answer() {
    let app = TestApp::start_holding(10, "").await;
    let browser = Browser::new(&app);
    let mut phone = handset(&browser, "IMEI:356938035643813");
    let (_pkg3, delivery) = delivered(&app, &browser, &mut phone).await;
    let ClientStep::Send(pkg5) = phone.handle(&xml::decode(&delivery.body).expect("SyncML")).expect("delivery") else {
        panic!("the phone ended")
    };
    // The phone's package 5 sent four times at once (a retry after a timeout, say): each copy
    // reads the session before any has saved; one answers, and the others get that answer.
    let body = xml::encode(&pkg5);
    let target = dm_target(phone.next_url()).to_owned();
    let answers = futures_util::future::join_all((0..4).map(|_| app.post_dm(&target, DM_XML, body.clone()))).await;
    for a in &answers {
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.body, answers[0].body, "copies got different answers");
    }
}

/// The browser's user says the phone is theirs and picks the first offer.
async fn choose_first_offer(app: &TestApp, browser: &Browser) {
    assert_eq!(browser.post_json(app, "/portal/api/identify", json!({ "mine": true })).await.status, StatusCode::OK);
    let v = browser.session(app).await;
    let pick = json!({ "package_id": v["offers"][0]["package"]["id"] });
    assert_eq!(browser.post_json(app, "/portal/api/select", pick).await.status, StatusCode::OK);
}

/// Takes `phone` to its held package 3 and the user to a choice: the phone's package 3, and the
/// delivery that answered it (not yet handled by the phone).
async fn delivered(app: &TestApp, browser: &Browser, phone: &mut ClientSession) -> (SyncMl, Answer) {
    let (_pkg2, pkg3) = to_package_3(app, phone).await;
    let held = app.post_dm(dm_target(phone.next_url()), DM_XML, xml::encode(&pkg3));
    let user = async {
        reach(app, browser, "identified").await;
        choose_first_offer(app, browser).await;
    };
    let (delivery, ()) = tokio::join!(held, user);
    assert_eq!(delivery.status, StatusCode::OK, "{}", delivery.text());
    (pkg3, delivery)
}
