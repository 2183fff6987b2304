//! Protocol adapters: each decodes its request body into a [`crate::model::Batch`], runs
//! it through [`run`] (the one call into the model), and encodes the
//! [`crate::model::Prediction`] back, so the same rows give the same numbers everywhere.
//!
//! - [`predict`]: the tutorial's `/predict`.
//! - [`kserve_v1`]: KServe V1 (`/v1/models/...`).
//! - [`open_inference`]: Open Inference Protocol V2 REST (`/v2/...`).
//! - [`cloudevents`]: CloudEvents over HTTP (`POST /`), binary and structured mode.
//! - [`openapi`]: the OpenAPI document of every route.

pub mod cloudevents;
pub mod kserve_v1;
pub mod open_inference;
pub mod openapi;
pub mod predict;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{header, HeaderMap, Request};

use crate::error::ApiError;
use crate::model::{Batch, Prediction};
use crate::router::App;

/// Predicts `batch` with the served model. Every protocol ends here, so this is where
/// the model's time and rows are measured.
pub fn run(app: &App, batch: &Batch) -> Result<Prediction, ApiError> {
    let started = app.metrics.as_ref().map(|_| std::time::Instant::now());
    let prediction = app
        .model
        .predict(batch)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if let (Some(metrics), Some(started)) = (&app.metrics, started) {
        metrics.record_inference(batch.rows(), started.elapsed());
    }
    Ok(prediction)
}

/// The probabilities of `prediction` as one slice per row, when the model has them.
pub fn probability_rows(prediction: &Prediction) -> Option<Vec<&[f32]>> {
    let probabilities = prediction.probabilities.as_deref()?;
    let classes = probabilities
        .len()
        .checked_div(prediction.predicted.rows())
        .unwrap_or(0);
    Some(probabilities.chunks(classes.max(1)).collect())
}

/// The media type of a `Content-Type` header without parameters, lowercased.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().unwrap_or("");
    Some(
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Reads the whole body of a JSON request, refusing other content types (415) and
/// bodies over `limit` bytes (413). A missing content type is taken as JSON.
pub async fn read_json_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    if let Some(essence) = media_type(request.headers()) {
        if essence != "application/json" && !essence.ends_with("+json") {
            let value = request.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap_or("");
            return Err(ApiError::UnsupportedMediaType(format!("{value:?}")));
        }
    }
    read_body(request, limit).await
}

/// Reads the whole body whatever its content type, refusing bodies over `limit` bytes
/// (413) and compressed bodies (415: we would only fail to parse them later).
pub async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
    if let Some(encoding) = request.headers().get(header::CONTENT_ENCODING) {
        if !encoding.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(ApiError::UnsupportedEncoding(format!(
                "{:?}",
                encoding.to_str().unwrap_or("")
            )));
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

/// A 404 for a model name other than the served one, naming the one that is served.
pub fn check_model_name(app: &App, name: &str) -> Result<(), ApiError> {
    if name == app.model_name {
        Ok(())
    } else {
        Err(ApiError::ModelNotFound(format!(
            "unknown model {name:?}; this function serves {:?}",
            app.model_name
        )))
    }
}
