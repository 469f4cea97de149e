//! `GET`/`HEAD /dl/<blob>?d=&e=&s=`: the signature and expiry are checked before any byte
//! leaves; the bytes come from the edge's cache, or from the origin's blob endpoint on a miss
//! (which then fills the cache). Ranges and validators are decided by `shared::range` on
//! either path. `DELETE /dl/<blob>` with the edge credential purges a revoked blob.

mod cache;
mod origin;
mod r2;

use portaldm_shared::cdn;
use portaldm_shared::time::UnixMillis;
use worker::{Context, Env, Method, Request, Response};

use crate::config::EdgeConfig;
use crate::respond;

/// The conditional and range headers of a download request.
#[derive(Debug, Default, Clone)]
pub struct Conditions {
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
    /// `Range`.
    pub range: Option<String>,
    /// `If-Range`.
    pub if_range: Option<String>,
}

impl Conditions {
    fn of(req: &Request) -> worker::Result<Self> {
        let h = req.headers();
        Ok(Conditions { if_none_match: h.get("If-None-Match")?, range: h.get("Range")?, if_range: h.get("If-Range")? })
    }

    /// Whether the request asks for the whole blob, unconditionally.
    fn is_plain(&self) -> bool {
        self.if_none_match.is_none() && self.range.is_none()
    }
}

/// The handler.
pub async fn handle(req: &Request, cfg: &EdgeConfig, env: &Env, ctx: &Context) -> worker::Result<Response> {
    let method = req.method();
    if method == Method::Delete {
        return cache::purge(req, cfg).await;
    }
    if method != Method::Get && method != Method::Head {
        return respond::error(405, "use GET");
    }
    let url = req.url()?;
    let query = url.query().unwrap_or("");
    let now = UnixMillis(worker::Date::now().as_millis());
    let signed = match cdn::verify(&cfg.cdn_keys, url.path(), query, now) {
        Ok(s) => s,
        Err(e) => return respond::error(e.http_status(), &e.to_string()),
    };
    let cond = Conditions::of(req)?;
    let head = method == Method::Head;
    let key = cdn::cache_key(signed.package, &signed.blob);
    let caching = cfg.blob_cache.ttl_secs > 0;
    if caching && let Some(hit) = cache::lookup(&key).await {
        return cache::answer(hit, &cond, head);
    }
    if let Some(bucket) = r2::bucket(env) {
        // The origin still decides whether this download may be served (revocation).
        let status_query = format!("/blobs/{}/status?{query}", signed.blob);
        let verdict = origin::fetch(cfg, &Method::Get, &status_query, &Conditions::default()).await?;
        if verdict.status_code() != 204 {
            return Ok(verdict);
        }
        let fill = caching.then_some((ctx, cfg.blob_cache, key));
        return r2::serve(&bucket, &signed.blob, &cond, head, fill).await;
    }
    let blob_query = format!("/blobs/{}?{query}", signed.blob);
    if caching && !head && cond.is_plain() {
        // The whole blob is wanted anyway: one origin fetch serves the device and fills the cache.
        let whole = origin::fetch(cfg, &Method::Get, &blob_query, &Conditions::default()).await?;
        return cache::fill_and_answer(ctx, cfg.blob_cache, key, whole);
    }
    let answer = origin::fetch(cfg, &method, &blob_query, &cond).await?;
    if caching && !head && answer.status_code() == 206 {
        // A resumed download: answer its range now and fetch the whole blob for the next one.
        let (cfg_cache, origin_req) = (cfg.blob_cache, origin::whole_request(cfg, &blob_query)?);
        ctx.wait_until(async move { cache::fill_in_background(cfg_cache, key, origin_req).await });
    }
    Ok(answer)
}
