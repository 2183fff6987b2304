//! gRPC `ModelInfer` messages as the V2 REST JSON they stand for, for payload events: a
//! consumer of the events (a drift detector, a store) reads one format whichever way a
//! prediction came. Called by the payload log's background sender, never on the request
//! path (`crate::payload_log`).
//!
//! A request becomes the body of `POST /v2/models/{name}/infer` (`id`, `parameters`,
//! `inputs`, `outputs`; the model's name and version are the event's
//! `inferenceservicename`, not the body's); a response, the body V2 REST answers (the
//! same fields in the same order, so the same rows give the same text). Tensor elements
//! are flat, raw or typed contents alike; a NaN is `null`, REST's missing value. What
//! JSON cannot say (an infinity, BYTES that are not UTF-8, contents that do not match
//! their datatype) is an error: the event then carries the protobuf message instead.

use std::collections::HashMap;

use prost::Message;
use serde::Serialize;

use super::datatype::f16_to_f32;
use super::grpc::laid_out;
use super::proto::{
    InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse, ParameterChoice,
};
use super::strings::strings_from_binary;

/// The protobuf name of the request message, for an event that carries it as is.
pub const REQUEST_MESSAGE: &str = "inference.ModelInferRequest";
/// The protobuf name of the response message, for an event that carries it as is.
pub const RESPONSE_MESSAGE: &str = "inference.ModelInferResponse";

