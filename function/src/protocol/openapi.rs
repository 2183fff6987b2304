//! The OpenAPI 3.0 document of every route, served at `GET /openapi.json`: each
//! protocol's bodies and every status a route answers, precise enough to drive a
//! schema-based fuzzer. Row widths, label types and examples come from the served model.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use crate::error::json_response;
use crate::router::App;
use model::{Labels, ModelInfo, Task};

use super::cloudevents::{IN_RESPONSE_TO, RESPONSE_TYPE, STRUCTURED};

/// `GET /openapi.json`.
pub fn document(app: &App) -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, spec(app).to_string().into_bytes())
}

/// The document as JSON.
pub fn spec(app: &App) -> Value {
    let info = app.model.info();
    let mut paths = serde_json::Map::new();
    let mut add = |path: &str, operations: Value| {
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        for (method, operation) in operations.as_object().expect("operations are an object") {
            entry[method] = operation.clone();
        }
    };
    add(
        "/predict",
        json!({ "post": {
            "operationId": "predict",
            "summary": "The tutorial's contract: one row or a batch of rows",
            "parameters": [{
                "name": "probabilities", "in": "query", "required": false,
                "description": "true or 1 adds class probabilities; false or 0 does not",
                "schema": { "type": "string", "enum": ["true", "false", "1", "0"] },
            }],
            "requestBody": body(reference("PredictRequest")),
            "responses": post_responses(reference("PredictResponse"), false),
        }}),
    );
    add(
        "/",
        get(
            "index",
            "Model and route summary",
            json!({ "type": "object" }),
            false,
        ),
    );
    add("/", cloudevents_operation());
    for (path, id) in [("/healthz", "healthz"), ("/health/liveness", "liveness")] {
        add(path, get(id, "Liveness", reference("Health"), false));
    }
    for (path, id) in [("/readyz", "readyz"), ("/health/readiness", "readiness")] {
        add(path, get(id, "Readiness", reference("Health"), false));
    }
    add(
        "/openapi.json",
        get(
            "openapi",
            "This document",
            json!({ "type": "object" }),
            false,
        ),
    );
    // Text, not JSON: the Prometheus text format, or OpenMetrics when Accept asks for it.
    let text = json!({ "schema": { "type": "string" } });
    add(
        "/metrics",
        json!({
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text format 0.0.4; OpenMetrics 1.0 when Accept asks for application/openmetrics-text)",
                "parameters": [],
                "responses": {
                    "200": { "description": "OK",
                        "content": { "text/plain": text, "application/openmetrics-text": text } },
                    "404": { "description": "Metrics are turned off (--no-metrics, METRICS=off)" },
                },
            },
            "head": {
                "operationId": "metricsHead",
                "summary": "Prometheus metrics (headers only)",
                "parameters": [],
                "responses": { "200": { "description": "OK" }, "404": { "description": "Metrics are turned off" } },
            },
        }),
    );

    add(
        "/v1/models",
        get(
            "v1ListModels",
            "KServe V1: the served models",
            reference("V1Models"),
            false,
        ),
    );
    add(
        "/v1/models/{name}",
        get(
            "v1ModelReady",
            "KServe V1: model readiness",
            reference("V1ModelReady"),
            true,
        ),
    );
    add(
        "/v1/models/{name}:predict",
        json!({ "post": {
            "operationId": "v1Predict",
            "summary": "KServe V1: one prediction per instance",
            "parameters": [param("ModelName")],
            "requestBody": body(reference("V1PredictRequest")),
            "responses": post_responses(reference("V1PredictResponse"), true),
        }}),
    );

    add(
        "/v2",
        get(
            "v2ServerMetadata",
            "V2: server metadata",
            reference("V2ServerMetadata"),
            false,
        ),
    );
    add(
        "/v2/health/live",
        get("v2Live", "V2: server liveness", reference("V2Live"), false),
    );
    add(
        "/v2/health/ready",
        get(
            "v2Ready",
            "V2: server readiness",
            reference("V2Ready"),
            false,
        ),
    );
    for (prefix, suffix) in [
        ("/v2/models/{name}", ""),
        ("/v2/models/{name}/versions/{version}", "Version"),
    ] {
        let versioned = !suffix.is_empty();
        let mut metadata = get(
            &format!("v2ModelMetadata{suffix}"),
            "V2: model metadata",
            reference("V2ModelMetadata"),
            true,
        );
        let mut ready = get(
            &format!("v2ModelReady{suffix}"),
            "V2: model readiness",
            reference("V2ModelReady"),
            true,
        );
        let mut infer = json!({ "post": {
            "operationId": format!("v2Infer{suffix}"),
            "summary": "V2: inference",
            "parameters": [param("ModelName"), {
                "name": "Inference-Header-Content-Length", "in": "header", "required": false,
                "description": "Binary tensor extension: the body is this many bytes of JSON \
                                followed by the raw little-endian data of the input whose \
                                parameters.binary_data_size says how many bytes it has",
                "schema": { "type": "integer", "minimum": 0 },
            }],
            "requestBody": { "required": true, "content": {
                "application/json": { "schema": reference("V2InferRequest") },
                "application/octet-stream": { "schema": { "type": "string", "format": "binary" } },
            }},
            "responses": post_responses(reference("V2InferResponse"), true),
        }});
        if versioned {
            for operations in [&mut metadata, &mut ready, &mut infer] {
                for operation in operations.as_object_mut().expect("an object").values_mut() {
                    operation["parameters"]
                        .as_array_mut()
                        .expect("model operations have parameters")
                        .push(param("ModelVersion"));
                }
            }
        }
        add(prefix, metadata);
        add(&format!("{prefix}/ready"), ready);
        add(&format!("{prefix}/infer"), infer);
    }

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Tabular model function",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "Serves the ONNX model {:?} (version {:?}, {} features) over the tutorial's \
                 /predict, KServe V1, the Open Inference Protocol V2 and CloudEvents. Every \
                 error is a JSON object {{\"error\": \"...\"}}; a method a path does not take \
                 gets 405 with Allow.",
                app.model_name, app.model_version, info.n_features
            ),
        },
        "paths": paths,
        "components": {
            "parameters": {
                "ModelName": {
                    "name": "name", "in": "path", "required": true,
                    "description": "The served model's name; any other gets 404",
                    "schema": { "type": "string" }, "example": app.model_name,
                },
                "ModelVersion": {
                    "name": "version", "in": "path", "required": true,
                    "description": "The served model's version; any other gets 404",
                    "schema": { "type": "string" }, "example": app.model_version,
                },
            },
            "responses": {
                "BadRequest": error("The body or a parameter is malformed; the message names the problem"),
                "NotFound": error("No such model or version; the message names the served one"),
                "PayloadTooLarge": error("The body is over the size limit, or the batch has more rows than the row limit"),
                "RequestTimeout": error("The body did not arrive within the request timeout"),
                "Overloaded": {
                    "description": "Too many requests in flight; retry after the given seconds",
                    "headers": { "Retry-After": { "description": "Seconds to wait",
                        "schema": { "type": "integer" } } },
                    "content": { "application/json": { "schema": reference("Error") } },
                },
                "UnsupportedMediaType": error("The content type is not JSON, or the body is compressed"),
                "Internal": error("The model failed to run"),
            },
            "schemas": schemas(info),
        },
    })
}

