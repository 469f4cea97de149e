//! DM authentication (OMA-TS-DM_Security-V1_2, section 5): `syncml:auth-basic`,
//! `syncml:auth-md5` with `Chal`/`NextNonce`, and the `x-syncml-hmac` transport header.
//!
//! Secrets are kept as the account key `B64(MD5(name ":" password))`, which is all that MD5
//! digests and HMACs need; a Basic credential is checked by hashing what it carries.
//! [`server::ServerAuth`] and [`client::ClientAuth`] hold the per-device, per-direction nonces
//! and the retry rules for each side.

pub mod client;
pub mod server;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::syncml::{Chal, Cred, Meta};

/// Meta Type of Basic credentials.
pub const BASIC: &str = "syncml:auth-basic";
/// Meta Type of MD5 digest credentials.
pub const MD5: &str = "syncml:auth-md5";
/// Meta Type of the HMAC scheme in a `Chal`.
pub const HMAC: &str = "syncml:auth-MAC";
/// The HTTP header that carries an HMAC of the message body.
pub const HMAC_HEADER: &str = "x-syncml-hmac";

/// How a side proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// `syncml:auth-basic`: name and password in the header (only over TLS).
    Basic,
    /// `syncml:auth-md5`: a digest over the account key and a nonce.
    Md5,
    /// `x-syncml-hmac`: a digest over the account key, a nonce and the message body.
    Hmac,
}

impl Scheme {
    /// The Meta Type naming this scheme in `Cred` and `Chal`.
    pub fn meta_type(self) -> &'static str {
        match self {
            Scheme::Basic => BASIC,
            Scheme::Md5 => MD5,
            Scheme::Hmac => HMAC,
        }
    }

    /// Parses a configuration value (`basic`, `md5`, `hmac`).
    pub fn parse(s: &str) -> Option<Scheme> {
        match s.to_ascii_lowercase().as_str() {
            "basic" => Some(Scheme::Basic),
            "md5" => Some(Scheme::Md5),
            "hmac" => Some(Scheme::Hmac),
            _ => None,
        }
    }
}

/// One side's identity: a name and the account key derived from its password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// The user name (the DevId or the ServerID, by convention).
    pub name: String,
    /// `B64(MD5(name ":" password))`.
    pub key: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Secret {
    /// The secret for `name` and `password`.
    pub fn from_password(name: &str, password: &str) -> Self {
        Secret { name: name.to_owned(), key: account_key(name, password) }
    }
}

/// The account on one device: the scheme, the client's secret, and the server's secret
/// when the device demands that the server authenticate itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The scheme both directions use.
    pub scheme: Scheme,
    /// What the client proves.
    pub client: Secret,
    /// What the server proves, if anything.
    pub server: Option<Secret>,
}

/// Why a credential was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// None was given (SyncML 407).
    #[error("no credentials")]
    Missing,
    /// One was given but is wrong, of another scheme or for another name (SyncML 401).
    #[error("invalid credentials")]
    Invalid,
}

/// A nonce as carried in `NextNonce` (base64 of the raw bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nonce(pub String);

impl Nonce {
    /// A nonce from fresh random bytes.
    pub fn from_bytes(b: &[u8]) -> Self {
        Nonce(B64.encode(b))
    }

    /// The raw bytes a digest is computed over; a nonce that is not base64 is used as written,
    /// as some clients do.
    pub fn raw(&self) -> Vec<u8> {
        B64.decode(&self.0).unwrap_or_else(|_| self.0.as_bytes().to_vec())
    }
}

