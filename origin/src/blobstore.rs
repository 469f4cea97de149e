//! Package blobs, each named by the SHA-256 of its bytes, in a folder (the default) or any
//! S3-compatible bucket (R2 in production), through `object_store`.
//!
//! An upload is streamed to a temporary object while it is hashed, then renamed to its hash:
//! a blob is either whole under its name or absent, and the same bytes are stored once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt as _, TryStreamExt as _};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt as _};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use crate::admin::api_types::BlobInfo;
use crate::config::Config;

/// Why a blob could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The name is not a SHA-256 (never a path).
    #[error("not a blob name")]
    NotABlobName,
    /// No blob by this name.
    #[error("no such blob")]
    NotFound,
    /// Larger than the caller takes whole.
    #[error("blob over {0} bytes")]
    TooLarge(usize),
    /// The folder or bucket failed.
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
    /// The folder failed.
    #[error("blob store: {0}")]
    Io(#[from] std::io::Error),
}

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
    /// The folder or bucket failed.
    #[error("storing the blob: {0}")]
    Io(#[from] std::io::Error),
    /// The folder or bucket failed.
    #[error("storing the blob: {0}")]
    Store(#[from] object_store::Error),
}

/// Whether `name` can be a blob's name (64 lowercase hex digits): never a path.
pub fn is_blob_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where the blobs are.
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The folder, when the store is one: its bytes are streamed straight from the file
    /// (`object_store` reads local files in 8 KiB pieces, a blocking-pool trip each).
    folder: Option<PathBuf>,
    /// What the store is, for logs.
    label: String,
}

impl BlobStore {
    /// The store the configuration names: `blob_s3_bucket` if set, else the folder `blob_dir`.
    pub fn from_config(cfg: &Config) -> anyhow::Result<Self> {
        match &cfg.blob_s3_bucket {
            Some(bucket) => Self::s3(cfg, bucket),
            None => Ok(Self::folder(&cfg.blob_dir)?),
        }
    }

    /// Blobs as files in `dir` (created if missing).
    pub fn folder(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let fs = LocalFileSystem::new_with_prefix(dir).map_err(std::io::Error::other)?;
        Ok(BlobStore { store: Arc::new(fs), folder: Some(dir.to_owned()), label: format!("folder {}", dir.display()) })
    }

    /// Blobs in an S3-compatible bucket.
    fn s3(cfg: &Config, bucket: &str) -> anyhow::Result<Self> {
        let endpoint = cfg.blob_s3_endpoint.as_deref();
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            // R2 takes any region name and documents `auto`.
            .with_region(cfg.blob_s3_region.as_deref().unwrap_or("auto"))
            .with_virtual_hosted_style_request(false)
            .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")));
        if let Some(e) = endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(k) = &cfg.blob_s3_access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &cfg.blob_s3_secret_access_key {
            b = b.with_secret_access_key(&k.0);
        }
        // TLS for the bucket: rustls with ring, chosen once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = b.build()?;
        let label = format!("bucket {bucket} at {}", endpoint.unwrap_or("AWS S3"));
        Ok(BlobStore { store: Arc::new(store), folder: None, label })
    }