/// A `$ref` to a schema.
fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A `$ref` to a parameter.
fn param(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

/// A required JSON request body.
fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// A response with the error body.
fn error(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": {
        "schema": reference("Error") } } })
}

/// A GET operation and its HEAD twin (same statuses, no body).
fn get(id: &str, summary: &str, schema: Value, model_path: bool) -> Value {
    let mut get = json!({
        "operationId": id,
        "summary": summary,
        "parameters": [],
        "responses": { "200": { "description": "OK",
            "content": { "application/json": { "schema": schema } } } },
    });
    let mut head = json!({
        "operationId": format!("{id}Head"),
        "summary": format!("{summary} (headers only)"),
        "parameters": [],
        "responses": { "200": { "description": "OK" } },
    });
    if model_path {
        for operation in [&mut get, &mut head] {
            operation["parameters"] = json!([param("ModelName")]);
            operation["responses"]["404"] = json!({ "$ref": "#/components/responses/NotFound" });
        }
        head["responses"]["404"] = json!({ "description": "No such model or version" });
    }
    json!({ "get": get, "head": head })
}

/// The statuses of a POST that reads a JSON body.
fn post_responses(ok: Value, model_path: bool) -> Value {
    let mut responses = json!({
        "200": { "description": "The prediction", "content": { "application/json": { "schema": ok } } },
        "400": { "$ref": "#/components/responses/BadRequest" },
        "408": { "$ref": "#/components/responses/RequestTimeout" },
        "413": { "$ref": "#/components/responses/PayloadTooLarge" },
        "415": { "$ref": "#/components/responses/UnsupportedMediaType" },
        "500": { "$ref": "#/components/responses/Internal" },
        "503": { "$ref": "#/components/responses/Overloaded" },
    });
    if model_path {
        responses["404"] = json!({ "$ref": "#/components/responses/NotFound" });
    }
    responses
}

