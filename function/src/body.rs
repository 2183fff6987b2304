//! Reading request bodies: JSON content types only (415 otherwise), uncompressed (415),
//! and never more than the body limit (413), whether or not a length is declared. A body
//! read is kept for the payload log when the request layer asked for it
//! ([`crate::payload_log::BodyTap`]).

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Incoming};
use hyper::{header, HeaderMap, Request};

use crate::error::ApiError;
use crate::payload_log::BodyTap;

/// The media type of a `Content-Type` header without parameters, lowercased.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().unwrap_or("");
    Some(essence(value).to_ascii_lowercase())
}

/// The media type of a `Content-Type` value, without parameters, as written.
fn essence(value: &str) -> &str {
    value.split(';').next().unwrap_or("").trim()
}

/// Reads the whole body of a JSON request, refusing other content types (415) and
/// bodies over `limit` bytes (413). A missing content type is taken as JSON.
pub async fn read_json_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    if let Some(value) = request.headers().get(header::CONTENT_TYPE) {
        let value = value.to_str().unwrap_or("");
        let essence = essence(value).as_bytes();
        let json = essence.eq_ignore_ascii_case(b"application/json")
            || (essence.len() >= 5 && essence[essence.len() - 5..].eq_ignore_ascii_case(b"+json"));
        if !json {
            return Err(ApiError::UnsupportedMediaType(format!("{value:?}")));
        }
    }
    read_body(request, limit).await
}

/// Reads the whole body whatever its content type, refusing bodies over `limit` bytes
/// (413) and compressed bodies (415: we would only fail to parse them later).
pub async fn read_body(mut request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    if let Some(encoding) = request.headers().get(header::CONTENT_ENCODING) {
        if !encoding.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(ApiError::UnsupportedEncoding(format!(
                "{:?}",
                encoding.to_str().unwrap_or("")
            )));
        }
    }
    // A declared length over the limit is refused before a byte of the body is read.
    if request.body().size_hint().lower() > limit as u64 {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let tap = request.extensions_mut().remove::<BodyTap>();
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => {
            let body = collected.to_bytes();
            if let Some(tap) = tap {
                tap.keep(&body);
            }
            Ok(body)
        }
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Err(error) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {error}"
        ))),
    }
}