/// A `ModelInferRequest` message as the JSON body of the same V2 REST request.
pub fn request_json(message: &[u8]) -> Result<Vec<u8>, String> {
    let request = ModelInferRequest::decode(message).map_err(|e| e.to_string())?;
    let raw = &request.raw_input_contents;
    let inputs = (request.inputs.iter().enumerate())
        .map(|(at, input)| {
            let data = elements(
                &input.datatype,
                &input.shape,
                raw.get(at).map(Vec::as_slice),
                input.contents.as_ref(),
            )
            .map_err(|e| format!("input {:?}: {e}", input.name))?;
            Ok(Tensor {
                name: &input.name,
                shape: &input.shape,
                datatype: &input.datatype,
                parameters: parameters(&input.parameters),
                data,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let outputs: Vec<_> = (request.outputs.iter())
        .map(|output| RequestedOutput {
            name: &output.name,
            parameters: parameters(&output.parameters),
        })
        .collect();
    let body = Request {
        id: Some(request.id.as_str()).filter(|id| !id.is_empty()),
        parameters: parameters(&request.parameters),
        inputs,
        outputs: Some(outputs).filter(|outputs| !outputs.is_empty()),
    };
    serde_json::to_vec(&body).map_err(|e| e.to_string())
}

/// A `ModelInferResponse` message as the JSON body V2 REST answers.
pub fn response_json(message: &[u8]) -> Result<Vec<u8>, String> {
    let response = ModelInferResponse::decode(message).map_err(|e| e.to_string())?;
    let raw = &response.raw_output_contents;
    let outputs = (response.outputs.iter().enumerate())
        .map(|(at, output)| {
            let data = elements(
                &output.datatype,
                &output.shape,
                raw.get(at).map(Vec::as_slice),
                output.contents.as_ref(),
            )
            .map_err(|e| format!("output {:?}: {e}", output.name))?;
            Ok(Tensor {
                name: &output.name,
                datatype: &output.datatype,
                shape: &output.shape,
                parameters: parameters(&output.parameters),
                data,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let body = Response {
        model_name: &response.model_name,
        model_version: &response.model_version,
        id: Some(response.id.as_str()).filter(|id| !id.is_empty()),
        parameters: parameters(&response.parameters),
        outputs,
    };
    serde_json::to_vec(&body).map_err(|e| e.to_string())
}

/// `$inference_request`.
#[derive(Serialize)]
struct Request<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Parameters<'a>>,
    inputs: Vec<Tensor<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outputs: Option<Vec<RequestedOutput<'a>>>,
}

/// `$request_output`.
#[derive(Serialize)]
struct RequestedOutput<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Parameters<'a>>,
}

/// `$inference_response`, its fields in the order V2 REST writes them.
#[derive(Serialize)]
struct Response<'a> {
    model_name: &'a str,
    model_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Parameters<'a>>,
    outputs: Vec<Tensor<'a>>,
}

/// `$request_input` or `$response_output`. Serialised in declaration order; REST's
/// responses write `name, datatype, shape, data`, which the response builds in that
/// order too (serde writes fields as declared, so requests get the same order).
#[derive(Serialize)]
struct Tensor<'a> {
    name: &'a str,
    datatype: &'a str,
    shape: &'a [i64],
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Parameters<'a>>,
    data: Data,
}

/// Parameters by name, sorted so that the same parameters give the same text.
type Parameters<'a> = std::collections::BTreeMap<&'a str, Parameter<'a>>;

/// One parameter's value, as JSON has it.
#[derive(Serialize)]
#[serde(untagged)]
enum Parameter<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(&'a str),
}

/// A tensor's elements, flat; floats keep their width so that an FP32 prints as REST
/// prints it (`5.1`, not `5.099999904632568`), and NaN prints as `null`.
#[derive(Debug, PartialEq, Serialize)]
#[serde(untagged)]
enum Data {
    Bool(Vec<bool>),
    Int(Vec<i64>),
    Uint(Vec<u64>),
    Fp32(Vec<Option<f32>>),
    Fp64(Vec<Option<f64>>),
    Str(Vec<String>),
}

fn parameters(parameters: &HashMap<String, InferParameter>) -> Option<Parameters<'_>> {
    if parameters.is_empty() {
        return None;
    }
    let named = parameters.iter();
    Some(
        named
            .filter_map(|(name, p)| Some((name.as_str(), parameter(p)?)))
            .collect(),
    )
}

/// A parameter's value; `None` when it has none.
fn parameter(parameter: &InferParameter) -> Option<Parameter<'_>> {
    Some(match parameter.choice.as_ref()? {
        ParameterChoice::Bool(b) => Parameter::Bool(*b),
        ParameterChoice::Int64(i) => Parameter::Int(*i),
        ParameterChoice::Uint64(u) => Parameter::Uint(*u),
        ParameterChoice::Double(d) => Parameter::Double(*d),
        ParameterChoice::String(s) => Parameter::Str(s),
    })
}

/// A tensor's elements from its raw contents, else its typed ones.
fn elements(
    datatype: &str,
    shape: &[i64],
    raw: Option<&[u8]>,
    typed: Option<&InferTensorContents>,
) -> Result<Data, String> {
    let laid;
    let bytes = match (raw, typed) {
        (Some(raw), _) => raw,
        (None, Some(typed)) => {
            laid = laid_out(datatype, shape, typed)?;
            &laid
        }
        (None, None) => return Err("no contents".into()),
    };
    decode(datatype, shape, bytes)
}

/// Little-endian `bytes` of `datatype` as JSON values.
fn decode(datatype: &str, shape: &[i64], bytes: &[u8]) -> Result<Data, String> {
    fn each<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Result<Vec<T>, String> {
        if !bytes.len().is_multiple_of(N) {
            return Err(format!(
                "{} bytes are not a whole number of {N}-byte elements",
                bytes.len()
            ));
        }
        let chunks = bytes.chunks_exact(N);
        Ok(chunks
            .map(|c| f(c.try_into().expect("chunks of N")))
            .collect())
    }
    fn finite<T: Into<f64> + Copy>(values: Vec<T>) -> Result<Vec<Option<T>>, String> {
        values
            .into_iter()
            .map(|v| match v.into() {
                x if x.is_nan() => Ok(None),
                x if x.is_infinite() => Err(format!("{x} has no JSON form")),
                _ => Ok(Some(v)),
            })
            .collect()
    }
    Ok(match datatype {
        "BOOL" => Data::Bool(each(bytes, |[b]: [u8; 1]| b != 0)?),
        "INT8" => Data::Int(each(bytes, |b| i8::from_le_bytes(b).into())?),
        "INT16" => Data::Int(each(bytes, |b| i16::from_le_bytes(b).into())?),
        "INT32" => Data::Int(each(bytes, |b| i32::from_le_bytes(b).into())?),
        "INT64" => Data::Int(each(bytes, i64::from_le_bytes)?),
        "UINT8" => Data::Uint(each(bytes, |b| u8::from_le_bytes(b).into())?),
        "UINT16" => Data::Uint(each(bytes, |b| u16::from_le_bytes(b).into())?),
        "UINT32" => Data::Uint(each(bytes, |b| u32::from_le_bytes(b).into())?),
        "UINT64" => Data::Uint(each(bytes, u64::from_le_bytes)?),
        "FP16" => Data::Fp32(finite(each(bytes, |b| f16_to_f32(u16::from_le_bytes(b)))?)?),
        "FP32" => Data::Fp32(finite(each(bytes, f32::from_le_bytes)?)?),
        "FP64" => Data::Fp64(finite(each(bytes, f64::from_le_bytes)?)?),
        "BYTES" => {
            let count = (shape.iter())
                .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?))
                .ok_or_else(|| format!("shape {shape:?} is not a tensor's"))?;
            Data::Str(strings_from_binary(bytes, count)?)
        }
        other => return Err(format!("datatype {other:?} has no JSON form here")),
    })
}

