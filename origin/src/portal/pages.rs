//! The portal's pages, server-rendered in the phone's language: the landing page
//! (`/portal/`, the same for everyone, cached at the edge per language), the session's page
//! (`/portal/status`, private) and its two forms (`/portal/choose` asks "install this?",
//! `/portal/select` sends the choice). They work without JavaScript (forms, and a meta
//! refresh while something is happening); `portal.js` makes them live. With the
//! `pdm-partial` request header only the live part is sent, for the script to swap in.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use portaldm_shared::binding::BrowserBinding;
use portaldm_shared::portal::{PortalState, is_cross_site, page_language};
use serde::Deserialize;
use sha2::Digest as _;

use super::i18n::{Strings, strings};
use super::view::{LiveTemplate, PageTemplate, View};
use super::{AppState, bound_session, choose, offers_for};
use crate::clock::now_ms;
use crate::error::AppError;

/// The request header that asks for the live part only.
const PARTIAL: &str = "pdm-partial";
/// What the pages may load and where they may be framed: only from this site, never framed
/// elsewhere (the confirmation cannot be clickjacked).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The chosen package, from a form.
#[derive(Debug, Deserialize)]
pub struct Pick {
    package_id: i64,
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn binding(h: &HeaderMap) -> Option<BrowserBinding> {
    h.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(BrowserBinding::from_cookie_header)
}

/// `v` as HTML, whole or its live part.
fn html(v: &View, partial: bool) -> Result<String, AppError> {
    let r = if partial { LiveTemplate { v }.render() } else { PageTemplate { v }.render() };
    r.map_err(|e| AppError::Internal(e.into()))
}

/// Renders `v` with the headers every page carries.
fn render(v: &View, partial: bool, status: StatusCode) -> Response {
    match html(v, partial) {
        Ok(body) => with_page_headers((status, Html(body)).into_response(), v.lang),
        Err(e) => e.into_response(),
    }
}

fn with_page_headers(mut r: Response, lang: &'static str) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

/// The validator of a page or asset: its content hash, so that it changes exactly when it does.
fn content_tag(body: &[u8]) -> String {
    portaldm_shared::range::etag(&hex::encode(&sha2::Sha256::digest(body)[..16]))
}

fn private(mut r: Response) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /portal/`: the landing page, which starts the trigger by itself (or by its button).
/// The same for everyone who reads its language, so the edge and browsers keep it five
/// minutes (the edge keys it by [`page_language`]) and revalidate it by its content hash.
pub async fn landing(headers: HeaderMap) -> Response {
    let lang = page_language(None, header_str(&headers, header::ACCEPT_LANGUAGE));
    let body = match html(&View::start(lang, strings(lang)), false) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let tag = content_tag(body.as_bytes());
    let r = if portaldm_shared::range::not_modified(header_str(&headers, header::IF_NONE_MATCH), &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Html(body).into_response()
    };
    let mut r = with_page_headers(r, lang);
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    r
}

/// The page of this browser's session, with `notice` above it.
async fn session_page(st: &AppState, headers: &HeaderMap, notice: Option<&str>, status: StatusCode) -> Response {
    let partial = headers.contains_key(PARTIAL);
    let accept = header_str(headers, header::ACCEPT_LANGUAGE);
    let Some(b) = binding(headers) else {
        let lang = page_language(None, accept);
        let t = strings(lang);
        let v = View { start: false, ..View::start(lang, t) };
        let v = match notice {
            Some(n) => v.with_notice(n),
            None => v,
        };
        return private(render(&v, partial, status));
    };
    let p = match super::registered_session(st, &b, headers).await {
        Ok(p) => p,
        Err(AppError::Forbidden(_)) => {
            let lang = page_language(None, accept);
            let t = strings(lang);
            let v = View { start: false, ..View::start(lang, t) }.with_notice(t.get("error.foreign"));
            return private(render(&v, partial, StatusCode::FORBIDDEN));
        }
        Err(e) => return e.into_response(),
    };
    let lang = page_language(p.as_ref().and_then(|p| p.device.lang.as_deref()), accept);
    let t = strings(lang);
    let state = p.as_ref().map_or(PortalState::Waiting, |p| p.state_now(now_ms(), st.cfg.hold_secs));
    let offers = match (&p, state) {
        (Some(p), PortalState::Choosing | PortalState::Selected | PortalState::Delivered | PortalState::Done) => {
            match offers_for(st, p, accept).await {
                Ok(o) => o,
                Err(e) => return e.into_response(),
            }
        }
        _ => vec![],
    };
    let v = View::session(lang, t, p.as_ref(), state, &offers);
    let v = match notice {
        Some(n) => v.with_notice(n),
        None => v,
    };
    private(render(&v, partial, status))
}

/// `GET /portal/status`: this browser's session as a page (it refreshes itself while
/// something is happening).
pub async fn status(State(st): State<AppState>, headers: HeaderMap) -> Response {
    session_page(&st, &headers, None, StatusCode::OK).await
}

/// A refusal as a page: the session as it is, with the reason above it.
async fn refused(st: &AppState, headers: &HeaderMap, e: AppError) -> Response {
    let lang = page_language(None, header_str(headers, header::ACCEPT_LANGUAGE));
    let t: &Strings = strings(lang);
    let key = match &e {
        AppError::NotFound(_) => "error.not_offered",
        AppError::Conflict(_) => "error.too_late",
        AppError::Unauthorized(_) => "error.no_session",
        AppError::Forbidden(_) => "error.foreign",
        AppError::BadRequest(_) => "error.bad_form",
        _ => return e.into_response(),
    };
    session_page(st, headers, Some(t.get(key)), e.status()).await
}

/// Refuses a form posted from another site (the edge checks the `Origin` too).
fn cross_site(headers: &HeaderMap) -> Option<Response> {
    let site = header_str(headers, header::HeaderName::from_static("sec-fetch-site"));
    if !is_cross_site(site, None, None) {
        return None;
    }
    let lang = page_language(None, header_str(headers, header::ACCEPT_LANGUAGE));
    let t = strings(lang);
    let v = View { start: false, ..View::start(lang, t) }.with_notice(t.get("error.cross_site"));
    Some(private(render(&v, headers.contains_key(PARTIAL), StatusCode::FORBIDDEN)))
}

/// What both forms check first: not from another site, a well-formed form, a session cookie.
/// The choice and the browser's binding, or the refusal page.
async fn form_prologue(
    st: &AppState,
    headers: &HeaderMap,
    form: Result<Form<Pick>, FormRejection>,
) -> Result<(Pick, BrowserBinding), Response> {
    if let Some(r) = cross_site(headers) {
        return Err(r);
    }
    let Ok(Form(pick)) = form else {
        return Err(refused(st, headers, AppError::BadRequest("bad form".into())).await);
    };
    let Some(b) = binding(headers) else {
        return Err(refused(st, headers, AppError::Unauthorized("no session")).await);
    };
    Ok((pick, b))
}

/// `POST /portal/choose`: "install this?" for an offered package.
pub async fn choose_form(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Pick>, FormRejection>,
) -> Response {
    let (pick, b) = match form_prologue(&st, &headers, form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let p = match bound_session(&st, &b).await {
        Ok(Some(p)) if p.state_now(now_ms(), st.cfg.hold_secs) == PortalState::Choosing => p,
        Ok(_) => return refused(&st, &headers, AppError::Conflict("not choosing")).await,
        Err(e) => return refused(&st, &headers, e).await,
    };
    let accept = header_str(&headers, header::ACCEPT_LANGUAGE);
    let offers = match offers_for(&st, &p, accept).await {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let Some(offer) = offers.iter().find(|o| o.package.id == pick.package_id) else {
        return refused(&st, &headers, AppError::NotFound("not offered")).await;
    };
    let lang = page_language(p.device.lang.as_deref(), accept);
    private(render(&View::confirm(lang, strings(lang), offer), headers.contains_key(PARTIAL), StatusCode::OK))
}

/// The answer to "is this your phone?", from its form (`mine=yes` or `mine=no`).
#[derive(Debug, Deserialize)]
pub struct Identity {
    mine: String,
}

/// `POST /portal/identify`: the browser's user says whether the phone that answered is
/// theirs; then the session's page (its offers, or the end).
pub async fn identify_form(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Identity>, FormRejection>,
) -> Response {
    if let Some(r) = cross_site(&headers) {
        return r;
    }
    let mine = match form.as_ref().map(|f| f.mine.as_str()) {
        Ok("yes") => true,
        Ok("no") => false,
        _ => return refused(&st, &headers, AppError::BadRequest("bad form".into())).await,
    };
    let Some(b) = binding(&headers) else {
        return refused(&st, &headers, AppError::Unauthorized("no session")).await;
    };
    if let Err(e) = super::answer_identity(&st, &b, mine).await {
        return refused(&st, &headers, e).await;
    }
    if headers.contains_key(PARTIAL) {
        return session_page(&st, &headers, None, StatusCode::OK).await;
    }
    Redirect::to("/portal/status").into_response()
}

/// `POST /portal/select`: the confirmed choice; then the session's page (see other).
pub async fn select_form(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Pick>, FormRejection>,
) -> Response {
    let (pick, b) = match form_prologue(&st, &headers, form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(e) = choose(&st, &b, pick.package_id).await {
        return refused(&st, &headers, e).await;
    }
    if headers.contains_key(PARTIAL) {
        return session_page(&st, &headers, None, StatusCode::OK).await;
    }
    // Post/redirect/get: a reload shows the progress instead of sending the choice again.
    Redirect::to("/portal/status").into_response()
}

/// `GET /portal/assets/<name>`: the stylesheet and the script, public and revalidated by
/// their content hash.
pub async fn asset(axum::extract::Path(name): axum::extract::Path<String>, headers: HeaderMap) -> Response {
    let (body, kind): (&'static str, &'static str) = match name.as_str() {
        "portal.css" => (include_str!("../../assets/portal.css"), "text/css; charset=utf-8"),
        "portal.js" => (include_str!("../../assets/portal.js"), "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    let tag = content_tag(body.as_bytes());
    let mut r = if portaldm_shared::range::not_modified(header_str(&headers, header::IF_NONE_MATCH), &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, kind)], body).into_response()
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    r
}
