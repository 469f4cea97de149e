//! portaldm's edge: a Cloudflare Worker that mints triggers close to the handset, passes
//! portal and DM traffic to the origin, and serves signed downloads. A thin adapter: every
//! protocol decision is made in `portaldm-shared`.

mod cf;
mod config;
mod download;
mod limiter;
mod mint;
mod pages;
mod proxy;
mod respond;

use worker::{Context, Env, Request, Result, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    route(req, env, ctx).await
}

/// The portal's entry pages, where a handset that asks for the trigger type gets it at once.
fn is_entry_page(path: &str) -> bool {
    matches!(path, "/" | "/portal" | "/portal/")
}

/// Whether a browser's form or script post comes from another site (`shared::portal`).
fn is_cross_site(req: &Request) -> bool {
    let h = |name: &str| req.headers().get(name).ok().flatten();
    // Scheme, host and port, as a browser's `Origin` spells them (no default port).
    let own = req.url().ok().map(|u| u.origin().ascii_serialization());
    portaldm_shared::portal::is_cross_site(h("Sec-Fetch-Site").as_deref(), h("Origin").as_deref(), own.as_deref())
}

/// Routes a request; every outcome, error or not, is a deliberate response. (An `Err` is
/// left only when the runtime cannot build a response at all.) Answers passed through from
/// the origin stay the runtime's objects (`proxy::forward`); the edge's own are converted.
async fn route(req: Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let cfg = match config::EdgeConfig::cached(&env) {
        Ok(c) => c,
        Err(e) => return respond::raw(respond::internal(500, &format!("edge misconfigured: {e}"))),
    };
    let own = respond::raw;
    // Routed on the raw path as the client sent it, which must already be canonical: the
    // runtime's `fetch` would resolve dot segments after routing (`shared::path`).
    let raw = req.inner().url();
    let path = match portaldm_shared::path::canonical(portaldm_shared::path::of_url(&raw)) {
        Ok(p) => p.to_owned(),
        Err(e) => return own(respond::error(400, &format!("refused: {e}"))),
    };
    let outcome = if path == "/portal/trigger" || (is_entry_page(&path) && mint::wanted(&req)) {
        own(mint::handle(&req, &cfg, &env).await)
    } else if path.starts_with(portaldm_shared::cdn::PREFIX) {
        own(download::handle(&req, &cfg, &env, &ctx).await)
    } else if pages::is_cacheable_path(&path) {
        own(pages::serve(&req, &cfg, &ctx, &path).await)
    } else if path.starts_with("/portal/") && req.method() == worker::Method::Post && is_cross_site(&req) {
        own(respond::error(403, "this request came from another site and was refused"))
    } else if portaldm_shared::session::continuation::is_dm_path(&path) || portaldm_shared::media::is_portal_path(&path)
    {
        proxy::forward(&req, &cfg, &path).await
    } else if path == "/" {
        own(respond::redirect("/portal/"))
    } else {
        own(respond::error(404, "not found"))
    };
    outcome.or_else(|e| own(respond::internal(502, &format!("edge error: {e}"))))
}
