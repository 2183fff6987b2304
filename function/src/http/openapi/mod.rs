//! The OpenAPI 3.0 document of every route, served at `GET /openapi.json`: the paths
//! are the route table's ([`crate::routes`]), with each protocol's bodies and every
//! status a route answers, precise enough to drive a schema-based fuzzer. The body
//! schemas (`schemas`) take rows, records and label types from the served model.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

mod schemas;

use crate::error::json_response;
use crate::protocol::cloudevents::{IN_RESPONSE_TO, RESPONSE_TYPE, STRUCTURED};
use crate::routes::{Endpoint, ROUTES};
use crate::state::App;
use schemas::{reference, schemas};

/// `GET /openapi.json`.
pub fn document(app: &App) -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, spec(app).to_string().into_bytes())
}

/// The document as JSON: one path per path of the route table, each with the
/// operations of the routes answering on it.
pub fn spec(app: &App) -> Value {
    let info = app.model.info();
    let mut paths = serde_json::Map::new();
    for route in &ROUTES {
        for path in route.paths {
            let entry = paths.entry(path.template).or_insert_with(|| json!({}));
            let mut operations = operations(route.endpoint, path.operation_id, route.summary);
            let template = path.template;
            for operation in operations
                .as_object_mut()
                .expect("operations are an object")
                .values_mut()
            {
                if template.contains("{name}") {
                    let parameters = operation["parameters"]
                        .as_array_mut()
                        .expect("operations have parameters");
                    parameters.insert(0, param("ModelName"));
                    if template.contains("{version}") {
                        parameters.insert(1, param("ModelVersion"));
                    }
                }
            }
            for (method, operation) in operations.as_object().expect("operations are an object") {
                entry[method] = operation.clone();
            }
        }
    }

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Tabular model function",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "Serves the ONNX model {:?} (version {:?}, {} inputs, {} values per row) over \
                 the tutorial's /predict, KServe V1, the Open Inference Protocol V2 and \
                 CloudEvents. Every error is a JSON object {{\"error\": \"...\"}}; a method a \
                 path does not take gets 405 with Allow.",
                app.model_name,
                app.model_version,
                info.inputs.len(),
                info.n_features()
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

/// The operations of `endpoint` (GET and HEAD, or POST) on one of its paths, with that
/// path's `operationId` and the route's summary; the model path parameters are added by
/// [`spec`] from the path's template.
fn operations(endpoint: Endpoint, id: &str, summary: &str) -> Value {
    let object = json!({ "type": "object" });
    match endpoint {
        Endpoint::Predict => json!({ "post": {
            "operationId": id,
            "summary": summary,
            "parameters": [{
                "name": "probabilities", "in": "query", "required": false,
                "description": "true or 1 adds class probabilities; false or 0 does not",
                "schema": { "type": "string", "enum": ["true", "false", "1", "0"] },
            }, {
                "name": "explain", "in": "query", "required": false,
                "description": "true or 1 adds each row's SHAP values (a tree ensemble \
                                whose file holds node covers, or a linear model whose \
                                file holds feature means; otherwise 400 saying how to \
                                add them); false or 0 does not",
                "schema": { "type": "string", "enum": ["true", "false", "1", "0"] },
            }],
            "requestBody": body(reference("PredictRequest")),
            "responses": post_responses(reference("PredictResponse"), false),
        }}),
        Endpoint::CloudEvents => cloudevents_operation(id, summary),
        Endpoint::V1Predict => json!({ "post": {
            "operationId": id,
            "summary": summary,
            "parameters": [],
            "requestBody": body(reference("V1PredictRequest")),
            "responses": post_responses(reference("V1PredictResponse"), true),
        }}),
        Endpoint::V1Explain => json!({ "post": {
            "operationId": id,
            "summary": summary,
            "parameters": [],
            "requestBody": body(reference("V1PredictRequest")),
            "responses": post_responses(reference("V1ExplainResponse"), true),
        }}),
        Endpoint::V2Infer => json!({ "post": {
            "operationId": id,
            "summary": summary,
            "parameters": [{
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
        }}),
        Endpoint::Metrics => metrics_operations(id, summary),
        Endpoint::Index | Endpoint::OpenApi => get(id, summary, object, false),
        Endpoint::Live => get(id, summary, reference("Health"), false),
        Endpoint::Ready => readiness(get(id, summary, reference("Health"), false)),
        Endpoint::V1Models => get(id, summary, reference("V1Models"), false),
        Endpoint::V1Model => readiness(get(id, summary, reference("V1ModelReady"), true)),
        Endpoint::V2Server => get(id, summary, reference("V2ServerMetadata"), false),
        Endpoint::V2Live => get(id, summary, reference("V2Live"), false),
        Endpoint::V2Ready => readiness(get(id, summary, reference("V2Ready"), false)),
        Endpoint::V2Model => get(id, summary, reference("V2ModelMetadata"), true),
        Endpoint::V2ModelReady => readiness(get(id, summary, reference("V2ModelReady"), true)),
        Endpoint::Unmatched => json!({}),
    }
}

/// `GET /metrics`: text, not JSON (the Prometheus text format, or OpenMetrics when
/// Accept asks for it), and 404 when the metrics are off.
fn metrics_operations(id: &str, summary: &str) -> Value {
    let text = json!({ "schema": { "type": "string" } });
    json!({
        "get": {
            "operationId": id,
            "summary": summary,
            "parameters": [],
            "responses": {
                "200": { "description": "OK",
                    "content": { "text/plain": text, "application/openmetrics-text": text } },
                "404": { "description": "Metrics are turned off (--no-metrics, METRICS=off)" },
            },
        },
        "head": {
            "operationId": format!("{id}Head"),
            "summary": "Prometheus metrics (headers only)",
            "parameters": [],
            "responses": { "200": { "description": "OK" }, "404": { "description": "Metrics are turned off" } },
        },
    })
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
        get["responses"]["404"] = json!({ "$ref": "#/components/responses/NotFound" });
        head["responses"]["404"] = json!({ "description": "No such model or version" });
    }
    json!({ "get": get, "head": head })
}

/// A readiness route's operations: 503, with the 200's body saying not ready, from
/// SIGTERM until the process exits (the shutdown delay, then the drain).
fn readiness(mut operations: Value) -> Value {
    let schema = operations["get"]["responses"]["200"]["content"].clone();
    operations["get"]["responses"]["503"] = json!({
        "description": "Shutting down: not ready, though still serving for the shutdown delay",
        "content": schema,
    });
    operations["head"]["responses"]["503"] = json!({ "description": "Shutting down" });
    operations
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
fn cloudevents_operation(id: &str, summary: &str) -> Value {
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
        "operationId": id,
        "summary": summary,
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
