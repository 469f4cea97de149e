//! Catalog changes, the same for the CLI and the admin API: checked, signed, audited.

use crate::admin::api_types::{BlobInfo, PackageRequest, PackageStatus};
use crate::blobstore::{self, BlobStore};
use crate::clock::now_ms;
use crate::config::Config;
use crate::edge_purge::{self, Purged};
use crate::store::{Changed, NewPackage, Store, StoreError};

/// Longest name, version, model pattern or firmware bound accepted.
const MAX_FIELD: usize = 256;
/// Longest release notes accepted.
const MAX_NOTES: usize = 16 * 1024;

/// Why a catalog change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The request breaks a rule; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// The package's blob was never uploaded.
    #[error("no uploaded blob {0}: upload the package bytes first")]
    NoBlob(String),
    /// No such package (or, to revoke, no published one).
    #[error("no package {0} (or not in a state that allows this)")]
    NoPackage(i64),
    /// The package is not in a state that allows this.
    #[error("{0}")]
    WrongState(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blob store or the signing key failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn check(req: &PackageRequest) -> Result<(), CatalogError> {
    let rules = &req.rules;
    let bad = |m: &str| Err(CatalogError::Invalid(m.to_owned()));
    let field_ok = |s: &str| !s.trim().is_empty() && s.len() <= MAX_FIELD && !s.chars().any(char::is_control);
    if !field_ok(&rules.name) {
        return bad("name must be 1 to 256 printable characters");
    }
    if !field_ok(&rules.version) {
        return bad("version must be 1 to 256 printable characters");
    }
    if rules.models.is_empty() || !rules.models.iter().all(|m| field_ok(m)) {
        return bad("models must list at least one model pattern of 1 to 256 printable characters");
    }
    if ![&rules.base_min, &rules.base_max].iter().all(|b| b.as_deref().is_none_or(field_ok)) {
        return bad("base_min and base_max must be 1 to 256 printable characters when given");
    }
    if rules.notes.len() > MAX_NOTES {
        return bad("notes must be at most 16 KiB");
    }
    if !rules.hw_revisions.iter().all(|h| field_ok(h)) {
        return bad("hw_revisions must be patterns of 1 to 256 printable characters");
    }
    if !rules.delta_from.as_deref().is_none_or(field_ok) {
        return bad("delta_from must be 1 to 256 printable characters when given");
    }
    if rules.delta_from.is_some() && (rules.base_min.is_some() || rules.base_max.is_some()) {
        return bad("a delta (delta_from) applies to one base version: leave base_min and base_max out");
    }
    if rules.rollout_percent > 100 {
        return bad("rollout_percent must be 0 to 100");
    }
    let tag_ok = |t: &str| !t.is_empty() && t.len() <= 35 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if rules.notes_by_lang.len() > 64 || !rules.notes_by_lang.iter().all(|(k, v)| tag_ok(k) && v.len() <= MAX_NOTES) {
        return bad("notes_by_lang must map up to 64 language tags (like de or pt-BR) to notes of at most 16 KiB");
    }
    if rules.countries.len() > 300
        || !rules.countries.iter().all(|c| portaldm_shared::catalog::country_code(c).is_some())
    {
        return bad("countries must be ISO 3166-1 alpha-2 codes, like DE or BR");
    }
    if rules.operators.len() > 256 || !rules.operators.iter().all(|o| field_ok(o)) {
        return bad("operators must be 1 to 256 printable characters each (an edge's PDM_ISSUER)");
    }
    if !blobstore::is_blob_name(&req.blob) {
        return bad("blob must be the SHA-256 (64 lowercase hex digits) of an uploaded package");
    }
    Ok(())
}

/// Adds a package whose bytes are stored already; returns its id.
pub async fn add(
    cfg: &Config,
    blobs: &BlobStore,
    store: &dyn Store,
    req: PackageRequest,
    actor: &str,
) -> Result<i64, CatalogError> {
    check(&req)?;
    let size = blobs
        .stat(&req.blob)
        .await
        .map_err(|e| CatalogError::Internal(e.into()))?
        .ok_or_else(|| CatalogError::NoBlob(req.blob.clone()))?;
    if req.rules.kind == portaldm_shared::catalog::PackageKind::Settings {
        // Checked now, so that a phone never gets a document it cannot apply.
        let bytes = blobs.read_small(&req.blob, portaldm_shared::settings::MAX_BYTES).await.map_err(|e| {
            CatalogError::Invalid(format!("a settings package is a JSON document of at most 64 KiB: {e}"))
        })?;
        portaldm_shared::settings::parse(&bytes).map_err(|e| CatalogError::Invalid(e.to_string()))?;
    }
    let signature = cfg.package_key()?.map(|key| portaldm_shared::pkgsig::sign(&key, &req.blob, size));
    let mut rules = req.rules;
    rules.countries = rules.countries.iter().filter_map(|c| portaldm_shared::catalog::country_code(c)).collect();
    let p = NewPackage { rules, blob: req.blob, size, signature, publish: req.publish };
    Ok(store.add_package(&p, actor, now_ms()).await?)
}

/// Stores `bytes` as a blob and adds the package (the CLI's one step).
pub async fn add_bytes(
    cfg: &Config,
    blobs: &BlobStore,
    store: &dyn Store,
    bytes: &[u8],
    mut req: PackageRequest,
    actor: &str,
) -> Result<(i64, BlobInfo), CatalogError> {
    let blob = upload(blobs, store, bytes, actor).await?;
    req.blob = blob.sha256.clone();
    Ok((add(cfg, blobs, store, req, actor).await?, blob))
}

/// Stores `bytes` as a blob, audited.
pub async fn upload(blobs: &BlobStore, store: &dyn Store, bytes: &[u8], actor: &str) -> Result<BlobInfo, CatalogError> {
    let blob = blobs.put_bytes(bytes).await.map_err(|e| CatalogError::Internal(e.into()))?;
    audited_upload(store, &blob, actor).await?;
    Ok(blob)
}

/// Records an upload in the audit log.
pub async fn audited_upload(store: &dyn Store, blob: &BlobInfo, actor: &str) -> Result<(), CatalogError> {
    let detail = serde_json::json!({ "size": blob.size });
    Ok(store.audit(actor, "blob.upload", &blob.sha256, &detail, now_ms()).await?)
}

/// Revokes a published package and asks the edge to drop its cached copy (the package's own:
/// another package with the same blob keeps its copy and its URLs).
pub async fn revoke(cfg: &Config, store: &dyn Store, id: i64, actor: &str) -> Result<Purged, CatalogError> {
    // From the database, not the origin's catalog copy: a package published by another
    // process a moment ago may already be cached at the edge.
    let blob = store
        .all_packages()
        .await?
        .into_iter()
        .find(|v| v.package.id == id && v.status == PackageStatus::Published)
        .map(|v| v.package.blob);
    if !store.revoke(id, actor, now_ms()).await? {
        return Err(CatalogError::NoPackage(id));
    }
    let Some(blob) = blob else {
        return Ok(Purged::Done("not cached".into()));
    };
    let c = cfg.clone();
    Ok(tokio::task::spawn_blocking(move || edge_purge::purge(&c, id, &blob))
        .await
        .unwrap_or_else(|e| Purged::Failed(e.to_string())))
}

/// Publishes a draft.
pub async fn publish(store: &dyn Store, id: i64, actor: &str) -> Result<(), CatalogError> {
    match store.publish(id, actor, now_ms()).await? {
        Changed::Done => Ok(()),
        Changed::Missing => Err(CatalogError::NoPackage(id)),
        Changed::Refused => Err(CatalogError::WrongState(format!("package {id} is not a draft"))),
    }
}

/// Sets a package's rollout share.
pub async fn set_rollout(store: &dyn Store, id: i64, percent: u8, actor: &str) -> Result<(), CatalogError> {
    if percent > 100 {
        return Err(CatalogError::Invalid("the rollout share must be 0 to 100".into()));
    }
    match store.set_rollout(id, percent, actor, now_ms()).await? {
        Changed::Done => Ok(()),
        Changed::Missing => Err(CatalogError::NoPackage(id)),
        Changed::Refused => Err(CatalogError::WrongState(format!("package {id} is revoked"))),
    }
}

/// The actor the CLI's changes are audited as: `cli:<login>`.
pub fn cli_actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}
