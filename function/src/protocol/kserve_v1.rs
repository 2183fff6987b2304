//! KServe's V1 data plane: `GET /v1/models` lists the one served model,
//! `GET /v1/models/{name}` says whether it is ready, and
//! `POST /v1/models/{name}:predict` answers `{"instances": [[...], ...]}` (or instances
//! as records, `[{"column": value, ...}, ...]`) with `{"predictions": [...]}`, one class
//! label (or regression value) per instance, and `POST /v1/models/{name}:explain` the
//! same instances with `{"explanations": [...]}`, one per instance
//! ([`super::explanations`]).

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use super::explanations;
use super::fast_records::{self, OneRecord::Refused};
use super::json::parse_json;
use super::rows::decode_rows;
use crate::body::read_json_body;
use crate::error::{json_response, ApiError};
use crate::infer;
use crate::state::App;
use model::{Batch, ModelInfo, Predicted};

/// The accepted request shape, quoted in errors.
const SHAPE: &str =
    r#"{"instances": [[f1, f2, ...], ...]} or {"instances": [{"column": value, ...}, ...]}"#;

/// `GET /v1/models`: `{"models": [name]}`.
pub fn list(app: &App) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "models": [app.model_name] });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

/// `GET /v1/models/{name}`: `{"name": name, "ready": true}`. The port opens only after
/// the model has loaded, so a served model is ready until shutdown begins; then
/// `"ready": false` with 503, as KServe's own server answers a model that is not ready.
pub fn model(app: &App) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "name": app.model_name, "ready": app.is_ready() });
    json_response(app.readiness_status(), body.to_string().into_bytes())
}

/// `POST /v1/models/{name}:predict`.
pub async fn predict(
    request: Request<Incoming>,
    app: &App,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let body = read_json_body(request, app.limits.max_body_bytes).await?;
    let batch = decode(&body, app.model.info(), app.limits.max_batch_rows)?;
    let prediction = infer::predict(app, batch).await?;
    Ok(json_response(StatusCode::OK, encode(&prediction.predicted)))
}

/// `POST /v1/models/{name}:explain`.
pub async fn explain(
    request: Request<Incoming>,
    app: &App,
) -> Result<Response<Full<Bytes>>, ApiError> {
    // Before reading the body: a model that cannot explain says so at once.
    if let Err(why) = app.model.explainer() {
        return Err(ApiError::BadRequest(why.to_string()));
    }
    let body = read_json_body(request, app.limits.max_body_bytes).await?;
    let batch = decode(&body, app.model.info(), app.limits.max_batch_rows)?;
    let explanations = infer::explain(app, batch).await?;
    let names = explanations::feature_names(app.model.info(), app.model.n_features());
    let answer = explanations::Explained {
        explanations: explanations::to_json(&explanations, &names),
    };
    let body = serde_json::to_vec(&answer).expect("floats and names serialise");
    Ok(json_response(StatusCode::OK, body))
}

/// Decodes `{"instances": [...]}` of at most `max_rows` rows, arrays or records. Unknown
/// fields are refused, as `/predict` does: a misspelt `instance` should not be silently
/// ignored.
pub fn decode(body: &[u8], info: &ModelInfo, max_rows: usize) -> Result<Batch, ApiError> {
    // Valid records skip the JSON tree; anything else is decoded or explained through it.
    match fast_records::decode(body, "instances", info, max_rows, Refused) {
        Some(batch) => Ok(batch),
        None => decode_explained(body, info, max_rows),
    }
}

/// The general path: through a `serde_json::Value`, saying exactly what is wrong (public
/// so that the fuzz targets hold [`decode`] to it).
pub fn decode_explained(body: &[u8], info: &ModelInfo, max_rows: usize) -> Result<Batch, ApiError> {
    let bad = |message: String| ApiError::BadRequest(message);
    crate::budget::charge_json_tree(body.len())?;
    let value: Value =
        parse_json(body).map_err(|e| bad(format!("request body {e}; send {SHAPE}")))?;
    let Value::Object(mut fields) = value else {
        return Err(bad(format!("request body must be a JSON object: {SHAPE}")));
    };
    let instances = fields
        .remove("instances")
        .ok_or_else(|| bad(format!("missing field `instances`; send {SHAPE}")))?;
    if let Some(unknown) = fields.keys().next() {
        return Err(bad(format!(
            "unknown field `{unknown}`; the only field is `instances`: {SHAPE}"
        )));
    }
    let Value::Array(rows) = instances else {
        return Err(bad(format!(
            "`instances` must be an array of rows: {SHAPE}"
        )));
    };
    if rows.is_empty() {
        return Err(bad("`instances` is empty; send at least one row".into()));
    }
    decode_rows(&rows, "instances", info, max_rows)
}

/// Encodes `{"predictions": [...]}`: the same per-row answers `/predict` gives.
pub fn encode(predicted: &Predicted) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Answer<'a> {
        predictions: &'a Predicted,
    }
    serde_json::to_vec(&Answer {
        predictions: predicted,
    })
    .expect("labels and floats serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;

    fn info() -> ModelInfo {
        ModelInfo::for_tests(Labels::Int(vec![0, 1]), &["label"])
    }

    fn error(body: &str) -> String {
        match decode(body.as_bytes(), &info(), 2) {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("expected a bad request for {body}, got {other:?}"),
        }
    }

    #[test]
    fn decodes_instances_as_rows() {
        let batch = decode(br#"{"instances":[[1,2],[3,4.5]]}"#, &info(), 2).unwrap();
        assert_eq!(batch, Batch::new(vec![1.0, 2.0, 3.0, 4.5], 2));
    }

    #[test]
    fn rejects_a_flat_instance_list_and_other_shapes() {
        assert!(error(r#"{"instances":[1,2]}"#).contains("`instances[0]` is 1, not a row"));
        assert!(error(r#"{"instances":[]}"#).contains("empty"));
        assert!(error(r#"{"inputs":[[1,2]]}"#).contains("missing field `instances`"));
        assert!(error(r#"{"instances":[[1,2]],"x":0}"#).contains("unknown field `x`"));
        assert!(error(r#"{"instances":[[1,2,3]]}"#).contains("has 3 features"));
        assert!(error("[").contains("not valid JSON"));
        assert!(error(r#"{"instances":[[1,null]]}"#).contains("missing value"));
        let three = decode(br#"{"instances":[[1,2],[1,2],[1,2]]}"#, &info(), 2);
        assert!(matches!(three, Err(ApiError::TooManyRows { rows: 3, .. })));
    }

    #[test]
    fn decodes_instances_as_records_by_input_name() {
        let records = decode(
            br#"{"instances":[{"input":[1,2]},{"input":[3,4.5]}]}"#,
            &info(),
            2,
        );
        assert_eq!(records.unwrap(), Batch::new(vec![1.0, 2.0, 3.0, 4.5], 2));
        let message = error(r#"{"instances":[{"input":[1,2]},{"inputs":[1,2]}]}"#);
        assert!(
            message.contains("`instances[1]` has no column \"input\""),
            "{message}"
        );
    }

    #[test]
    fn encodes_predictions() {
        let predicted = Predicted::Labels(Labels::Str(vec!["a".into(), "b".into()]));
        assert_eq!(encode(&predicted), br#"{"predictions":["a","b"]}"#);
    }
}
