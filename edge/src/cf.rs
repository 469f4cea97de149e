//! What Cloudflare says about a request (`request.cf`): absent under local workerd unless its
//! socket names a `cfBlobHeader`.

use worker::Request;

/// The string field `name` of `request.cf`, if present and not empty. Read directly: the
/// `worker` crate's getters panic when a field is missing.
pub fn field(req: &Request, name: &str) -> Option<String> {
    let cf = js_sys::Reflect::get(req.inner(), &"cf".into()).ok().filter(|v| v.is_object())?;
    js_sys::Reflect::get(&cf, &name.into()).ok()?.as_string().filter(|c| !c.is_empty())
}
