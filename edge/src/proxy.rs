//! Portal pages, portal API and `/dm` passed through to the origin.

use worker::{Fetch, Headers, Request, RequestInit, Response};

use crate::config::EdgeConfig;
use crate::respond;

/// Hop-by-hop headers (RFC 9110, 7.6.1) that never cross a proxy.
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"];

/// Forwards `req` to the same path and query at the origin, streaming the bodies.
pub async fn forward(req: &Request, cfg: &EdgeConfig, path: &str) -> worker::Result<Response> {
    let url = req.url()?;
    let path_and_query = match url.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let target = format!("{}{path_and_query}", cfg.origin_url);
    let headers = Headers::new();
    for (k, v) in req.headers().entries() {
        if !HOP_BY_HOP.contains(&k.to_ascii_lowercase().as_str()) {
            headers.append(&k, &v)?;
        }
    }
    if let Some(ip) = req.headers().get("CF-Connecting-IP")? {
        headers.set("X-Forwarded-For", &ip)?;
    }
    headers.set("X-Forwarded-Host", url.host_str().unwrap_or(""))?;
    match cfg.origin_credential(&req.method(), &path_and_query) {
        Ok(c) => headers.set(portaldm_shared::edgeauth::HEADER, &c)?,
        Err(e) => return respond::error(500, &format!("edge misconfigured: {e}")),
    }
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    if let Some(body) = req.inner().body() {
        init.with_body(Some(body.into()));
    }
    let upstream = Request::new_with_init(&target, &init)?;
    match Fetch::Request(upstream).send().await {
        Ok(r) => Ok(r),
        Err(_) => respond::error(502, "the origin is unreachable; try again shortly"),
    }
}
