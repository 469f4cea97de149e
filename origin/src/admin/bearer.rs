//! Admin bearer tokens: `pdm_admin_<id>_<secret>`.
//!
//! The id (12 hex digits) names the stored row, so checking a token is one lookup; the
//! secret (32 random bytes, base64url) is kept only as its SHA-256. A plain hash is enough
//! because the secret is random and long, unlike a password: there is nothing to guess.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// What every admin token starts with (so it is recognisable in a leaked log or file).
pub const PREFIX: &str = "pdm_admin_";
/// Random bytes [`issue`] needs: 6 for the id, 32 for the secret.
pub const RANDOM_LEN: usize = 38;

/// Why a presented token is not even well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// No `pdm_admin_` prefix.
    #[error("not a portaldm admin token")]
    Prefix,
    /// The id or the secret is malformed.
    #[error("malformed admin token")]
    Malformed,
}

/// A token just created: shown once, stored as `id` and `secret_sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// Row id.
    pub id: String,
    /// SHA-256 of the secret, hex: what the store keeps.
    pub secret_sha256: String,
    /// The whole token, for the admin to copy.
    pub token: String,
}

/// Makes a token from `random` (from the caller's CSPRNG).
pub fn issue(random: &[u8; RANDOM_LEN]) -> Issued {
    let id = hex::encode(&random[..6]);
    let secret = B64.encode(&random[6..]);
    Issued { secret_sha256: hash(&secret), token: format!("{PREFIX}{id}_{secret}"), id }
}

/// A token as presented: its id and secret, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented<'a> {
    /// Row id.
    pub id: &'a str,
    secret: &'a str,
}

/// Splits a presented token; checks only its shape.
pub fn parse(token: &str) -> Result<Presented<'_>, TokenFormatError> {
    let rest = token.strip_prefix(PREFIX).ok_or(TokenFormatError::Prefix)?;
    let (id, secret) = rest.split_once('_').ok_or(TokenFormatError::Malformed)?;
    let id_ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    let secret_ok = B64.decode(secret).is_ok_and(|s| s.len() == 32);
    if !id_ok || !secret_ok {
        return Err(TokenFormatError::Malformed);
    }
    Ok(Presented { id, secret })
}

impl Presented<'_> {
    /// Whether the secret is the one whose hash was stored (constant time).
    pub fn matches(&self, secret_sha256: &str) -> bool {
        hash(self.secret).as_bytes().ct_eq(secret_sha256.as_bytes()).into()
    }
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(seed: u8) -> Issued {
        let mut random = [0u8; RANDOM_LEN];
        for (i, b) in random.iter_mut().enumerate() {
            *b = seed.wrapping_add(i as u8).wrapping_mul(31);
        }
        issue(&random)
    }

    #[test]
    fn an_issued_token_parses_and_matches_its_stored_hash_only() {
        let a = issued(1);
        let b = issued(2);
        let p = parse(&a.token).expect("parses");
        assert_eq!(p.id, a.id);
        assert!(p.matches(&a.secret_sha256));
        assert!(!p.matches(&b.secret_sha256));
        assert!(!a.token.contains(&a.secret_sha256), "the stored hash is not in the token");
    }

    #[test]
    fn malformed_tokens_are_refused_by_shape() {
        let a = issued(3);
        assert_eq!(parse("Bearer x"), Err(TokenFormatError::Prefix));
        assert_eq!(parse("pdm_admin_"), Err(TokenFormatError::Malformed));
        assert_eq!(parse(&a.token[..a.token.len() - 2]), Err(TokenFormatError::Malformed));
        assert_eq!(parse(&a.token.replacen(&a.id, "ZZZZZZZZZZZZ", 1)), Err(TokenFormatError::Malformed));
        assert_eq!(parse(&format!("{}x", a.token)), Err(TokenFormatError::Malformed));
    }

    #[test]
    fn a_changed_secret_does_not_match() {
        let a = issued(4);
        // A middle character of the secret: still well formed, another secret.
        let i = a.token.len() - 10;
        let c = if &a.token[i..=i] == "A" { "B" } else { "A" };
        let forged = format!("{}{c}{}", &a.token[..i], &a.token[i + 1..]);
        let p = parse(&forged).expect("still well formed");
        assert!(!p.matches(&a.secret_sha256));
    }
}
