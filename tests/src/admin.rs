//! Calls to the admin API on a [`System`]'s origin, for the suites that add packages through it.

use serde_json::Value;

use crate::System;
use crate::browser::{Reply, get_with, post_with};

/// The admin API URL of `path` on the origin's own address.
pub fn api(sys: &System, path: &str) -> String {
    format!("{}/admin/api{path}", sys.origin)
}

/// The `Authorization` value for `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `GET` an admin API path with `token`.
pub fn get_admin(sys: &System, token: &str, path: &str) -> Reply {
    get_with(&api(sys, path), &[("Authorization", &bearer(token))])
}

/// `POST` JSON to an admin API path with `token`.
pub fn post_json(sys: &System, token: &str, path: &str, body: &Value) -> Reply {
    let auth = bearer(token);
    post_with(
        &api(sys, path),
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

/// Uploads `bytes` as a package blob with `token`.
pub fn upload(sys: &System, token: &str, bytes: &[u8]) -> Reply {
    let auth = bearer(token);
    post_with(&api(sys, "/blobs"), &[("Authorization", &auth), ("Content-Type", "application/octet-stream")], bytes)
}

/// `len` bytes of made-up package content (not compressible, not all one value).
pub fn firmware(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}
