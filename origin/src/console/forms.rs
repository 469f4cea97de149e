//! What the console's list pages with forms (catalog, profiles) share: the page again with
//! the message of a change above its list, the checks every change's post passes first, and
//! reading form fields.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::sign_in::{Admin, check_post};
use crate::error::AppError;
use crate::state::AppState;

/// A console page that lists things and takes changes to them.
pub trait ListPage {
    /// The page, with `notice` (a change done) or `error` (why it was not) above the list.
    fn render(
        st: &AppState,
        admin: &Admin,
        notice: Option<String>,
        error: Option<String>,
        status: StatusCode,
    ) -> impl Future<Output = Response> + Send;
}

/// The page again with 403 if a change's post fails its checks (same site, form token, a
/// token that may change things).
pub async fn refused<P: ListPage>(
    st: &AppState,
    admin: &Admin,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Option<Response> {
    match check_post(headers, admin, csrf) {
        Ok(()) => None,
        Err(e) => Some(P::render(st, admin, None, Some(e.to_string()), StatusCode::FORBIDDEN).await),
    }
}

/// The page with why a change failed, answered with the failure's status.
pub async fn failed<P: ListPage>(st: &AppState, admin: &Admin, e: impl Into<AppError>) -> Response {
    let e = e.into();
    let status = e.status();
    P::render(st, admin, None, Some(e.to_string()), status).await
}

/// A form with only the form token (publish, revoke, remove).
#[derive(Deserialize)]
pub struct CsrfOnly {
    /// The form token.
    pub csrf: Option<String>,
}

/// Field text, trimmed; `None` when empty.
pub fn opt(s: &str) -> Option<String> {
    Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// A comma-separated field, each item trimmed, empty ones dropped.
pub fn list_of(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}
