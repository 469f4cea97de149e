//! Asking the edge to drop a revoked package's blob from its cache (`DELETE /dl/<blob>?p=<id>`
//! with the edge credential), so that a revoked package's download URLs stop working at once there. The edge
//! cache keeps a blob at most `PDM_BLOB_CACHE_SECS` anyway, so a purge that fails only delays.

use std::time::Duration;

use portaldm_shared::{cdn, edgeauth};

use crate::clock::now;
use crate::config::Config;

/// What became of a purge.
#[derive(Debug, PartialEq, Eq)]
pub enum Purged {
    /// The edge answered (its text: `purged` or `not cached`).
    Done(String),
    /// The edge could not be asked; why.
    Failed(String),
}

/// Purges package `package`'s `blob` at the configured edge (`public_url`). Blocking: call it
/// off the runtime.
pub fn purge(cfg: &Config, package: i64, blob: &str) -> Purged {
    let keys = match cfg.edge_key_list() {
        Ok(k) => k,
        Err(e) => return Purged::Failed(e.to_string()),
    };
    let target = cdn::purge_target(package, blob);
    let cred = match edgeauth::sign(&keys, cdn::PURGE_METHOD, &target, now()) {
        Ok(c) => c,
        Err(e) => return Purged::Failed(e.to_string()),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{target}", cfg.public_url.trim_end_matches('/'));
    match agent.delete(&url).header(edgeauth::HEADER, &cred).call() {
        Ok(mut r) if r.status() == 200 => {
            Purged::Done(r.body_mut().read_to_string().unwrap_or_default().trim().to_owned())
        }
        Ok(r) => Purged::Failed(format!("the edge answered {}", r.status())),
        Err(e) => Purged::Failed(e.to_string()),
    }
}
