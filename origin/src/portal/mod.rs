//! The portal for the handset's browser, guarded by the `pdm` cookie: its JSON API (here),
//! its pages and forms (`pages`), their words (`i18n`) and what they show (`view`).

pub mod i18n;
pub mod pages;
pub mod view;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use portaldm_shared::binding::BrowserBinding;
use portaldm_shared::catalog::{self, Offer, PackageKind};
use portaldm_shared::fumo::{FumoDelivery, ResultCode};
use portaldm_shared::portal::{IdentifyRequest, PortalState, ResultView, SelectRequest, SessionView};
use portaldm_shared::rand::{SecureRandom, bytes};
use portaldm_shared::{cdn, time::UnixMillis};

use crate::clock::{OsRandom, now, now_ms};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::PortalRecord;

/// The browser's binding, read from its `pdm` cookie.
pub struct Browser(BrowserBinding);

impl<S: Send + Sync> FromRequestParts<S> for Browser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(BrowserBinding::from_cookie_header)
            .map(Browser)
            .ok_or(AppError::Unauthorized("no portal session cookie: open the portal page first"))
    }
}

/// The portal session of this browser, if the phone has opened it yet.
pub(super) async fn bound_session(st: &AppState, b: &BrowserBinding) -> Result<Option<PortalRecord>, AppError> {
    let Some(p) = st.store.portal(&b.sid).await? else {
        return Ok(None);
    };
    if !b.matches(&p.bnd) {
        return Err(AppError::Forbidden("this portal session belongs to another browser"));
    }
    let now = now_ms();
    if p.lapsed_now(now, st.cfg.hold_secs) {
        // The phone left while the user decided: ended for good, so a phone that comes back
        // late is told so too instead of the page flipping back.
        if !st.store.end_undecided(&p.sid, &p.device, now).await? {
            // A choice or an end came first: that is the state.
            return Ok(st.store.portal(&b.sid).await?);
        }
        // A message of the phone's arriving now reads the end (`wake::Registry::register_since`).
        st.wake.wake(&p.sid);
        tracing::info!(sid = %p.sid, "the phone stopped answering; portal session ended");
        return Ok(Some(PortalRecord { state: PortalState::Ended, ..p }));
    }
    Ok(Some(p))
}

/// The portal session of this browser; before its phone has answered, the trigger its
/// `pdmt` cookie carries (`headers`) is registered first, so a stock DM client's session can
/// bind to it (`shared::stock`). A token that does not verify, or belongs to another session
/// or browser, registers nothing.
pub(super) async fn registered_session(
    st: &AppState,
    b: &BrowserBinding,
    headers: &HeaderMap,
) -> Result<Option<PortalRecord>, AppError> {
    if let Some(p) = bound_session(st, b).await? {
        return Ok(Some(p));
    }
    if !st.cfg.stock_binding {
        return Ok(None);
    }
    let Some(token) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(portaldm_shared::binding::trigger_token_from_cookie_header)
    else {
        return Ok(None);
    };
    let verified = match st.verifier.verify(token, now()) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(error = %e, "trigger cookie refused");
            return Ok(None);
        }
    };
    let claims = verified.claims();
    if claims.sid != b.sid || !b.matches(&claims.bnd) {
        return Ok(None);
    }
    let trigger = portaldm_shared::stock::LiveTrigger::of(claims);
    let expires_at = i64::try_from(trigger.expires_at.0).unwrap_or(i64::MAX);
    let mut p = PortalRecord::new(
        claims.sid.clone(),
        claims.bnd.clone(),
        claims.nsid,
        &Default::default(),
        PortalState::Waiting,
        expires_at,
    );
    p.place = catalog::Place { country: claims.ctry.clone(), operator: Some(claims.iss.clone()) };
    st.store.register_trigger(&p, &trigger, now_ms()).await?;
    tracing::debug!(sid = %p.sid, "trigger registered");
    // Whatever is stored now (a phone may have bound it by its token meanwhile).
    bound_session(st, b).await
}

