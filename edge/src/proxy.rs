//! Portal pages, portal API and `/dm` passed through to the origin.

use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::future::{Either, select};
use portaldm_shared::edgeauth;
use wasm_bindgen::JsCast as _;
use wasm_bindgen_futures::JsFuture;
use worker::{Delay, Headers, Request, Response};

use crate::config::{ClientInfo, EdgeConfig};
use crate::respond;

/// Hop-by-hop headers (RFC 9110, 7.6.1) that never cross a proxy.
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"];

/// How long the origin may take to start answering before the edge gives up with 504: long
/// for `/dm`, where the origin holds package 4 while the user chooses (past the longest hold,
/// `session::hold`), short for portal pages and calls, which answer at once.
fn origin_timeout(path: &str) -> Duration {
    if portaldm_shared::session::continuation::is_dm_path(path) {
        portaldm_shared::session::hold::EDGE_DM_TIMEOUT
    } else {
        Duration::from_secs(10)
    }
}

/// How much of a refused body is read before answering, so that a client still writing it
/// reads the 413 instead of a broken connection (a lingering close). Beyond this the
/// connection is simply cut.
const DRAIN_LIMIT: usize = 1 << 20;

/// Reads and discards up to [`DRAIN_LIMIT`] bytes of the request body.
async fn drain(req: &Request) {
    let Ok(mut copy) = req.clone() else { return };
    let Ok(mut body) = copy.stream() else { return };
    let mut read = 0;
    while read <= DRAIN_LIMIT {
        match body.next().await {
            Some(Ok(chunk)) => read += chunk.len(),
            _ => return,
        }
    }
}

/// Conditional request headers, dropped when the edge wants the whole answer to cache it.
const CONDITIONAL: [&str; 2] = ["if-none-match", "if-modified-since"];

/// Forwards `req` to the same path and query at the origin, streaming the bodies. An
/// unreachable origin is a 502, a silent one a 504: never a hung request.
///
/// The origin's answer is returned as the runtime's own object, untouched: wrapping it in a
/// `worker::Response` and back would read its status, headers and body into Rust and build a
/// second `Response` in JavaScript for every request passed through.
pub async fn forward(req: &Request, cfg: &EdgeConfig, path: &str) -> worker::Result<web_sys::Response> {
    send(req, cfg, path, false).await
}

/// [`forward`], asking the origin for its whole answer whatever the client already has.
pub async fn forward_unconditional(req: &Request, cfg: &EdgeConfig, path: &str) -> worker::Result<Response> {
    send(req, cfg, path, true).await.map(Response::from)
}

async fn send(req: &Request, cfg: &EdgeConfig, path: &str, unconditional: bool) -> worker::Result<web_sys::Response> {
    let refuse = |status: u16, message: &str| respond::raw(respond::error(status, message));
    // Refused here, not streamed to an origin that would cut the upload short (which the
    // device would see as a broken connection, not as "too large").
    let declared = req.headers().get("Content-Length")?.and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > cfg.max_body_bytes) {
        drain(req).await;
        return refuse(413, &format!("request body over {} bytes", cfg.max_body_bytes));
    }
    let url = req.url()?;
    let path_and_query = match url.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let target = format!("{}{path_and_query}", cfg.origin_url);
    // The client's headers copied whole by the runtime (one call), then the few that must
    // not cross taken out: cheaper than appending the rest one by one from here.
    let headers = Headers(web_sys::Headers::new_with_headers(&req.headers().0)?);
    let ours = [edgeauth::CLIENT_HEADER, edgeauth::COLO_HEADER, edgeauth::HEADER];
    // A `CF-Connecting-IP` that Cloudflare did not set is the client's own claim: not passed on.
    let trusted_ip = cfg.client_info == ClientInfo::Cloudflare;
    let mut head = path_and_query.len();
    for (k, v) in req.headers().entries() {
        let name = k.to_ascii_lowercase();
        let dropped = (unconditional && CONDITIONAL.contains(&name.as_str()))
            || (!trusted_ip && name == crate::cf::CONNECTING_IP);
        if HOP_BY_HOP.contains(&name.as_str()) || ours.contains(&name.as_str()) || dropped {
            headers.delete(&k)?;
        } else {
            head += k.len() + v.len() + 4;
        }
    }
    if head > edgeauth::MAX_FORWARDED_HEAD_BYTES {
        drain(req).await;
        let max = edgeauth::MAX_FORWARDED_HEAD_BYTES;
        return refuse(431, &format!("request headers too large (over {max} bytes with the path)"));
    }
    // Only from the source the deployment trusts (`config::ClientInfo`), never the client.
    let client = crate::cf::client_address(req, cfg).unwrap_or_else(|| "unknown".into());
    headers.set(edgeauth::CLIENT_HEADER, &client)?;
    // The data centre that took `req` (absent under local workerd).
    let colo = crate::cf::field(req, cfg, "colo").unwrap_or_else(|| cfg.trigger.colo.clone());
    headers.set(edgeauth::COLO_HEADER, &colo)?;
    headers.set("X-Forwarded-Host", url.host_str().unwrap_or(""))?;
    let method = req.method();
    match cfg.origin_credential(&method, &path_and_query) {
        Ok(c) => headers.set(edgeauth::HEADER, &c)?,
        Err(e) => return respond::raw(respond::internal(500, &format!("edge misconfigured: {e}"))),
    }
    let init = web_sys::RequestInit::new();
    init.set_method(method.as_ref());
    init.set_headers(&headers.0);
    // The origin's redirects (a form's 303) go back to the browser, which follows them
    // through the edge: followed here they would reach the origin with this request's
    // credential, signed for another method and path.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(body) = req.inner().body() {
        init.set_body(&body);
    }
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetch = JsFuture::from(global.fetch_with_str_and_init(&target, &init));
    match select(fetch, Box::pin(Delay::from(origin_timeout(path)))).await {
        // `fetch` resolves only to a `Response`.
        Either::Left((Ok(r), _)) => Ok(r.unchecked_into()),
        Either::Left((Err(_), _)) => refuse(502, "the origin is unreachable; try again shortly"),
        Either::Right(_) => refuse(504, "the origin did not answer in time; try again shortly"),
    }
}
