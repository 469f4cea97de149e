//! Package signatures: the operator signs a package's SHA-256 and size with an Ed25519 key; the
//! device checks the signature with the public keys it trusts before installing. The
//! signature travels as `kid.base64url(signature)` (in FUMO `Ext/PkgSignature`), over the
//! message `portaldm-package-v1\n<sha256 hex>\n<size>`, so it binds exactly those bytes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use crate::keys::NamedKey;

/// Why a package signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not `kid.base64url` of 64 bytes.
    #[error("malformed package signature")]
    Malformed,
    /// Signed with a key this device does not trust.
    #[error("package signed with unknown key {0:?}")]
    UnknownKey(String),
    /// The signature does not match the package.
    #[error("package signature does not match")]
    Invalid,
    /// The device requires signatures and the package has none.
    #[error("package is not signed")]
    Missing,
}

fn message(sha256_hex: &str, size: u64) -> Vec<u8> {
    format!("portaldm-package-v1\n{}\n{size}", sha256_hex.to_ascii_lowercase()).into_bytes()
}

/// Signs a package with an Ed25519 seed.
pub fn sign(seed: &NamedKey, sha256_hex: &str, size: u64) -> String {
    let sig = SigningKey::from_bytes(&seed.bytes).sign(&message(sha256_hex, size));
    format!("{}.{}", seed.kid, B64URL.encode(sig.to_bytes()))
}

/// Checks `signature` over the package with the trusted public keys. With no trusted keys,
/// nothing is required; with some, a signature is.
pub fn verify(
    signature: Option<&str>,
    sha256_hex: &str,
    size: u64,
    trusted: &[NamedKey],
) -> Result<(), SignatureError> {
    if trusted.is_empty() {
        return Ok(());
    }
    let signature = signature.ok_or(SignatureError::Missing)?;
    let (kid, b64) = signature.trim().split_once('.').ok_or(SignatureError::Malformed)?;
    let raw: [u8; 64] = B64URL.decode(b64).ok().and_then(|b| b.try_into().ok()).ok_or(SignatureError::Malformed)?;
    let key = trusted.iter().find(|k| k.kid == kid).ok_or_else(|| SignatureError::UnknownKey(kid.to_owned()))?;
    let key = VerifyingKey::from_bytes(&key.bytes).map_err(|_| SignatureError::UnknownKey(kid.to_owned()))?;
    key.verify(&message(sha256_hex, size), &Signature::from_bytes(&raw)).map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::TestRng;

    #[test]
    fn signs_and_verifies_exactly_the_package() {
        let seed = NamedKey::generate("pkg1", &mut TestRng(3)).expect("key");
        let trusted = [seed.ed25519_public()];
        let sha = "ab".repeat(32);
        let sig = sign(&seed, &sha, 100);
        assert_eq!(verify(Some(&sig), &sha, 100, &trusted), Ok(()));
        assert_eq!(verify(Some(&sig), &sha.to_uppercase(), 100, &trusted), Ok(()), "hex case does not matter");
        assert_eq!(verify(Some(&sig), &sha, 101, &trusted), Err(SignatureError::Invalid));
        assert_eq!(verify(Some(&sig), &"cd".repeat(32), 100, &trusted), Err(SignatureError::Invalid));
        assert_eq!(verify(None, &sha, 100, &trusted), Err(SignatureError::Missing));
        assert_eq!(verify(None, &sha, 100, &[]), Ok(()), "nothing required without trusted keys");
        let other = NamedKey::generate("pkg2", &mut TestRng(4)).expect("key");
        assert_eq!(
            verify(Some(&sign(&other, &sha, 100)), &sha, 100, &trusted),
            Err(SignatureError::UnknownKey("pkg2".into()))
        );
        let forged = NamedKey { kid: "pkg1".into(), ..other };
        assert_eq!(verify(Some(&sign(&forged, &sha, 100)), &sha, 100, &trusted), Err(SignatureError::Invalid));
        assert_eq!(verify(Some("pkg1.AAAA"), &sha, 100, &trusted), Err(SignatureError::Malformed));
        assert_eq!(verify(Some("no-dot"), &sha, 100, &trusted), Err(SignatureError::Malformed));
    }
}
