//! The admin API's JSON bodies.

use portaldm_shared::catalog::{CatalogPackage, PackageRules};
use portaldm_shared::device::DeviceDetails;
use serde::{Deserialize, Serialize};

/// An error answer: one sentence for the admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiError {
    /// What went wrong and, where it helps, what to do.
    pub error: String,
}

/// A stored blob: its name is its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlobInfo {
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A package to add, its bytes already uploaded as a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageRequest {
    /// What it is and who is offered it.
    #[serde(flatten)]
    pub rules: PackageRules,
    /// The uploaded blob's SHA-256 (from `POST /admin/api/blobs`).
    pub blob: String,
    /// Offer it at once (default), or keep it a draft until published.
    #[serde(default = "yes")]
    pub publish: bool,
}

fn yes() -> bool {
    true
}

/// Where a package stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PackageStatus {
    /// Added, not offered yet.
    Draft,
    /// Offered to the devices it fits.
    Published,
    /// Withdrawn for good: never offered, its download URLs refused.
    Revoked,
}

/// A new rollout share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    /// Share of fitting devices offered the package, 0 to 100.
    pub percent: u8,
}

/// A package as the admin sees it, published or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PackageView {
    /// The package.
    #[serde(flatten)]
    pub package: CatalogPackage,
    /// Draft, published or revoked.
    pub status: PackageStatus,
    /// When it was added (Unix ms).
    pub created_at: i64,
}

/// How many deliveries ended with one FUMO result code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResultCount {
    /// FUMO result code.
    pub code: u16,
    /// Its meaning.
    pub meaning: String,
    /// Deliveries.
    pub count: u64,
}

/// One package with how its deliveries ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PackageDetail {
    /// The package.
    pub package: PackageView,
    /// Results by code.
    pub results: Vec<ResultCount>,
}

/// One result a device reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceResult {
    /// The delivery's correlator.
    pub correlator: String,
    /// The package delivered, if known.
    pub package_id: Option<i64>,
    /// FUMO result code.
    pub code: u16,
    /// Its meaning.
    pub meaning: String,
    /// When it was recorded (Unix ms).
    pub recorded_at: i64,
}

/// A device as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceView {
    /// Its latest details.
    pub details: DeviceDetails,
    /// First contact (Unix ms).
    pub first_seen: i64,
    /// Latest contact (Unix ms).
    pub last_seen: i64,
    /// Its DM account's scheme, if it has one.
    pub account: Option<String>,
    /// Its results, newest first.
    pub results: Vec<DeviceResult>,
    /// What it reported over time (a snapshot per change), newest first.
    #[serde(default)]
    pub history: Vec<DeviceSnapshot>,
}

/// A device's details as they were from one time on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceSnapshot {
    /// First seen like this (Unix ms).
    pub seen_at: i64,
    /// The details.
    pub details: DeviceDetails,
}

/// A portal session, for the live view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Portal session id.
    pub sid: String,
    /// The device.
    pub dev_id: String,
    /// Where it stands (`waiting`, `choosing`, … `done`).
    pub state: String,
    /// The device's model, once known.
    pub model: Option<String>,
    /// The device's firmware, once known.
    pub fw_v: Option<String>,
    /// The chosen package.
    pub package_id: Option<i64>,
    /// The reported result.
    pub result_code: Option<u16>,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Last change (Unix ms).
    pub updated_at: i64,
}

/// One admin change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When (Unix ms).
    pub at: i64,
    /// Who: `token:<id> (<name>)` or `cli:<user>`.
    pub actor: String,
    /// What, e.g. `package.add`.
    pub action: String,
    /// On what, e.g. a package id.
    pub target: String,
    /// The change's parameters.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// An admin token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdminTokenView {
    /// Token id (the part after `pdm_admin_`).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Revoked (Unix ms), if it was.
    pub revoked_at: Option<i64>,
    /// It may read, and change nothing.
    #[serde(default)]
    pub read_only: bool,
}

/// The key ids the origin trusts and uses (never the keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeysView {
    /// Session token verification keys.
    pub token_keys: Vec<String>,
    /// Download-URL keys; the first signs.
    pub cdn_keys: Vec<String>,
    /// Edge request credential keys.
    pub edge_keys: Vec<String>,
    /// The package signing key, if packages are signed.
    pub package_key: Option<String>,
}

/// What revoking a package did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Revoked {
    /// The package revoked.
    pub id: i64,
    /// Whether the edge dropped its cached copy (`purged`, `not cached`), or why it was not
    /// asked; cached copies elsewhere expire within the edge's cache lifetime.
    pub edge_cache: String,
}

/// A token to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenRequest {
    /// What or who it is for.
    pub name: String,
    /// Only reading (dashboards, support); default false.
    #[serde(default)]
    pub read_only: bool,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewAdminToken {
    /// Token id.
    pub id: String,
    /// The whole bearer token.
    pub token: String,
}

/// A DM account to give a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRequest {
    /// `md5` (default), `hmac` or `basic`.
    #[serde(default = "md5")]
    pub scheme: String,
    /// The client's user name (default: the DevId).
    #[serde(default)]
    pub client_name: Option<String>,
    /// The client's password (default: generated).
    #[serde(default)]
    pub client_password: Option<String>,
    /// Whether the server proves itself to the device (default true).
    #[serde(default = "yes")]
    pub server_auth: bool,
    /// The server's user name (default: the ServerID).
    #[serde(default)]
    pub server_name: Option<String>,
    /// The server's password (default: generated).
    #[serde(default)]
    pub server_password: Option<String>,
}

fn md5() -> String {
    "md5".into()
}

/// An account just set: the device's side, shown once (the origin keeps only keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountIssued {
    /// The device.
    pub dev_id: String,
    /// The `[account.auth]` table for the device's dmclient.toml.
    pub dmclient_toml: String,
}

/// One recorded result, for the results list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResultEntry {
    /// When it was recorded (Unix ms).
    pub recorded_at: i64,
    /// The package delivered, if known.
    pub package_id: Option<i64>,
    /// FUMO result code.
    pub code: u16,
    /// Its meaning.
    pub meaning: String,
    /// The reporting device's model, if known.
    pub model: Option<String>,
}
