//! The edge's cache of blobs: the Workers Cache API (`caches.default`, per data centre). Under
//! plain workerd, `edge/local/cache.mjs` stands in for Cloudflare's cache. The cached copy is
//! always the whole blob; ranges and validators are answered from it by `shared::range`.

use futures_util::{StreamExt as _, TryStreamExt as _, future};
use portaldm_shared::cdn::{self, EdgeCachePolicy};
use portaldm_shared::range::{self, Selection};
use portaldm_shared::time::UnixMillis;
use worker::{Cache, Context, FixedLengthStream, Headers, Request, Response, ResponseBody};

use super::Conditions;
use crate::config::EdgeConfig;
use crate::respond;

/// Header that says whether the bytes came from the edge's cache (`HIT`) or not (`MISS`).
const STATUS_HEADER: &str = "X-Edge-Cache";

/// The cached whole blob under `key`, if any. A cache that fails is a miss.
pub async fn lookup(key: &str) -> Option<Response> {
    Cache::default().get(key, false).await.ok().flatten()
}

fn content_length(r: &Response) -> Option<u64> {
    r.headers().get("Content-Length").ok().flatten().and_then(|v| v.parse().ok())
}

/// The headers of answer `sel` about a blob of `len` bytes tagged `tag` (`shared::range`), and
/// where its bytes came from.
pub(super) fn blob_headers(sel: Selection, len: u64, tag: &str, cache_status: &str) -> worker::Result<Headers> {
    let h = Headers::new();
    for (name, value) in sel.headers(len, tag) {
        h.set(name, &value)?;
    }
    h.set(STATUS_HEADER, cache_status)?;
    Ok(h)
}

/// Answers a download from the cached whole blob `hit`.
pub fn answer(mut hit: Response, cond: &Conditions, head: bool) -> worker::Result<Response> {
    let tag = hit.headers().get("ETag")?;
    let (Some(len), Some(tag)) = (content_length(&hit), tag) else {
        // Not a copy this edge stored (it always records both): refuse rather than guess.
        return respond::error(502, "the cached package is damaged; try again shortly");
    };
    let sel = range::select(len, &tag, cond.if_none_match.as_deref(), cond.range.as_deref(), cond.if_range.as_deref());
    let headers = blob_headers(sel, len, &tag, "HIT")?;
    let body = match sel {
        // The cached body as it is (workerd sends no body bytes for HEAD, but its length).
        Selection::Full => hit.into_parts().1,
        Selection::Partial { start, end } if !head => slice(&mut hit, start, end)?,
        Selection::Partial { start, end } => {
            headers.set("Content-Length", &(end - start + 1).to_string())?;
            ResponseBody::Empty
        }
        Selection::NotModified | Selection::Unsatisfiable => ResponseBody::Empty,
    };
    Ok(Response::from_body(body)?.with_status(sel.status()).with_headers(headers))
}

/// Bytes `start..=end` of the cached body, streamed (reading stops after `end`).
fn slice(hit: &mut Response, start: u64, end: u64) -> worker::Result<ResponseBody> {
    let chunks = hit.stream()?.scan(0u64, move |offset, chunk| {
        if *offset > end {
            return future::ready(None);
        }
        let item = chunk.map(|c| {
            let part = range::window(*offset, c.len(), start, end).map(|w| c[w].to_vec());
            *offset += c.len() as u64;
            part.unwrap_or_default()
        });
        future::ready(Some(item))
    });
    let bytes = chunks.try_filter(|c| future::ready(!c.is_empty()));
    let fixed: worker::worker_sys::FixedLengthStream = FixedLengthStream::wrap(bytes, end - start + 1).into();
    Ok(ResponseBody::Stream(fixed.readable()))
}

/// The copy put into the cache: the body with only the headers an answer needs, and the
/// cache lifetime.
fn cached_copy(policy: EdgeCachePolicy, whole: Response, len: u64) -> worker::Result<Option<Response>> {
    let Some(tag) = whole.headers().get("ETag")? else { return Ok(None) };
    let h = blob_headers(Selection::Full, len, &tag, "HIT")?;
    h.set("Content-Length", &len.to_string())?;
    h.set("Cache-Control", &policy.cache_control())?;
    Ok(Some(Response::from_body(whole.into_parts().1)?.with_headers(h)))
}

/// Answers a plain download with the origin's whole blob `whole`, putting a copy into the
/// cache while it streams to the device.
pub fn fill_and_answer(
    ctx: &Context,
    policy: EdgeCachePolicy,
    key: String,
    mut whole: Response,
) -> worker::Result<Response> {
    let len = content_length(&whole);
    if whole.status_code() != 200 || !policy.admits(len) {
        return Ok(whole);
    }
    let (Some(len), Some(tag)) = (len, whole.headers().get("ETag")?) else { return Ok(whole) };
    let copy = whole.cloned()?;
    if let Some(copy) = cached_copy(policy, copy, len)? {
        ctx.wait_until(async move {
            // A failed put only costs the next device a trip to the origin.
            let _ = Cache::default().put(key.as_str(), copy).await;
        });
    }
    let headers = blob_headers(Selection::Full, len, &tag, "MISS")?;
    Ok(Response::from_body(whole.into_parts().1)?.with_headers(headers))
}

/// Fetches the whole blob with `req` and caches it (after a resumed download missed).
pub async fn fill_in_background(policy: EdgeCachePolicy, key: String, req: Request) {
    let Ok(whole) = worker::Fetch::Request(req).send().await else { return };
    let len = content_length(&whole);
    if whole.status_code() != 200 || !policy.admits(len) {
        return;
    }
    let Some(len) = len else { return };
    if let Ok(Some(copy)) = cached_copy(policy, whole, len) {
        let _ = Cache::default().put(key.as_str(), copy).await;
    }
}

/// `DELETE /dl/<blob>?p=<package>` from the origin (edge credential over the method and
/// target): drops the package's blob from this data centre's cache, so a revoked package stops
/// being served at once.
pub async fn purge(req: &Request, cfg: &EdgeConfig) -> worker::Result<Response> {
    let url = req.url()?;
    let Some((package, blob)) = cdn::purge_request(url.path(), url.query().unwrap_or("")) else {
        return respond::error(400, "not a package's blob");
    };
    let header = req.headers().get(portaldm_shared::edgeauth::HEADER)?;
    let now = UnixMillis(worker::Date::now().as_millis());
    let target = cdn::purge_target(package, &blob);
    if let Err(e) =
        portaldm_shared::edgeauth::verify(&cfg.edge_keys, header.as_deref(), cdn::PURGE_METHOD, &target, now)
    {
        // Why is for the log: a caller probing the credential learns nothing from it.
        worker::console_warn!("purge refused: {e}");
        return respond::error(403, "request did not come through the origin");
    }
    let key = cdn::cache_key(package, &blob);
    let outcome = Cache::default().delete(key.as_str(), false).await?;
    let text = match outcome {
        worker::CacheDeletionOutcome::Success => "purged",
        worker::CacheDeletionOutcome::ResponseNotFound => "not cached",
    };
    respond::bytes(200, text.as_bytes().to_vec(), &[("Content-Type", "text/plain"), ("Cache-Control", "no-store")])
}
