//! Answers still to come. A handler whose answer waits for minutes (a held package 4) can give
//! the connection loop (`http1`) the wait itself instead of waiting inside the router's future:
//! the loop then frees that future and its connection task, and waits for the answer in a task
//! that keeps only the socket and the wait (BENCHMARKS.md, held sessions).
//!
//! The loop marks the requests it can serve this way with [`Parkable`]; a request without the
//! mark (hyper's connections, in-process tests) gets its answer waited for in the handler.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::http::{Response, StatusCode};

/// An answer still to come.
pub type Pending = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// On a request: its connection loop waits for a [`Parked`] answer itself.
#[derive(Clone, Copy, Debug)]
pub struct Parkable;

/// On a stand-in response: the real answer, still to come. The stand-in is never sent.
#[derive(Clone)]
pub struct Parked(Arc<Mutex<Option<Pending>>>);

impl Parked {
    /// A stand-in response carrying `pending` (202 in the access log, which sees only this).
    pub fn response(pending: Pending) -> Response<Body> {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::ACCEPTED;
        response.extensions_mut().insert(Parked(Arc::new(Mutex::new(Some(pending)))));
        response
    }

    /// The answer still to come, if `response` is a stand-in for one.
    pub fn take(response: &mut Response<Body>) -> Option<Pending> {
        let parked = response.extensions_mut().remove::<Parked>()?;
        parked.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stand_in_gives_its_answer_once() {
        let mut stand_in = Parked::response(Box::pin(async { Response::new(Body::from("later")) }));
        assert_eq!(stand_in.status(), StatusCode::ACCEPTED);
        let pending = Parked::take(&mut stand_in).expect("a pending answer");
        let answer = axum::body::to_bytes(pending.await.into_body(), 64).await.expect("body");
        assert_eq!(&answer[..], b"later");
        assert!(Parked::take(&mut stand_in).is_none());
        assert!(Parked::take(&mut Response::new(Body::empty())).is_none());
    }
}
