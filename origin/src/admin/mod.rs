//! The admin API (`/admin/api/…`): catalog, blobs, devices, sessions, audit log, tokens,
//! keys and device profiles, as JSON behind admin bearer tokens, with its OpenAPI document
//! built from the same routes (`/admin/api/openapi.json`). Served on the origin's own
//! address: the edge forwards none of it.

pub mod api_types;
pub mod bearer;
mod packages;
mod profiles;
mod registry;
mod require_token;
mod tokens;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router, middleware};
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub use require_token::Actor;

/// Where the admin API lives.
pub const BASE: &str = "/admin/api";
/// Largest JSON body an admin endpoint reads.
const MAX_JSON: usize = 64 * 1024;
/// Longest an admin request may take (uploads of large packages included).
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "portaldm admin API",
        description = "Catalog, blobs, devices, sessions, audit log, admin tokens and keys of a portaldm origin. \
                       Every request needs `Authorization: Bearer pdm_admin_…` (create one with \
                       `portaldm-origin admin-token create --name …`). Every change is written to the audit log."
    ),
    modifiers(&BearerToken),
    security(("admin_token" = [])),
    tags(
        (name = "catalog", description = "Packages and their blobs"),
        (name = "registry", description = "Devices and portal sessions"),
        (name = "profiles", description = "Device profiles: how a handset model's own DM client is served"),
        (name = "admin", description = "Audit log, admin tokens, keys"),
    )
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "admin_token",
                SecurityScheme::Http(
                    HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("pdm_admin_…").build(),
                ),
            );
        }
    }
}

/// The admin routes, and their OpenAPI document at `/admin/api/openapi.json`.
pub fn router(state: AppState) -> Router<AppState> {
    let (api, mut doc) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .routes(routes!(packages::list_packages, packages::add_package))
        .routes(routes!(packages::get_package))
        .routes(routes!(packages::revoke_package))
        .routes(routes!(packages::publish_package))
        .routes(routes!(packages::set_rollout))
        .routes(routes!(packages::upload_blob))
        .routes(routes!(registry::get_device))
        .routes(routes!(registry::set_account))
        .routes(routes!(registry::list_results))
        .routes(routes!(registry::list_sessions))
        .routes(routes!(tokens::audit_log))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(tokens::keys))
        .routes(routes!(profiles::list_profiles, profiles::add_profile))
        .routes(routes!(profiles::update_profile, profiles::delete_profile))
        .split_for_parts();
    doc.servers = Some(vec![utoipa::openapi::Server::new(BASE)]);
    let api = api
        .route_layer(middleware::from_fn_with_state(state, require_token::require_admin))
        .layer(DefaultBodyLimit::max(MAX_JSON))
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, TIMEOUT));
    let json = serde_json::to_value(&doc).unwrap_or_default();
    Router::new()
        .nest(BASE, api)
        // The document itself is public: it holds no secrets, and tools fetch it first.
        .route(&format!("{BASE}/openapi.json"), get(move || std::future::ready(Json(json.clone()))))
}
