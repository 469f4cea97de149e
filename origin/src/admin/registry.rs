//! `/devices` and `/sessions`: what the registry knows, for support and the live view.

use axum::Json;
use axum::extract::{Path, Query, State};
use portaldm_shared::admin::api::{ApiError, DeviceResult, DeviceSnapshot, DeviceView, SessionView};
use portaldm_shared::fumo::ResultCode;
use portaldm_shared::portal::PortalState;
use serde::Deserialize;

use crate::app::AppState;
use crate::error::AppError;

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
