//! `/profiles`: device profiles through the API, with the same checks as the CLI and console.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use portaldm_shared::profile::DeviceProfile;

use super::Actor;
use crate::admin::api_types::ApiError;
use crate::error::AppError;
use crate::profiles;
use crate::state::AppState;

/// Every device profile, by id.
#[utoipa::path(get, path = "/profiles", tag = "profiles",
    responses((status = 200, body = [DeviceProfile]), (status = 401, body = ApiError)))]
pub async fn list_profiles(State(st): State<AppState>) -> Result<Json<Vec<DeviceProfile>>, AppError> {
    Ok(Json(st.store.device_profiles().await?))
}

/// Adds a device profile (its `id` is assigned); a profile that breaks a rule is a 400 that
/// says which.
#[utoipa::path(post, path = "/profiles", tag = "profiles", request_body = DeviceProfile,
    responses((status = 201, body = DeviceProfile), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn add_profile(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Json(p): Json<DeviceProfile>,
) -> Result<(StatusCode, Json<DeviceProfile>), AppError> {
    let stored = profiles::add(&st.cfg, st.store.as_ref(), p, &actor.0).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Replaces a device profile (the body's `id` is ignored).
#[utoipa::path(put, path = "/profiles/{id}", tag = "profiles", params(("id" = i64, Path, description = "Profile id")),
    request_body = DeviceProfile,
    responses((status = 200, body = DeviceProfile), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub async fn update_profile(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    Json(p): Json<DeviceProfile>,
) -> Result<Json<DeviceProfile>, AppError> {
    Ok(Json(profiles::update(&st.cfg, st.store.as_ref(), id, p, &actor.0).await?))
}

/// Deletes a device profile: its devices are served as if it never existed.
#[utoipa::path(delete, path = "/profiles/{id}", tag = "profiles", params(("id" = i64, Path, description = "Profile id")),
    responses((status = 204), (status = 404, body = ApiError)))]
pub async fn delete_profile(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    profiles::remove(st.store.as_ref(), id, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
