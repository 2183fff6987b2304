//! Every protocol against the real server: KServe V1, Open Inference Protocol V2,
//! CloudEvents (binary and structured) and the OpenAPI document. The same rows give the
//! same labels and probabilities through each as through `/predict` (here); then, one
//! module each:
//!
//! - `open_inference`: V2's datatypes, binary tensors, and model metadata.
//! - `named_columns`: rows as records, for a model of several inputs and for a single
//!   input by its feature names, alike in every protocol.
//! - `refusals`: malformed requests get a 4xx and `{"error": "..."}`, and the document
//!   lists every status a route answered.
//! - `openapi`: the document lists every route.
//! - `explanations`: SHAP values through KServe V1's `:explain` and
//!   `/predict?explain=true`.

mod explanations;
mod named_columns;
mod open_inference;
mod openapi;
mod refusals;

use harness::client::{post_json, post_with, send, Reply};
use harness::server::{TestServer, MODEL_NAME};
use serde_json::{json, Value};

/// The served model's name.
const NAME: &str = MODEL_NAME;

/// Iris rows across the three classes and near their boundaries.
const ROWS: [[f64; 4]; 5] = [
    [5.1, 3.5, 1.4, 0.2],
    [6.0, 2.9, 4.5, 1.5],
    [6.7, 3.0, 5.2, 2.3],
    [5.9, 3.0, 5.1, 1.8],
    [6.3, 2.5, 4.9, 1.5],
];

/// `/predict?probabilities=true` for `rows`: the reference every protocol must match.
async fn reference(server: &TestServer, rows: &Value) -> (Value, Value) {
    let body = json!({ "input": rows }).to_string();
    let answer = send(
        server.addr,
        post_json(server.addr, "/predict?probabilities=true", body),
    )
    .await
    .ok_json();
    (
        answer["prediction"].clone(),
        answer["probabilities"].clone(),
    )
}

/// The reply to a V2 inference request in Triton's binary extension: the JSON
/// `header`, then `data`.
async fn infer_binary(server: &TestServer, header: &Value, data: &[u8]) -> Reply {
    let header = header.to_string();
    let length = header.len().to_string();
    let request = post_with(
        server.addr,
        &format!("/v2/models/{NAME}/infer"),
        &[
            ("content-type", "application/octet-stream"),
            ("inference-header-content-length", &length),
        ],
        [header.as_bytes(), data].concat(),
    );
    send(server.addr, request).await
}

/// Flattens `[[a, b], [c, d]]` to `[a, b, c, d]`.
fn flat(rows: &Value) -> Value {
    Value::Array(
        rows.as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().clone())
            .collect(),
    )
}

#[tokio::test]
async fn every_protocol_gives_predict_s_labels_and_probabilities() {
    let server = TestServer::bundled().await;
    let rows = json!(ROWS);
    let (labels, probabilities) = reference(&server, &rows).await;
    assert_eq!(labels.as_array().unwrap().len(), ROWS.len());

    // KServe V1: labels only.
    let v1 = send(
        server.addr,
        post_json(
            server.addr,
            &format!("/v1/models/{NAME}:predict"),
            json!({ "instances": rows }).to_string(),
        ),
    )
    .await
    .ok_json();
    assert_eq!(v1, json!({ "predictions": labels }));

    // V2: FP32 flat and FP64 nested, with and without the version in the path.
    for (path, datatype, data) in [
        (format!("/v2/models/{NAME}/infer"), "FP32", flat(&rows)),
        (
            format!("/v2/models/{NAME}/versions/1/infer"),
            "FP64",
            rows.clone(),
        ),
    ] {
        let body = json!({
            "id": "req-7",
            "inputs": [{ "name": "input", "shape": [ROWS.len(), 4], "datatype": datatype, "data": data }],
        });
        let v2 = send(server.addr, post_json(server.addr, &path, body.to_string()))
            .await
            .ok_json();
        assert_eq!(v2["model_name"], NAME);
        assert_eq!(v2["model_version"], "1");
        assert_eq!(v2["id"], "req-7");
        assert_eq!(
            v2["outputs"],
            json!([
                { "name": "label", "datatype": "INT64", "shape": [ROWS.len()], "data": labels },
                { "name": "probabilities", "datatype": "FP32", "shape": [ROWS.len(), 3],
                  "data": flat(&probabilities) },
            ]),
            "{path} {datatype}"
        );
    }

    // CloudEvents, binary mode: the answer is the body, attributes in headers.
    let binary = send(
        server.addr,
        post_with(
            server.addr,
            "/",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "event-1"),
                ("ce-source", "/tests"),
                ("ce-type", "dev.example.predict"),
            ],
            json!({ "input": rows }).to_string(),
        ),
    )
    .await;
    let answer = binary.ok_json();
    assert_eq!(
        answer,
        json!({ "prediction": labels, "probabilities": probabilities })
    );
    let header = |name: &str| binary.headers[name].to_str().unwrap().to_string();
    assert_eq!(header("ce-specversion"), "1.0");
    assert_eq!(
        header("ce-type"),
        "dev.tabular-function.prediction.response"
    );
    assert_eq!(header("ce-source"), format!("/models/{NAME}"));
    assert_eq!(header("ce-inresponseto"), "event-1");
    assert!(!header("ce-id").is_empty() && header("ce-id") != "event-1");

    // CloudEvents, structured mode: the whole event is the body.
    let event = json!({
        "specversion": "1.0", "id": "event-2", "source": "/tests",
        "type": "dev.example.predict", "data": { "input": rows },
    });
    let structured = send(
        server.addr,
        post_with(
            server.addr,
            "/",
            &[("content-type", "application/cloudevents+json")],
            event.to_string(),
        ),
    )
    .await;
    assert_eq!(
        structured.headers["content-type"],
        "application/cloudevents+json"
    );
    let reply = structured.ok_json();
    assert_eq!(
        reply["data"],
        json!({ "prediction": labels, "probabilities": probabilities })
    );
    assert_eq!(reply["type"], "dev.tabular-function.prediction.response");
    assert_eq!(reply["inresponseto"], "event-2");
    assert_ne!(reply["id"], header("ce-id"), "each reply has a new id");
    server.stop().await;
}