/// The offers for the device of `p`, with release notes in the phone's language, else the
/// browser's (`accept_language`).
pub(super) async fn offers_for(
    st: &AppState,
    p: &PortalRecord,
    accept_language: Option<&str>,
) -> Result<Vec<Offer>, AppError> {
    let packages = st.store.packages().await?;
    let langs = portaldm_shared::portal::languages(p.device.lang.as_deref(), accept_language);
    let langs: Vec<&str> = langs.iter().map(String::as_str).collect();
    Ok(catalog::offers(&packages, &p.device, &p.place, &langs))
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

async fn view(st: &AppState, p: Option<PortalRecord>, accept_language: Option<&str>) -> Result<SessionView, AppError> {
    let Some(p) = p else {
        return Ok(SessionView {
            state: PortalState::Waiting,
            device: None,
            offers: vec![],
            selected: None,
            result: None,
        });
    };
    let state = p.state_now(now_ms(), st.cfg.hold_secs);
    // Nothing is offered before the browser's user has said the phone is theirs.
    let offers = match state {
        PortalState::Waiting | PortalState::Connecting | PortalState::Identified | PortalState::Ended => vec![],
        _ => offers_for(st, &p, accept_language).await?,
    };
    Ok(SessionView {
        state,
        // Never the whole DevId: a browser that triggered some phone must not learn its IMEI.
        device: (!matches!(state, PortalState::Waiting | PortalState::Connecting))
            .then(|| p.device.as_shown_to_browser()),
        offers,
        selected: p.package_id,
        result: p.result_code.map(|c| ResultView::of(ResultCode(c))),
    })
}

/// `GET /portal/api/session`.
pub async fn session(
    State(st): State<AppState>,
    Browser(b): Browser,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let p = registered_session(&st, &b, &headers).await?;
    let v = view(&st, p, accept_language(&headers)).await?;
    Ok(no_store(Json(v).into_response()))
}

/// `POST /portal/api/identify`: the answer to "is this your phone?".
pub async fn identify(
    State(st): State<AppState>,
    Browser(b): Browser,
    headers: HeaderMap,
    Json(req): Json<IdentifyRequest>,
) -> Result<Response, AppError> {
    let p = answer_identity(&st, &b, req.mine).await?;
    let v = view(&st, Some(p), accept_language(&headers)).await?;
    Ok(no_store(Json(v).into_response()))
}

/// The browser's user's answer for the session bound to `b`: offers are listed (`mine`) or
/// the session ends, and the held DM session learns it at its next look. The same for the
/// JSON API and the page's form.
pub(super) async fn answer_identity(st: &AppState, b: &BrowserBinding, mine: bool) -> Result<PortalRecord, AppError> {
    let p = bound_session(st, b).await?.ok_or(AppError::Conflict("the phone has not connected yet"))?;
    if p.state_now(now_ms(), st.cfg.hold_secs) != PortalState::Identified {
        return Err(AppError::Conflict("this portal session is not asking which phone it is"));
    }
    if !st.store.identify(&p.sid, mine, now_ms()).await? {
        return Err(AppError::Conflict("this portal session is not asking which phone it is"));
    }
    if !mine {
        // The held DM session ends at once instead of at its next hold.
        st.wake.wake(&p.sid);
    }
    tracing::info!(sid = %p.sid, mine, "phone identified by the browser's user");
    let state = if mine { PortalState::Choosing } else { PortalState::Ended };
    Ok(PortalRecord { state, ..p })
}

/// `POST /portal/api/select`: the user's choice, handed to the held DM session.
pub async fn select(
    State(st): State<AppState>,
    Browser(b): Browser,
    headers: HeaderMap,
    Json(req): Json<SelectRequest>,
) -> Result<Response, AppError> {
    let p = choose(&st, &b, req.package_id).await?;
    let v = view(&st, Some(p), accept_language(&headers)).await?;
    Ok(no_store(Json(v).into_response()))
}

/// The user's choice for the session bound to `b`: checked (the session is choosing, the
/// package is offered to this phone), recorded once, and handed to the held DM session.
/// The same for the JSON API and the page's form. Returns the session as the choice left it
/// (no second read: the held DM session moves it on from there, which the next poll shows).
pub(super) async fn choose(st: &AppState, b: &BrowserBinding, package_id: i64) -> Result<PortalRecord, AppError> {
    let p = bound_session(st, b).await?.ok_or(AppError::Conflict("the phone has not connected yet"))?;
    if p.state_now(now_ms(), st.cfg.hold_secs) != PortalState::Choosing {
        return Err(AppError::Conflict("this portal session is not choosing any more"));
    }
    let offer = offers_for(st, &p, None)
        .await?
        .into_iter()
        .find(|o| o.package.id == package_id)
        .ok_or(AppError::NotFound("that package is not offered to this phone"))?;
    let delivery = delivery_for(st, &p, &offer, now()).await?;
    if !st.store.select(&p.sid, offer.package.id, &delivery, now_ms()).await? {
        return Err(AppError::Conflict("this portal session is not choosing any more"));
    }
    // Nobody waiting is fine: the DM session reads the state when it next asks.
    st.wake.wake(&p.sid);
    crate::metrics::selection();
    tracing::info!(sid = %p.sid, package = offer.package.id, "offer selected");
    Ok(PortalRecord { state: PortalState::Selected, package_id: Some(offer.package.id), delivery: Some(delivery), ..p })
}

/// A delivery of `offer` to the device of `p`: a signed download URL and a fresh correlator.
pub(crate) async fn delivery_for(
    st: &AppState,
    p: &PortalRecord,
    offer: &Offer,
    now: UnixMillis,
) -> Result<FumoDelivery, AppError> {
    let expires = now.as_secs() + st.cfg.download_ttl_secs;
    let path = cdn::sign(&st.cdn_keys, &offer.package.blob, offer.package.id, &p.dev_id, expires)
        .map_err(|e| AppError::Internal(e.into()))?;
    let correlator = B64URL.encode(bytes::<16>(&mut OsRandom as &mut dyn SecureRandom).map_err(anyhow::Error::from)?);
    // A settings package travels as its values, read from its (small, checked) blob.
    let settings = match offer.package.rules.kind {
        PackageKind::Settings => {
            let bytes = st
                .blobs
                .read_small(&offer.package.blob, portaldm_shared::settings::MAX_BYTES)
                .await
                .map_err(|e| AppError::Internal(e.into()))?;
            portaldm_shared::settings::parse(&bytes).map_err(|e| AppError::Internal(e.into()))?
        }
        _ => vec![],
    };
    // Firmware goes to the device's own FUMO node, an application under its own SCOMO root,
    // when its session found one (or its profile named it).
    let device_root = match offer.package.rules.kind {
        PackageKind::Firmware => p.device.fumo.root().map(str::to_owned),
        PackageKind::Application => p.device.scomo.root().map(str::to_owned),
        PackageKind::Settings => None,
    };
    Ok(FumoDelivery {
        node: format!("pdm{}", offer.package.id),
        pkg_name: offer.package.rules.name.clone(),
        pkg_version: offer.package.rules.version.clone(),
        url: format!("{}{path}", st.cfg.public_url.trim_end_matches('/')),
        sha256: offer.package.blob.clone(),
        size: offer.package.size,
        correlator,
        inline: false,
        signature: offer.package.signature.clone(),
        kind: offer.package.rules.kind.delivery(),
        settings,
        // Two steps are FUMO's alone (and portaldm's own node's: a device's own node takes
        // DownloadAndUpdate); SCOMO and settings have one form.
        two_step: st.cfg.fumo_two_step && offer.package.rules.kind == PackageKind::Firmware && device_root.is_none(),
        device_root,
    })
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
