//! Deliberate responses: errors, redirects, byte answers with headers.

use worker::{Headers, Response};

/// The edge's own answer as the runtime's object, the form `route` returns (answers passed
/// through from the origin already are).
pub fn raw(r: worker::Result<Response>) -> worker::Result<web_sys::Response> {
    r.map(web_sys::Response::from)
}

/// A plain-text error with `status`.
pub fn error(status: u16, message: &str) -> worker::Result<Response> {
    let h = Headers::new();
    h.set("Content-Type", "text/plain; charset=utf-8")?;
    h.set("Cache-Control", "no-store")?;
    Ok(Response::error(message, status)?.with_headers(h))
}

/// A failure of the edge's own (configuration, runtime): the detail goes to the worker's
/// log, the client gets a fixed sentence, never internal text.
pub fn internal(status: u16, detail: &dyn std::fmt::Display) -> worker::Result<Response> {
    worker::console_error!("{detail}");
    error(status, "the edge could not handle this request; try again later")
}

/// A 302 to `location`.
pub fn redirect(location: &str) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("Location", location)?;
    Ok(Response::empty()?.with_status(302).with_headers(headers))
}

/// Bytes with headers.
pub fn bytes(status: u16, body: Vec<u8>, headers: &[(&str, &str)]) -> worker::Result<Response> {
    let h = Headers::new();
    for (k, v) in headers {
        h.append(k, v)?;
    }
    Ok(Response::from_bytes(body)?.with_status(status).with_headers(h))
}
