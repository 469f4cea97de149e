//! DM messages at the handler: a package 1 with a valid token opens the session; forged,
//! expired, early, foreign, replayed and misplaced tokens are refused in SyncML (401), and
//! bodies that are not SyncML get 400 or 415 with a reason.

use axum::http::StatusCode;
use portaldm_shared::device::DeviceDetails;
use portaldm_shared::keys::NamedKey;
use portaldm_shared::session::client::ClientSession;
use portaldm_shared::syncml::{Command, xml};
use portaldm_shared::token::{Claims, TokenSigner};

use super::{DM_XML, TestApp};
use crate::clock::{OsRandom, now};

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

fn pkg1(token: &str, dev_id: &str, nsid: u16) -> Vec<u8> {
    let device = DeviceDetails {
        dev_id: dev_id.into(),
        model: Some("PDM-Phone-1".into()),
        fw_v: Some("1.0.0".into()),
        ..Default::default()
    };
    xml::encode(&ClientSession::server_initiated(device, "http://x/dm", &format!("{nsid:X}"), token).first_message())
}

/// The SyncHdr status of the answer to `body` posted to `/dm`.
async fn dm_status(app: &TestApp, body: Vec<u8>) -> u16 {
    let a = app.post_dm("/dm", DM_XML, body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    a.header_status()
}

#[tokio::test]
async fn forged_expired_replayed_and_misused_tokens_are_refused() {
    let app = TestApp::start().await;
    let good = app.sign(&claims(0x10, "good"));
    assert_eq!(dm_status(&app, pkg1(&good, "IMEI:1", 0x10)).await, 212, "a valid token opens the session");
    assert!(app.state.store.portal("sid-good").await.expect("store").is_some(), "its portal session is stored");
    assert_eq!(
        dm_status(&app, pkg1(&good, "IMEI:2", 0x10)).await,
        401,
        "the same token from another device is a replay"
    );

    let forger = TokenSigner::new(&NamedKey::generate("dev1", &mut OsRandom).expect("key")).expect("signer");
    let forged = forger.sign(&claims(0x11, "forged")).expect("signs");
    assert_eq!(dm_status(&app, pkg1(&forged, "IMEI:3", 0x11)).await, 401, "forged");

    let mut expired = claims(0x12, "expired");
    expired.exp = now().as_secs() - 3600;
    assert_eq!(dm_status(&app, pkg1(&app.sign(&expired), "IMEI:4", 0x12)).await, 401, "expired");

    let mut early = claims(0x13, "early");
    early.nbf = now().as_secs() + 3600;
    assert_eq!(dm_status(&app, pkg1(&app.sign(&early), "IMEI:5", 0x13)).await, 401, "not yet valid");

    let mut foreign = claims(0x14, "foreign");
    foreign.aud = "someone-else".into();
    assert_eq!(dm_status(&app, pkg1(&app.sign(&foreign), "IMEI:6", 0x14)).await, 401, "wrong audience");

    let other_trigger = app.sign(&claims(0x15, "other-trigger"));
    assert_eq!(
        dm_status(&app, pkg1(&other_trigger, "IMEI:7", 0x16)).await,
        401,
        "token of another trigger's session id"
    );
    for jti in ["forged", "expired", "early", "foreign", "other-trigger"] {
        let sid = format!("sid-{jti}");
        assert!(app.state.store.portal(&sid).await.expect("store").is_none(), "{jti} opened a portal session");
    }

    let mut no_token = xml::decode(&pkg1("x", "IMEI:8", 0x17)).expect("decodes");
    no_token.body.commands.truncate(2);
    assert_eq!(
        dm_status(&app, xml::encode(&no_token)).await,
        404,
        "an Alert 1200 without a token: no portal session for it"
    );
    let mut bare = no_token.clone();
    bare.body.commands.retain(|c| !matches!(c, Command::Alert(_)));
    assert_eq!(
        dm_status(&app, xml::encode(&bare)).await,
        407,
        "no session to open and no result report: missing credentials"
    );
}

#[tokio::test]
async fn bodies_that_are_not_syncml_get_400_or_415_with_a_reason() {
    let app = TestApp::start().await;
    let cases: [(&str, &[u8], StatusCode, &str); 4] = [
        (DM_XML, b"<SyncML><SyncHdr>", StatusCode::BAD_REQUEST, "malformed"),
        (DM_XML, b"<html><body>hi</body></html>", StatusCode::BAD_REQUEST, "invalid SyncML"),
        ("text/plain", b"hello", StatusCode::UNSUPPORTED_MEDIA_TYPE, "syncml"),
        ("application/vnd.syncml.dm+wbxml", b"\x02\xa4\x01\x6a\x00", StatusCode::BAD_REQUEST, "WBXML is truncated"),
    ];
    for (ct, body, status, words) in cases {
        let a = app.post_dm("/dm", ct, body.to_vec()).await;
        assert_eq!(a.status, status, "{ct} {}", a.text());
        assert!(
            a.text().to_lowercase().contains(&words.to_lowercase()),
            "reason {:?} should mention {words}",
            a.text()
        );
    }
    let huge = vec![b'a'; 70 * 1024];
    assert_eq!(app.post_dm("/dm", DM_XML, huge).await.status, StatusCode::PAYLOAD_TOO_LARGE, "over max_body_bytes");
}
