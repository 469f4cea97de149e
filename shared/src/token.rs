//! The portal session token: an EdDSA (Ed25519) compact JWS minted at the edge.
//!
//! The edge signs with a private key named by `kid`; the origin and dmclient hold several
//! public keys by `kid` at once, so keys rotate without downtime. Expiry is checked
//! against the `now` the caller passes; single use of `jti` is the origin's store's job.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::keys::NamedKey;
use crate::time::UnixMillis;

/// Longest token accepted before any parsing.
pub const MAX_TOKEN_LEN: usize = 2048;
/// Clock skew tolerated on `nbf`/`exp`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of a session token (docs/architecture.md, "The session token").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the edge.
    pub iss: String,
    /// Audience: the origin DM server.
    pub aud: String,
    /// Portal session id, 128 random bits, base64url.
    pub sid: String,
    /// The pkg#0 session id.
    pub nsid: u16,
    /// The ServerID.
    pub srv: String,
    /// Issued at (seconds).
    pub iat: u64,
    /// Not before (seconds).
    pub nbf: u64,
    /// Expires (seconds).
    pub exp: u64,
    /// Unique token id, accepted once.
    pub jti: String,
    /// SHA-256 of the browser's cookie secret, base64url.
    pub bnd: String,
    /// Edge location that minted it.
    pub colo: String,
    /// The country the trigger was requested from, as the edge saw the client (ISO 3166-1
    /// alpha-2, [`crate::catalog::country_code`]), when known: for packages limited by region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctry: Option<String>,
    /// The network the trigger was requested from (`ratelimit::network_of`), when the edge
    /// knew the client's address from a source it trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<String>,
}

impl Claims {
    /// Whether a DM session from `address` comes from the network this trigger was minted
    /// for; false when either is unknown (an operator who asks for the check gets no guess).
    pub fn same_network(&self, address: &str) -> bool {
        self.net.as_ref().is_some_and(|net| crate::ratelimit::network_of(address).as_ref() == Some(net))
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS, too long, or claims of the wrong shape.
    #[error("token is malformed")]
    Malformed,
    /// Not EdDSA.
    #[error("token algorithm is not EdDSA")]
    WrongAlgorithm,
    /// No trusted key has this `kid` (or the header has none).
    #[error("token key id is not trusted")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// `aud` is not this server.
    #[error("token audience is wrong")]
    WrongAudience,
    /// `srv` is not this server's ServerID.
    #[error("token ServerID is wrong")]
    WrongServer,
    /// Past `exp`.
    #[error("token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("token is not yet valid")]
    NotYetValid,
    /// The signing key could not be loaded.
    #[error("signing key is invalid")]
    BadSigningKey,
}

/// Signs tokens with the current Ed25519 key.
///
/// The compact JWS is assembled here rather than by `jsonwebtoken::encode`, which re-reads
/// its key from DER (deriving the public point again) on every call: a second scalar
/// multiplication per mint, the edge's hottest path. The header comes from `jsonwebtoken`,
/// the signature is the same Ed25519 it makes, and every verifier is `jsonwebtoken`'s.
pub struct TokenSigner {
    key: SigningKey,
    /// base64url of the JSON header, the same for every token of this key.
    header: String,
}

impl TokenSigner {
    /// A signer for an Ed25519 seed named by its key id.
    pub fn new(seed: &NamedKey) -> Result<Self, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(seed.kid.clone());
        let json = serde_json::to_vec(&header).map_err(|_| TokenError::BadSigningKey)?;
        Ok(TokenSigner { key: SigningKey::from_bytes(&seed.bytes), header: B64URL.encode(json) })
    }

    /// The compact JWS of `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        use ed25519_dalek::Signer as _;
        let payload = serde_json::to_vec(claims).map_err(|_| TokenError::BadSigningKey)?;
        let mut jws = String::with_capacity(512);
        jws.push_str(&self.header);
        jws.push('.');
        B64URL.encode_string(payload, &mut jws);
        let signature = self.key.sign(jws.as_bytes());
        jws.push('.');
        B64URL.encode_string(signature.to_bytes(), &mut jws);
        Ok(jws)
    }
}

/// Proof that a token's signature, audience, ServerID and validity window were checked.
/// Only [`TokenVerifier::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenVerified {
    claims: Claims,
}

impl TokenVerified {
    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
}

/// Verifies tokens against trusted public keys by `kid`.
pub struct TokenVerifier {
    keys: Vec<(String, DecodingKey)>,
    audience: String,
    server_id: String,
}

impl TokenVerifier {
    /// A verifier for tokens addressed to `audience` for `server_id`.
    pub fn new(public_keys: &[NamedKey], audience: &str, server_id: &str) -> Self {
        let keys = public_keys
            .iter()
            .filter_map(|k| DecodingKey::from_ed_components(&B64URL.encode(k.bytes)).ok().map(|d| (k.kid.clone(), d)))
            .collect();
        TokenVerifier { keys, audience: audience.to_owned(), server_id: server_id.to_owned() }
    }

