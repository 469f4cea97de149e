//! Downloads a package to disk while hashing it, and checks SHA-256 and size.

use std::io::{Read as _, Write as _};
use std::path::Path;

use portaldm_shared::fumo::{FumoDelivery, ResultCode};
use sha2::{Digest as _, Sha256};

/// Streams `d.url` into `dest`; the FUMO result code on failure.
pub fn fetch(agent: &ureq::Agent, d: &FumoDelivery, dest: &Path) -> Result<(), ResultCode> {
    if !(d.url.starts_with("https://") || d.url.starts_with("http://")) {
        return Err(ResultCode::VALIDATION_FAILED);
    }
    let resp = agent.get(&d.url).call().map_err(|_| ResultCode::DOWNLOAD_SERVER_UNAVAILABLE)?;
    if !resp.status().is_success() {
        return Err(ResultCode::DOWNLOAD_SERVER_UNAVAILABLE);
    }
    let mut reader = resp.into_body().into_reader();
    let mut file = std::fs::File::create(dest).map_err(|_| ResultCode::UPDATE_FAILED)?;
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|_| ResultCode::DOWNLOAD_TIMEOUT)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > d.size {
            return Err(ResultCode::CORRUPTED); // more than announced: stop reading
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|_| ResultCode::UPDATE_FAILED)?;
    }
    file.sync_all().map_err(|_| ResultCode::UPDATE_FAILED)?;
    if total != d.size || !hex::encode(hasher.finalize()).eq_ignore_ascii_case(&d.sha256) {
        return Err(ResultCode::CORRUPTED);
    }
    Ok(())
}
