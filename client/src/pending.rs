//! Results waiting to be reported, kept on disk so none is lost when the server is away.

use std::path::{Path, PathBuf};

use portaldm_shared::fumo::FumoResult;

use crate::exit::ClientError;

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("pending-results.json")
}

/// The pending results.
pub fn load(state_dir: &Path) -> Result<Vec<FumoResult>, ClientError> {
    match std::fs::read(path(state_dir)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::State(std::io::Error::new(std::io::ErrorKind::InvalidData, e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ClientError::State(e)),
    }
}

/// Replaces the pending results (write then rename, so the file is never half written).
pub fn save(state_dir: &Path, results: &[FumoResult]) -> Result<(), ClientError> {
    std::fs::create_dir_all(state_dir).map_err(ClientError::State)?;
    let tmp = state_dir.join(".pending-results.json.tmp");
    let json = serde_json::to_vec_pretty(results)
        .map_err(|e| ClientError::State(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    std::fs::write(&tmp, json).map_err(ClientError::State)?;
    std::fs::rename(&tmp, path(state_dir)).map_err(ClientError::State)
}
