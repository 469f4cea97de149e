//! The edge's credential on every request it makes to the origin, so the origin can refuse
//! traffic that did not come through the edge: header `x-portaldm-edge: <kid>.<secs>.<mac>`,
//! `mac` = HMAC-SHA-256 over the method, path and query, and time, with a key shared by edge
//! and origin (named by `kid`, so keys rotate). Bodies are not covered: they stream.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::keys::NamedKey;
use crate::time::UnixMillis;

/// The header's name.
pub const HEADER: &str = "x-portaldm-edge";
/// The handset's address as the edge saw it, on requests the edge forwards (any value a
/// client sent under this name is replaced).
pub const CLIENT_HEADER: &str = "x-forwarded-for";
/// The edge location that forwarded a request.
pub const COLO_HEADER: &str = "x-portaldm-colo";
/// The headers the edge sets on every request it forwards (whatever a client sent under
/// these names is replaced): a request that carries one came through the edge, or claims to,
/// and may reach only the routes the edge serves, never the origin's own (admin API, console,
/// metrics, readiness).
pub const FORWARDING_HEADERS: [&str; 2] = [HEADER, COLO_HEADER];

/// Whether a request whose headers `has` came through the edge (or claims to).
pub fn came_through_edge(has: impl Fn(&str) -> bool) -> bool {
    FORWARDING_HEADERS.iter().any(|h| has(h))
}

/// How far the edge's clock and the origin's may disagree, in seconds.
pub const MAX_SKEW_SECS: u64 = 120;
/// Largest request head (path, query and headers) the edge forwards; the origin reads heads
/// of up to 8 KiB (its HTTP read buffer is kept at that), and the edge adds its own headers.
pub const MAX_FORWARDED_HEAD_BYTES: usize = 6 * 1024;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeAuthError {
    /// No header.
    #[error("request did not come through the edge")]
    Missing,
    /// Not `kid.secs.mac`.
    #[error("edge credential is malformed")]
    Malformed,
    /// No key with this id.
    #[error("edge credential key is unknown")]
    UnknownKey,
    /// Too old or from the future.
    #[error("edge credential is outside the time window")]
    Stale,
    /// The MAC does not verify.
    #[error("edge credential is invalid")]
    BadMac,
    /// No keys configured.
    #[error("no edge keys configured")]
    NoKeys,
}

fn mac(key: &NamedKey, method: &str, target: &str, secs: u64) -> Result<Hmac<Sha256>, EdgeAuthError> {
    let mut m = Hmac::<Sha256>::new_from_slice(&key.bytes).map_err(|_| EdgeAuthError::NoKeys)?;
    m.update(b"portaldm-edge-v1\n");
    m.update(method.to_ascii_uppercase().as_bytes());
    m.update(b"\n");
    m.update(target.as_bytes());
    m.update(b"\n");
    m.update(secs.to_string().as_bytes());
    Ok(m)
}

/// The header value for a request of `method` to `target` (path and query), signed with `keys[0]`.
pub fn sign(keys: &[NamedKey], method: &str, target: &str, now: UnixMillis) -> Result<String, EdgeAuthError> {
    let key = keys.first().ok_or(EdgeAuthError::NoKeys)?;
    let secs = now.as_secs();
    let tag = mac(key, method, target, secs)?.finalize().into_bytes();
    Ok(format!("{}.{secs}.{}", key.kid, B64URL.encode(tag)))
}

/// Checks a header value (absent: `None`) for `method` and `target` at `now`.
pub fn verify(
    keys: &[NamedKey],
    header: Option<&str>,
    method: &str,
    target: &str,
    now: UnixMillis,
) -> Result<(), EdgeAuthError> {
    let value = header.ok_or(EdgeAuthError::Missing)?;
    let mut parts = value.splitn(3, '.');
    let (Some(kid), Some(secs), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(EdgeAuthError::Malformed);
    };
    let secs: u64 = secs.parse().map_err(|_| EdgeAuthError::Malformed)?;
    let tag = B64URL.decode(tag).map_err(|_| EdgeAuthError::Malformed)?;
    let key = keys.iter().find(|k| k.kid == kid).ok_or(EdgeAuthError::UnknownKey)?;
    mac(key, method, target, secs)?.verify_slice(&tag).map_err(|_| EdgeAuthError::BadMac)?;
    if now.as_secs().abs_diff(secs) > MAX_SKEW_SECS {
        return Err(EdgeAuthError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::TestRng;

    #[test]
    fn verifies_its_own_and_refuses_the_rest() {
        let keys = vec![NamedKey::generate("e1", &mut TestRng(3)).expect("key")];
        let now = UnixMillis(1_700_000_000_000);
        let h = sign(&keys, "POST", "/dm", now).expect("signs");
        assert_eq!(verify(&keys, Some(&h), "post", "/dm", now.plus_secs(30)), Ok(()));
        assert_eq!(verify(&keys, None, "POST", "/dm", now), Err(EdgeAuthError::Missing));
        assert_eq!(verify(&keys, Some(&h), "GET", "/dm", now), Err(EdgeAuthError::BadMac));
        assert_eq!(verify(&keys, Some(&h), "POST", "/dm?x", now), Err(EdgeAuthError::BadMac));
        assert_eq!(verify(&keys, Some(&h), "POST", "/dm", now.plus_secs(600)), Err(EdgeAuthError::Stale));
        assert_eq!(verify(&keys, Some("e9.1.AAAA"), "POST", "/dm", now), Err(EdgeAuthError::UnknownKey));
        assert_eq!(verify(&keys, Some("garbage"), "POST", "/dm", now), Err(EdgeAuthError::Malformed));
        let other = vec![NamedKey::generate("e1", &mut TestRng(4)).expect("key")];
        assert_eq!(verify(&other, Some(&h), "POST", "/dm", now), Err(EdgeAuthError::BadMac));
    }
}
