//! The state every handler shares: configuration, store, keys, wake-ups, blobs and limits.
//! Apart from the router (`app`) so that handlers depend on it alone.

use std::ops::Deref;
use std::sync::Arc;

use portaldm_shared::keys::NamedKey;
use portaldm_shared::token::TokenVerifier;

use crate::blobstore::BlobStore;
use crate::config::Config;
use crate::store::Store;

/// Shared by all handlers: one allocation, so that a copy (each request's, and each held
/// message's for minutes) is one pointer.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    /// Configuration.
    pub cfg: Arc<Config>,
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// Session token verification.
    pub verifier: Arc<TokenVerifier>,
    /// CDN URL keys.
    pub cdn_keys: Arc<Vec<NamedKey>>,
    /// Keys of the edge's request credential.
    pub edge_keys: Arc<Vec<NamedKey>>,
    /// The held DM messages of this process, woken by their portal session's id.
    pub wake: Arc<crate::wake::Registry>,
    /// Package blobs.
    pub blobs: BlobStore,
    /// Limits on DM messages that prove no account.
    pub unauth: Arc<crate::unauth_limit::UnauthLimit>,
}

impl AppState {
    /// Builds the state from configuration and a store.
    pub fn new(cfg: Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let verifier = TokenVerifier::new(&cfg.token_keys()?, &cfg.audience, &cfg.server_id);
        let cdn_keys = cfg.cdn_key_list()?;
        let edge_keys = cfg.edge_key_list()?;
        let blobs = BlobStore::from_config(&cfg)?;
        let unauth = crate::unauth_limit::UnauthLimit::new(
            cfg.dm_unauth_per_minute_per_address,
            cfg.dm_unauth_per_minute_per_device,
        );
        Ok(AppState(Arc::new(Shared {
            unauth: Arc::new(unauth),
            cfg: Arc::new(cfg),
            store,
            verifier: Arc::new(verifier),
            cdn_keys: Arc::new(cdn_keys),
            edge_keys: Arc::new(edge_keys),
            wake: crate::wake::Registry::new(),
            blobs,
        })))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
