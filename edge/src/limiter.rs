//! Rate limiting of trigger minting per client address, so nobody mints tokens in bulk: one
//! Durable Object per client (binding `PDM_MINT_LIMITER`, class `MintLimiter` in `shim.mjs`)
//! holds that client's bucket; the rule is `shared::ratelimit`. Limits: `PDM_MINT_PER_MINUTE`,
//! `PDM_MINT_BURST`. The worker calls the object by RPC (`take()`), not `fetch`: no HTTP
//! request and response to build on every mint.

use portaldm_shared::ratelimit::{self, Bucket, Limit, Limited};
use portaldm_shared::time::UnixMillis;
use wasm_bindgen::prelude::*;
use worker::{Env, Request};

use crate::config::EdgeConfig;

/// The binding's name.
const BINDING: &str = "PDM_MINT_LIMITER";

#[wasm_bindgen]
extern "C" {
    /// The Durable Object namespace binding.
    type LimiterNamespace;
    #[wasm_bindgen(method, catch, js_name = idFromName)]
    fn id_from_name(this: &LimiterNamespace, name: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn get(this: &LimiterNamespace, id: &JsValue) -> Result<LimiterStub, JsValue>;

    /// A stub of one client's object.
    type LimiterStub;
    #[wasm_bindgen(method, catch)]
    fn take(this: &LimiterStub) -> Result<JsValue, JsValue>;
}

/// One client's limiter state, inside its Durable Object. The bucket lives in memory: an
/// evicted object starts afresh, which only ever errs towards letting a handset in.
#[wasm_bindgen]
pub struct MintLimiterCore {
    bucket: Bucket,
    limit: Limit,
}

#[wasm_bindgen]
impl MintLimiterCore {
    /// Reads the limit from the Worker's vars.
    #[wasm_bindgen(constructor)]
    pub fn new(env: Env) -> MintLimiterCore {
        let var = |name: &str| env.var(name).ok().and_then(|v| v.to_string().trim().parse::<u32>().ok());
        let d = Limit::default();
        let limit = Limit {
            per_minute: var("PDM_MINT_PER_MINUTE").unwrap_or(d.per_minute),
            burst: var("PDM_MINT_BURST").unwrap_or(d.burst),
        };
        MintLimiterCore { bucket: Bucket::default(), limit }
    }

    /// Takes one mint now: 0 when allowed, otherwise the seconds to wait.
    pub fn take(&mut self) -> f64 {
        match self.bucket.take(self.limit, UnixMillis(worker::Date::now().as_millis())) {
            Ok(()) => 0.0,
            Err(l) => l.retry_after_secs as f64,
        }
    }
}

/// The bucket of every client whose address the edge cannot know (`ClientInfo::Untrusted`):
/// one shared bucket rather than one per value a client could choose.
const NO_TRUSTED_ADDRESS: &str = "shared:no-trusted-client-address";

/// Whether the client that sent `req` may mint a trigger now. Without the binding there is no
/// limit; a limiter that fails lets the request through (a handset is never locked out by an
/// outage of the limiter) and says so in the log.
pub async fn admit(env: &Env, cfg: &EdgeConfig, req: &Request) -> Result<(), Limited> {
    let Ok(ns) = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(BINDING)) else { return Ok(()) };
    if ns.is_undefined() {
        return Ok(());
    }
    let ns: LimiterNamespace = ns.unchecked_into();
    let key = match crate::cf::client_address(req, cfg) {
        Some(address) => ratelimit::client_key(&address),
        None => NO_TRUSTED_ADDRESS.to_owned(),
    };
    let asked = async {
        let stub = ns.get(&ns.id_from_name(&key)?)?;
        let answer = stub.take()?;
        worker::wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&answer)).await
    };
    match asked.await.map(|v| v.as_f64()) {
        Ok(Some(wait)) if wait > 0.0 => Err(Limited { retry_after_secs: wait as u64 }),
        Ok(Some(_)) => Ok(()),
        Ok(None) | Err(_) => {
            worker::console_error!("mint limiter unavailable, not limiting");
            Ok(())
        }
    }
}