    /// What the store is, for logs.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn location(sha256: &str) -> Result<ObjectPath, BlobError> {
        if !is_blob_name(sha256) {
            return Err(BlobError::NotABlobName);
        }
        Ok(ObjectPath::from(sha256))
    }

    /// The size of a stored blob, if there is one.
    pub async fn stat(&self, sha256: &str) -> Result<Option<u64>, BlobError> {
        let Ok(at) = Self::location(sha256) else { return Ok(None) };
        match self.store.head(&at).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a stored blob of at most `max` bytes whole (a settings document, an inline package).
    pub async fn read_small(&self, sha256: &str, max: usize) -> Result<Vec<u8>, BlobError> {
        let at = Self::location(sha256)?;
        let len = self.stat(sha256).await?.ok_or(BlobError::NotFound)?;
        if len > max as u64 {
            return Err(BlobError::TooLarge(max));
        }
        Ok(self.store.get(&at).await?.bytes().await?.to_vec())
    }

    /// `len` bytes of a blob from `start`, as a stream (`len` > 0, within the blob).
    pub async fn stream(
        &self,
        sha256: &str,
        start: u64,
        len: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let at = Self::location(sha256)?;
        if let Some(dir) = &self.folder {
            let mut file = tokio::fs::File::open(dir.join(sha256)).await.map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => BlobError::NotFound,
                _ => e.into(),
            })?;
            file.seek(std::io::SeekFrom::Start(start)).await?;
            // 64 KiB reads: tokio reads files on its blocking pool, one round trip per read.
            let s = tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024);
            return Ok(s.map_err(BlobError::from).boxed());
        }
        let opts = GetOptions { range: Some(GetRange::Bounded(start..start + len)), ..GetOptions::default() };
        let got = self.store.get_opts(&at, opts).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => BlobError::NotFound,
            e => e.into(),
        })?;
        Ok(got.into_stream().map_err(BlobError::from).boxed())
    }

    /// Stores a stream of chunks of at most `max` bytes in all.
    pub async fn put_stream<S, E>(&self, mut body: S, max: u64) -> Result<BlobInfo, PutError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp = ObjectPath::from(format!("uploads/{}", hex::encode(random_suffix())));
        let mut writer = BufWriter::new(self.store.clone(), tmp.clone());
        let written = async {
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| PutError::Body(e.to_string()))?;
                size += chunk.len() as u64;
                if size > max {
                    return Err(PutError::TooLarge(max));
                }
                hasher.update(&chunk);
                writer.write_all(&chunk).await?;
            }
            if size == 0 {
                return Err(PutError::Empty);
            }
            writer.shutdown().await?;
            Ok(BlobInfo { sha256: hex::encode(hasher.finalize()), size })
        }
        .await;
        let info = match written {
            Ok(info) => info,
            Err(e) => {
                // The partial object is of no use to anyone.
                let _ = writer.abort().await;
                let _ = self.store.delete(&tmp).await;
                return Err(e);
            }
        };
        let at = ObjectPath::from(info.sha256.as_str());
        match self.store.head(&at).await {
            // The same bytes are there already.
            Ok(_) => self.store.delete(&tmp).await?,
            Err(object_store::Error::NotFound { .. }) => self.store.rename(&tmp, &at).await?,
            Err(e) => {
                let _ = self.store.delete(&tmp).await;
                return Err(e.into());
            }
        }
        Ok(info)
    }

    /// Stores `bytes` (the CLI's path: the file is read whole).
    pub async fn put_bytes(&self, bytes: &[u8]) -> Result<BlobInfo, PutError> {
        let chunks = futures_util::stream::iter(
            bytes.chunks(1 << 20).map(|c| Ok::<_, std::convert::Infallible>(Bytes::copy_from_slice(c))),
        );
        self.put_stream(chunks, u64::MAX).await
    }
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

    fn files(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).expect("lists").flatten() {
            if e.path().is_dir() {
                out.extend(files(&e.path()));
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        out
    }

    #[tokio::test]
    async fn a_blob_is_named_by_its_hash_and_stored_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::folder(dir.path()).expect("folder");
        let a = blobs.put_bytes(b"firmware").await.expect("stores");
        assert_eq!(a.sha256, hex::encode(Sha256::digest(b"firmware")));
        assert_eq!(a.size, 8);
        let again = blobs.put_bytes(b"firmware").await.expect("stores again");
        assert_eq!(again, a);
        assert_eq!(blobs.stat(&a.sha256).await.expect("stat"), Some(8));
        assert_eq!(files(dir.path()), vec![a.sha256.clone()], "no temporary files left");
        assert_eq!(blobs.read_small(&a.sha256, 8).await.expect("reads"), b"firmware");
        assert!(matches!(blobs.read_small(&a.sha256, 7).await, Err(BlobError::TooLarge(7))));
        let part: Vec<Bytes> =
            blobs.stream(&a.sha256, 4, 3).await.expect("streams").try_collect().await.expect("bytes");
        assert_eq!(part.concat(), b"war");
    }

    #[tokio::test]
    async fn an_oversized_or_empty_upload_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::folder(dir.path()).expect("folder");
        let chunks = futures_util::stream::iter(
            (0..4).map(|_| Ok::<_, std::convert::Infallible>(Bytes::from_static(&[7u8; 1000]))),
        );
        assert!(matches!(blobs.put_stream(chunks, 3500).await, Err(PutError::TooLarge(3500))));
        assert!(matches!(blobs.put_bytes(b"").await, Err(PutError::Empty)));
        assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
    }

    #[tokio::test]
    async fn only_hashes_are_blob_names() {
        assert!(is_blob_name(&"a".repeat(64)));
        assert!(!is_blob_name("../../etc/passwd"));
        assert!(!is_blob_name(&"A".repeat(64)));
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = BlobStore::folder(dir.path()).expect("folder");
        assert_eq!(blobs.stat("..").await.expect("stat"), None);
        assert!(matches!(blobs.read_small("../x", 10).await, Err(BlobError::NotABlobName)));
        assert!(matches!(blobs.stream(&"a".repeat(64), 0, 1).await, Err(BlobError::NotFound)));
    }
}
