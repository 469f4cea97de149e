//! The `x-syncml-hmac` parser and checker never panic on any header value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portaldm_shared::auth::{HmacProof, Nonce, Secret, check_hmac, parse_hmac_header};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_hmac_header(s);
        let secret = Secret::from_password("dev", "pw");
        let _ = check_hmac(HmacProof { header: Some(s), body: data }, &secret, &Nonce(s.to_owned()));
    }
});
