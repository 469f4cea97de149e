//! Rate limiting of trigger minting per client address, so nobody mints tokens in bulk: one
//! Durable Object per client (binding `PDM_MINT_LIMITER`, class `MintLimiter`) holds that
//! client's bucket; the rule is `shared::ratelimit`. Limits: `PDM_MINT_PER_MINUTE`,
//! `PDM_MINT_BURST`.

use std::cell::Cell;

use portaldm_shared::ratelimit::{self, Bucket, Limit, Limited};
use portaldm_shared::time::UnixMillis;
use worker::{DurableObject, Env, Request, Response, State, durable_object};

/// The binding's name.
const BINDING: &str = "PDM_MINT_LIMITER";

fn limit(env: &Env) -> Limit {
    let var = |name: &str| env.var(name).ok().and_then(|v| v.to_string().trim().parse::<u32>().ok());
    let d = Limit::default();
    Limit {
        per_minute: var("PDM_MINT_PER_MINUTE").unwrap_or(d.per_minute),
        burst: var("PDM_MINT_BURST").unwrap_or(d.burst),
    }
}

/// One client's limiter. Its bucket lives in memory: an evicted object starts afresh, which
/// only ever errs towards letting a handset in.
#[durable_object]
pub struct MintLimiter {
    bucket: Cell<Bucket>,
    limit: Limit,
}

impl DurableObject for MintLimiter {
    fn new(_state: State, env: Env) -> Self {
        MintLimiter { bucket: Cell::new(Bucket::default()), limit: limit(&env) }
    }

    async fn fetch(&self, _req: Request) -> worker::Result<Response> {
        let mut bucket = self.bucket.get();
        let verdict = bucket.take(self.limit, UnixMillis(worker::Date::now().as_millis()));
        self.bucket.set(bucket);
        match verdict {
            Ok(()) => Ok(Response::empty()?.with_status(204)),
            Err(l) => {
                let h = worker::Headers::new();
                h.set("Retry-After", &l.retry_after_secs.to_string())?;
                Ok(Response::empty()?.with_status(429).with_headers(h))
            }
        }
    }
}

/// Whether the client that sent `req` may mint a trigger now. Without the binding there is no
/// limit; a limiter that fails lets the request through (a handset is never locked out by an
/// outage of the limiter) and says so in the log.
pub async fn admit(env: &Env, req: &Request) -> Result<(), Limited> {
    let Ok(ns) = env.durable_object(BINDING) else { return Ok(()) };
    let address = req.headers().get("CF-Connecting-IP").ok().flatten().unwrap_or_default();
    let key = ratelimit::client_key(&address);
    let answer = match ns.id_from_name(&key).and_then(|id| id.get_stub()) {
        Ok(stub) => stub.fetch_with_str("https://limiter.internal/take").await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(r) if r.status_code() == 429 => {
            let secs = r.headers().get("Retry-After").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(60);
            Err(Limited { retry_after_secs: secs })
        }
        Ok(_) => Ok(()),
        Err(e) => {
            worker::console_error!("mint limiter unavailable, not limiting: {e}");
            Ok(())
        }
    }
}
