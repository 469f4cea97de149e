//! What the platform says about a request's client: `request.cf` and the client's address,
//! believed only where the deployment says who sets them (`config::ClientInfo`). Under local
//! workerd `request.cf` is whatever its socket's `cfBlobHeader` carried, and any
//! `CF-Connecting-IP` came from the client itself.

use worker::Request;

use crate::config::{ClientInfo, EdgeConfig};

/// The header Cloudflare puts the client's address in.
pub const CONNECTING_IP: &str = "cf-connecting-ip";

/// The string field `name` of `request.cf`, if trusted, present and not empty. Read
/// directly: the `worker` crate's getters panic when a field is missing.
pub fn field(req: &Request, cfg: &EdgeConfig, name: &str) -> Option<String> {
    if cfg.client_info != ClientInfo::Cloudflare {
        return None;
    }
    let cf = js_sys::Reflect::get(req.inner(), &"cf".into()).ok().filter(|v| v.is_object())?;
    js_sys::Reflect::get(&cf, &name.into()).ok()?.as_string().filter(|c| !c.is_empty())
}

/// The client's address as the trusted source gives it; `None` when nothing trusted says.
pub fn client_address(req: &Request, cfg: &EdgeConfig) -> Option<String> {
    let header = match &cfg.client_info {
        ClientInfo::Cloudflare => CONNECTING_IP,
        ClientInfo::ProxyHeader(h) => h.as_str(),
        ClientInfo::Untrusted => return None,
    };
    req.headers().get(header).ok().flatten().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
