//! The origin's one error type, and how each variant becomes an HTTP response.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// An error that ends a request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// No credentials (e.g. no portal cookie).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Credentials that do not grant this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Not there (or not for this caller).
    #[error("{0}")]
    NotFound(&'static str),
    /// Not possible in the current state.
    #[error("{0}")]
    Conflict(&'static str),
    /// Not possible in the current state, with particulars.
    #[error("{0}")]
    ConflictMsg(String),
    /// A body larger than the endpoint takes.
    #[error("{0}")]
    TooLarge(String),
    /// Too many requests of a kind from this client: try again after this many seconds.
    #[error("too many unauthenticated requests; try again in {0} s")]
    TooMany(u64),
    /// A body type the endpoint does not take.
    #[error("{0}")]
    UnsupportedMedia(&'static str),
    /// Not done within the request's deadline (a store read that stalled, say).
    #[error("{0}")]
    Late(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else that is our fault.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A refusal with an explicit status code.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) | AppError::ConflictMsg(_) => StatusCode::CONFLICT,
            AppError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Late(_) => StatusCode::GATEWAY_TIMEOUT,
            AppError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::catalog_changes::CatalogError> for AppError {
    fn from(e: crate::catalog_changes::CatalogError) -> Self {
        use crate::catalog_changes::CatalogError as C;
        match e {
            C::Invalid(_) | C::NoBlob(_) => AppError::BadRequest(e.to_string()),
            C::NoPackage(_) => AppError::NotFound("no such package"),
            C::WrongState(m) => AppError::ConflictMsg(m),
            C::Store(e) => AppError::Store(e),
            C::Internal(e) => AppError::Internal(e),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %self, "database unavailable or busy");
            return (
                status,
                [(axum::http::header::RETRY_AFTER, "2")],
                Json(serde_json::json!({ "error": "the service is briefly unavailable; try again in a moment" })),
            )
                .into_response();
        } else if let AppError::TooMany(secs) = self {
            let body = Json(serde_json::json!({ "error": self.to_string() }));
            return (status, [(axum::http::header::RETRY_AFTER, secs.to_string())], body).into_response();
        } else if let AppError::Late(what) = self {
            tracing::warn!("{what}");
            what.to_owned()
        } else if status.is_server_error() {
            // Internal detail goes to the log, never to the client.
            tracing::error!(error = %self, "request failed");
            "something went wrong".to_owned()
        } else {
            self.to_string()
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_503_and_a_failed_query_500() {
        let down = AppError::Store(StoreError::Db(sqlx::Error::PoolTimedOut));
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(down.into_response().headers().contains_key(axum::http::header::RETRY_AFTER));
        let broken = AppError::Store(StoreError::Db(sqlx::Error::RowNotFound));
        assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(AppError::Store(StoreError::Corrupt("x".into())).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