/// `B64(MD5(name ":" password))`.
pub fn account_key(name: &str, password: &str) -> String {
    let mut h = Md5::new();
    h.update(name.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    B64.encode(h.finalize())
}

/// `B64(MD5(key ":" nonce))`: the MD5 credential.
fn md5_digest(secret: &Secret, nonce: &Nonce) -> String {
    let mut h = Md5::new();
    h.update(secret.key.as_bytes());
    h.update(b":");
    h.update(nonce.raw());
    B64.encode(h.finalize())
}

/// `B64(MD5(key ":" nonce ":" B64(MD5(body))))`: the HMAC of a message.
fn mac(secret: &Secret, nonce: &Nonce, body: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(secret.key.as_bytes());
    h.update(b":");
    h.update(nonce.raw());
    h.update(b":");
    h.update(B64.encode(Md5::digest(body)).as_bytes());
    B64.encode(h.finalize())
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The `Cred` of `secret` in `scheme` (`None` for HMAC, which travels in the HTTP header).
pub fn cred(scheme: Scheme, secret: &Secret, password: Option<&str>, nonce: &Nonce) -> Option<Cred> {
    let data = match scheme {
        Scheme::Basic => B64.encode(format!("{}:{}", secret.name, password?)),
        Scheme::Md5 => md5_digest(secret, nonce),
        Scheme::Hmac => return None,
    };
    Some(Cred { meta: Meta::typed(Some("b64"), Some(scheme.meta_type())), data })
}

/// Checks a `Cred` against `secret`. The scheme is taken from the Cred (a server accepts
/// Basic and MD5 alike when it knows the key); `name` is the expected user name.
pub fn check_cred(cred: Option<&Cred>, secret: &Secret, nonce: &Nonce) -> Result<Scheme, AuthError> {
    let cred = cred.ok_or(AuthError::Missing)?;
    let kind = cred.meta.type_.as_deref().unwrap_or(BASIC);
    if kind.eq_ignore_ascii_case(BASIC) {
        let plain = B64.decode(cred.data.trim()).map_err(|_| AuthError::Invalid)?;
        let plain = String::from_utf8(plain).map_err(|_| AuthError::Invalid)?;
        let (name, password) = plain.split_once(':').ok_or(AuthError::Invalid)?;
        let ok = name == secret.name && same(&account_key(name, password), &secret.key);
        return if ok { Ok(Scheme::Basic) } else { Err(AuthError::Invalid) };
    }
    if kind.eq_ignore_ascii_case(MD5) {
        return if same(cred.data.trim(), &md5_digest(secret, nonce)) {
            Ok(Scheme::Md5)
        } else {
            Err(AuthError::Invalid)
        };
    }
    Err(AuthError::Invalid)
}

/// A `Chal` asking for `scheme` with `next` as the nonce to use.
pub fn chal(scheme: Scheme, next: &Nonce) -> Chal {
    Chal { meta: Meta { next_nonce: Some(next.0.clone()), ..Meta::typed(Some("b64"), Some(scheme.meta_type())) } }
}

/// The `x-syncml-hmac` value for `body`.
pub fn hmac_header(secret: &Secret, nonce: &Nonce, body: &[u8]) -> String {
    format!("algorithm=MD5, username=\"{}\", mac={}", secret.name.replace('"', ""), mac(secret, nonce, body))
}

/// The parts of an `x-syncml-hmac` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacValue {
    /// `username`.
    pub username: String,
    /// `mac`.
    pub mac: String,
}

/// Parses `algorithm=MD5, username="…", mac=…` (parameters in any order, quotes optional).
pub fn parse_hmac_header(value: &str) -> Result<HmacValue, AuthError> {
    let (mut username, mut mac, mut algorithm) = (None, None, None);
    for part in value.split(',') {
        let (k, v) = part.split_once('=').ok_or(AuthError::Invalid)?;
        let v = v.trim().trim_matches('"').to_owned();
        match k.trim().to_ascii_lowercase().as_str() {
            "username" => username = Some(v),
            "mac" => mac = Some(v),
            "algorithm" => algorithm = Some(v),
            _ => {}
        }
    }
    if !algorithm.as_deref().is_none_or(|a| a.eq_ignore_ascii_case("MD5")) {
        return Err(AuthError::Invalid);
    }
    Ok(HmacValue { username: username.ok_or(AuthError::Invalid)?, mac: mac.ok_or(AuthError::Invalid)? })
}

/// An HMAC proof as the transport received it: the header value (if any) and the body.
#[derive(Debug, Clone, Copy)]
pub struct HmacProof<'a> {
    /// The `x-syncml-hmac` header, if present.
    pub header: Option<&'a str>,
    /// The message bytes as received.
    pub body: &'a [u8],
}

impl HmacProof<'_> {
    /// No header and no body: for transports without HMAC.
    pub const NONE: HmacProof<'static> = HmacProof { header: None, body: &[] };
}

/// Checks an HMAC proof against `secret`.
pub fn check_hmac(proof: HmacProof<'_>, secret: &Secret, nonce: &Nonce) -> Result<(), AuthError> {
    let v = parse_hmac_header(proof.header.ok_or(AuthError::Missing)?)?;
    if v.username != secret.name || !same(&v.mac, &mac(secret, nonce, proof.body)) {
        return Err(AuthError::Invalid);
    }
    Ok(())
}

/// Checks whichever proof `scheme` calls for.
pub fn check(
    scheme: Scheme,
    cred: Option<&Cred>,
    proof: HmacProof<'_>,
    secret: &Secret,
    nonce: &Nonce,
) -> Result<(), AuthError> {
    match scheme {
        Scheme::Hmac => check_hmac(proof, secret, nonce),
        // An account set up for MD5 does not accept Basic (it would expose the password).
        Scheme::Md5 => match check_cred(cred, secret, nonce)? {
            Scheme::Md5 => Ok(()),
            _ => Err(AuthError::Invalid),
        },
        Scheme::Basic => check_cred(cred, secret, nonce).map(drop),
    }
}

#[cfg(test)]
mod tests;
