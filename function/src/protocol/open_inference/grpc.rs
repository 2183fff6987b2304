//! The Open Inference Protocol's gRPC service, from decoded messages to the messages
//! answered: health, metadata and `ModelInfer`. A request's tensors go through the same
//! checks as V2 REST's (`super::inputs::batch`) and the same model call; the transport
//! (framing, statuses) is `crate::http::grpc`.
//!
//! Typed contents are laid out as the little-endian bytes they stand for and then read
//! as `raw_input_contents` are, so both follow one set of rules. Outputs come back the
//! way the inputs came (MLServer's convention): `raw_output_contents` for raw inputs
//! (what tritonclient sends and reads), typed `contents` otherwise (readable in grpcurl).

use super::inputs::{self, Tensor};
use super::metadata::{datatype, output_specs, platform, shape, OutputSpec};
use super::outputs::{output_tensor, OutputData};
use super::proto::{
    InferTensorContents, ModelInferRequest, ModelInferResponse, ModelMetadataResponse,
    ModelRequest, ReadyResponse, ServerMetadataResponse, TensorMetadata,
};
use super::requested_outputs;
use super::tensor::Elements;
use crate::error::ApiError;
use crate::infer;
use crate::state::App;
use model::{Batch, ModelInfo};

/// `ServerMetadata`: as `GET /v2`.
pub fn server_metadata() -> ServerMetadataResponse {
    ServerMetadataResponse {
        name: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
        extensions: Vec::new(),
    }
}

/// `ServerReady`: false from the start of shutdown, as `GET /v2/health/ready`.
pub fn server_ready(app: &App) -> ReadyResponse {
    ReadyResponse {
        ready: app.is_ready(),
    }
}

/// `ModelReady`: NOT_FOUND for another model or version, else as [`server_ready`].
pub fn model_ready(app: &App, request: &ModelRequest) -> Result<ReadyResponse, ApiError> {
    check_model(app, &request.name, &request.version)?;
    Ok(server_ready(app))
}

/// `ModelMetadata`: as `GET /v2/models/{name}`.
pub fn model_metadata(
    app: &App,
    request: &ModelRequest,
) -> Result<ModelMetadataResponse, ApiError> {
    check_model(app, &request.name, &request.version)?;
    let info = app.model.info();
    let input = |i: &model::InputInfo| TensorMetadata {
        name: i.name.clone(),
        datatype: datatype(i.element).into(),
        shape: shape(i),
    };
    let output = |spec: OutputSpec<'_>| TensorMetadata {
        name: spec.name.into(),
        datatype: spec.datatype.into(),
        shape: spec.shape,
    };
    Ok(ModelMetadataResponse {
        name: app.model_name.clone(),
        versions: vec![app.model_version.clone()],
        platform: platform(&app.model).into(),
        inputs: info.inputs.iter().map(input).collect(),
        outputs: output_specs(info).into_iter().map(output).collect(),
    })
}

/// `ModelInfer`: the request's tensors into a batch, the model's prediction into the
/// outputs asked for, the request's `id` echoed.
pub async fn model_infer(
    app: &App,
    request: ModelInferRequest,
) -> Result<ModelInferResponse, ApiError> {
    check_model(app, &request.model_name, &request.model_version)?;
    let info = app.model.info();
    let (batch, specs) = decode(&request, info, app.limits.max_batch_rows)?;
    let prediction = infer::predict(app, batch).await?;
    let raw = !request.raw_input_contents.is_empty();
    let mut response = ModelInferResponse {
        model_name: app.model_name.clone(),
        model_version: app.model_version.clone(),
        id: request.id,
        ..ModelInferResponse::default()
    };
    for spec in &specs {
        let (shape, elements) = output_tensor(spec, &prediction);
        let shape = shape.iter().map(|&n| dim(n)).collect();
        let mut tensor = super::proto::InferOutputTensor {
            name: spec.name.into(),
            datatype: spec.datatype.into(),
            shape,
            ..Default::default()
        };
        if raw {
            response.raw_output_contents.push(elements.raw());
        } else {
            tensor.contents = Some(elements.typed());
        }
        response.outputs.push(tensor);
    }
    Ok(response)
}

/// A tensor dimension as the protocol's int64.
fn dim(n: usize) -> i64 {
    i64::try_from(n).expect("a tensor dimension fits i64")
}

/// A `ModelInferRequest` message, decoded and checked against the model: its batch (at
/// most `max_rows` rows) and the outputs it asks for. The model name is not checked.
/// What the fuzz target `decode_grpc_infer` drives.
pub fn decode_message(
    message: &[u8],
    info: &ModelInfo,
    max_rows: usize,
) -> Result<Batch, ApiError> {
    let request = <ModelInferRequest as prost::Message>::decode(message).map_err(|e| {
        ApiError::BadRequest(format!("the request is not a ModelInferRequest: {e}"))
    })?;
    decode(&request, info, max_rows).map(|(batch, _)| batch)
}

