//! `/devices` and `/sessions`: what the registry knows, for support and the live view.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use portaldm_shared::fumo::ResultCode;
use portaldm_shared::portal::PortalState;
use serde::Deserialize;

use super::Actor;
use crate::accounts::AccountError;
use crate::admin::api_types::{
    AccountIssued, AccountRequest, ApiError, DeviceResult, DeviceSnapshot, DeviceView, ResultEntry, SessionView,
};
use crate::error::AppError;
use crate::state::AppState;

/// A device: its latest details, first and last contact, DM account scheme, results.
#[utoipa::path(get, path = "/devices/{dev_id}", tag = "registry", params(("dev_id" = String, Path, description = "DevId")),
    responses((status = 200, body = DeviceView), (status = 404, body = ApiError)))]
pub async fn get_device(State(st): State<AppState>, Path(dev_id): Path<String>) -> Result<Json<DeviceView>, AppError> {
    let d = st
        .store
        .device(&dev_id)
        .await?
        .ok_or(AppError::NotFound("no device with this DevId has contacted this server"))?;
    let account = st.store.device_account(&dev_id).await?.map(|a| a.account.scheme.meta_type().to_owned());
    let results = st
        .store
        .results_for(&dev_id)
        .await?
        .into_iter()
        .map(|r| DeviceResult {
            correlator: r.correlator,
            package_id: r.package_id,
            code: r.code,
            meaning: ResultCode(r.code).describe().to_owned(),
            recorded_at: r.recorded_at,
        })
        .collect();
    let history = st
        .store
        .device_history(&dev_id, 100)
        .await?
        .into_iter()
        .map(|(seen_at, details)| DeviceSnapshot { seen_at, details })
        .collect();
    Ok(Json(DeviceView {
        details: d.details,
        first_seen: d.first_seen,
        last_seen: d.last_seen,
        account,
        results,
        history,
    }))
}

/// Gives a device a DM account (replacing any it had); passwords not given are generated.
/// The answer holds the device's side, once: the origin keeps only the account keys.
#[utoipa::path(put, path = "/devices/{dev_id}/account", tag = "registry", params(("dev_id" = String, Path, description = "DevId")),
    request_body = AccountRequest,
    responses((status = 200, body = AccountIssued), (status = 400, body = ApiError)))]
pub async fn set_account(
    State(st): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(dev_id): Path<String>,
    Json(req): Json<AccountRequest>,
) -> Result<Json<AccountIssued>, AppError> {
    match crate::accounts::set(&st.cfg, st.store.as_ref(), &dev_id, req, &actor.0).await {
        Ok(issued) => Ok(Json(issued)),
        Err(AccountError::Invalid(m)) => Err(AppError::BadRequest(m)),
        Err(AccountError::Store(e)) => Err(AppError::Store(e)),
        Err(AccountError::Random(e)) => Err(AppError::Internal(e.into())),
    }
}

/// Filters of the results list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResultFilter {
    /// Only results recorded from this time on (Unix ms; default: the last 30 days).
    since_ms: Option<i64>,
    /// Only this package's.
    package_id: Option<i64>,
    /// At most this many, oldest first (default 1000, at most 100000).
    limit: Option<u32>,
}

/// Recorded results, oldest first, with the reporting device's model.
#[utoipa::path(get, path = "/results", tag = "registry", params(ResultFilter),
    responses((status = 200, body = [ResultEntry]), (status = 400, body = ApiError)))]
pub async fn list_results(
    State(st): State<AppState>,
    Query(f): Query<ResultFilter>,
) -> Result<Json<Vec<ResultEntry>>, AppError> {
    let since = f.since_ms.unwrap_or_else(|| crate::clock::now_ms() - 30 * 86_400_000);
    let points = st.store.results_since(since, f.limit.unwrap_or(1000).min(100_000)).await?;
    Ok(Json(
        points
            .into_iter()
            .filter(|p| f.package_id.is_none_or(|id| p.package_id == Some(id)))
            .map(|p| ResultEntry {
                recorded_at: p.recorded_at,
                package_id: p.package_id,
                code: p.code,
                meaning: ResultCode(p.code).describe().to_owned(),
                model: p.model,
            })
            .collect(),
    ))
}

/// Filters of the session list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionFilter {
    /// Only sessions in this state (`waiting`, `connecting`, `choosing`, `selected`,
    /// `delivered`, `done`, `failed`, `ended`).
    state: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Portal sessions, most recently changed first.
#[utoipa::path(get, path = "/sessions", tag = "registry", params(SessionFilter),
    responses((status = 200, body = [SessionView]), (status = 400, body = ApiError)))]
pub async fn list_sessions(
    State(st): State<AppState>,
    Query(f): Query<SessionFilter>,
) -> Result<Json<Vec<SessionView>>, AppError> {
    let state = match f.state.as_deref() {
        None => None,
        Some(s) => Some(PortalState::parse(s).ok_or_else(|| AppError::BadRequest(format!("unknown state {s:?}")))?),
    };
    Ok(Json(st.store.recent_sessions(state, f.limit.unwrap_or(100).min(1000)).await?))
}
