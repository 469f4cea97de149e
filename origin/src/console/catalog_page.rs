//! The catalog in the console: the packages with their state and results, an upload form,
//! and publish, rollout and revoke, each through `crate::catalog_changes` like the CLI and the API.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portaldm_shared::catalog::PackageRules;
use serde::Deserialize;

use super::forms::{CsrfOnly, ListPage, failed, list_of, opt, refused};
use super::sign_in::{Admin, check_post, page};
use crate::admin::api_types::{PackageRequest, PackageStatus, PackageView};
use crate::blobstore::{self, PutError};
use crate::catalog_changes;
use crate::console::cookie::CSRF_FIELD;
use crate::error::AppError;
use crate::state::AppState;

/// One package row.
pub struct Row {
    /// The package.
    pub p: PackageView,
    /// "draft", "published", "revoked".
    pub status: &'static str,
    /// "3 × 200, 1 × 410" or "none yet".
    pub results: String,
}

#[derive(Template)]
#[template(path = "console/catalog.html")]
struct CatalogPage<'a> {
    csrf: String,
    rows: &'a [Row],
    notice: Option<String>,
    error: Option<String>,
}

/// What the last change was, for the message above the list.
#[derive(Deserialize)]
pub struct Done {
    added: Option<i64>,
    changed: Option<i64>,
}

fn status_name(s: PackageStatus) -> &'static str {
    match s {
        PackageStatus::Draft => "draft",
        PackageStatus::Published => "published",
        PackageStatus::Revoked => "revoked",
    }
}

/// The catalog page.
pub struct Catalog;

impl ListPage for Catalog {
    async fn render(
        st: &AppState,
        admin: &Admin,
        notice: Option<String>,
        error: Option<String>,
        status: StatusCode,
    ) -> Response {
        let packages = match st.store.all_packages().await {
            Ok(p) => p,
            Err(e) => return AppError::Store(e).into_response(),
        };
        let mut rows = Vec::with_capacity(packages.len());
        for p in packages {
            let counts = match st.store.result_counts(p.package.id).await {
                Ok(c) => c,
                Err(e) => return AppError::Store(e).into_response(),
            };
            let results = if counts.is_empty() {
                "none yet".to_owned()
            } else {
                counts.iter().map(|(code, n)| format!("{n} × {code}")).collect::<Vec<_>>().join(", ")
            };
            rows.push(Row { status: status_name(p.status), p, results });
        }
        page(status, CatalogPage { csrf: admin.csrf(), rows: &rows, notice, error }.render())
    }
}

/// `GET /admin/catalog`.
pub async fn list(State(st): State<AppState>, admin: Admin, Query(done): Query<Done>) -> Response {
    let notice =
        done.added.map(|id| format!("Package {id} added.")).or(done.changed.map(|id| format!("Package {id} changed.")));
    Catalog::render(&st, &admin, notice, None, StatusCode::OK).await
}