/// The request's batch and the outputs it asks for.
fn decode<'a>(
    request: &ModelInferRequest,
    info: &'a ModelInfo,
    max_rows: usize,
) -> Result<(Batch, Vec<OutputSpec<'a>>), ApiError> {
    let typed = typed_as_raw(request)?;
    let contents = if request.raw_input_contents.is_empty() {
        &typed
    } else {
        &request.raw_input_contents
    };
    let tensors: Vec<Tensor<'_>> = (request.inputs.iter().zip(contents))
        .map(|(tensor, bytes)| Tensor {
            name: &tensor.name,
            datatype: &tensor.datatype,
            shape: &tensor.shape,
            elements: Elements::Binary(bytes),
        })
        .collect();
    let batch = inputs::batch(&tensors, info, max_rows)?;
    let wanted = request.outputs.iter().map(|output| output.name.as_str());
    Ok((batch, requested_outputs(wanted, info)?))
}

/// NOT_FOUND unless `name` is the served model and `version` (empty: the served one)
/// its version.
fn check_model(app: &App, name: &str, version: &str) -> Result<(), ApiError> {
    app.check_model(name, Some(version).filter(|v| !v.is_empty()))
}

/// Each input's typed contents as the little-endian bytes of its datatype (what
/// `raw_input_contents` would hold); empty when the request sends raw contents, which
/// then must be one per input and the only contents.
fn typed_as_raw(request: &ModelInferRequest) -> Result<Vec<Vec<u8>>, ApiError> {
    let bad = ApiError::BadRequest;
    if !request.raw_input_contents.is_empty() {
        if request.raw_input_contents.len() != request.inputs.len() {
            return Err(bad(format!(
                "raw_input_contents has {} entries for {} inputs; send one per input, in \
                 the order of `inputs`",
                request.raw_input_contents.len(),
                request.inputs.len()
            )));
        }
        if let Some(both) = request.inputs.iter().find(|t| t.contents.is_some()) {
            return Err(bad(format!(
                "input {:?} has contents and raw_input_contents is set; send one or the other",
                both.name
            )));
        }
        return Ok(Vec::new());
    }
    (request.inputs.iter())
        .map(|tensor| {
            let contents = tensor.contents.as_ref().ok_or_else(|| {
                bad(format!(
                    "input {:?} has no contents and raw_input_contents is empty",
                    tensor.name
                ))
            })?;
            laid_out(&tensor.datatype, &tensor.shape, contents)
                .map_err(|message| bad(format!("input {:?}: {message}", tensor.name)))
        })
        .collect()
}

/// The typed contents of a `datatype` tensor as its little-endian bytes. Only the
/// field of the datatype may be set; values must fit the datatype (an INT8 in
/// `int_contents` is checked to be one). An unknown or unusable datatype gives no
/// bytes: the tensor's checks refuse it by name.
pub(super) fn laid_out(
    datatype: &str,
    shape: &[i64],
    c: &InferTensorContents,
) -> Result<Vec<u8>, String> {
    let fields: [(&str, usize); 8] = [
        ("bool_contents", c.bool_contents.len()),
        ("int_contents", c.int_contents.len()),
        ("int64_contents", c.int64_contents.len()),
        ("uint_contents", c.uint_contents.len()),
        ("uint64_contents", c.uint64_contents.len()),
        ("fp32_contents", c.fp32_contents.len()),
        ("fp64_contents", c.fp64_contents.len()),
        ("bytes_contents", c.bytes_contents.len()),
    ];
    let field = match datatype {
        "BOOL" => "bool_contents",
        "INT8" | "INT16" | "INT32" => "int_contents",
        "INT64" => "int64_contents",
        "UINT8" | "UINT16" | "UINT32" => "uint_contents",
        "UINT64" => "uint64_contents",
        "FP32" => "fp32_contents",
        "FP64" => "fp64_contents",
        "BYTES" => "bytes_contents",
        "FP16" | "BF16" => {
            return Err(format!(
                "datatype {datatype} has no typed contents; send it in raw_input_contents"
            ))
        }
        _ => return Ok(Vec::new()),
    };
    if let Some((other, _)) = fields.iter().find(|(name, n)| *name != field && *n > 0) {
        return Err(format!(
            "datatype {datatype} takes its values in {field}, but {other} is set"
        ));
    }
    let sent = fields
        .iter()
        .find(|(name, _)| *name == field)
        .map_or(0, |f| f.1);
    let needed = (shape.iter()).try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?));
    if let Some(needed) = needed.filter(|&n| n != sent) {
        return Err(format!(
            "{field} has {sent} values, shape {shape:?} needs {needed}"
        ));
    }
    let narrow = |value: i64, at: usize, min: i64, max: i64| {
        if (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "`{field}[{at}]` = {value} is not a {datatype} integer"
            ))
        }
    };
    let mut bytes = Vec::new();
    match datatype {
        "BOOL" => bytes.extend(c.bool_contents.iter().map(|&b| u8::from(b))),
        "INT8" | "INT16" | "INT32" => {
            let (min, max) = match datatype {
                "INT8" => (i8::MIN.into(), i8::MAX.into()),
                "INT16" => (i16::MIN.into(), i16::MAX.into()),
                _ => (i32::MIN.into(), i32::MAX.into()),
            };
            let width = match datatype {
                "INT8" => 1,
                "INT16" => 2,
                _ => 4,
            };
            for (at, &value) in c.int_contents.iter().enumerate() {
                let value = narrow(value.into(), at, min, max)?;
                bytes.extend_from_slice(&value.to_le_bytes()[..width]);
            }
        }
        "UINT8" | "UINT16" | "UINT32" => {
            let (max, width) = match datatype {
                "UINT8" => (u8::MAX.into(), 1),
                "UINT16" => (u16::MAX.into(), 2),
                _ => (u32::MAX.into(), 4),
            };
            for (at, &value) in c.uint_contents.iter().enumerate() {
                let value = narrow(value.into(), at, 0, max)?;
                bytes.extend_from_slice(&value.to_le_bytes()[..width]);
            }
        }
        "INT64" => bytes.extend(c.int64_contents.iter().flat_map(|v| v.to_le_bytes())),
        "UINT64" => bytes.extend(c.uint64_contents.iter().flat_map(|v| v.to_le_bytes())),
        "FP32" => bytes.extend(c.fp32_contents.iter().flat_map(|v| v.to_le_bytes())),
        "FP64" => bytes.extend(c.fp64_contents.iter().flat_map(|v| v.to_le_bytes())),
        _ => {
            // BYTES: Triton's binary layout, each element's length then its bytes.
            for element in &c.bytes_contents {
                let length = u32::try_from(element.len())
                    .map_err(|_| "a bytes_contents element is over 4 GiB".to_string())?;
                bytes.extend_from_slice(&length.to_le_bytes());
                bytes.extend_from_slice(element);
            }
        }
    }
    Ok(bytes)
}

