//! The messages of the Open Inference Protocol's gRPC service,
//! `inference.GRPCInferenceService` (kserve/open-inference-protocol,
//! `specification/protocol/open_inference_grpc.proto`), written as prost structs so
//! that no `protoc` runs at build time. Field numbers and types are the spec's: they are
//! the wire format, so a change here breaks every client.

use std::collections::HashMap;

/// `ServerLiveRequest`, `ServerReadyRequest`, `ServerMetadataRequest`: no fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `ServerLiveResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerLiveResponse {
    /// Whether the server can answer.
    #[prost(bool, tag = "1")]
    pub live: bool,
}

/// `ServerReadyResponse` and `ModelReadyResponse` (both one `bool ready = 1`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadyResponse {
    /// Whether the server (or the model) is ready for inference.
    #[prost(bool, tag = "1")]
    pub ready: bool,
}

/// `ModelReadyRequest` and `ModelMetadataRequest` (both a name and a version).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelRequest {
    /// The model's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The model's version; empty for the served one.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `ServerMetadataResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerMetadataResponse {
    /// The server's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The server's version.
    #[prost(string, tag = "2")]
    pub version: String,
    /// The protocol extensions it supports.
    #[prost(string, repeated, tag = "3")]
    pub extensions: Vec<String>,
}

/// `ModelMetadataResponse.TensorMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorMetadata {
    /// The tensor's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its datatype (`FP32`, `INT64`, `BYTES`).
    #[prost(string, tag = "2")]
    pub datatype: String,
    /// Its shape, -1 for the batch dimension.
    #[prost(int64, repeated, tag = "3")]
    pub shape: Vec<i64>,
}

/// `ModelMetadataResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelMetadataResponse {
    /// The model's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its versions.
    #[prost(string, repeated, tag = "2")]
    pub versions: Vec<String>,
    /// What runs it.
    #[prost(string, tag = "3")]
    pub platform: String,
    /// Its inputs.
    #[prost(message, repeated, tag = "4")]
    pub inputs: Vec<TensorMetadata>,
    /// Its outputs.
    #[prost(message, repeated, tag = "5")]
    pub outputs: Vec<TensorMetadata>,
}

/// `InferParameter`: accepted and ignored, as in V2 REST.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InferParameter {
    /// The value.
    #[prost(oneof = "ParameterChoice", tags = "1, 2, 3, 4, 5")]
    pub choice: Option<ParameterChoice>,
}

/// `InferParameter.parameter_choice`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum ParameterChoice {
    /// `bool_param`.
    #[prost(bool, tag = "1")]
    Bool(bool),
    /// `int64_param`.
    #[prost(int64, tag = "2")]
    Int64(i64),
    /// `string_param`.
    #[prost(string, tag = "3")]
    String(String),
    /// `double_param`.
    #[prost(double, tag = "4")]
    Double(f64),
    /// `uint64_param`.
    #[prost(uint64, tag = "5")]
    Uint64(u64),
}

/// `InferTensorContents`: a tensor's elements in the repeated field of its datatype.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InferTensorContents {
    /// BOOL.
    #[prost(bool, repeated, tag = "1")]
    pub bool_contents: Vec<bool>,
    /// INT8, INT16, INT32.
    #[prost(int32, repeated, tag = "2")]
    pub int_contents: Vec<i32>,
    /// INT64.
    #[prost(int64, repeated, tag = "3")]
    pub int64_contents: Vec<i64>,
    /// UINT8, UINT16, UINT32.
    #[prost(uint32, repeated, tag = "4")]
    pub uint_contents: Vec<u32>,
    /// UINT64.
    #[prost(uint64, repeated, tag = "5")]
    pub uint64_contents: Vec<u64>,
    /// FP32.
    #[prost(float, repeated, tag = "6")]
    pub fp32_contents: Vec<f32>,
    /// FP64.
    #[prost(double, repeated, tag = "7")]
    pub fp64_contents: Vec<f64>,
    /// BYTES.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub bytes_contents: Vec<Vec<u8>>,
}

/// `ModelInferRequest.InferInputTensor`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InferInputTensor {
    /// The graph input it is for.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its datatype.
    #[prost(string, tag = "2")]
    pub datatype: String,
    /// Its shape.
    #[prost(int64, repeated, tag = "3")]
    pub shape: Vec<i64>,
    /// Ignored.
    #[prost(map = "string, message", tag = "4")]
    pub parameters: HashMap<String, InferParameter>,
    /// Its elements, unless they are in `raw_input_contents`.
    #[prost(message, optional, tag = "5")]
    pub contents: Option<InferTensorContents>,
}

/// `ModelInferRequest.InferRequestedOutputTensor`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InferRequestedOutputTensor {
    /// The output asked for.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Ignored.
    #[prost(map = "string, message", tag = "2")]
    pub parameters: HashMap<String, InferParameter>,
}

/// `ModelInferRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelInferRequest {
    /// The model to run.
    #[prost(string, tag = "1")]
    pub model_name: String,
    /// Its version; empty for the served one.
    #[prost(string, tag = "2")]
    pub model_version: String,
    /// Echoed in the response.
    #[prost(string, tag = "3")]
    pub id: String,
    /// Ignored.
    #[prost(map = "string, message", tag = "4")]
    pub parameters: HashMap<String, InferParameter>,
    /// One tensor per graph input.
    #[prost(message, repeated, tag = "5")]
    pub inputs: Vec<InferInputTensor>,
    /// The outputs wanted; all when empty.
    #[prost(message, repeated, tag = "6")]
    pub outputs: Vec<InferRequestedOutputTensor>,
    /// Each input's elements as little-endian bytes, in the order of `inputs`.
    #[prost(bytes = "vec", repeated, tag = "7")]
    pub raw_input_contents: Vec<Vec<u8>>,
}

/// `ModelInferResponse.InferOutputTensor`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InferOutputTensor {
    /// The output's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its datatype.
    #[prost(string, tag = "2")]
    pub datatype: String,
    /// Its shape.
    #[prost(int64, repeated, tag = "3")]
    pub shape: Vec<i64>,
    /// Never set.
    #[prost(map = "string, message", tag = "4")]
    pub parameters: HashMap<String, InferParameter>,
    /// Its elements, unless they are in `raw_output_contents`.
    #[prost(message, optional, tag = "5")]
    pub contents: Option<InferTensorContents>,
}

/// `ModelInferResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelInferResponse {
    /// The model that ran.
    #[prost(string, tag = "1")]
    pub model_name: String,
    /// Its version.
    #[prost(string, tag = "2")]
    pub model_version: String,
    /// The request's id.
    #[prost(string, tag = "3")]
    pub id: String,
    /// Never set.
    #[prost(map = "string, message", tag = "4")]
    pub parameters: HashMap<String, InferParameter>,
    /// The outputs, in the order asked for.
    #[prost(message, repeated, tag = "5")]
    pub outputs: Vec<InferOutputTensor>,
    /// Each output's elements as little-endian bytes, when the request sent raw inputs.
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub raw_output_contents: Vec<Vec<u8>>,
}
