//! Blob bytes from the origin's blob endpoint (`/blobs/<sha256>`), which checks the signed
//! query again and answers ranges and validators itself.

use worker::{Fetch, Headers, Method, Request, RequestInit, Response};

use super::Conditions;
use crate::config::EdgeConfig;
use crate::respond;

/// The request for `path_and_query` at the origin, with the edge credential and `cond`.
fn request(cfg: &EdgeConfig, method: &Method, path_and_query: &str, cond: &Conditions) -> worker::Result<Request> {
    let headers = Headers::new();
    let cred = cfg.origin_credential(method, path_and_query).map_err(worker::Error::RustError)?;
    headers.set(portaldm_shared::edgeauth::HEADER, &cred)?;
    for (name, value) in [("Range", &cond.range), ("If-Range", &cond.if_range), ("If-None-Match", &cond.if_none_match)]
    {
        if let Some(v) = value {
            headers.set(name, v)?;
        }
    }
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(headers);
    Request::new_with_init(&format!("{}{path_and_query}", cfg.origin_url), &init)
}

/// A plain `GET` of the whole blob, to be sent later (a background cache fill).
pub fn whole_request(cfg: &EdgeConfig, path_and_query: &str) -> worker::Result<Request> {
    request(cfg, &Method::Get, path_and_query, &Conditions::default())
}

/// Fetches from the origin and maps its answer to what a device gets: the bytes and
/// validators as they are, or a plain error that says what to do.
pub async fn fetch(
    cfg: &EdgeConfig,
    method: &Method,
    path_and_query: &str,
    cond: &Conditions,
) -> worker::Result<Response> {
    let req = match request(cfg, method, path_and_query, cond) {
        Ok(r) => r,
        Err(e) => return respond::internal(500, &format!("edge misconfigured: {e}")),
    };
    let upstream = match Fetch::Request(req).send().await {
        Ok(r) => r,
        Err(_) => return respond::error(502, "the package store is unreachable; try again shortly"),
    };
    match upstream.status_code() {
        200 | 204 | 206 | 304 | 416 => Ok(upstream),
        404 | 410 | 403 => respond::error(upstream.status_code(), "this download is not available"),
        _ => respond::error(502, "the package store failed; try again shortly"),
    }
}
