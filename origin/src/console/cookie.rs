//! The admin console's sign-in: a session cookie `pdmadm=<id>.<secret>` made when an admin
//! signs in with an admin token, and the form token that guards every console form.
//!
//! The store keeps the secret's SHA-256 only. The form token is derived from the secret
//! (SHA-256 of a label and the secret), so it needs no storage: the server recomputes it from
//! the cookie on each post, and another site, which can neither read the `HttpOnly` cookie nor
//! see the page, cannot produce it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The cookie's name.
pub const COOKIE: &str = "pdmadm";
/// The form field that carries the form token.
pub const CSRF_FIELD: &str = "csrf";
/// Random bytes [`issue`] needs: 9 for the id, 32 for the secret.
pub const RANDOM_LEN: usize = 41;
/// The cookie that carries the sign-in form's token (there is no session yet to derive one
/// from): the form repeats it in [`CSRF_FIELD`], and another site, which can make a browser
/// post the form but can neither read nor set this cookie, cannot. `__Host-`: a sibling
/// subdomain or a plain-http page cannot plant one of its own (the browser refuses the name
/// without `Secure`, `Path=/` and no `Domain`).
pub const SIGN_IN_COOKIE: &str = "__Host-pdmadm_signin";
/// Random bytes of a sign-in form token.
pub const SIGN_IN_RANDOM_LEN: usize = 32;

/// A sign-in form token from `random` (from the caller's CSPRNG).
pub fn sign_in_token(random: &[u8; SIGN_IN_RANDOM_LEN]) -> String {
    B64.encode(random)
}

/// The `Set-Cookie` value carrying sign-in form token `token` for `max_age_secs` (`Path=/`, as
/// the `__Host-` prefix demands; only the sign-in post reads it).
pub fn sign_in_cookie(token: &str, max_age_secs: u64) -> String {
    format!("{SIGN_IN_COOKIE}={token}; Path=/; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Strict")
}

/// Whether a sign-in post's form token is the one its `Cookie` header carries (constant time).
pub fn sign_in_token_ok(cookie_header: Option<&str>, posted: Option<&str>) -> bool {
    let cookie = cookie_header.and_then(|h| {
        h.split(';').map(str::trim).find_map(|pair| pair.strip_prefix(SIGN_IN_COOKIE)?.strip_prefix('='))
    });
    let well_formed = |t: &str| B64.decode(t).is_ok_and(|b| b.len() == SIGN_IN_RANDOM_LEN);
    match (cookie, posted) {
        (Some(c), Some(p)) if well_formed(c) => bool::from(c.as_bytes().ct_eq(p.as_bytes())),
        _ => false,
    }
}

/// A console session just made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// Session id.
    pub id: String,
    /// SHA-256 of the secret, hex: what the store keeps.
    pub secret_sha256: String,
    /// The cookie's value (`<id>.<secret>`).
    pub cookie_value: String,
}

/// Makes a console session from `random` (from the caller's CSPRNG).
pub fn issue(random: &[u8; RANDOM_LEN]) -> Issued {
    let id = B64.encode(&random[..9]);
    let secret = B64.encode(&random[9..]);
    Issued { secret_sha256: sha256_hex(secret.as_bytes()), cookie_value: format!("{id}.{secret}"), id }
}

/// The `Set-Cookie` value for a session lasting `max_age_secs`: only for the console's paths,
/// never sent by other sites' requests (`SameSite=Strict`), unreadable by scripts.
pub fn set_cookie(value: &str, max_age_secs: u64) -> String {
    format!("{COOKIE}={value}; Path=/admin; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Strict")
}

/// The `Set-Cookie` value that signs out.
pub fn clear_cookie() -> String {
    set_cookie("", 0)
}

/// A session as presented in a `Cookie` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// Session id.
    pub id: String,
    secret: String,
}

/// Finds the console cookie in a `Cookie` header and checks its shape.
pub fn from_cookie_header(header: &str) -> Option<Presented> {
    header.split(';').map(str::trim).find_map(|pair| {
        let value = pair.strip_prefix(COOKIE)?.strip_prefix('=')?;
        let (id, secret) = value.split_once('.')?;
        let ok = |s: &str, len: usize| B64.decode(s).is_ok_and(|b| b.len() == len);
        (ok(id, 9) && ok(secret, 32)).then(|| Presented { id: id.to_owned(), secret: secret.to_owned() })
    })
}

impl Presented {
    /// Whether the secret is the one whose hash was stored (constant time).
    pub fn matches(&self, secret_sha256: &str) -> bool {
        sha256_hex(self.secret.as_bytes()).as_bytes().ct_eq(secret_sha256.as_bytes()).into()
    }

    /// The form token of this session.
    pub fn csrf_token(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"portaldm console form\0");
        h.update(self.secret.as_bytes());
        B64.encode(h.finalize())
    }

    /// Whether a posted form token is this session's (constant time).
    pub fn csrf_ok(&self, posted: Option<&str>) -> bool {
        posted.is_some_and(|p| p.as_bytes().ct_eq(self.csrf_token().as_bytes()).into())
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(seed: u8) -> Issued {
        let mut r = [0u8; RANDOM_LEN];
        for (i, b) in r.iter_mut().enumerate() {
            *b = seed.wrapping_mul(37).wrapping_add(i as u8);
        }
        issue(&r)
    }

    #[test]
    fn a_session_cookie_round_trips_and_matches_only_its_hash() {
        let a = issued(1);
        let header = format!("pdm=x.y; {}={}; other=1", COOKIE, a.cookie_value);
        let p = from_cookie_header(&header).expect("found");
        assert_eq!(p.id, a.id);
        assert!(p.matches(&a.secret_sha256));
        assert!(!p.matches(&issued(2).secret_sha256));
        assert!(from_cookie_header("pdmadm=abc").is_none());
        assert!(from_cookie_header("pdmadmx=a.b").is_none());
        assert!(set_cookie(&a.cookie_value, 60).contains("SameSite=Strict"));
    }

    #[test]
    fn the_form_token_belongs_to_one_session() {
        let a = from_cookie_header(&format!("{COOKIE}={}", issued(3).cookie_value)).expect("a");
        let b = from_cookie_header(&format!("{COOKIE}={}", issued(4).cookie_value)).expect("b");
        assert!(a.csrf_ok(Some(&a.csrf_token())));
        assert!(!a.csrf_ok(Some(&b.csrf_token())));
        assert!(!a.csrf_ok(None));
        assert!(!a.csrf_ok(Some("")));
        assert_ne!(a.csrf_token(), a.secret, "the token is not the cookie's secret");
    }

    #[test]
    fn a_sign_in_form_token_must_match_its_cookie() {
        let t = sign_in_token(&[7; SIGN_IN_RANDOM_LEN]);
        let header = format!("{COOKIE}=x.y; {SIGN_IN_COOKIE}={t}");
        assert!(sign_in_token_ok(Some(&header), Some(&t)));
        assert!(!sign_in_token_ok(Some(&header), None), "no form token");
        assert!(!sign_in_token_ok(None, Some(&t)), "no cookie");
        assert!(!sign_in_token_ok(Some(&header), Some(&sign_in_token(&[8; SIGN_IN_RANDOM_LEN]))));
        assert!(!sign_in_token_ok(Some(&format!("{SIGN_IN_COOKIE}=")), Some("")), "empty on both sides");
        assert!(sign_in_cookie(&t, 60).starts_with("__Host-"));
        assert!(sign_in_cookie(&t, 60).contains("Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Strict"));
    }
}
