//! Protocol adapters: each decodes its request body into a [`crate::model::Batch`] and
//! encodes the [`crate::model::Prediction`] back. `predict` is the tutorial's `/predict`.

pub mod predict;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{header, Request};

use crate::error::ApiError;

/// Reads the whole body of a JSON request, refusing other content types (415) and
/// bodies over `limit` bytes (413). A missing content type is taken as JSON.
pub async fn read_json_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
        let value = content_type.to_str().unwrap_or("");
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType(format!("{value:?}")));
        }
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Err(error) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {error}"
        ))),
    }
}
