//! Portal pages and static assets (`GET /portal/`, `/portal/assets/…`), kept in the edge's
//! cache when the origin marks them `public` (and sets no cookie), for as long as its
//! `Cache-Control` says; revalidation (`If-None-Match`) is answered at the edge.

use portaldm_shared::range;
use worker::{Cache, Context, Headers, Method, Request, Response};

use crate::config::EdgeConfig;
use crate::proxy;

/// Whether `path` is a page or asset the edge may cache.
pub fn is_cacheable_path(path: &str) -> bool {
    matches!(path, "/portal" | "/portal/") || path.starts_with("/portal/assets/")
}

/// Whether the origin's answer may be shared from the cache.
fn shareable(r: &Response) -> bool {
    let h = r.headers();
    let cc = h.get("Cache-Control").ok().flatten().unwrap_or_default().to_ascii_lowercase();
    r.status_code() == 200
        && cc.split(',').any(|d| d.trim() == "public")
        && !cc.contains("no-store")
        && !cc.contains("private")
        && h.get("Set-Cookie").ok().flatten().is_none()
}

/// A copy of `r`'s headers with the cache status added.
fn headers_of(r: &Response, cache_status: &str) -> worker::Result<Headers> {
    let h = Headers::new();
    for (k, v) in r.headers().entries() {
        if !k.eq_ignore_ascii_case("cf-cache-status") {
            h.append(&k, &v)?;
        }
    }
    h.set("X-Edge-Cache", cache_status)?;
    Ok(h)
}

/// `r` as this request should get it: a 304 when the client's copy is current.
fn conditional(req: &Request, r: Response, cache_status: &str) -> worker::Result<Response> {
    let h = headers_of(&r, cache_status)?;
    let tag = r.headers().get("ETag")?;
    let inm = req.headers().get("If-None-Match")?;
    if let Some(tag) = tag
        && range::not_modified(inm.as_deref(), &tag)
    {
        return Ok(Response::empty()?.with_status(304).with_headers(h));
    }
    let status = r.status_code();
    Ok(Response::from_body(r.into_parts().1)?.with_status(status).with_headers(h))
}

/// Serves a page or asset from the cache, or from the origin (filling the cache).
pub async fn serve(req: &Request, cfg: &EdgeConfig, ctx: &Context, path: &str) -> worker::Result<Response> {
    let url = req.url()?;
    // Only the plain page is cached: a query string would let anyone fill the cache with
    // copies of it (and the portal's own links carry none).
    if req.method() != Method::Get || url.query().is_some() {
        return proxy::forward(req, cfg, path).await.map(Response::from);
    }
    // Pages are written per language (`Vary: Accept-Language`): one copy per page language,
    // chosen the way the origin chooses it. Assets are the same in every language.
    let key = if path.starts_with("/portal/assets/") {
        url.to_string()
    } else {
        let accept = req.headers().get("Accept-Language").ok().flatten();
        format!("{url}?lang={}", portaldm_shared::portal::page_language(None, accept.as_deref()))
    };
    if let Ok(Some(hit)) = Cache::default().get(key.as_str(), false).await {
        return conditional(req, hit, "HIT");
    }
    let mut fresh = proxy::forward_unconditional(req, cfg, path).await?;
    if shareable(&fresh) {
        let copy = fresh.cloned()?;
        let h = headers_of(&copy, "HIT")?;
        let stored = Response::from_body(copy.into_parts().1)?.with_headers(h);
        ctx.wait_until(async move {
            let _ = Cache::default().put(key.as_str(), stored).await;
        });
    }
    conditional(req, fresh, "MISS")
}
