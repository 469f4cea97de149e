//! Key material formats: Ed25519 token keys and HMAC CDN keys, each named by a key id.
//!
//! Keys travel as text (config files, Worker secrets, environment variables):
//! `kid:base64url` entries separated by commas. An Ed25519 private key is its 32-byte
//! seed, a public key its 32-byte point (JWK `x`), an HMAC key 32 random bytes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ed25519_dalek::SigningKey;

use crate::rand::{SecureRandom, bytes};

/// Longest key id accepted.
pub const MAX_KID_LEN: usize = 64;

/// Why a key string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not `kid:base64url`.
    #[error("key entry must be `kid:base64url`")]
    Syntax,
    /// The key id is empty, too long or has characters other than `[A-Za-z0-9_-]`.
    #[error("key id must be 1..=64 characters of [A-Za-z0-9_-]")]
    BadKid,
    /// The key bytes are not base64url or not 32 bytes long.
    #[error("key material must be 32 bytes in base64url")]
    BadMaterial,
    /// The random source failed.
    #[error(transparent)]
    Random(#[from] crate::rand::RandomUnavailable),
    /// No keys were given.
    #[error("no keys given")]
    Empty,
}

/// A named 32-byte key.
#[derive(Clone, PartialEq, Eq)]
pub struct NamedKey {
    /// The key id.
    pub kid: String,
    /// The key bytes.
    pub bytes: [u8; 32],
}

impl std::fmt::Debug for NamedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key bytes: they may be secrets.
        f.debug_struct("NamedKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl NamedKey {
    /// Parses one `kid:base64url` entry.
    pub fn parse(entry: &str) -> Result<Self, KeyError> {
        let (kid, material) = entry.trim().split_once(':').ok_or(KeyError::Syntax)?;
        check_kid(kid)?;
        let raw = B64URL.decode(material.trim()).map_err(|_| KeyError::BadMaterial)?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| KeyError::BadMaterial)?;
        Ok(NamedKey { kid: kid.to_owned(), bytes })
    }

    /// The `kid:base64url` form.
    pub fn to_entry(&self) -> String {
        format!("{}:{}", self.kid, B64URL.encode(self.bytes))
    }

    /// A fresh random key.
    pub fn generate(kid: &str, rng: &mut dyn SecureRandom) -> Result<Self, KeyError> {
        check_kid(kid)?;
        Ok(NamedKey { kid: kid.to_owned(), bytes: bytes::<32>(rng)? })
    }

    /// For an Ed25519 seed: the matching public key, under the same key id.
    pub fn ed25519_public(&self) -> NamedKey {
        NamedKey { kid: self.kid.clone(), bytes: SigningKey::from_bytes(&self.bytes).verifying_key().to_bytes() }
    }
}

/// Parses a comma-separated list of `kid:base64url` entries; the first is the current one.
pub fn parse_key_list(list: &str) -> Result<Vec<NamedKey>, KeyError> {
    let keys = list.split(',').filter(|e| !e.trim().is_empty()).map(NamedKey::parse).collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(KeyError::Empty);
    }
    Ok(keys)
}

/// Formats keys as the list [`parse_key_list`] reads.
pub fn format_key_list(keys: &[NamedKey]) -> String {
    keys.iter().map(NamedKey::to_entry).collect::<Vec<_>>().join(",")
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(KeyError::BadKid) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::TestRng;

    #[test]
    fn round_trips_key_lists() {
        let mut rng = TestRng(7);
        let a = NamedKey::generate("k1", &mut rng).expect("key");
        let b = NamedKey::generate("k2", &mut rng).expect("key");
        let list = format_key_list(&[a.clone(), b.clone()]);
        assert_eq!(parse_key_list(&list).expect("parses"), vec![a, b]);
    }

    #[test]
    fn rejects_bad_entries() {
        assert_eq!(NamedKey::parse("nokid"), Err(KeyError::Syntax));
        assert_eq!(NamedKey::parse("bad kid:AAAA"), Err(KeyError::BadKid));
        assert_eq!(NamedKey::parse("k:AAAA"), Err(KeyError::BadMaterial));
        assert_eq!(parse_key_list(" , "), Err(KeyError::Empty));
    }

    #[test]
    fn debug_hides_material() {
        let k = NamedKey::generate("k1", &mut TestRng(1)).expect("key");
        assert!(!format!("{k:?}").contains(&B64URL.encode(k.bytes)));
    }
}
