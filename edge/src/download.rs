//! `GET`/`HEAD /dl/<blob>?d=&e=&s=`: the signature and expiry are checked before any byte
//! leaves, then the bytes come from the origin's blob endpoint, which answers ranges and
//! validators (`shared::range`); the edge passes them through.

use portaldm_shared::cdn;
use portaldm_shared::time::UnixMillis;
use worker::{Fetch, Headers, Method, Request, RequestInit, Response};

use crate::config::EdgeConfig;
use crate::respond;

/// The handler.
pub async fn handle(req: &Request, cfg: &EdgeConfig) -> worker::Result<Response> {
    if req.method() != Method::Get && req.method() != Method::Head {
        return respond::error(405, "use GET");
    }
    let url = req.url()?;
    let query = url.query().unwrap_or("");
    let now = UnixMillis(worker::Date::now().as_millis());
    let signed = match cdn::verify(&cfg.cdn_keys, url.path(), query, now) {
        Ok(s) => s,
        Err(e) => return respond::error(e.http_status(), &e.to_string()),
    };
    let path_and_query = format!("/blobs/{}?{query}", signed.blob);
    let origin = format!("{}{path_and_query}", cfg.origin_url);
    let headers = Headers::new();
    match cfg.origin_credential(&req.method(), &path_and_query) {
        Ok(c) => headers.set(portaldm_shared::edgeauth::HEADER, &c)?,
        Err(e) => return respond::error(500, &format!("edge misconfigured: {e}")),
    }
    for name in ["Range", "If-Range", "If-None-Match"] {
        if let Some(v) = req.headers().get(name)? {
            headers.set(name, &v)?;
        }
    }
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    let upstream = match Fetch::Request(Request::new_with_init(&origin, &init)?).send().await {
        Ok(r) => r,
        Err(_) => return respond::error(502, "the package store is unreachable; try again shortly"),
    };
    match upstream.status_code() {
        200 | 206 | 304 | 416 => Ok(upstream),
        404 | 410 | 403 => respond::error(upstream.status_code(), "this download is not available"),
        _ => respond::error(502, "the package store failed; try again shortly"),
    }
}
