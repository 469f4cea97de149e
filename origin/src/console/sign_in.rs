//! Signing in and out, and the extractor that finds the signed-in admin on every page.

use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use portaldm_shared::rand::bytes;
use serde::Deserialize;

use crate::admin::bearer;
use crate::clock::{OsRandom, now_ms};
use crate::console::cookie;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::ConsoleSession;

/// How long a console sign-in lasts.
const SESSION_SECS: u64 = 8 * 3600;
/// How long a sign-in form's token is accepted.
const SIGN_IN_FORM_SECS: u64 = 3600;
/// What console pages may load: only this origin's stylesheet and inline SVG; never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// A signed-in admin.
pub struct Admin {
    /// The session as presented (for the form token).
    pub session: cookie::Presented,
    /// Signed in with a read-only token: every change is refused.
    pub read_only: bool,
    /// `console:<token id> (<token name>)`, for the audit log.
    pub actor: String,
}

impl Admin {
    /// This session's form token, for the page's forms.
    pub fn csrf(&self) -> String {
        self.session.csrf_token()
    }
}

/// Why a console request was refused.
pub enum Refusal {
    /// Not signed in (or no longer): to the sign-in page.
    SignIn,
    /// Something failed.
    Error(AppError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn => Redirect::to("/admin/sign-in").into_response(),
            Refusal::Error(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(cookie::from_cookie_header)
            .ok_or(Refusal::SignIn)?;
        let stored = st.store.console_session(&presented.id).await.map_err(|e| Refusal::Error(e.into()))?;
        let Some(s) = stored.filter(|s| presented.matches(&s.secret_sha256) && s.expires_at > now_ms()) else {
            return Err(Refusal::SignIn);
        };
        // A revoked token ends its console sessions at once.
        let token = st.store.admin_token(&s.token_id).await.map_err(|e| Refusal::Error(e.into()))?;
        let Some((view, _)) = token.filter(|(v, _)| v.revoked_at.is_none()) else {
            return Err(Refusal::SignIn);
        };
        Ok(Admin {
            session: presented,
            read_only: view.read_only,
            actor: format!("console:{} ({})", view.id, view.name),
        })
    }
}

/// Refuses a console post from another site, without this session's form token, or from a
/// read-only sign-in: every post but signing out changes something.
pub fn check_post(headers: &HeaderMap, admin: &Admin, csrf: Option<&str>) -> Result<(), AppError> {
    check_form(headers, admin, csrf)?;
    if admin.read_only {
        return Err(AppError::Forbidden("you signed in with a read-only token: it changes nothing"));
    }
    Ok(())
}

/// Refuses a console post from another site, or without this session's form token.
fn check_form(headers: &HeaderMap, admin: &Admin, csrf: Option<&str>) -> Result<(), AppError> {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if portaldm_shared::portal::is_cross_site(site, None, None) {
        return Err(AppError::Forbidden("this request came from another site"));
    }
    if !admin.session.csrf_ok(csrf) {
        return Err(AppError::Forbidden("the form token is missing or not this session's: reload the page"));
    }
    Ok(())
}

/// A console page with its security headers.
pub fn page(status: StatusCode, html: Result<String, askama::Error>) -> Response {
    let mut r = match html {
        Ok(h) => (status, Html(h)).into_response(),
        Err(e) => return AppError::Internal(e.into()).into_response(),
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    error: Option<&'a str>,
    csrf: &'a str,
}

/// The sign-in page with a fresh form token, and the cookie that carries it.
fn sign_in_form(status: StatusCode, error: Option<&str>) -> Response {
    let random = match bytes::<{ cookie::SIGN_IN_RANDOM_LEN }>(&mut OsRandom) {
        Ok(r) => r,
        Err(e) => return AppError::Internal(e.into()).into_response(),
    };
    let csrf = cookie::sign_in_token(&random);
    let mut r = page(status, SignInPage { error, csrf: &csrf }.render());
    if let Ok(v) = HeaderValue::from_str(&cookie::sign_in_cookie(&csrf, SIGN_IN_FORM_SECS)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `GET /admin/`: the catalog, or the sign-in page.
pub async fn home() -> Redirect {
    Redirect::to("/admin/catalog")
}

/// `GET /admin/sign-in`.
pub async fn sign_in_page() -> Response {
    sign_in_form(StatusCode::OK, None)
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
    csrf: Option<String>,
}

/// `POST /admin/sign-in`: an admin token opens a console session.
pub async fn sign_in(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if portaldm_shared::portal::is_cross_site(site, None, None) {
        return sign_in_form(StatusCode::FORBIDDEN, Some("This request came from another site."));
    }
    // Another site's form would sign this browser in to the attacker's console (login CSRF): a
    // browser that says the post is same-origin, or the form's own token, shows it is ours.
    let form = form.ok().map(|Form(f)| f);
    let same_origin = site.is_some_and(|s| s.eq_ignore_ascii_case("same-origin"));
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    if !same_origin && !cookie::sign_in_token_ok(cookies, form.as_ref().and_then(|f| f.csrf.as_deref())) {
        return sign_in_form(
            StatusCode::FORBIDDEN,
            Some("This sign-in form has expired or did not come from this console: sign in again below."),
        );
    }
    let refused = || sign_in_form(StatusCode::UNAUTHORIZED, Some("That is not a valid admin token."));
    let Some(form) = form else { return refused() };
    let Ok(t) = bearer::parse(form.token.trim()) else { return refused() };
    let stored = match st.store.admin_token(t.id).await {
        Ok(s) => s,
        Err(e) => return AppError::Store(e).into_response(),
    };
    let Some((view, _)) = stored.filter(|(v, hash)| t.matches(hash) && v.revoked_at.is_none()) else {
        tracing::warn!(token = %t.id, "console sign-in refused");
        return refused();
    };
    let random = match bytes::<{ cookie::RANDOM_LEN }>(&mut OsRandom) {
        Ok(r) => r,
        Err(e) => return AppError::Internal(e.into()).into_response(),
    };
    let issued = cookie::issue(&random);
    let now = now_ms();
    let s = ConsoleSession {
        secret_sha256: issued.secret_sha256,
        token_id: view.id.clone(),
        expires_at: now + (SESSION_SECS * 1000) as i64,
    };
    let actor = format!("console:{} ({})", view.id, view.name);
    if let Err(e) = st.store.create_console_session(&issued.id, &s, &actor, now).await {
        return AppError::Store(e).into_response();
    }
    let mut r = Redirect::to("/admin/catalog").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie::set_cookie(&issued.cookie_value, SESSION_SECS)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// The sign-out form.
#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

/// `POST /admin/sign-out`.
pub async fn sign_out(
    State(st): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Err(e) = check_form(&headers, &admin, f.csrf.as_deref()) {
        return e.into_response();
    }
    if let Err(e) = st.store.delete_console_session(&admin.session.id).await {
        return AppError::Store(e).into_response();
    }
    let mut r = Redirect::to("/admin/sign-in").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie::clear_cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
