//! Signed CDN download URLs: `/dl/<blob>?p=<package>&d=<device>&e=<expiry>&s=<kid>.<mac>`.
//!
//! `mac` is HMAC-SHA-256 over the path, the package, the device and the expiry, with a key
//! shared by origin and edge and named by `kid` so keys rotate. The edge checks it before any
//! byte leaves; the origin's blob endpoint checks the same URL again. A URL names the package
//! it delivers, not only its bytes: revoking a package stops exactly its URLs, even while
//! another published package has the same blob. `d` is signed but compared with nothing: a
//! download request carries no DevId to compare it with (README, "Security").

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::keys::NamedKey;
use crate::time::UnixMillis;

/// The path prefix of downloads.
pub const PREFIX: &str = "/dl/";
/// Longest query string considered.
const MAX_QUERY_LEN: usize = 1024;
/// Longest device id in a URL.
const MAX_DEVICE_LEN: usize = 256;

/// How the edge keeps blobs in its cache: for how long (so a revoked package stops being
/// served everywhere within that time, at once where it is purged) and up to what size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeCachePolicy {
    /// Seconds a cached blob is served without asking the origin; 0 turns caching off.
    pub ttl_secs: u64,
    /// Largest blob cached, in bytes.
    pub max_bytes: u64,
}

impl Default for EdgeCachePolicy {
    fn default() -> Self {
        // Cloudflare's cache takes objects up to 512 MB on every plan.
        EdgeCachePolicy { ttl_secs: 300, max_bytes: 512 * 1000 * 1000 }
    }
}

impl EdgeCachePolicy {
    /// Whether a blob of `len` bytes (unknown: `None`) goes into the cache.
    pub fn admits(&self, len: Option<u64>) -> bool {
        self.ttl_secs > 0 && len.is_some_and(|l| l <= self.max_bytes)
    }

    /// The `Cache-Control` of the cached copy.
    pub fn cache_control(&self) -> String {
        format!("public, max-age={}", self.ttl_secs)
    }
}

/// The origin of every blob's cache key at the edge. Not the request's: an edge reached under
/// several Host names would keep a copy per name, and a purge (sent to one of them) would drop
/// only its own. `.invalid` (RFC 6761) is never a host anything is fetched from.
pub const CACHE_KEY_ORIGIN: &str = "https://blob-cache.portaldm.invalid";

/// The cache key of a package's blob at the edge, used by the download's put and match and by
/// the origin's purge alike: without device, expiry or Host, so every device's signed URL for
/// the package shares one cached copy. Per package, not per blob: a revoked package's purged
/// copy is never refilled by another package with the same bytes, which its URLs would reach.
pub fn cache_key(package: i64, blob: &str) -> String {
    format!("{CACHE_KEY_ORIGIN}{PREFIX}{package}/{blob}")
}

/// The method of a purge request: the origin asks the edge to drop a revoked package's blob
/// from its cache with `DELETE /dl/<blob>?p=<package>`, carrying the edge credential
/// (`edgeauth`) over that target.
pub const PURGE_METHOD: &str = "DELETE";

/// The target (path and query) of a purge request for `package`'s `blob`.
pub fn purge_target(package: i64, blob: &str) -> String {
    format!("{PREFIX}{blob}?p={package}")
}

/// The package and blob a purge request's path and query name, if they are well-formed (the
/// credential over [`purge_target`] of them is checked after).
pub fn purge_request(path: &str, query: &str) -> Option<(i64, String)> {
    let blob = path.strip_prefix(PREFIX).filter(|b| is_blob_id(b))?;
    let package = query.strip_prefix("p=")?.parse().ok()?;
    Some((package, blob.to_owned()))
}

/// Why a download URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdnError {
    /// The path is not `/dl/<64 hex>`.
    #[error("download path is invalid")]
    BadPath,
    /// `d`, `e` or `s` is missing or malformed.
    #[error("download URL is missing or has malformed parameters")]
    BadQuery,
    /// No key with this id.
    #[error("download URL key is unknown")]
    UnknownKey,
    /// The MAC does not verify.
    #[error("download URL signature is invalid")]
    BadSignature,
    /// Past the expiry.
    #[error("download URL has expired")]
    Expired,
    /// No keys configured.
    #[error("no CDN keys configured")]
    NoKeys,
    /// A URL of the first format, which named only the blob: no longer served, since it
    /// cannot say which package it delivers.
    #[error("download URL is of an older format: start the download again")]
    OldFormat,
}