    /// Checks `token` at time `now`.
    pub fn verify(&self, token: &str, now: UnixMillis) -> Result<TokenVerified, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.iter().find(|(k, _)| *k == kid).map(|(_, d)| d).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Time comes from the caller, never from the library's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            _ => TokenError::Malformed,
        })?;
        let c = data.claims;
        if c.aud != self.audience {
            return Err(TokenError::WrongAudience);
        }
        if c.srv != self.server_id {
            return Err(TokenError::WrongServer);
        }
        let secs = now.as_secs();
        if c.exp.saturating_add(LEEWAY_SECS) < secs {
            return Err(TokenError::Expired);
        }
        if c.nbf > secs.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::NotYetValid);
        }
        Ok(TokenVerified { claims: c })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::TestRng;

    fn claims(now: u64) -> Claims {
        Claims {
            iss: "edge".into(),
            aud: "origin".into(),
            sid: "sid".into(),
            nsid: 7,
            srv: "portaldm".into(),
            iat: now,
            nbf: now,
            exp: now + 300,
            jti: "j1".into(),
            bnd: "b".into(),
            colo: "LOC".into(),
            ctry: None,
            net: None,
        }
    }

    fn setup() -> (TokenSigner, TokenVerifier, NamedKey) {
        let seed = NamedKey::generate("k1", &mut TestRng(3)).expect("key");
        let signer = TokenSigner::new(&seed).expect("signer");
        let verifier = TokenVerifier::new(&[seed.ed25519_public()], "origin", "portaldm");
        (signer, verifier, seed)
    }

    #[test]
    fn verifies_own_tokens_within_window() {
        let (s, v, _) = setup();
        let t = s.sign(&claims(1000)).expect("signs");
        let ok = v.verify(&t, UnixMillis(1_100_000)).expect("verifies");
        assert_eq!(ok.claims().sid, "sid");
        assert_eq!(v.verify(&t, UnixMillis(2_000_000)), Err(TokenError::Expired));
        assert_eq!(v.verify(&t, UnixMillis(900_000)), Err(TokenError::NotYetValid));
    }

    #[test]
    fn rejects_forged_and_foreign_tokens() {
        let (s, v, _) = setup();
        let other = NamedKey::generate("k1", &mut TestRng(99)).expect("key");
        let forged = TokenSigner::new(&other).expect("signer").sign(&claims(1000)).expect("signs");
        assert_eq!(v.verify(&forged, UnixMillis(1_000_000)), Err(TokenError::BadSignature));
        let stranger = NamedKey::generate("k9", &mut TestRng(5)).expect("key");
        let t = TokenSigner::new(&stranger).expect("signer").sign(&claims(1000)).expect("signs");
        assert_eq!(v.verify(&t, UnixMillis(1_000_000)), Err(TokenError::UnknownKey));
        let mut c = claims(1000);
        c.aud = "elsewhere".into();
        let t = s.sign(&c).expect("signs");
        assert_eq!(v.verify(&t, UnixMillis(1_000_000)), Err(TokenError::WrongAudience));
        assert_eq!(v.verify("not.a.token", UnixMillis(0)), Err(TokenError::Malformed));
        assert_eq!(v.verify(&"x".repeat(5000), UnixMillis(0)), Err(TokenError::Malformed));
    }

    #[test]
    fn rejects_other_algorithms() {
        let (s, v, _) = setup();
        let t = s.sign(&claims(1000)).expect("signs");
        let body = t.split('.').nth(1).expect("payload").to_owned();
        for header in [r#"{"alg":"none","kid":"k1"}"#, r#"{"alg":"HS256","kid":"k1"}"#, r#"{"alg":"EdDSA"}"#] {
            let forged = format!("{}.{body}.{}", B64URL.encode(header), B64URL.encode([0u8; 64]));
            assert!(v.verify(&forged, UnixMillis(1_000_000)).is_err(), "{header}");
        }
        let unsigned = format!("{}.{body}.", B64URL.encode(r#"{"alg":"none","kid":"k1"}"#));
        assert!(v.verify(&unsigned, UnixMillis(1_000_000)).is_err());
    }

    #[test]
    fn rejects_tampered_claims() {
        let (s, v, _) = setup();
        let t = s.sign(&claims(1000)).expect("signs");
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mut c = claims(1000);
        c.sid = "someone-else".into();
        parts[1] = B64URL.encode(serde_json::to_vec(&c).expect("json"));
        assert_eq!(v.verify(&parts.join("."), UnixMillis(1_000_000)), Err(TokenError::BadSignature));
    }
}
