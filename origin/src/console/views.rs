//! The console's read-only pages: live portal sessions, device lookup, results charts.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use portaldm_shared::fumo::ResultCode;
use serde::Deserialize;

use super::charts;
use super::sign_in::{Admin, page};
use crate::admin::api_types::SessionView;
use crate::clock::now_ms;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::{DeviceRecord, ResultRecord};

#[derive(Template)]
#[template(path = "console/sessions.html")]
struct SessionsPage<'a> {
    csrf: String,
    sessions: &'a [SessionView],
    counts: &'a [(String, i64)],
}

/// `GET /admin/sessions`: portal sessions as they change (the page refreshes itself).
pub async fn sessions(State(st): State<AppState>, admin: Admin) -> Response {
    let sessions = match st.store.recent_sessions(None, 50).await {
        Ok(s) => s,
        Err(e) => return AppError::Store(e).into_response(),
    };
    let counts = match st.store.portal_state_counts().await {
        Ok(c) => c,
        Err(e) => return AppError::Store(e).into_response(),
    };
    page(StatusCode::OK, SessionsPage { csrf: admin.csrf(), sessions: &sessions, counts: &counts }.render())
}

/// The device lookup's query.
#[derive(Deserialize)]
pub struct Lookup {
    dev_id: Option<String>,
}

/// A result as the device page lists it.
pub struct ResultLine {
    /// The record.
    pub r: ResultRecord,
    /// Its meaning.
    pub meaning: &'static str,
}

#[derive(Template)]
#[template(path = "console/device.html")]
struct DevicePage<'a> {
    csrf: String,
    dev_id: &'a str,
    device: Option<DeviceRecord>,
    account: Option<String>,
    results: Vec<ResultLine>,
    history: Vec<(i64, portaldm_shared::device::DeviceDetails)>,
}

/// `GET /admin/devices?dev_id=…`: a device's details, account and results.
pub async fn device(State(st): State<AppState>, admin: Admin, Query(q): Query<Lookup>) -> Response {
    let dev_id = q.dev_id.as_deref().map(str::trim).unwrap_or("");
    let (mut device, mut account, mut results, mut history) = (None, None, vec![], vec![]);
    if !dev_id.is_empty() {
        let found = async {
            device = st.store.device(dev_id).await?;
            account = st.store.device_account(dev_id).await?.map(|a| a.account.scheme.meta_type().to_owned());
            results = st
                .store
                .results_for(dev_id)
                .await?
                .into_iter()
                .map(|r| ResultLine { meaning: ResultCode(r.code).describe(), r })
                .collect();
            history = st.store.device_history(dev_id, 50).await?;
            Ok::<(), crate::store::StoreError>(())
        }
        .await;
        if let Err(e) = found {
            return AppError::Store(e).into_response();
        }
    }
    let status = if !dev_id.is_empty() && device.is_none() { StatusCode::NOT_FOUND } else { StatusCode::OK };
    page(status, DevicePage { csrf: admin.csrf(), dev_id, device, account, results, history }.render())
}

#[derive(Template)]
#[template(path = "console/results.html")]
struct ResultsPage {
    csrf: String,
    by_package: String,
    by_model: String,
    by_day: String,
    total: usize,
}

/// `GET /admin/results`: the last 30 days' results per package, per model and per day.
pub async fn results(State(st): State<AppState>, admin: Admin) -> Response {
    let now = now_ms();
    let points = match st.store.results_since(now - 30 * 86_400_000, 100_000).await {
        Ok(p) => p,
        Err(e) => return AppError::Store(e).into_response(),
    };
    let packages = match st.store.all_packages().await {
        Ok(p) => p,
        Err(e) => return AppError::Store(e).into_response(),
    };
    let name = |id: Option<i64>| match id.and_then(|id| packages.iter().find(|p| p.package.id == id)) {
        Some(p) => format!("{} {} (#{})", p.package.rules.name, p.package.rules.version, p.package.id),
        None => "unknown package".to_owned(),
    };
    let svgs = (
        charts::by_package(&points, name).render(),
        charts::by_model(&points).render(),
        charts::by_day(&points, now, 14).render(),
    );
    let (Ok(by_package), Ok(by_model), Ok(by_day)) = svgs else {
        return AppError::Internal(anyhow::anyhow!("a chart failed to render")).into_response();
    };
    page(StatusCode::OK, ResultsPage { csrf: admin.csrf(), by_package, by_model, by_day, total: points.len() }.render())
}

/// `GET /admin/assets/console.css`.
pub async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "private, max-age=300")],
        include_str!("../../assets/console.css"),
    )
        .into_response()
}
