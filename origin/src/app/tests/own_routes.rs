//! The doors of the routes: the portal, DM and blob routes answer only the edge (its
//! credential), and the origin's own routes (admin, console, metrics, readiness) only requests
//! made to its address, refusing whatever carries the edge's forwarding headers.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use super::TestApp;

#[tokio::test]
async fn readyz_and_healthz_answer_on_the_origins_own_address() {
    let app = TestApp::start().await;
    let ready = app.send(Request::get("/readyz").body(Body::empty()).expect("request")).await;
    assert_eq!((ready.status, ready.text().as_str()), (StatusCode::OK, "ready"));
    let health = app.send(Request::get("/healthz").body(Body::empty()).expect("request")).await;
    assert_eq!((health.status, health.text().as_str()), (StatusCode::OK, "ok"));
    let metrics = app.send(Request::get("/metrics").body(Body::empty()).expect("request")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.text().contains("# EOF"), "OpenMetrics text: {}", metrics.text());
}

#[tokio::test]
async fn own_routes_refuse_requests_that_carry_the_edges_headers() {
    let app = TestApp::start().await;
    let own = ["/readyz", "/metrics", "/admin/api/packages", "/admin/api/openapi.json", "/admin/", "/admin/sign-in"];
    for path in own {
        // With the edge's credential (a valid one), or with only its location header.
        let credited = app.through_edge(Method::GET, path).body(Body::empty()).expect("request");
        let a = app.send(credited).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path} with the credential: {}", a.text());
        let located = Request::get(path).header(portaldm_shared::edgeauth::COLO_HEADER, "AMS");
        let a = app.send(located.body(Body::empty()).expect("request")).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path} with a colo header: {}", a.text());
    }
    // Even with a good admin token.
    let bearer = header::HeaderValue::from_static("Bearer pdm_admin_anything");
    let req = app.through_edge(Method::GET, "/admin/api/tokens").header(header::AUTHORIZATION, bearer);
    assert_eq!(app.send(req.body(Body::empty()).expect("request")).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn edge_routes_refuse_requests_without_a_valid_edge_credential() {
    let app = TestApp::start().await;
    for (method, path) in [(Method::GET, "/portal/"), (Method::GET, "/portal/api/session"), (Method::POST, "/dm")] {
        let bare = Request::builder().method(method.clone()).uri(path).body(Body::empty()).expect("request");
        assert_eq!(app.send(bare).await.status, StatusCode::FORBIDDEN, "{method} {path} without the credential");
        // A credential for another path does not open this one.
        let credential = portaldm_shared::edgeauth::sign(
            std::slice::from_ref(&app.edge_key),
            method.as_str(),
            "/portal/status",
            crate::clock::now(),
        )
        .expect("signs");
        let moved = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(portaldm_shared::edgeauth::HEADER, credential)
            .body(Body::empty())
            .expect("request");
        assert_eq!(app.send(moved).await.status, StatusCode::FORBIDDEN, "{method} {path} with another path's");
    }
    let page = app.send(app.through_edge(Method::GET, "/portal/").body(Body::empty()).expect("request")).await;
    assert_eq!(page.status, StatusCode::OK, "the landing page through the edge: {}", page.text());
}