/// `POST /`: a CloudEvent in binary or structured mode.
fn cloudevents_operation() -> Value {
    let header = |name: &str, description: &str| {
        json!({ "name": name, "in": "header", "required": false, "description": description,
                "schema": { "type": "string" } })
    };
    let reply_header =
        |description: &str| json!({ "description": description, "schema": { "type": "string" } });
    let mut responses = post_responses(reference("PredictResponse"), false);
    responses["200"] = json!({
        "description": format!(
            "The reply event, in the request's mode: type {RESPONSE_TYPE}, source \
             /models/{{name}}, a new id, and the request's id in {IN_RESPONSE_TO}"
        ),
        "headers": {
            "ce-specversion": reply_header("Binary mode: 1.0"),
            "ce-id": reply_header("Binary mode: the reply's own id"),
            "ce-source": reply_header("Binary mode: /models/{name}"),
            "ce-type": reply_header(&format!("Binary mode: {RESPONSE_TYPE}")),
            "ce-inresponseto": reply_header("Binary mode: the request event's id"),
        },
        "content": {
            "application/json": { "schema": reference("PredictResponse") },
            STRUCTURED: { "schema": reference("CloudEventReply") },
        },
    });
    json!({ "post": {
        "operationId": "cloudEvent",
        "summary": "A CloudEvent whose data is a /predict request; the reply is an event too",
        "description": "Binary mode: ce-specversion (1.0), ce-id, ce-source and ce-type \
                        headers with a JSON body. Structured mode: Content-Type \
                        application/cloudevents+json with the request in `data`.",
        "parameters": [
            header("ce-specversion", "Binary mode: must be 1.0"),
            header("ce-id", "Binary mode: the event id, echoed in the reply"),
            header("ce-source", "Binary mode: the event source"),
            header("ce-type", "Binary mode: the event type (any)"),
        ],
        "requestBody": { "required": true, "content": {
            "application/json": { "schema": reference("PredictRequest") },
            STRUCTURED: { "schema": reference("CloudEventRequest") },
        }},
        "responses": responses,
    }})
}