impl CdnError {
    /// The HTTP status that answers this refusal (edge and origin alike).
    pub fn http_status(&self) -> u16 {
        match self {
            CdnError::BadPath => 404,
            CdnError::BadQuery => 400,
            CdnError::UnknownKey | CdnError::BadSignature => 403,
            CdnError::Expired | CdnError::OldFormat => 410,
            CdnError::NoKeys => 500,
        }
    }
}

/// A verified download: which package's blob, for which device, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDownload {
    /// Blob id: SHA-256 of the content, lower-case hex.
    pub blob: String,
    /// The package delivered (its catalog id).
    pub package: i64,
    /// The device the URL was issued to.
    pub device: String,
    /// Expiry, seconds since the epoch.
    pub expires: u64,
}

/// Whether `blob` is a valid blob id (64 lower-case hex digits).
pub fn is_blob_id(blob: &str) -> bool {
    blob.len() == 64 && blob.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The MAC state over (path, package, device, expiry), ready to finalize or verify.
fn mac(key: &NamedKey, blob: &str, package: i64, device: &str, expires: u64) -> Result<Hmac<Sha256>, CdnError> {
    let mut m = Hmac::<Sha256>::new_from_slice(&key.bytes).map_err(|_| CdnError::NoKeys)?;
    m.update(b"portaldm-cdn-v2\n");
    m.update(PREFIX.as_bytes());
    m.update(blob.as_bytes());
    m.update(b"\n");
    m.update(package.to_string().as_bytes());
    m.update(b"\n");
    m.update(device.as_bytes());
    m.update(b"\n");
    m.update(expires.to_string().as_bytes());
    Ok(m)
}

/// The path and query (`/dl/<blob>?p=…&d=…&e=…&s=…`) of a download URL for `package`'s
/// `blob`, signed with `keys[0]`.
pub fn sign(keys: &[NamedKey], blob: &str, package: i64, device: &str, expires: u64) -> Result<String, CdnError> {
    let key = keys.first().ok_or(CdnError::NoKeys)?;
    if !is_blob_id(blob) {
        return Err(CdnError::BadPath);
    }
    let sig =
        format!("{}.{}", key.kid, B64URL.encode(mac(key, blob, package, device, expires)?.finalize().into_bytes()));
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("p", &package.to_string())
        .append_pair("d", device)
        .append_pair("e", &expires.to_string())
        .append_pair("s", &sig)
        .finish();
    Ok(format!("{PREFIX}{blob}?{query}"))
}

/// Checks the path and query of a download request at `now`.
pub fn verify(keys: &[NamedKey], path: &str, query: &str, now: UnixMillis) -> Result<SignedDownload, CdnError> {
    let blob = path.strip_prefix(PREFIX).ok_or(CdnError::BadPath)?;
    if !is_blob_id(blob) {
        return Err(CdnError::BadPath);
    }
    if query.len() > MAX_QUERY_LEN {
        return Err(CdnError::BadQuery);
    }
    let (mut p, mut d, mut e, mut s) = (None, None, None, None);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "p" => &mut p,
            "d" => &mut d,
            "e" => &mut e,
            "s" => &mut s,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err(CdnError::BadQuery); // a repeated parameter is an attempt to confuse
        }
    }
    let (device, expires, sig) =
        (d.ok_or(CdnError::BadQuery)?, e.ok_or(CdnError::BadQuery)?, s.ok_or(CdnError::BadQuery)?);
    // Everything of a URL but the package: one signed before URLs named it.
    let package: i64 = p.ok_or(CdnError::OldFormat)?.parse().map_err(|_| CdnError::BadQuery)?;
    if device.is_empty() || device.len() > MAX_DEVICE_LEN {
        return Err(CdnError::BadQuery);
    }
    let expires: u64 = expires.parse().map_err(|_| CdnError::BadQuery)?;
    let (kid, mac_b64) = sig.split_once('.').ok_or(CdnError::BadQuery)?;
    let given = B64URL.decode(mac_b64).map_err(|_| CdnError::BadQuery)?;
    let key = keys.iter().find(|k| k.kid == kid).ok_or(CdnError::UnknownKey)?;
    mac(key, blob, package, &device, expires)?.verify_slice(&given).map_err(|_| CdnError::BadSignature)?;
    if now.as_secs() > expires {
        return Err(CdnError::Expired);
    }
    Ok(SignedDownload { blob: blob.to_owned(), package, device, expires })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::TestRng;

    const BLOB: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn keys() -> Vec<NamedKey> {
        vec![NamedKey::generate("c1", &mut TestRng(4)).expect("key")]
    }

    fn split(url: &str) -> (&str, &str) {
        url.split_once('?').expect("has query")
    }

    #[test]
    fn edge_cache_policy() {
        let p = EdgeCachePolicy { ttl_secs: 60, max_bytes: 100 };
        assert!(p.admits(Some(100)) && !p.admits(Some(101)) && !p.admits(None));
        assert!(!EdgeCachePolicy { ttl_secs: 0, ..p }.admits(Some(1)), "a TTL of 0 turns caching off");
        assert_eq!(p.cache_control(), "public, max-age=60");
        assert_eq!(cache_key(7, BLOB), format!("{CACHE_KEY_ORIGIN}/dl/7/{BLOB}"));
        assert_eq!(purge_target(7, BLOB), format!("/dl/{BLOB}?p=7"));
        assert_eq!(purge_request(&format!("/dl/{BLOB}"), "p=7"), Some((7, BLOB.to_owned())));
        assert_eq!(purge_request(&format!("/dl/{BLOB}"), ""), None, "a purge names the package");
        assert_eq!(purge_request("/dl/zz", "p=7"), None);
    }

    #[test]
    fn verifies_what_it_signs() {
        let k = keys();
        let url = sign(&k, BLOB, 7, "IMEI:35 1", 2000).expect("signs");
        let (p, q) = split(&url);
        let ok = verify(&k, p, q, UnixMillis(1_000_000)).expect("verifies");
        assert_eq!((ok.package, ok.device.as_str()), (7, "IMEI:35 1"));
        assert_eq!(verify(&k, p, q, UnixMillis(2_001_000)), Err(CdnError::Expired));
    }

    #[test]
    fn rejects_tampering() {
        let k = keys();
        let url = sign(&k, BLOB, 7, "dev1", 2000).expect("signs");
        let (p, q) = split(&url);
        let now = UnixMillis(1000);
        assert_eq!(verify(&k, p, &q.replace("p=7", "p=8"), now), Err(CdnError::BadSignature), "another package");
        assert_eq!(verify(&k, p, &q.replace("p=7", "p=seven"), now), Err(CdnError::BadQuery));
        assert_eq!(verify(&k, p, &q.replace("p=7&", ""), now), Err(CdnError::OldFormat), "a URL naming no package");
        let other_blob = format!("{PREFIX}{}", "0".repeat(64));
        assert_eq!(verify(&k, &other_blob, q, now), Err(CdnError::BadSignature));
        assert_eq!(verify(&k, p, &q.replace("dev1", "dev2"), now), Err(CdnError::BadSignature));
        assert_eq!(verify(&k, p, &q.replace("e=2000", "e=9000"), now), Err(CdnError::BadSignature));
        assert_eq!(verify(&k, p, &q.replace("s=c1.", "s=c1.A"), now), Err(CdnError::BadSignature));
        assert_eq!(verify(&k, p, &q.replace("s=c1", "s=c9"), now), Err(CdnError::UnknownKey));
        assert_eq!(verify(&k, "/dl/../etc", q, now), Err(CdnError::BadPath));
        assert_eq!(verify(&k, p, "d=x", now), Err(CdnError::BadQuery));
        assert_eq!(verify(&k, p, &format!("{q}&d=dev2"), now), Err(CdnError::BadQuery));
    }

    #[test]
    fn a_rotated_key_still_verifies() {
        let old = keys();
        let url = sign(&old, BLOB, 7, "dev1", 2000).expect("signs");
        let mut rotated = vec![NamedKey::generate("c2", &mut TestRng(8)).expect("key")];
        rotated.extend(old);
        let (p, q) = split(&url);
        assert!(verify(&rotated, p, q, UnixMillis(1000)).is_ok());
    }
}
