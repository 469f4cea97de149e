//! `GET /blobs/<sha256>`: package bytes for the edge, only for a valid signed download URL.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portaldm_shared::cdn;
use tokio_util::io::ReaderStream;

use crate::app::AppState;
use crate::clock::now;
use crate::error::AppError;

/// The handler: the same signed query the edge checked is checked here again.
pub async fn get_blob(
    State(st): State<AppState>,
    Path(blob): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let path = format!("{}{blob}", cdn::PREFIX);
    if let Err(e) = cdn::verify(&st.cdn_keys, &path, query.as_deref().unwrap_or(""), now()) {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN);
        return Ok((status, e.to_string()).into_response());
    }
    if !st.store.blob_published(&blob).await? {
        return Err(AppError::NotFound("no published package has this blob"));
    }
    let file_path = st.cfg.blob_dir.join(&blob);
    let file = match tokio::fs::File::open(&file_path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(AppError::NotFound("blob is missing"));
        }
        Err(e) => return Err(AppError::Internal(e.into())),
    };
    let len = file.metadata().await.map_err(|e| AppError::Internal(e.into()))?.len();
    let mut r = Body::from_stream(ReaderStream::new(file)).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ETAG, HeaderValue::from_str(&format!("\"{blob}\"")).map_err(|e| AppError::Internal(e.into()))?);
    Ok(r)
}
