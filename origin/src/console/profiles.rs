//! Device profiles in the console: the list, an add form and remove, each through
//! `crate::profiles` like the CLI and the API.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portaldm_shared::profile::{DeviceProfile, encoding_name, parse_encoding, scheme_name};
use serde::Deserialize;

use super::forms::{CsrfOnly, ListPage, failed, list_of, opt, refused};
use super::sign_in::{Admin, page};
use crate::error::AppError;
use crate::profiles;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/profiles.html")]
struct ProfilesPage<'a> {
    csrf: String,
    profiles: &'a [DeviceProfile],
    max_hold: u64,
    notice: Option<String>,
    error: Option<String>,
}

/// What the last change was, for the message above the list.
#[derive(Deserialize)]
pub struct Done {
    added: Option<i64>,
    removed: Option<i64>,
}

/// The profiles page.
pub struct Profiles;

impl ListPage for Profiles {
    async fn render(
        st: &AppState,
        admin: &Admin,
        notice: Option<String>,
        error: Option<String>,
        status: StatusCode,
    ) -> Response {
        let profiles = match st.store.device_profiles().await {
            Ok(p) => p,
            Err(e) => return AppError::Store(e).into_response(),
        };
        let max_hold = st.cfg.hold_secs;
        page(status, ProfilesPage { csrf: admin.csrf(), profiles: &profiles, max_hold, notice, error }.render())
    }
}

/// `GET /admin/profiles`.
pub async fn list(State(st): State<AppState>, admin: Admin, Query(done): Query<Done>) -> Response {
    let notice =
        done.added.map(|id| format!("Profile {id} added.")).or(done.removed.map(|id| format!("Profile {id} removed.")));
    Profiles::render(&st, &admin, notice, None, StatusCode::OK).await
}

/// The add form, as posted.
#[derive(Deserialize)]
pub struct AddForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    man: String,
    #[serde(default)]
    models: String,
    #[serde(default)]
    fumo_root: String,
    #[serde(default)]
    scomo_root: String,
    #[serde(default)]
    encoding: String,
    #[serde(default)]
    auth_scheme: String,
    #[serde(default)]
    max_msg_size: String,
    #[serde(default)]
    hold_secs: String,
}

impl AddForm {
    /// The profile the form describes, or what is wrong with a field the profile's own
    /// check cannot see (text where a number or a name belongs).
    fn profile(&self) -> Result<DeviceProfile, String> {
        let number = |field: &str, v: &str| {
            opt(v).map(|v| v.parse::<u64>().map_err(|_| format!("{field} must be a whole number"))).transpose()
        };
        let encoding = opt(&self.encoding)
            .map(|e| parse_encoding(&e).ok_or_else(|| "encoding must be xml or wbxml".to_owned()))
            .transpose()?;
        let auth_scheme = opt(&self.auth_scheme)
            .map(|s| {
                portaldm_shared::auth::Scheme::parse(&s)
                    .ok_or_else(|| "authentication must be basic, md5 or hmac".to_owned())
            })
            .transpose()?;
        Ok(DeviceProfile {
            id: 0,
            name: self.name.trim().to_owned(),
            man: opt(&self.man),
            models: list_of(&self.models),
            fumo_root: opt(&self.fumo_root),
            scomo_root: opt(&self.scomo_root),
            encoding,
            auth_scheme,
            max_msg_size: number("the message cap", &self.max_msg_size)?,
            hold_secs: number("the hold", &self.hold_secs)?,
        })
    }
}

/// `POST /admin/profiles`.
pub async fn add(State(st): State<AppState>, admin: Admin, headers: HeaderMap, Form(f): Form<AddForm>) -> Response {
    if let Some(refused) = refused::<Profiles>(&st, &admin, &headers, f.csrf.as_deref()).await {
        return refused;
    }
    let p = match f.profile() {
        Ok(p) => p,
        Err(why) => return Profiles::render(&st, &admin, None, Some(why), StatusCode::BAD_REQUEST).await,
    };
    match profiles::add(&st.cfg, st.store.as_ref(), p, &admin.actor).await {
        Ok(p) => Redirect::to(&format!("/admin/profiles?added={}", p.id)).into_response(),
        Err(e) => failed::<Profiles>(&st, &admin, e).await,
    }
}

/// `POST /admin/profiles/{id}/remove`.
pub async fn remove(
    State(st): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = refused::<Profiles>(&st, &admin, &headers, f.csrf.as_deref()).await {
        return refused;
    }
    match profiles::remove(st.store.as_ref(), id, &admin.actor).await {
        Ok(()) => Redirect::to(&format!("/admin/profiles?removed={id}")).into_response(),
        Err(e) => failed::<Profiles>(&st, &admin, e).await,
    }
}

/// What a profile says of the client: encoding, scheme, cap and hold, or "as it comes".
pub fn client(p: &DeviceProfile) -> String {
    let mut parts = Vec::new();
    if let Some(e) = p.encoding {
        parts.push(encoding_name(e).to_owned());
    }
    if let Some(s) = p.auth_scheme {
        parts.push(scheme_name(s).to_owned());
    }
    if let Some(n) = p.max_msg_size {
        parts.push(format!("messages ≤ {n} bytes"));
    }
    if let Some(h) = p.hold_secs {
        parts.push(format!("held ≤ {h} s"));
    }
    if parts.is_empty() { "as it comes".to_owned() } else { parts.join(" · ") }
}
