//! The admin API's door: a live bearer token or 401 (with the scheme to use), and a read-only
//! token reads but changes nothing (403).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use super::{Answer, TestApp};
use crate::admin::bearer;
use crate::clock::{OsRandom, now_ms};

/// A token stored as `admin-token create` stores it; the bearer string.
async fn issue(app: &TestApp, name: &str, read_only: bool) -> (String, String) {
    let issued = bearer::issue(&portaldm_shared::rand::bytes::<{ bearer::RANDOM_LEN }>(&mut OsRandom).expect("random"));
    app.state
        .store
        .create_admin_token(&issued.id, name, &issued.secret_sha256, read_only, "cli:test", now_ms())
        .await
        .expect("stored");
    (issued.id, issued.token)
}

/// A request to the origin's own address (no edge headers), with `Authorization: auth`.
async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<serde_json::Value>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(auth) = auth {
        req = req.header(header::AUTHORIZATION, auth);
    }
    let body = match body {
        Some(json) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    app.send(req.body(body).expect("request")).await
}

#[tokio::test]
async fn without_a_live_bearer_token_the_api_is_401() {
    let app = TestApp::start().await;
    let (id, live) = issue(&app, "ops", false).await;
    let bearer = format!("Bearer {live}");
    // What tells a caller it got no further than the door.
    for auth in [None, Some("Basic b3BzOm9wcw=="), Some("Bearer not-a-token"), Some("Bearer pdm_admin_x")] {
        let a = admin(&app, Method::GET, "/admin/api/packages", auth, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{auth:?}: {}", a.text());
        let challenge = a.headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok());
        assert_eq!(challenge, Some(r#"Bearer realm="portaldm-admin""#), "{auth:?}");
    }
    // A wrong secret for a real id.
    let wrong = format!("{}x", &bearer[..bearer.len() - 1]);
    assert_eq!(
        admin(&app, Method::GET, "/admin/api/packages", Some(&wrong), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let a = admin(&app, Method::GET, "/admin/api/packages", Some(&bearer), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(a.json().as_array().is_some_and(|p| !p.is_empty()), "the demo catalog is listed");
    // Revoked, refused from the next request on.
    let revoke = admin(&app, Method::DELETE, &format!("/admin/api/tokens/{id}"), Some(&bearer), None).await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.text());
    assert_eq!(
        admin(&app, Method::GET, "/admin/api/packages", Some(&bearer), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The document itself stays public.
    assert_eq!(admin(&app, Method::GET, "/admin/api/openapi.json", None, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_read_only_token_reads_but_cannot_write() {
    let app = TestApp::start().await;
    let (_, reader) = issue(&app, "dashboard", true).await;
    let (_, writer) = issue(&app, "ops", false).await;
    let (reader, writer) = (format!("Bearer {reader}"), format!("Bearer {writer}"));
    assert_eq!(admin(&app, Method::GET, "/admin/api/tokens", Some(&reader), None).await.status, StatusCode::OK);
    let new = json!({ "name": "more" });
    let a = admin(&app, Method::POST, "/admin/api/tokens", Some(&reader), Some(new.clone())).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    assert!(a.text().contains("read-only"), "{}", a.text());
    let a = admin(&app, Method::POST, "/admin/api/packages/1/revoke", Some(&reader), None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    let listed = admin(&app, Method::GET, "/admin/api/packages/1", Some(&reader), None).await.json();
    assert_ne!(listed["status"], "revoked", "the reader revoked a package: {listed}");
    assert_eq!(app.state.store.admin_tokens().await.expect("tokens").len(), 2, "the reader made no token");
    let a = admin(&app, Method::POST, "/admin/api/tokens", Some(&writer), Some(new)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(app.state.store.admin_tokens().await.expect("tokens").len(), 3);
}