/// `POST /admin/catalog/upload` (multipart): the form token first, then the fields, then the
/// file, streamed into the blob store as it arrives.
pub async fn upload(State(st): State<AppState>, admin: Admin, headers: HeaderMap, mut form: Multipart) -> Response {
    let mut req = PackageRequest {
        rules: PackageRules {
            name: String::new(),
            version: String::new(),
            models: vec![],
            base_min: None,
            base_max: None,
            notes: String::new(),
            hw_revisions: vec![],
            delta_from: None,
            rollout_percent: 100,
            notes_by_lang: Default::default(),
            kind: Default::default(),
            countries: vec![],
            operators: vec![],
        },
        blob: String::new(),
        publish: false,
    };
    let mut checked = false;
    let fail = |msg: String, status: StatusCode| (msg, status);
    let outcome: Result<(), (String, StatusCode)> = async {
        while let Some(field) =
            form.next_field().await.map_err(|e| fail(format!("the upload broke off: {e}"), StatusCode::BAD_REQUEST))?
        {
            let name = field.name().unwrap_or("").to_owned();
            if name == CSRF_FIELD {
                let v = field.text().await.map_err(|e| fail(e.to_string(), StatusCode::BAD_REQUEST))?;
                check_post(&headers, &admin, Some(&v)).map_err(|e| fail(e.to_string(), StatusCode::FORBIDDEN))?;
                checked = true;
                continue;
            }
            if !checked {
                // Nothing is read, let alone stored, before the form token is known good.
                return Err(fail("the form token must come first: reload the page".into(), StatusCode::FORBIDDEN));
            }
            if name == "file" {
                let blob = st.blobs.put_stream(field, st.cfg.max_upload_bytes).await.map_err(|e| match e {
                    PutError::TooLarge(_) => fail(format!("{e} (max_upload_bytes)"), StatusCode::PAYLOAD_TOO_LARGE),
                    PutError::Empty => fail("choose a package file".into(), StatusCode::BAD_REQUEST),
                    PutError::Body(_) => fail(e.to_string(), StatusCode::BAD_REQUEST),
                    PutError::Io(_) | PutError::Store(_) => {
                        tracing::error!(error = %e, "storing an uploaded blob");
                        fail("the package could not be stored; try again".into(), StatusCode::INTERNAL_SERVER_ERROR)
                    }
                })?;
                catalog_changes::audited_upload(st.store.as_ref(), &blob, &admin.actor)
                    .await
                    .map_err(|e| fail(e.to_string(), StatusCode::INTERNAL_SERVER_ERROR))?;
                req.blob = blob.sha256;
                continue;
            }
            let v = field.text().await.map_err(|e| fail(e.to_string(), StatusCode::BAD_REQUEST))?;
            match name.as_str() {
                "name" => req.rules.name = v.trim().to_owned(),
                "version" => req.rules.version = v.trim().to_owned(),
                "models" => req.rules.models = list_of(&v),
                "base_min" => req.rules.base_min = opt(&v),
                "base_max" => req.rules.base_max = opt(&v),
                "delta_from" => req.rules.delta_from = opt(&v),
                "hw_revisions" => req.rules.hw_revisions = list_of(&v),
                "countries" => req.rules.countries = list_of(&v),
                "operators" => req.rules.operators = list_of(&v),
                "rollout" => {
                    req.rules.rollout_percent = v
                        .trim()
                        .parse()
                        .map_err(|_| fail("rollout must be 0 to 100".into(), StatusCode::BAD_REQUEST))?
                }
                "notes" => req.rules.notes = v.trim().to_owned(),
                "notes_de" => {
                    if let Some(n) = opt(&v) {
                        req.rules.notes_by_lang.insert("de".into(), n);
                    }
                }
                "publish" => req.publish = v == "on" || v == "1",
                "kind" => {
                    req.rules.kind = portaldm_shared::catalog::PackageKind::parse(v.trim())
                        .ok_or_else(|| fail("kind must be firmware or application".into(), StatusCode::BAD_REQUEST))?
                }
                _ => {}
            }
        }
        if !checked {
            return Err(fail("the form token is missing: reload the page".into(), StatusCode::FORBIDDEN));
        }
        if req.blob.is_empty() {
            return Err(fail("choose a package file".into(), StatusCode::BAD_REQUEST));
        }
        Ok(())
    }
    .await;
    if let Err((msg, status)) = outcome {
        return Catalog::render(&st, &admin, None, Some(msg), status).await;
    }
    match catalog_changes::add(&st.cfg, &st.blobs, st.store.as_ref(), req, &admin.actor).await {
        Ok(id) => Redirect::to(&format!("/admin/catalog?added={id}")).into_response(),
        Err(e) => failed::<Catalog>(&st, &admin, e).await,
    }
}

/// The rollout form.
#[derive(Deserialize)]
pub struct RolloutForm {
    csrf: Option<String>,
    percent: String,
}

/// The page after a change: back to the list, or the list with the error.
async fn after(st: &AppState, admin: &Admin, id: i64, r: Result<(), catalog_changes::CatalogError>) -> Response {
    match r {
        Ok(()) => Redirect::to(&format!("/admin/catalog?changed={id}")).into_response(),
        Err(e) => failed::<Catalog>(st, admin, e).await,
    }
}

/// `POST /admin/catalog/{id}/publish`.
pub async fn publish(
    State(st): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = refused::<Catalog>(&st, &admin, &headers, f.csrf.as_deref()).await {
        return refused;
    }
    let r = catalog_changes::publish(st.store.as_ref(), id, &admin.actor).await;
    after(&st, &admin, id, r).await
}

/// `POST /admin/catalog/{id}/rollout`.
pub async fn rollout(
    State(st): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<RolloutForm>,
) -> Response {
    if let Some(refused) = refused::<Catalog>(&st, &admin, &headers, f.csrf.as_deref()).await {
        return refused;
    }
    let Ok(percent) = f.percent.trim().parse::<u8>() else {
        return Catalog::render(
            &st,
            &admin,
            None,
            Some("the rollout share must be 0 to 100".into()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let r = catalog_changes::set_rollout(st.store.as_ref(), id, percent, &admin.actor).await;
    after(&st, &admin, id, r).await
}

/// `POST /admin/catalog/{id}/revoke`.
pub async fn revoke(
    State(st): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = refused::<Catalog>(&st, &admin, &headers, f.csrf.as_deref()).await {
        return refused;
    }
    let r = catalog_changes::revoke(&st.cfg, st.store.as_ref(), id, &admin.actor).await.map(|_| ());
    after(&st, &admin, id, r).await
}

/// Whether the blob name is one (for the template's links).
pub fn short(sha: &str) -> &str {
    if blobstore::is_blob_name(sha) { &sha[..12] } else { sha }
}
