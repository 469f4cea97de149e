//! `/audit`, `/tokens` and `/keys`: who changed what, who may, and with which keys.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use portaldm_shared::rand::bytes;
use serde::Deserialize;

use super::Actor;
use crate::admin::api_types::{AdminTokenRequest, AdminTokenView, ApiError, AuditEntry, KeysView, NewAdminToken};
use crate::admin::bearer;
use crate::clock::{OsRandom, now_ms};
use crate::error::AppError;
use crate::state::AppState;

/// How much of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// At most this many entries (default 100, at most 1000).
    limit: Option<u32>,
}

/// The latest admin changes, newest first (from the API and the CLI).
#[utoipa::path(get, path = "/audit", tag = "admin", params(AuditFilter),
    responses((status = 200, body = [AuditEntry]), (status = 401, body = ApiError)))]
pub async fn audit_log(
    State(st): State<AppState>,
    Query(f): Query<AuditFilter>,
) -> Result<Json<Vec<AuditEntry>>, AppError> {
    Ok(Json(st.store.audit_log(f.limit.unwrap_or(100).min(1000)).await?))
}

/// Every admin token (never the secrets).
#[utoipa::path(get, path = "/tokens", tag = "admin", responses((status = 200, body = [AdminTokenView])))]
pub async fn list_tokens(State(st): State<AppState>) -> Result<Json<Vec<AdminTokenView>>, AppError> {
    Ok(Json(st.store.admin_tokens().await?))
}

/// Creates an admin token; the answer is the only time its secret is shown.
#[utoipa::path(post, path = "/tokens", tag = "admin", request_body = AdminTokenRequest,
    responses((status = 201, body = NewAdminToken), (status = 400, body = ApiError)))]
pub async fn create_token(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Json(req): Json<AdminTokenRequest>,
) -> Result<(StatusCode, Json<NewAdminToken>), AppError> {
    if req.name.trim().is_empty() || req.name.len() > 200 || req.name.chars().any(char::is_control) {
        return Err(AppError::BadRequest("name must say what the token is for (1 to 200 printable characters)".into()));
    }
    let random = bytes::<{ bearer::RANDOM_LEN }>(&mut OsRandom).map_err(|e| AppError::Internal(e.into()))?;
    let issued = bearer::issue(&random);
    st.store
        .create_admin_token(&issued.id, &req.name, &issued.secret_sha256, req.read_only, &actor.0, now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(NewAdminToken { id: issued.id, token: issued.token })))
}

/// Revokes an admin token: refused from the next request on (this one's included).
#[utoipa::path(delete, path = "/tokens/{id}", tag = "admin", params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = ApiError)))]
pub async fn revoke_token(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if !st.store.revoke_admin_token(&id, &actor.0, now_ms()).await? {
        return Err(AppError::NotFound("no live admin token with this id"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The key ids this origin trusts and uses (configuration; never the keys).
#[utoipa::path(get, path = "/keys", tag = "admin", responses((status = 200, body = KeysView)))]
pub async fn keys(State(st): State<AppState>) -> Result<Json<KeysView>, AppError> {
    Ok(Json(st.cfg.keys_view()?))
}