/// Every body schema, with row widths and label types from the model.
fn schemas(info: &ModelInfo) -> Value {
    let width = info.n_features;
    // Features must fit the model's f32 input; larger numbers are refused with 400.
    let feature = json!({ "type": "number",
                          "minimum": -f64::from(f32::MAX), "maximum": f64::from(f32::MAX) });
    let row = json!({ "type": "array", "items": feature,
                      "minItems": width, "maxItems": width });
    let rows = json!({ "type": "array", "items": row, "minItems": 1 });
    let answer = match &info.task {
        Task::Classifier {
            labels: Labels::Int(_),
        } => json!({ "type": "integer" }),
        Task::Classifier {
            labels: Labels::Str(_),
        } => json!({ "type": "string" }),
        Task::Regressor { targets: 1 } => json!({ "type": "number" }),
        Task::Regressor { targets } => json!({ "type": "array", "items": { "type": "number" },
                                               "minItems": targets, "maxItems": targets }),
    };
    let datatypes = [
        "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
        "FP32", "FP64", "BYTES",
    ];
    let parameters = json!({ "type": "object", "additionalProperties": true });
    let string = json!({ "type": "string" });
    json!({
        "Error": { "type": "object", "required": ["error"],
                   "properties": { "error": string } },
        "Health": { "type": "object", "required": ["status"],
                    "properties": { "status": string, "model": string } },
        "PredictRequest": { "type": "object", "required": ["input"], "additionalProperties": false,
                            "properties": { "input": { "oneOf": [row, rows] } } },
        "PredictResponse": { "type": "object", "required": ["prediction"], "properties": {
            "prediction": { "type": "array", "items": answer },
            "probabilities": { "type": "array",
                               "items": { "type": "array", "items": { "type": "number" } } },
        }},
        "V1Models": { "type": "object", "required": ["models"],
                      "properties": { "models": { "type": "array", "items": string } } },
        "V1ModelReady": { "type": "object", "required": ["name", "ready"],
                          "properties": { "name": string, "ready": { "type": "boolean" } } },
        "V1PredictRequest": { "type": "object", "required": ["instances"],
                              "additionalProperties": false,
                              "properties": { "instances": rows } },
        "V1PredictResponse": { "type": "object", "required": ["predictions"],
                               "properties": { "predictions": { "type": "array", "items": answer } } },
        "V2ServerMetadata": { "type": "object", "required": ["name", "version", "extensions"],
                              "properties": { "name": string, "version": string,
                                              "extensions": { "type": "array", "items": string } } },
        "V2Live": { "type": "object", "required": ["live"],
                    "properties": { "live": { "type": "boolean" } } },
        "V2Ready": { "type": "object", "required": ["ready"],
                     "properties": { "ready": { "type": "boolean" } } },
        "V2ModelReady": { "type": "object", "required": ["name", "ready"],
                          "properties": { "name": string, "ready": { "type": "boolean" } } },
        "V2MetadataTensor": { "type": "object", "required": ["name", "datatype", "shape"],
                              "properties": { "name": string, "datatype": string,
                                              "shape": { "type": "array", "items": { "type": "integer" } } } },
        "V2ModelMetadata": { "type": "object", "required": ["name", "platform", "inputs", "outputs"],
                             "properties": {
            "name": string,
            "versions": { "type": "array", "items": string },
            "platform": string,
            "inputs": { "type": "array", "items": reference("V2MetadataTensor") },
            "outputs": { "type": "array", "items": reference("V2MetadataTensor") },
        }},
        "V2InferRequest": { "type": "object", "required": ["inputs"], "properties": {
            "id": string,
            "parameters": parameters,
            "inputs": { "type": "array", "items": reference("V2RequestInput") },
            "outputs": { "type": "array", "items": reference("V2RequestOutput") },
        }},
        "V2RequestInput": { "type": "object", "required": ["name", "shape", "datatype"],
                            "description": "Numeric datatypes only; data flat or nested as the shape, \
                                            or binary (parameters.binary_data_size)",
                            "properties": {
            "name": string,
            "shape": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
            "datatype": { "type": "string", "enum": datatypes },
            "parameters": parameters,
            "data": { "type": "array", "items": {} },
        }},
        "V2RequestOutput": { "type": "object", "required": ["name"],
                             "properties": { "name": string, "parameters": parameters } },
        "V2InferResponse": { "type": "object", "required": ["model_name", "outputs"], "properties": {
            "model_name": string,
            "model_version": string,
            "id": string,
            "outputs": { "type": "array", "items": reference("V2ResponseOutput") },
        }},
        "V2ResponseOutput": { "type": "object", "required": ["name", "datatype", "shape", "data"],
                              "properties": {
            "name": string,
            "datatype": string,
            "shape": { "type": "array", "items": { "type": "integer" } },
            "data": { "type": "array", "items": {} },
        }},
        "CloudEventRequest": { "type": "object",
                               "required": ["specversion", "id", "source", "type", "data"],
                               "properties": {
            "specversion": { "type": "string", "enum": ["1.0"] },
            "id": { "type": "string", "minLength": 1 },
            "source": { "type": "string", "minLength": 1 },
            "type": { "type": "string", "minLength": 1 },
            "datacontenttype": string,
            "data": reference("PredictRequest"),
        }},
        "CloudEventReply": { "type": "object",
                             "required": ["specversion", "id", "source", "type",
                                          "datacontenttype", IN_RESPONSE_TO, "data"],
                             "properties": {
            "specversion": { "type": "string", "enum": ["1.0"] },
            "id": string,
            "source": string,
            "type": { "type": "string", "enum": [RESPONSE_TYPE] },
            "datacontenttype": string,
            IN_RESPONSE_TO: string,
            "data": reference("PredictResponse"),
        }},
    })
}
