//! `GET`/`HEAD /blobs/<sha256>`: package bytes for the edge, only for a valid signed
//! download URL, with byte ranges and validators as `shared::range` decides them.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portaldm_shared::{cdn, range};

use crate::blobstore::BlobError;
use crate::clock::now;
use crate::error::AppError;
use crate::state::AppState;

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Why a download of `blob` with this signed query may not be served (the same signed query
/// the edge checked, checked again; the package it names revoked), or `None` when it may.
async fn refusal(st: &AppState, blob: &str, query: Option<&str>) -> Result<Option<Response>, AppError> {
    let path = format!("{}{blob}", cdn::PREFIX);
    let signed = match cdn::verify(&st.cdn_keys, &path, query.unwrap_or(""), now()) {
        Ok(s) => s,
        Err(e) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN);
            return Ok(Some((status, e.to_string()).into_response()));
        }
    };
    // The package the URL names, not any with these bytes: revoking one stops exactly its URLs.
    if !st.store.blob_published(signed.package, blob).await? {
        return Err(AppError::NotFound("this package is not published (any more)"));
    }
    Ok(None)
}

/// `GET /blobs/<sha256>/status?<signed query>`: whether a download may be served, without its
/// bytes (204, or the refusal the bytes would get). The edge asks this before serving a blob
/// from an R2 bucket, so that revocation stays the origin's decision.
pub async fn blob_status(
    State(st): State<AppState>,
    Path(blob): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    if let Some(refusal) = refusal(&st, &blob, query.as_deref()).await? {
        return Ok(refusal);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The handler: the bytes, once [`refusal`] finds nothing against them.
pub async fn get_blob(
    State(st): State<AppState>,
    method: Method,
    Path(blob): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(refusal) = refusal(&st, &blob, query.as_deref()).await? {
        return Ok(refusal);
    }
    let Some(len) = st.blobs.stat(&blob).await.map_err(|e| AppError::Internal(e.into()))? else {
        return Err(AppError::NotFound("blob is missing"));
    };
    let tag = range::etag(&blob);
    let sel = range::select(
        len,
        &tag,
        header_str(&headers, header::IF_NONE_MATCH),
        header_str(&headers, header::RANGE),
        header_str(&headers, header::IF_RANGE),
    );
    let body_len = sel.body_len(len);
    let body = if method == Method::HEAD || body_len == 0 {
        Body::empty()
    } else {
        let start = match sel {
            range::Selection::Partial { start, .. } => start,
            _ => 0,
        };
        let stream = st.blobs.stream(&blob, start, body_len).await.map_err(|e| match e {
            BlobError::NotFound => AppError::NotFound("blob is missing"),
            e => AppError::Internal(e.into()),
        })?;
        Body::from_stream(stream)
    };
    let mut r = body.into_response();
    *r.status_mut() = StatusCode::from_u16(sel.status()).unwrap_or(StatusCode::OK);
    let h = r.headers_mut();
    let bad = |e: axum::http::header::InvalidHeaderValue| AppError::Internal(e.into());
    for (name, value) in sel.headers(len, &tag) {
        h.insert(HeaderName::from_static(name), HeaderValue::from_str(&value).map_err(bad)?);
    }
    if sel != range::Selection::NotModified {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    }
    Ok(r)
}