impl OutputData<'_> {
    /// Little-endian bytes; BYTES as each element's length then its bytes.
    fn raw(&self) -> Vec<u8> {
        match self {
            OutputData::Int(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            OutputData::Float(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            OutputData::Str(values) => {
                let mut bytes = Vec::new();
                for value in *values {
                    let length = u32::try_from(value.len()).expect("a class label under 4 GiB");
                    bytes.extend_from_slice(&length.to_le_bytes());
                    bytes.extend_from_slice(value.as_bytes());
                }
                bytes
            }
        }
    }

    /// The typed field of the output's datatype.
    fn typed(&self) -> InferTensorContents {
        let mut contents = InferTensorContents::default();
        match self {
            OutputData::Int(values) => contents.int64_contents = values.to_vec(),
            OutputData::Float(values) => contents.fp32_contents = values.to_vec(),
            OutputData::Str(values) => {
                contents.bytes_contents = values.iter().map(|v| v.as_bytes().to_vec()).collect()
            }
        }
        contents
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(fill: impl FnOnce(&mut InferTensorContents)) -> InferTensorContents {
        let mut contents = InferTensorContents::default();
        fill(&mut contents);
        contents
    }

    #[test]
    fn typed_contents_become_the_bytes_of_their_datatype() {
        let floats = contents(|c| c.fp32_contents = vec![1.5, -2.0]);
        let bytes = laid_out("FP32", &[1, 2], &floats).unwrap();
        assert_eq!(
            bytes,
            [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()
        );
        let small = contents(|c| c.int_contents = vec![-1, 2]);
        assert_eq!(laid_out("INT8", &[2], &small).unwrap(), [0xff, 2]);
        let strings = contents(|c| c.bytes_contents = vec![b"Dream".to_vec()]);
        let bytes = laid_out("BYTES", &[1], &strings).unwrap();
        assert_eq!(bytes, [&5u32.to_le_bytes()[..], b"Dream"].concat());
    }

    #[test]
    fn typed_contents_must_be_the_field_of_the_datatype_and_fit_it() {
        let floats = contents(|c| c.fp32_contents = vec![1.0, 2.0]);
        let message = laid_out("FP64", &[1, 2], &floats).unwrap_err();
        assert!(
            message.contains("FP64 takes its values in fp64_contents, but fp32_contents is set"),
            "{message}"
        );
        let message = laid_out("FP32", &[1, 3], &floats).unwrap_err();
        assert!(message.contains("fp32_contents has 2 values, shape [1, 3] needs 3"));
        let wide = contents(|c| c.uint_contents = vec![300]);
        let message = laid_out("UINT8", &[1], &wide).unwrap_err();
        assert!(message.contains("`uint_contents[0]` = 300 is not a UINT8 integer"));
        let message = laid_out("FP16", &[1], &floats).unwrap_err();
        assert!(
            message.contains("send it in raw_input_contents"),
            "{message}"
        );
    }

    #[test]
    fn raw_outputs_are_little_endian_and_bytes_are_length_prefixed() {
        assert_eq!(OutputData::Int(&[1, -1]).raw().len(), 16);
        let labels = ["ab".to_string()];
        assert_eq!(OutputData::Str(&labels).raw(), [2, 0, 0, 0, b'a', b'b']);
        let typed = OutputData::Float(&[0.25]).typed();
        assert_eq!(typed.fp32_contents, [0.25]);
    }
}
