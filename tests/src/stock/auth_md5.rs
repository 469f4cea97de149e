//! `syncml:auth-md5` as OMA-TS-DM_Security 1.2 defines it: `B64(MD5(B64(MD5(name ":" password)) ":" nonce))`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};

/// The md5 credential of `name`/`password` over the raw nonce bytes.
pub fn md5_cred(name: &str, password: &str, nonce: &[u8]) -> String {
    let inner = B64.encode(Md5::digest(format!("{name}:{password}").as_bytes()));
    let mut h = Md5::new();
    h.update(inner.as_bytes());
    h.update(b":");
    h.update(nonce);
    B64.encode(h.finalize())
}

/// The raw bytes behind a `NextNonce` (base64 on the wire; one that is not base64 is used as written).
pub fn nonce_bytes(next_nonce: &str) -> Vec<u8> {
    B64.decode(next_nonce.trim()).unwrap_or_else(|_| next_nonce.as_bytes().to_vec())
}

/// A fresh nonce as written in `NextNonce`: 8 random bytes, base64 (libdmclient's size).
pub fn fresh_nonce() -> String {
    let mut b = [0u8; 8];
    // Without randomness the nonce is still new per call, just guessable: fine for a test peer.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        b = (t as u64).to_be_bytes();
    }
    B64.encode(b)
}

/// Base64 of `bytes` (the form nonces travel in).
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}
