//! Device profile changes, the same for the admin API, the CLI and the console: checked
//! against the origin's own limits (`shared::profile`), then stored and audited.

use portaldm_shared::profile::{DeviceProfile, ProfileError};

use crate::clock::now_ms;
use crate::config::Config;
use crate::error::AppError;
use crate::store::{Store, StoreError};

/// Why a profile change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileChangeError {
    /// The profile breaks a rule; the message says which.
    #[error(transparent)]
    Invalid(#[from] ProfileError),
    /// No profile of this id.
    #[error("no device profile {0}")]
    Missing(i64),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ProfileChangeError> for AppError {
    fn from(e: ProfileChangeError) -> Self {
        match e {
            ProfileChangeError::Invalid(_) => AppError::BadRequest(e.to_string()),
            ProfileChangeError::Missing(_) => AppError::NotFound("no such device profile"),
            ProfileChangeError::Store(e) => AppError::Store(e),
        }
    }
}

/// Adds a profile; returns it as stored.
pub async fn add(
    cfg: &Config,
    store: &dyn Store,
    p: DeviceProfile,
    actor: &str,
) -> Result<DeviceProfile, ProfileChangeError> {
    let p = p.checked(cfg.hold_secs)?;
    let id = store.add_profile(&p, actor, now_ms()).await?;
    Ok(DeviceProfile { id, ..p })
}

/// Replaces profile `id` with `p`; returns it as stored.
pub async fn update(
    cfg: &Config,
    store: &dyn Store,
    id: i64,
    p: DeviceProfile,
    actor: &str,
) -> Result<DeviceProfile, ProfileChangeError> {
    let p = DeviceProfile { id, ..p.checked(cfg.hold_secs)? };
    if !store.update_profile(&p, actor, now_ms()).await? {
        return Err(ProfileChangeError::Missing(id));
    }
    Ok(p)
}

/// Deletes profile `id`.
pub async fn remove(store: &dyn Store, id: i64, actor: &str) -> Result<(), ProfileChangeError> {
    if !store.delete_profile(id, actor, now_ms()).await? {
        return Err(ProfileChangeError::Missing(id));
    }
    Ok(())
}
