//! `/packages` and `/blobs`: the catalog through the API, with the same checks as the CLI.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Extension, Json};
use portaldm_shared::fumo::ResultCode;

use super::Actor;
use crate::admin::api_types::{
    ApiError, BlobInfo, PackageDetail, PackageRequest, PackageView, ResultCount, Revoked, RolloutRequest,
};
use crate::blobstore::PutError;
use crate::catalog_changes;
use crate::edge_purge::Purged;
use crate::error::AppError;
use crate::state::AppState;

/// Every package, published or revoked, newest first.
#[utoipa::path(get, path = "/packages", tag = "catalog",
    responses((status = 200, body = [PackageView]), (status = 401, body = ApiError)))]
pub async fn list_packages(State(st): State<AppState>) -> Result<Json<Vec<PackageView>>, AppError> {
    Ok(Json(st.store.all_packages().await?))
}

/// Adds a package whose bytes were uploaded (`POST /blobs`); signed with the origin's
/// package key if it has one, and offered to compatible devices at once.
#[utoipa::path(post, path = "/packages", tag = "catalog", request_body = PackageRequest,
    responses((status = 201, body = PackageView), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub async fn add_package(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Json(req): Json<PackageRequest>,
) -> Result<(StatusCode, Json<PackageView>), AppError> {
    let id = catalog_changes::add(&st.cfg, &st.blobs, st.store.as_ref(), req, &actor.0).await?;
    let view = find(&st, id).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn find(st: &AppState, id: i64) -> Result<PackageView, AppError> {
    st.store.all_packages().await?.into_iter().find(|v| v.package.id == id).ok_or(AppError::NotFound("no such package"))
}

/// One package with how its deliveries ended.
#[utoipa::path(get, path = "/packages/{id}", tag = "catalog", params(("id" = i64, Path, description = "Package id")),
    responses((status = 200, body = PackageDetail), (status = 404, body = ApiError)))]
pub async fn get_package(State(st): State<AppState>, Path(id): Path<i64>) -> Result<Json<PackageDetail>, AppError> {
    let package = find(&st, id).await?;
    let results = st
        .store
        .result_counts(id)
        .await?
        .into_iter()
        .map(|(code, count)| ResultCount { code, meaning: ResultCode(code).describe().to_owned(), count })
        .collect();
    Ok(Json(PackageDetail { package, results }))
}

/// Revokes a package: never offered again, its download URLs refused, the edge's cached
/// copy dropped.
#[utoipa::path(post, path = "/packages/{id}/revoke", tag = "catalog", params(("id" = i64, Path, description = "Package id")),
    responses((status = 200, body = Revoked), (status = 404, body = ApiError)))]
pub async fn revoke_package(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<Json<Revoked>, AppError> {
    let edge_cache = match catalog_changes::revoke(&st.cfg, st.store.as_ref(), id, &actor.0).await? {
        Purged::Done(what) => what,
        Purged::Failed(why) => format!("not purged: {why}"),
    };
    Ok(Json(Revoked { id, edge_cache }))
}

/// Publishes a draft: offered to the devices it fits from now on.
#[utoipa::path(post, path = "/packages/{id}/publish", tag = "catalog", params(("id" = i64, Path, description = "Package id")),
    responses((status = 200, body = PackageView), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn publish_package(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<Json<PackageView>, AppError> {
    catalog_changes::publish(st.store.as_ref(), id, &actor.0).await?;
    Ok(Json(find(&st, id).await?))
}

/// Sets the share of fitting devices a package is offered to; the same devices stay in as
/// the share grows.
#[utoipa::path(put, path = "/packages/{id}/rollout", tag = "catalog", params(("id" = i64, Path, description = "Package id")),
    request_body = RolloutRequest,
    responses((status = 200, body = PackageView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn set_rollout(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<i64>,
    Json(req): Json<RolloutRequest>,
) -> Result<Json<PackageView>, AppError> {
    catalog_changes::set_rollout(st.store.as_ref(), id, req.percent, &actor.0).await?;
    Ok(Json(find(&st, id).await?))
}

/// Stores a package's bytes (the raw request body) under their SHA-256; the answer names
/// the blob for `POST /packages`. Uploading the same bytes again stores nothing new.
#[utoipa::path(post, path = "/blobs", tag = "catalog",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = BlobInfo), (status = 400, body = ApiError), (status = 413, body = ApiError)))]
pub async fn upload_blob(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<BlobInfo>), AppError> {
    let max = st.cfg.max_upload_bytes;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(AppError::TooLarge(format!("the package is larger than the {max}-byte limit (max_upload_bytes)")));
    }
    let blob = st.blobs.put_stream(body.into_data_stream(), max).await.map_err(|e| match e {
        PutError::TooLarge(_) => AppError::TooLarge(format!("{e} (max_upload_bytes)")),
        PutError::Empty | PutError::Body(_) => AppError::BadRequest(e.to_string()),
        PutError::Io(e) => AppError::Internal(e.into()),
        PutError::Store(e) => AppError::Internal(e.into()),
    })?;
    catalog_changes::audited_upload(st.store.as_ref(), &blob, &actor.0).await?;
    Ok((StatusCode::CREATED, Json(blob)))
}
