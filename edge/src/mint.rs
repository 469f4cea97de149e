//! `GET /portal/trigger`: mints a portal session and answers package #0, with no origin trip.

use portaldm_shared::binding::BrowserBinding;
use portaldm_shared::media;
use portaldm_shared::rand::{RandomUnavailable, SecureRandom};
use portaldm_shared::time::UnixMillis;
use portaldm_shared::trigger;
use worker::{Env, Method, Request, Response};

use crate::config::EdgeConfig;
use crate::limiter;
use crate::respond;

/// `crypto.getRandomValues`, through getrandom's `wasm_js` backend.
struct WebRandom;

impl SecureRandom for WebRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomUnavailable> {
        getrandom::fill(dest).map_err(|_| RandomUnavailable)
    }
}

/// Whether an entry-page request should get the trigger itself: its `Accept` lists the
/// trigger type and it has no portal session cookie yet (a live session is not re-triggered).
pub fn wanted(req: &Request) -> bool {
    let header = |name: &str| req.headers().get(name).ok().flatten().unwrap_or_default();
    media::accepts_notification(&header("Accept")) && BrowserBinding::from_cookie_header(&header("Cookie")).is_none()
}

/// The handler.
pub async fn handle(req: &Request, cfg: &EdgeConfig, env: &Env) -> worker::Result<Response> {
    if req.method() != Method::Get && req.method() != Method::Head {
        return respond::error(405, "use GET");
    }
    if let Err(limited) = limiter::admit(env, cfg, req).await {
        let secs = limited.retry_after_secs.to_string();
        let message = format!("Too many requests from your network. Try again in {secs} seconds.");
        let r = respond::error(429, &message)?;
        r.headers().set("Retry-After", &secs)?;
        return Ok(r);
    }
    let now = UnixMillis(worker::Date::now().as_millis());
    // The client's country goes into the token, for packages limited by country (only from
    // a `request.cf` that Cloudflare set).
    let country = crate::cf::field(req, cfg, "country");
    let address = crate::cf::client_address(req, cfg);
    let requester = trigger::Requester { country: country.as_deref(), address: address.as_deref() };
    let minted = match trigger::mint(&cfg.trigger, &cfg.token_signer, &mut WebRandom, now, requester) {
        Ok(m) => m,
        Err(e) => return respond::internal(500, &format!("cannot mint a trigger: {e}")),
    };
    respond::bytes(
        200,
        minted.package,
        &[
            ("Content-Type", media::NOTIFICATION),
            ("Set-Cookie", &minted.set_cookie),
            ("Set-Cookie", &minted.trigger_cookie),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
}
