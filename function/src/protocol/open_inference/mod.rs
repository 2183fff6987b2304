//! The Open Inference Protocol (KServe V2, Triton, MLServer) over REST: server and model
//! metadata, health, and `POST /v2/models/{name}[/versions/{v}]/infer`. Errors are
//! `{"error": "..."}` with 400 for bad input and 404 for an unknown model or version.
//!
//! The served model has one version (`--model-version`, default `1`); paths without
//! `/versions/{v}` mean that one. A request has one tensor per graph input, by name
//! (BYTES for a string input). Request `parameters` are accepted and ignored, except
//! `binary_data_size` on an input: Triton's binary tensor extension, which
//! `tritonclient` uses by default, is read. Outputs are always JSON, which every client
//! reads whether or not it asked for binary outputs.
//!
//! - `inputs`: the request's tensors matched to the model's inputs, binary data split.
//! - `tensor`: one tensor's shape and data into an input's values; `datatype` (numbers)
//!   and `strings` (BYTES) for its elements.
//! - `metadata`: the model's inputs and outputs as the graph declares them, and health.
//! - `outputs`: a prediction's output tensors, which REST and gRPC write each their way.
//! - [`grpc`] and [`proto`]: the same service over gRPC (`inference.GRPCInferenceService`),
//!   its requests decoded by the same rules into the same batch.
//! - [`as_rest`]: gRPC `ModelInfer` messages as their V2 REST JSON, for payload events.

pub mod as_rest;
mod datatype;
pub mod grpc;
mod inputs;
mod metadata;
mod outputs;
pub mod proto;
mod strings;
mod tensor;

pub use datatype::Datatype;
pub use metadata::{input_metadata, live, model_metadata, model_ready, ready, server_metadata};

use inputs::RequestInput;
use metadata::{output_specs, OutputSpec};
use outputs::{output_tensor, OutputData};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::json::parse_json;
use crate::body::{read_body, read_json_body};
use crate::error::{json_response, ApiError};
use crate::infer;
use crate::state::App;
use model::{Batch, ModelInfo, Prediction};

/// Header of the binary tensor extension: the length of the JSON part of the body.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// `$inference_request`. Unknown fields are ignored, as clients add their own.
#[derive(Debug, Deserialize)]
struct InferRequest {
    id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // accepted so that a non-object is refused; no parameter is used
    parameters: Option<Map<String, Value>>,
    inputs: Vec<RequestInput>,
    outputs: Option<Vec<RequestOutput>>,
}

/// `$request_output`.
#[derive(Debug, Deserialize)]
struct RequestOutput {
    name: String,
    #[serde(default)]
    #[allow(dead_code)] // binary_data is answered with JSON, which clients read
    parameters: Option<Map<String, Value>>,
}

/// `$inference_response`.
#[derive(Debug, Serialize)]
struct InferResponse<'a> {
    model_name: &'a str,
    model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    outputs: Vec<ResponseOutput<'a>>,
}

/// `$response_output`: data flattened in row-major order.
#[derive(Debug, Serialize)]
struct ResponseOutput<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: Vec<usize>,
    data: OutputData<'a>,
}

/// `POST /v2/models/{name}[/versions/{v}]/infer`.
pub async fn infer(
    request: Request<Incoming>,
    app: &App,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let header_length = match request.headers().get(HEADER_LENGTH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("header {HEADER_LENGTH} must be a byte count"))
                })?,
        ),
    };
    let body = match header_length {
        // JSON followed by raw tensor bytes: whatever the content type says.
        Some(_) => read_body(request, app.limits.max_body_bytes).await?,
        None => read_json_body(request, app.limits.max_body_bytes).await?,
    };
    let info = app.model.info();
    let Decoded {
        id,
        batch,
        outputs: specs,
    } = decode(&body, header_length, info, app.limits.max_batch_rows)?;
    let prediction = infer::predict(app, batch).await?;
    let response = InferResponse {
        model_name: &app.model_name,
        model_version: &app.model_version,
        id: id.as_deref(),
        outputs: specs
            .iter()
            .map(|spec| response_output(spec, &prediction))
            .collect(),
    };
    let body = serde_json::to_vec(&response).expect("labels and floats serialise");
    Ok(json_response(StatusCode::OK, body))
}

