//! Catalog changes, the same for the CLI and the admin API: checked, signed, audited.

use portaldm_shared::admin::api::{BlobInfo, PackageRequest};

use crate::blobstore;
use crate::clock::now_ms;
use crate::config::Config;
use crate::edge_purge::{self, Purged};
use crate::store::{NewPackage, Store, StoreError};

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
    /// No such published package.
    #[error("no published package {0}")]
    NoPackage(i64),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blob store or the signing key failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn check(req: &PackageRequest) -> Result<(), CatalogError> {
    let bad = |m: &str| Err(CatalogError::Invalid(m.to_owned()));
    let field_ok = |s: &str| !s.trim().is_empty() && s.len() <= MAX_FIELD && !s.chars().any(char::is_control);
    if !field_ok(&req.name) {
        return bad("name must be 1 to 256 printable characters");
    }
    if !field_ok(&req.version) {
        return bad("version must be 1 to 256 printable characters");
    }
    if req.models.is_empty() || !req.models.iter().all(|m| field_ok(m)) {
        return bad("models must list at least one model pattern of 1 to 256 printable characters");
    }
    if ![&req.base_min, &req.base_max].iter().all(|b| b.as_deref().is_none_or(field_ok)) {
        return bad("base_min and base_max must be 1 to 256 printable characters when given");
    }
    if req.notes.len() > MAX_NOTES {
        return bad("notes must be at most 16 KiB");
    }
    if !blobstore::is_blob_name(&req.blob) {
        return bad("blob must be the SHA-256 (64 lowercase hex digits) of an uploaded package");
    }
    Ok(())
}

/// Adds a package whose bytes are stored already; returns its id.
pub async fn add(cfg: &Config, store: &dyn Store, req: PackageRequest, actor: &str) -> Result<i64, CatalogError> {
    check(&req)?;
    let size = blobstore::stat(&cfg.blob_dir, &req.blob)
        .await
        .map_err(|e| CatalogError::Internal(e.into()))?
        .ok_or_else(|| CatalogError::NoBlob(req.blob.clone()))?;
    let signature = cfg.package_key()?.map(|key| portaldm_shared::pkgsig::sign(&key, &req.blob, size));
    let p = NewPackage {
        name: req.name,
        version: req.version,
        models: req.models,
        base_min: req.base_min,
        base_max: req.base_max,
        blob: req.blob,
        size,
        notes: req.notes,
        signature,
    };
    Ok(store.add_package(&p, actor, now_ms()).await?)
}

/// Stores `bytes` as a blob and adds the package (the CLI's one step).
pub async fn add_bytes(
    cfg: &Config,
    store: &dyn Store,
    bytes: &[u8],
    mut req: PackageRequest,
    actor: &str,
) -> Result<(i64, BlobInfo), CatalogError> {
    let blob = upload(cfg, store, bytes, actor).await?;
    req.blob = blob.sha256.clone();
    Ok((add(cfg, store, req, actor).await?, blob))
}

/// Stores `bytes` as a blob, audited.
pub async fn upload(cfg: &Config, store: &dyn Store, bytes: &[u8], actor: &str) -> Result<BlobInfo, CatalogError> {
    let blob = blobstore::put_bytes(&cfg.blob_dir, bytes).await.map_err(|e| CatalogError::Internal(e.into()))?;
    audited_upload(store, &blob, actor).await?;
    Ok(blob)
}

/// Records an upload in the audit log.
pub async fn audited_upload(store: &dyn Store, blob: &BlobInfo, actor: &str) -> Result<(), CatalogError> {
    let detail = serde_json::json!({ "size": blob.size });
    Ok(store.audit(actor, "blob.upload", &blob.sha256, &detail, now_ms()).await?)
}

/// Revokes a published package and asks the edge to drop its cached copy.
pub async fn revoke(cfg: &Config, store: &dyn Store, id: i64, actor: &str) -> Result<Purged, CatalogError> {
    let blob = store.packages().await?.into_iter().find(|p| p.id == id).map(|p| p.blob);
    if !store.revoke(id, actor, now_ms()).await? {
        return Err(CatalogError::NoPackage(id));
    }
    let Some(blob) = blob else {
        return Ok(Purged::Done("not cached".into()));
    };
    let c = cfg.clone();
    Ok(tokio::task::spawn_blocking(move || edge_purge::purge(&c, &blob))
        .await
        .unwrap_or_else(|e| Purged::Failed(e.to_string())))
}

/// The actor the CLI's changes are audited as: `cli:<login>`.
pub fn cli_actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}
