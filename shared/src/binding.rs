//! The browser binding: the `__Host-pdm` cookie that ties a browser to its portal session.
//!
//! The trigger answer sets `__Host-pdm=<sid>.<secret>`; the token carries `bnd =
//! base64url(SHA-256(secret))`, so only the browser that received the trigger can read or
//! select that session's offers.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::rand::{RandomUnavailable, SecureRandom, bytes};

/// The cookie's name. `__Host-`: browsers take it only `Secure`, for `Path=/` and without
/// `Domain`, from a secure origin, so neither a sibling subdomain nor a plain-http page can set
/// or shadow it (loopback counts as secure, so the local edge over http keeps it too).
pub const COOKIE_NAME: &str = "__Host-pdm";
/// Longest cookie value considered.
const MAX_VALUE_LEN: usize = 128;
/// The cookie carrying the trigger's token to the browser's first look at its session, so the
/// origin learns of the trigger without a trip at mint time (`crate::stock`). The token is no
/// secret from this browser: the package #0 it received carries it too.
pub const TRIGGER_COOKIE: &str = "pdmt";

/// The `Set-Cookie` header carrying `token` back to the portal for `max_age_secs`.
pub fn trigger_cookie(token: &str, max_age_secs: u64) -> String {
    format!("{TRIGGER_COOKIE}={token}; Path=/portal; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Lax")
}

/// The trigger token in a `Cookie` request header, if one of a plausible size is there (the
/// token's own checks come after).
pub fn trigger_token_from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        let plausible = !value.is_empty()
            && value.len() <= crate::token::MAX_TOKEN_LEN
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        (name == TRIGGER_COOKIE && plausible).then_some(value)
    })
}

/// A browser's claim to a portal session, as read from its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserBinding {
    /// The portal session id (base64url of 16 bytes).
    pub sid: String,
    secret: String,
}

impl BrowserBinding {
    /// A fresh session id and secret.
    pub fn generate(rng: &mut dyn SecureRandom) -> Result<Self, RandomUnavailable> {
        Ok(BrowserBinding { sid: B64URL.encode(bytes::<16>(rng)?), secret: B64URL.encode(bytes::<32>(rng)?) })
    }

    /// The `bnd` claim for this secret.
    pub fn bnd(&self) -> String {
        bnd_of(&self.secret)
    }

    /// Whether this browser's secret hashes to `bnd` (constant time).
    pub fn matches(&self, bnd: &str) -> bool {
        bool::from(self.bnd().as_bytes().ct_eq(bnd.as_bytes()))
    }

    /// The cookie value `<sid>.<secret>`.
    pub fn cookie_value(&self) -> String {
        format!("{}.{}", self.sid, self.secret)
    }

    /// The `Set-Cookie` header for this binding, living `max_age_secs`.
    pub fn set_cookie(&self, max_age_secs: u64) -> String {
        format!("{COOKIE_NAME}={}; Path=/; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Lax", self.cookie_value())
    }

    /// Finds and parses the `pdm` cookie in a `Cookie` request header.
    pub fn from_cookie_header(header: &str) -> Option<Self> {
        header.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            if name != COOKIE_NAME || value.len() > MAX_VALUE_LEN {
                return None;
            }
            let (sid, secret) = value.split_once('.')?;
            let well_formed = |s: &str, n: usize| B64URL.decode(s).map(|b| b.len() == n).unwrap_or(false);
            (well_formed(sid, 16) && well_formed(secret, 32))
                .then(|| BrowserBinding { sid: sid.to_owned(), secret: secret.to_owned() })
        })
    }
}

fn bnd_of(secret: &str) -> String {
    B64URL.encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::TestRng;

    #[test]
    fn parses_its_own_cookie_among_others() {
        let b = BrowserBinding::generate(&mut TestRng(11)).expect("random");
        let header = format!("a=1; {}={}; z=2", COOKIE_NAME, b.cookie_value());
        let parsed = BrowserBinding::from_cookie_header(&header).expect("found");
        assert_eq!(parsed, b);
        assert!(parsed.matches(&b.bnd()));
    }

    #[test]
    fn another_secret_does_not_match() {
        let a = BrowserBinding::generate(&mut TestRng(1)).expect("random");
        let b = BrowserBinding::generate(&mut TestRng(2)).expect("random");
        assert!(!a.matches(&b.bnd()));
    }

    #[test]
    fn rejects_malformed_cookies() {
        assert_eq!(BrowserBinding::from_cookie_header("__Host-pdm=abc"), None);
        assert_eq!(BrowserBinding::from_cookie_header("__Host-pdm=a.b"), None);
        assert_eq!(BrowserBinding::from_cookie_header(""), None);
    }

    #[test]
    fn cookie_is_http_only_secure_lax_and_host_only() {
        let b = BrowserBinding::generate(&mut TestRng(1)).expect("random");
        let c = b.set_cookie(600);
        assert!(c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Lax"));
        // What a `__Host-` cookie needs, or browsers drop it.
        assert!(c.starts_with("__Host-pdm=") && c.contains("; Path=/;") && !c.contains("Domain"), "{c}");
        let old = format!("pdm={}", b.cookie_value());
        assert_eq!(BrowserBinding::from_cookie_header(&old), None, "the old name is not read");
    }
}
