//! Refuses requests without a valid edge credential (403) before any handler runs; the rule
//! is `shared::edgeauth`. A tower layer rather than `axum::middleware::from_fn`: the check is
//! synchronous, and a DM message held while the user chooses keeps its future for minutes —
//! `from_fn` boxes two futures per request (about 1.2 KiB of each held session,
//! BENCHMARKS.md), this one passes the inner future on as it is.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, Ready, ready};
use portaldm_shared::edgeauth;
use portaldm_shared::keys::NamedKey;
use tower::{Layer, Service};

use crate::error::AppError;

/// The layer, with the keys the credential may be signed with.
#[derive(Clone)]
pub struct RequireEdge(pub Arc<Vec<NamedKey>>);

impl<S> Layer<S> for RequireEdge {
    type Service = RequireEdgeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireEdgeService { inner, keys: self.0.clone() }
    }
}

/// The service the layer wraps around a route.
#[derive(Clone)]
pub struct RequireEdgeService<S> {
    inner: S,
    keys: Arc<Vec<NamedKey>>,
}

impl<S> Service<Request> for RequireEdgeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let header = req.headers().get(edgeauth::HEADER).and_then(|v| v.to_str().ok());
        match edgeauth::verify(&self.keys, header, req.method().as_str(), target, crate::clock::now()) {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(e) => {
                // A RespURI secret stays out of the log.
                let shown = portaldm_shared::session::continuation::loggable(target);
                tracing::warn!(target = %portaldm_shared::text::Quoted(shown), error = %e, "request refused: not from the edge");
                // Why is for the log: a caller probing the credential learns nothing from it.
                Either::Right(ready(Ok(AppError::Forbidden("request did not come through the edge").into_response())))
            }
        }
    }
}