/// An inference request, decoded and checked against the model.
#[derive(Debug)]
pub struct Decoded<'a> {
    /// The request's `id`, echoed in the response.
    pub id: Option<String>,
    /// The rows to predict.
    pub batch: Batch,
    /// The outputs to answer with, in order.
    outputs: Vec<OutputSpec<'a>>,
}

/// Decodes an inference request body: JSON, or with `header_length` (Triton's binary
/// extension) that many bytes of JSON followed by raw tensor bytes. At most `max_rows`
/// rows (413 beyond); every other problem is a 400.
pub fn decode<'a>(
    body: &[u8],
    header_length: Option<usize>,
    info: &'a ModelInfo,
    max_rows: usize,
) -> Result<Decoded<'a>, ApiError> {
    let (json, binary) = match header_length {
        Some(length) if length <= body.len() => body.split_at(length),
        Some(length) => {
            return Err(ApiError::BadRequest(format!(
                "{HEADER_LENGTH} is {length} but the body has only {} bytes",
                body.len()
            )))
        }
        None => (body, &[][..]),
    };
    // `data` arrays become JSON trees, many times the size of their text.
    crate::budget::charge_json_tree(json.len())?;
    let request: InferRequest = parse_json(json).map_err(|e| {
        ApiError::BadRequest(format!(
            "request body is not an inference request: it {e}; send \
             {{\"inputs\":[{{\"name\",\"shape\",\"datatype\",\"data\"}}]}}"
        ))
    })?;
    let batch = inputs::decode(&request.inputs, binary, info, max_rows)?;
    let wanted = request.outputs.iter().flatten();
    let outputs = requested_outputs(wanted.map(|output| output.name.as_str()), info)?;
    Ok(Decoded {
        id: request.id,
        batch,
        outputs,
    })
}

/// The outputs named in `wanted`, in that order; all of them when none are named.
fn requested_outputs<'a, 'n>(
    wanted: impl Iterator<Item = &'n str>,
    info: &'a ModelInfo,
) -> Result<Vec<OutputSpec<'a>>, ApiError> {
    let all = output_specs(info);
    let mut wanted = wanted.peekable();
    if wanted.peek().is_none() {
        return Ok(all);
    }
    wanted
        .map(|name| {
            all.iter()
                .find(|spec| spec.name == name)
                .cloned()
                .ok_or_else(|| {
                    let names: Vec<&str> = all.iter().map(|spec| spec.name).collect();
                    ApiError::BadRequest(format!(
                        "unknown output {name:?}; the model's outputs are {names:?}"
                    ))
                })
        })
        .collect()
}

/// One output tensor of the prediction.
fn response_output<'a>(spec: &OutputSpec<'a>, prediction: &'a Prediction) -> ResponseOutput<'a> {
    let (shape, data) = output_tensor(spec, prediction);
    ResponseOutput {
        name: spec.name,
        datatype: spec.datatype,
        shape,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;

    fn classifier(labels: Labels, outputs: &[&str]) -> ModelInfo {
        ModelInfo::for_tests(labels, outputs)
    }

    fn request(body: Value) -> InferRequest {
        serde_json::from_value(body).unwrap()
    }

    fn requested<'a>(
        request: &InferRequest,
        info: &'a ModelInfo,
    ) -> Result<Vec<OutputSpec<'a>>, ApiError> {
        let wanted = request.outputs.iter().flatten();
        requested_outputs(wanted.map(|output| output.name.as_str()), info)
    }

    #[test]
    fn selects_outputs_by_name_and_refuses_unknown_ones() {
        let info = classifier(Labels::Int(vec![0, 1]), &["label", "probabilities"]);
        let inputs = serde_json::json!([]);
        let only = request(serde_json::json!({
            "inputs": inputs, "outputs": [{"name": "probabilities"}]
        }));
        let names: Vec<&str> = requested(&only, &info)
            .unwrap()
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["probabilities"]);
        let none = request(serde_json::json!({ "inputs": inputs }));
        assert_eq!(requested(&none, &info).unwrap().len(), 2);
        let unknown = request(serde_json::json!({
            "inputs": inputs, "outputs": [{"name": "scores"}]
        }));
        let error = requested(&unknown, &info).unwrap_err().to_string();
        assert!(error.contains("unknown output \"scores\""), "{error}");
    }
}
