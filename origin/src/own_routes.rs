//! The origin's own routes (admin API, console, metrics, readiness) answer only requests made
//! to the origin's address directly: one that carries the edge's forwarding headers came
//! through the edge, which must never forward these paths, so it is refused (403) whatever
//! path trick brought it here (`shared::edgeauth::came_through_edge`).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// The middleware.
pub async fn refuse_forwarded(req: Request, next: Next) -> Response {
    if portaldm_shared::edgeauth::came_through_edge(|h| req.headers().contains_key(h)) {
        tracing::warn!(path = %portaldm_shared::text::Quoted(req.uri().path()), "origin-only route asked through the edge; refused");
        return AppError::Forbidden("this address is not served through the edge").into_response();
    }
    next.run(req).await
}
