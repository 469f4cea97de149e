//! Blob bytes from an R2 bucket bound as `PDM_BLOBS` (object key: the blob's SHA-256), when
//! one is configured: the origin then only confirms that the download may be served
//! (`/blobs/<sha256>/status`), and no package byte crosses it.

use portaldm_shared::cdn::EdgeCachePolicy;
use portaldm_shared::range::{self, Selection};
use worker::{Bucket, Context, Env, Range, Response, ResponseBody};

use super::{Conditions, cache};
use crate::respond;

/// The binding's name.
const BINDING: &str = "PDM_BLOBS";

/// The bucket, when the Worker has one.
pub fn bucket(env: &Env) -> Option<Bucket> {
    env.bucket(BINDING).ok()
}

/// The body of `blob`, whole or a range of it.
async fn body(bucket: &Bucket, blob: &str, part: Option<Range>) -> worker::Result<Option<ResponseBody>> {
    let get = bucket.get(blob);
    let get = match part {
        Some(r) => get.range(r),
        None => get,
    };
    match get.execute().await? {
        Some(object) => Ok(object.body().map(|b| b.response_body()).transpose()?),
        None => Ok(None),
    }
}

fn missing() -> worker::Result<Response> {
    respond::error(502, "the package store is missing this package; try again later")
}

/// Answers a download of `blob` (already checked with the origin) from the bucket; a plain
/// download also fills the edge cache under `key`.
pub async fn serve(
    bucket: &Bucket,
    blob: &str,
    cond: &Conditions,
    head: bool,
    fill: Option<(&Context, EdgeCachePolicy, String)>,
) -> worker::Result<Response> {
    let Some(meta) = bucket.head(blob).await? else { return missing() };
    let len = meta.size();
    let tag = range::etag(blob);
    let sel = range::select(len, &tag, cond.if_none_match.as_deref(), cond.range.as_deref(), cond.if_range.as_deref());
    let headers = cache::blob_headers(sel, len, &tag, "MISS")?;
    let part = match sel {
        Selection::Full => None,
        Selection::Partial { start, end } => Some(Range::OffsetWithLength { offset: start, length: end - start + 1 }),
        Selection::NotModified | Selection::Unsatisfiable => {
            return Ok(Response::empty()?.with_status(sel.status()).with_headers(headers));
        }
    };
    if head {
        headers.set("Content-Length", &sel.body_len(len).to_string())?;
        return Ok(Response::empty()?.with_status(sel.status()).with_headers(headers));
    }
    let Some(body) = body(bucket, blob, part).await? else { return missing() };
    headers.set("Content-Length", &sel.body_len(len).to_string())?;
    let answer = Response::from_body(body)?.with_status(sel.status()).with_headers(headers);
    match fill {
        Some((ctx, policy, key)) if sel == Selection::Full && cond.is_plain() => {
            cache::fill_and_answer(ctx, policy, key, answer)
        }
        _ => Ok(answer),
    }
}
