//! Reading request bodies: JSON content types only (415 otherwise), uncompressed (415),
//! never more than the body limit (413), whether or not a length is declared, and
//! charged to the request's memory budget before each byte is kept ([`crate::budget`]).
//! A body read is kept for the payload log when the request layer asked for it
//! ([`crate::payload_log::BodyTap`]).

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper::{header, HeaderMap, Request};

use crate::budget::charge_body;
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
    let declared = request.body().size_hint().lower();
    if declared > limit as u64 {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let tap = request.extensions_mut().remove::<BodyTap>();
    // One buffer, sized to the declared length: the body is held once, never as a list
    // of frames and a copy of them. A chunked body grows it, charged before each growth.
    let declared = declared as usize;
    charge_body(declared)?;
    let mut buffer: Vec<u8> = Vec::with_capacity(declared);
    let mut body = request.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            ApiError::BadRequest(format!("could not read the request body: {error}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let needed = buffer.len() + data.len();
        if needed > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if needed > buffer.capacity() {
            // What `reserve` will allocate: at least double, as `Vec` grows.
            let capacity = needed.max(buffer.capacity() * 2).min(limit);
            charge_body(capacity)?;
            buffer.reserve_exact(capacity - buffer.len());
        }
        buffer.extend_from_slice(&data);
    }
    let body = Bytes::from(buffer);
    if let Some(tap) = tap {
        tap.keep(&body);
    }
    Ok(body)
}
