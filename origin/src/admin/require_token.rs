//! The admin API's door: a live bearer token, or 401 before any handler runs.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::admin::api_types::ApiError;
use crate::admin::bearer;
use crate::error::AppError;
use crate::state::AppState;

/// Who is making an admin request, as the audit log names them: `token:<id> (<name>)`.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

fn unauthorized(why: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, r#"Bearer realm="portaldm-admin""#)],
        Json(ApiError { error: why.to_owned() }),
    )
        .into_response()
}

/// Checks `Authorization: Bearer pdm_admin_…` against the stored, unrevoked tokens.
pub async fn require_admin(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let Some(presented) = presented else {
        return unauthorized("an admin token is required: Authorization: Bearer pdm_admin_…");
    };
    let Ok(t) = bearer::parse(&presented) else {
        return unauthorized("that is not a valid admin token");
    };
    let stored = match st.store.admin_token(t.id).await {
        Ok(s) => s,
        Err(e) => return AppError::Store(e).into_response(),
    };
    match stored {
        Some((view, hash)) if t.matches(&hash) => {
            if view.revoked_at.is_some() {
                tracing::warn!(token = %view.id, "admin request with a revoked token");
                return unauthorized("this admin token was revoked");
            }
            let reads = matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
            if view.read_only && !reads {
                return (
                    StatusCode::FORBIDDEN,
                    Json(ApiError { error: "this admin token is read-only: it changes nothing".into() }),
                )
                    .into_response();
            }
            req.extensions_mut().insert(Actor(format!("token:{} ({})", view.id, view.name)));
            next.run(req).await
        }
        _ => {
            tracing::warn!(token = %t.id, "admin request with an unknown token");
            unauthorized("that is not a valid admin token")
        }
    }
}
