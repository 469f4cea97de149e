//! The admin console (`/admin/…` beside the API, on the origin's own address): sign-in with
//! an admin token, the catalog (upload, publish, rollout, revoke), live portal sessions,
//! device lookup, results as SVG charts, and device profiles. Server-rendered; every form
//! carries the session's form token (`cookie.rs`) and posts from other sites
//! are refused.

mod catalog_page;
mod charts;
pub mod cookie;
mod forms;
mod profiles;
mod sign_in;
mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::state::AppState;

/// The console's routes.
pub fn router(state: &AppState) -> Router<AppState> {
    let upload_limit = usize::try_from(state.cfg.max_upload_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/admin", get(sign_in::home))
        .route("/admin/", get(sign_in::home))
        .route("/admin/sign-in", get(sign_in::sign_in_page).post(sign_in::sign_in))
        .route("/admin/sign-out", post(sign_in::sign_out))
        .route("/admin/catalog", get(catalog_page::list))
        .route(
            "/admin/catalog/upload",
            post(catalog_page::upload).layer(DefaultBodyLimit::max(upload_limit.saturating_add(64 * 1024))),
        )
        .route("/admin/catalog/{id}/publish", post(catalog_page::publish))
        .route("/admin/catalog/{id}/rollout", post(catalog_page::rollout))
        .route("/admin/catalog/{id}/revoke", post(catalog_page::revoke))
        .route("/admin/sessions", get(views::sessions))
        .route("/admin/devices", get(views::device))
        .route("/admin/results", get(views::results))
        .route("/admin/assets/console.css", get(views::css))
        .route("/admin/profiles", get(profiles::list).post(profiles::add))
        .route("/admin/profiles/{id}/remove", post(profiles::remove))
}