#[cfg(test)]
mod tests {
    use super::super::proto::{InferInputTensor, InferOutputTensor, InferRequestedOutputTensor};
    use super::*;
    use serde_json::{json, Value};

    fn parsed(json: Vec<u8>) -> Value {
        serde_json::from_slice(&json).unwrap()
    }

    fn le(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn a_raw_request_becomes_the_rest_body_with_nan_as_null() {
        let request = ModelInferRequest {
            model_name: "iris".into(),
            id: "42".into(),
            inputs: vec![InferInputTensor {
                name: "input".into(),
                datatype: "FP32".into(),
                shape: vec![2, 2],
                ..Default::default()
            }],
            outputs: vec![InferRequestedOutputTensor {
                name: "label".into(),
                ..Default::default()
            }],
            raw_input_contents: vec![le(&[5.1, f32::NAN, 1.4, 0.2])],
            ..Default::default()
        };
        let json = request_json(&request.encode_to_vec()).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"id":"42","inputs":[{"name":"input","datatype":"FP32","shape":[2,2],"data":[5.1,null,1.4,0.2]}],"outputs":[{"name":"label"}]}"#
        );
    }

    #[test]
    fn typed_contents_strings_and_parameters_have_their_json_form() {
        let mut parameters = HashMap::new();
        parameters.insert(
            "priority".to_string(),
            InferParameter {
                choice: Some(ParameterChoice::Int64(3)),
            },
        );
        let request = ModelInferRequest {
            parameters,
            inputs: vec![
                InferInputTensor {
                    name: "island".into(),
                    datatype: "BYTES".into(),
                    shape: vec![2, 1],
                    contents: Some(InferTensorContents {
                        bytes_contents: vec![b"Dream".to_vec(), b"".to_vec()],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                InferInputTensor {
                    name: "year".into(),
                    datatype: "INT16".into(),
                    shape: vec![2, 1],
                    contents: Some(InferTensorContents {
                        int_contents: vec![2007, -1],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let json = parsed(request_json(&request.encode_to_vec()).unwrap());
        assert_eq!(
            json,
            json!({
                "parameters": {"priority": 3},
                "inputs": [
                    {"name": "island", "datatype": "BYTES", "shape": [2, 1], "data": ["Dream", ""]},
                    {"name": "year", "datatype": "INT16", "shape": [2, 1], "data": [2007, -1]},
                ]
            })
        );
    }

    #[test]
    fn a_raw_response_reads_as_the_rest_answer() {
        let response = ModelInferResponse {
            model_name: "iris".into(),
            model_version: "1".into(),
            outputs: vec![
                InferOutputTensor {
                    name: "label".into(),
                    datatype: "INT64".into(),
                    shape: vec![1],
                    ..Default::default()
                },
                InferOutputTensor {
                    name: "probabilities".into(),
                    datatype: "FP32".into(),
                    shape: vec![1, 3],
                    ..Default::default()
                },
            ],
            raw_output_contents: vec![2i64.to_le_bytes().to_vec(), le(&[0.0, 0.25, 0.75])],
            ..Default::default()
        };
        let json = response_json(&response.encode_to_vec()).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"model_name":"iris","model_version":"1","outputs":[{"name":"label","datatype":"INT64","shape":[1],"data":[2]},{"name":"probabilities","datatype":"FP32","shape":[1,3],"data":[0.0,0.25,0.75]}]}"#
        );
    }

    #[test]
    fn what_json_cannot_say_is_an_error() {
        let tensor = |datatype: &str, raw: Vec<u8>| ModelInferRequest {
            inputs: vec![InferInputTensor {
                name: "input".into(),
                datatype: datatype.into(),
                shape: vec![1, 1],
                ..Default::default()
            }],
            raw_input_contents: vec![raw],
            ..Default::default()
        };
        let infinite = tensor("FP32", le(&[f32::INFINITY]));
        let error = request_json(&infinite.encode_to_vec()).unwrap_err();
        assert!(error.contains("inf has no JSON form"), "{error}");
        let cut = tensor("FP64", vec![0; 5]);
        assert!(request_json(&cut.encode_to_vec()).is_err());
        let not_utf8 = tensor("BYTES", [&1u32.to_le_bytes()[..], &[0xff]].concat());
        assert!(request_json(&not_utf8.encode_to_vec()).is_err());
        let unknown = tensor("COMPLEX64", vec![0; 8]);
        assert!(request_json(&unknown.encode_to_vec()).is_err());
        assert!(request_json(b"\xff\xff\xff").is_err());
    }
}
