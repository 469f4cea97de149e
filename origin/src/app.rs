//! The router: every route of the origin and the layers around them (the state they share is
//! `state::AppState`).

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware;
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::{CatchPanic, CatchPanicLayer, DefaultResponseForPanic};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, Trace, TraceLayer};

use crate::config::Config;
use crate::state::AppState;
use crate::{blobs, dm, portal};

/// How long a request may take: long enough for a held package-4 message, short enough that
/// the edge, which waits longer, passes the 504 on.
pub fn request_timeout(cfg: &Config) -> Duration {
    portaldm_shared::session::hold::origin_timeout(cfg.hold_secs)
}

/// The liveness check, open without the edge credential (the connection loop reads it too).
pub const HEALTH_PATH: &str = "/healthz";

/// Every route of the origin.
pub fn router(state: AppState) -> Router {
    let timeout = request_timeout(&state.cfg);
    let max_body = state.cfg.max_body_bytes;
    Router::new()
        .route(portaldm_shared::media::DM_PATH, post(dm::post_dm))
        // Where a session's later messages go: its `RespURI` (`shared::session::continuation`).
        .route("/dm/{secret}", post(dm::post_dm))
        .route("/portal", get(portal::pages::landing))
        .route("/portal/", get(portal::pages::landing))
        .route("/portal/status", get(portal::pages::status))
        .route("/portal/choose", post(portal::pages::choose_form))
        .route("/portal/select", post(portal::pages::select_form))
        .route("/portal/assets/{name}", get(portal::pages::asset))
        .route("/portal/api/session", get(portal::session))
        .route("/portal/api/select", post(portal::select))
        .route("/portal/api/identify", post(portal::identify))
        .route("/portal/identify", post(portal::pages::identify_form))
        .route("/blobs/{blob}", get(blobs::get_blob))
        .route("/blobs/{blob}/status", get(blobs::blob_status))
        // Everything above only through the edge.
        .route_layer(crate::require_edge::RequireEdge(state.edge_keys.clone()))
        .route(HEALTH_PATH, get(|| async { "ok" }))
        // Reachable only on the origin's own address (the edge forwards neither, and what
        // arrives with its headers is refused): for the operator's Prometheus and load balancer.
        .merge(
            Router::new()
                .route("/readyz", get(crate::metrics::ready))
                .route("/metrics", get(crate::metrics::render))
                .layer(middleware::from_fn(crate::own_routes::refuse_forwarded)),
        )
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::GATEWAY_TIMEOUT, timeout))
        // With its own limits (package uploads are large and slow): on the origin's address
        // only, so refused bodies linger here (the edge drains what it refuses in front of the
        // routes above, and a held DM message should not carry the extra state).
        .merge(
            crate::admin::router(state.clone())
                .merge(crate::console::router(&state))
                .layer(middleware::from_fn(crate::linger::linger_on_refusal))
                .layer(middleware::from_fn(crate::own_routes::refuse_forwarded)),
        )
        .with_state(state)
}

/// The origin as one service: its routes, with panics caught and the access log around them.
pub type App = Trace<CatchPanic<Router, DefaultResponseForPanic>, SharedClassifier<ServerErrorsAsFailures>, MakeSpan>;

/// How a request's span is made.
type MakeSpan = fn(&Request) -> tracing::Span;

/// Every route of the origin, as served.
pub fn app(state: AppState) -> App {
    wrap(router(state))
}

/// Wraps `routes` once in the layers every request passes. Not `Router::layer`, which wraps
/// each route and boxes one more future per layer and request: a DM message held while the
/// user chooses keeps its futures for minutes (BENCHMARKS.md, held sessions).
pub fn wrap(routes: Router) -> App {
    ServiceBuilder::new()
        // One INFO line per answered request: the access log, with the span's fields.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span as MakeSpan)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(CatchPanicLayer::new())
        .service(routes)
}

/// The span of one request, with the handset's address and the edge location that the edge
/// forwarded (only requests with the edge's credential get past `require_edge`).
fn request_span(req: &Request) -> tracing::Span {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    // A session's RespURI secret stays out of the log.
    let path = req.uri().path();
    let uri = if portaldm_shared::session::continuation::in_path(path).is_some() {
        portaldm_shared::session::continuation::loggable(path).to_owned()
    } else {
        req.uri().to_string()
    };
    tracing::info_span!(
        "request",
        method = %req.method(),
        uri = %uri,
        client = %header(portaldm_shared::edgeauth::CLIENT_HEADER),
        colo = %header(portaldm_shared::edgeauth::COLO_HEADER),
    )
}

#[cfg(test)]
mod tests;
