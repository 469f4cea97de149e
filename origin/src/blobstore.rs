//! Package blobs in a folder, each named by the SHA-256 of its bytes.
//!
//! A blob is written to a temporary file, hashed as it goes, synced, then renamed to its
//! hash: it is either whole under its name or absent, and the same bytes are stored once.

use std::path::{Path, PathBuf};

use futures_util::{Stream, StreamExt as _};
use portaldm_shared::admin::api::BlobInfo;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

/// Why a blob was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// More bytes than allowed arrived.
    #[error("the package is larger than the {0}-byte limit")]
    TooLarge(u64),
    /// Nothing arrived.
    #[error("the package is empty")]
    Empty,
    /// The upload broke off.
    #[error("the upload broke off: {0}")]
    Body(String),
    /// The disk failed.
    #[error("storing the blob: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `name` can be a blob's name (64 lowercase hex digits): never a path.
pub fn is_blob_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where blob `sha256` lives (only for names that pass [`is_blob_name`]).
pub fn path(dir: &Path, sha256: &str) -> Option<PathBuf> {
    is_blob_name(sha256).then(|| dir.join(sha256))
}

/// The size of a stored blob, if there is one.
pub async fn stat(dir: &Path, sha256: &str) -> std::io::Result<Option<u64>> {
    let Some(p) = path(dir, sha256) else { return Ok(None) };
    match tokio::fs::metadata(p).await {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a stored blob of at most `max` bytes whole (a settings document).
pub async fn read_small(dir: &Path, sha256: &str, max: usize) -> std::io::Result<Vec<u8>> {
    let p =
        path(dir, sha256).ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a blob name"))?;
    let len = tokio::fs::metadata(&p).await?.len();
    if len > max as u64 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("blob over {max} bytes")));
    }
    tokio::fs::read(p).await
}

/// Stores a stream of chunks of at most `max` bytes in all.
pub async fn put_stream<S, E>(dir: &Path, mut body: S, max: u64) -> Result<BlobInfo, PutError>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    tokio::fs::create_dir_all(dir).await?;
    let tmp = dir.join(format!(".upload-{}.tmp", hex::encode(random_suffix())));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| PutError::Body(e.to_string()))?;
            size += chunk.len() as u64;
            if size > max {
                return Err(PutError::TooLarge(max));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        if size == 0 {
            return Err(PutError::Empty);
        }
        file.sync_all().await?;
        Ok(BlobInfo { sha256: hex::encode(hasher.finalize()), size })
    }
    .await;
    match result {
        Ok(info) => {
            tokio::fs::rename(&tmp, dir.join(&info.sha256)).await?;
            Ok(info)
        }
        Err(e) => {
            // The partial file is of no use to anyone.
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}

/// Stores `bytes` (the CLI's path: the file is read whole).
pub async fn put_bytes(dir: &Path, bytes: &[u8]) -> Result<BlobInfo, PutError> {
    let chunks = futures_util::stream::iter(
        bytes.chunks(1 << 20).map(|c| Ok::<_, std::convert::Infallible>(bytes::Bytes::copy_from_slice(c))),
    );
    put_stream(dir, chunks, u64::MAX).await
}

fn random_suffix() -> [u8; 8] {
    let mut b = [0u8; 8];
    // A name clash only fails this one upload; no need to fail on a broken RNG.
    let _ = getrandom::fill(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_blob_is_named_by_its_hash_and_stored_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = put_bytes(dir.path(), b"firmware").await.expect("stores");
        assert_eq!(a.sha256, hex::encode(Sha256::digest(b"firmware")));
        assert_eq!(a.size, 8);
        let again = put_bytes(dir.path(), b"firmware").await.expect("stores again");
        assert_eq!(again, a);
        assert_eq!(stat(dir.path(), &a.sha256).await.expect("stat"), Some(8));
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("lists").collect();
        assert_eq!(names.len(), 1, "no temporary files left");
    }

    #[tokio::test]
    async fn an_oversized_or_empty_upload_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chunks = futures_util::stream::iter(
            (0..4).map(|_| Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(&[7u8; 1000]))),
        );
        assert!(matches!(put_stream(dir.path(), chunks, 3500).await, Err(PutError::TooLarge(3500))));
        assert!(matches!(put_bytes(dir.path(), b"").await, Err(PutError::Empty)));
        assert_eq!(std::fs::read_dir(dir.path()).expect("lists").count(), 0);
    }

    #[test]
    fn only_hashes_are_blob_names() {
        assert!(is_blob_name(&"a".repeat(64)));
        assert!(!is_blob_name("../../etc/passwd"));
        assert!(!is_blob_name(&"A".repeat(64)));
        assert!(path(Path::new("/b"), "..").is_none());
    }
}
