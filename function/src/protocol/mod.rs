//! Protocol adapters: each decodes its request body into a [`model::Batch`], runs
//! it through [`run`] (the one call into the model), and encodes the
//! [`model::Prediction`] back, so the same rows give the same numbers everywhere.
//!
//! - [`predict`]: the tutorial's `/predict`.
//! - [`kserve_v1`]: KServe V1 (`/v1/models/...`).
//! - [`open_inference`]: Open Inference Protocol V2 REST (`/v2/...`).
//! - [`cloudevents`]: CloudEvents over HTTP (`POST /`), binary and structured mode.
//! - [`openapi`]: the OpenAPI document of every route.

pub mod cloudevents;
mod fast_rows;
pub mod kserve_v1;
pub mod open_inference;
pub mod openapi;
pub mod predict;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Incoming};
use hyper::{header, HeaderMap, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::router::App;
use model::{Batch, Prediction};

/// Deepest JSON nesting accepted. The deepest valid request (an Open Inference request
/// with nested `data` and `parameters`) needs 6; serde_json's own limit is 128.
pub const MAX_JSON_DEPTH: usize = 32;

/// Parses a JSON body, after checking its nesting depth. The error says what is wrong
/// with the body, to follow "request body ...".
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    check_depth(body)?;
    serde_json::from_slice(body).map_err(|error| {
        if error.is_syntax() && non_json_number_at(body, &error) {
            format!(
                "holds NaN or Infinity, which JSON does not have ({error}); send a number, \
                 or null for a missing value if the model takes missing values"
            )
        } else if error.is_data() {
            format!("does not have the expected fields ({error})")
        } else {
            format!("is not valid JSON ({error})")
        }
    })
}

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`] before parsing it: a clear 400
/// rather than serde_json's recursion error, and no deep value to build or drop.
fn check_depth(body: &[u8]) -> Result<(), String> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(format!(
                        "nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Whether a syntax error is at a `NaN` or `Infinity` token, as Python's `json.dumps`
/// writes for a float NaN: the commonest way a missing value reaches us.
fn non_json_number_at(body: &[u8], error: &serde_json::Error) -> bool {
    let line_start: usize = body
        .split(|&b| b == b'\n')
        .take(error.line().saturating_sub(1))
        .map(|line| line.len() + 1)
        .sum();
    let at = (line_start + error.column())
        .saturating_sub(1)
        .min(body.len());
    let from = at.saturating_sub(1);
    let near = &body[from..body.len().min(at + 9)];
    [&b"NaN"[..], b"Infinity"]
        .iter()
        .any(|token| near.windows(token.len()).any(|w| w == *token))
}

/// 413 when a batch of `rows` rows is over the configured limit. Called before the rows
/// are collected, so a huge declared batch costs nothing.
pub fn check_rows(rows: usize, limit: usize) -> Result<(), ApiError> {
    if rows > limit {
        Err(ApiError::TooManyRows { rows, limit })
    } else {
        Ok(())
    }
}

/// A feature value for the model from a JSON number (or `null`, a missing value).
/// NaN reaches the model only as `null`, and only when the model takes missing values
/// ([`model::ModelInfo::handles_missing`]); infinities never do.
pub fn feature(value: Option<f64>, handles_missing: bool) -> Result<f32, FeatureError> {
    let Some(number) = value else {
        return if handles_missing {
            Ok(f32::NAN)
        } else {
            Err(FeatureError::Missing)
        };
    };
    if number.is_nan() {
        return if handles_missing {
            Ok(f32::NAN)
        } else {
            Err(FeatureError::Missing)
        };
    }
    let single = number as f32;
    if single.is_finite() {
        Ok(single)
    } else {
        Err(FeatureError::OutOfRange)
    }
}

/// Why a value cannot be a feature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureError {
    /// A missing value (null or NaN) for a model that does not take them.
    Missing,
    /// Infinite, or beyond the range of f32.
    OutOfRange,
}

impl FeatureError {
    /// The message for the value `what` (e.g. "`input[0][2]` = NaN").
    pub fn explain(self, what: &str) -> String {
        match self {
            FeatureError::Missing => format!(
                "{what} is a missing value, and this model does not take missing values \
                 (it has no branch for them); send a number"
            ),
            FeatureError::OutOfRange => {
                format!("{what} is infinite or outside the range of a 32-bit float")
            }
        }
    }
}

/// Predicts `batch` with the served model. Every protocol ends here, so this is where
/// the model's time and rows are measured, and where a big batch is sent off the worker
/// thread (see [`crate::runtime::Offload`]).
pub async fn run(app: &App, batch: Batch) -> Result<Prediction, ApiError> {
    let started = app.metrics.as_ref().map(|_| std::time::Instant::now());
    let rows = batch.rows();
    let prediction = if app.offload.wants(rows, app.model.work_per_row()) {
        let model = std::sync::Arc::clone(&app.model);
        app.offload.run(move || model.predict(&batch)).await
    } else {
        app.model.predict(&batch)
    }
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    if let (Some(metrics), Some(started)) = (&app.metrics, started) {
        metrics.record_inference(rows, started.elapsed());
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
pub async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_json_nested_too_deep_but_not_brackets_in_strings() {
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        let message = parse_json::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert!(message.contains("more than 32 levels deep"), "{message}");
        let shallow = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert!(parse_json::<serde_json::Value>(shallow.as_bytes()).is_ok());
        let quoted = format!(r#"{{"a":"{}\"["}}"#, "[".repeat(100));
        assert!(parse_json::<serde_json::Value>(quoted.as_bytes()).is_ok());
    }

    #[test]
    fn names_nan_and_infinity_tokens() {
        for body in [
            r#"{"input":[1,NaN]}"#,
            "{\"input\":\n[-Infinity, 2]}",
            "[Infinity]",
        ] {
            let message = parse_json::<serde_json::Value>(body.as_bytes()).unwrap_err();
            assert!(message.contains("NaN or Infinity"), "{body}: {message}");
        }
        let message = parse_json::<serde_json::Value>(b"{\"input\":[1,nope]}").unwrap_err();
        assert!(message.contains("not valid JSON"), "{message}");
    }

    #[test]
    fn missing_values_only_for_models_that_take_them() {
        assert_eq!(feature(Some(1.5), false), Ok(1.5));
        assert_eq!(feature(None, false), Err(FeatureError::Missing));
        assert_eq!(feature(Some(f64::NAN), false), Err(FeatureError::Missing));
        assert!(feature(None, true).unwrap().is_nan());
        assert_eq!(
            feature(Some(f64::INFINITY), true),
            Err(FeatureError::OutOfRange)
        );
        assert_eq!(feature(Some(1e39), true), Err(FeatureError::OutOfRange));
    }

    #[test]
    fn row_limit_is_inclusive() {
        assert!(check_rows(10, 10).is_ok());
        assert!(matches!(
            check_rows(11, 10),
            Err(ApiError::TooManyRows {
                rows: 11,
                limit: 10
            })
        ));
    }
}
