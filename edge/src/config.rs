//! The edge's configuration: Worker vars and secrets (`wrangler.toml`, `wrangler secret put`).

use portaldm_shared::cdn::EdgeCachePolicy;
use portaldm_shared::keys::{NamedKey, parse_key_list};
use portaldm_shared::token::TokenSigner;
use portaldm_shared::trigger::TriggerConfig;
use worker::Env;

thread_local! {
    /// The configuration parsed once per isolate: vars and secrets only change with a new
    /// deployment, which starts new isolates.
    static PARSED: std::cell::RefCell<Option<std::rc::Rc<EdgeConfig>>> = const { std::cell::RefCell::new(None) };
}

/// What the edge is configured with.
pub struct EdgeConfig {
    /// Base URL of the origin.
    pub origin_url: String,
    /// Signs session tokens with the seed in secret `PDM_TOKEN_KEY` (`kid:base64url`).
    pub token_signer: TokenSigner,
    /// CDN URL keys (secret `PDM_CDN_KEYS`).
    pub cdn_keys: Vec<NamedKey>,
    /// Keys of the credential on every origin request (secret `PDM_EDGE_KEYS`).
    pub edge_keys: Vec<NamedKey>,
    /// What minting needs.
    pub trigger: TriggerConfig,
    /// How blobs are cached (`PDM_BLOB_CACHE_SECS`, `PDM_BLOB_CACHE_MAX_BYTES`).
    pub blob_cache: EdgeCachePolicy,
    /// Largest request body passed to the origin (`PDM_MAX_BODY_BYTES`, default 64 KiB, as the
    /// origin's `max_body_bytes`): larger ones get 413 at the edge.
    pub max_body_bytes: u64,
    /// Where the client's address and `request.cf` come from.
    pub client_info: ClientInfo,
}

/// Which of a request's claims about its client the edge believes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientInfo {
    /// `PDM_TRUST_CLOUDFLARE = "true"`: requests arrive through Cloudflare, which sets
    /// `CF-Connecting-IP` and `request.cf` itself and overwrites what a client sent.
    Cloudflare,
    /// `PDM_CLIENT_ADDRESS_HEADER`: a trusted proxy in front of the edge sets this header to
    /// the client's address (and replaces any the client sent); `request.cf` is ignored.
    ProxyHeader(String),
    /// Neither: nothing a client sends is believed, and the address is unknown (every client
    /// shares one mint bucket, and the origin logs `unknown`).
    Untrusted,
}

/// Reads `PDM_TRUST_CLOUDFLARE` and `PDM_CLIENT_ADDRESS_HEADER`.
fn client_info(env: &Env) -> Result<ClientInfo, String> {
    let cloudflare = match text(env, "PDM_TRUST_CLOUDFLARE").map(|v| v.trim().to_ascii_lowercase()) {
        Ok(v) if v == "true" => true,
        Ok(v) if v == "false" || v.is_empty() => false,
        Ok(v) => return Err(format!("PDM_TRUST_CLOUDFLARE is neither true nor false: {v:?}")),
        Err(_) => false,
    };
    let header = text(env, "PDM_CLIENT_ADDRESS_HEADER").map(|v| v.trim().to_owned()).ok().filter(|v| !v.is_empty());
    match (cloudflare, header) {
        (true, Some(_)) => Err("set PDM_TRUST_CLOUDFLARE or PDM_CLIENT_ADDRESS_HEADER, not both".into()),
        (true, None) => Ok(ClientInfo::Cloudflare),
        (false, Some(h)) if h.eq_ignore_ascii_case("CF-Connecting-IP") => {
            Err("PDM_CLIENT_ADDRESS_HEADER cannot be CF-Connecting-IP: set PDM_TRUST_CLOUDFLARE instead".into())
        }
        (false, Some(h)) => Ok(ClientInfo::ProxyHeader(h)),
        (false, None) => Ok(ClientInfo::Untrusted),
    }
}

fn text(env: &Env, name: &str) -> Result<String, String> {
    env.var(name).map(|v| v.to_string()).map_err(|_| format!("{name} is not set"))
}

impl EdgeConfig {
    /// The `x-portaldm-edge` header value for a request to the origin.
    pub fn origin_credential(&self, method: &worker::Method, target: &str) -> Result<String, String> {
        let now = portaldm_shared::time::UnixMillis(worker::Date::now().as_millis());
        portaldm_shared::edgeauth::sign(&self.edge_keys, method.as_ref(), target, now).map_err(|e| e.to_string())
    }

    /// The configuration of this isolate, parsed on its first request (a bad configuration
    /// is not kept: every request reports it until it is fixed).
    pub fn cached(env: &Env) -> Result<std::rc::Rc<Self>, String> {
        if let Some(c) = PARSED.with(|p| p.borrow().clone()) {
            return Ok(c);
        }
        let c = std::rc::Rc::new(Self::from_env(env)?);
        PARSED.with(|p| *p.borrow_mut() = Some(c.clone()));
        Ok(c)
    }

    /// Reads the bindings.
    pub fn from_env(env: &Env) -> Result<Self, String> {
        let token_key = NamedKey::parse(&text(env, "PDM_TOKEN_KEY")?).map_err(|e| format!("PDM_TOKEN_KEY: {e}"))?;
        let cdn_keys = parse_key_list(&text(env, "PDM_CDN_KEYS")?).map_err(|e| format!("PDM_CDN_KEYS: {e}"))?;
        let edge_keys = parse_key_list(&text(env, "PDM_EDGE_KEYS")?).map_err(|e| format!("PDM_EDGE_KEYS: {e}"))?;
        let ttl = text(env, "PDM_TOKEN_TTL_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(600);
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match text(env, name) {
                Ok(v) => v.trim().parse().map_err(|_| format!("{name} is not a number: {v:?}")),
                Err(_) => Ok(default),
            }
        };
        let defaults = EdgeCachePolicy::default();
        let blob_cache = EdgeCachePolicy {
            ttl_secs: number("PDM_BLOB_CACHE_SECS", defaults.ttl_secs)?,
            max_bytes: number("PDM_BLOB_CACHE_MAX_BYTES", defaults.max_bytes)?,
        };
        Ok(EdgeConfig {
            origin_url: text(env, "PDM_ORIGIN_URL")?.trim_end_matches('/').to_owned(),
            token_signer: TokenSigner::new(&token_key).map_err(|e| format!("PDM_TOKEN_KEY: {e}"))?,
            cdn_keys,
            edge_keys,
            trigger: TriggerConfig {
                issuer: text(env, "PDM_ISSUER")?,
                audience: text(env, "PDM_AUDIENCE")?,
                server_id: text(env, "PDM_SERVER_ID")?,
                server_password: text(env, "PDM_SERVER_PASSWORD")?,
                nonce: text(env, "PDM_NONCE").unwrap_or_default(),
                ttl_secs: ttl,
                colo: text(env, "PDM_COLO").unwrap_or_else(|_| "UNKNOWN".into()),
            },
            blob_cache,
            max_body_bytes: number("PDM_MAX_BODY_BYTES", 64 * 1024)?,
            client_info: client_info(env)?,
        })
    }
}
