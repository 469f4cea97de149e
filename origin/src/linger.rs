//! Lingering close for refused bodies: a request answered 413 before its body was read gets
//! up to [`LINGER_MAX`] bytes of that body read and thrown away first. Otherwise the origin
//! closes the connection with data unread, the kernel resets it, and a client still sending
//! sees a broken pipe instead of the 413 and its reason. Applied to the admin API and the
//! console, which clients reach directly; the edge drains what it refuses in front of the DM
//! and portal routes itself.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt as _;
use http_body::{Frame, SizeHint};

/// Most bytes of a refused body read before answering.
pub const LINGER_MAX: usize = 1 << 20;
/// Longest wait for them.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// The middleware.
pub async fn linger_on_refusal(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let shared = Arc::new(Mutex::new(Some(body)));
    let response = next.run(Request::from_parts(parts, Body::new(Shared(shared.clone())))).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let rest = shared.lock().ok().and_then(|mut b| b.take());
        if let Some(body) = rest {
            let mut stream = body.into_data_stream();
            let mut read = 0;
            let _ = tokio::time::timeout(LINGER_TIME, async {
                while let Some(Ok(chunk)) = stream.next().await {
                    read += chunk.len();
                    if read > LINGER_MAX {
                        break;
                    }
                }
            })
            .await;
        }
    }
    response
}

/// The request body as the handlers see it; what they leave unread stays with the middleware.
struct Shared(Arc<Mutex<Option<Body>>>);

impl http_body::Body for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.0.lock() {
            Ok(mut guard) => match guard.as_mut() {
                Some(body) => Pin::new(body).poll_frame(cx),
                None => Poll::Ready(None),
            },
            Err(_) => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.lock().map_or(true, |b| b.as_ref().is_none_or(http_body::Body::is_end_stream))
    }

    fn size_hint(&self) -> SizeHint {
        self.0.lock().ok().and_then(|b| b.as_ref().map(http_body::Body::size_hint)).unwrap_or_default()
    }
}
