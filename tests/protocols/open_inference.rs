//! The Open Inference Protocol (V2) beyond JSON FP32: integer datatypes, a row without
//! its batch dimension, picked outputs, the binary tensor extension; and the model
//! metadata V2 and KServe V1 describe.

use harness::client::{bodiless, post_json, send};
use harness::server::TestServer;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::{flat, infer_binary, reference, NAME, ROWS};

#[tokio::test]
async fn v2_integer_datatypes_and_a_single_row_shape_match_predict() {
    let server = TestServer::bundled().await;
    let rows = json!([[5, 3, 1, 0], [7, 3, 6, 2]]);
    let (labels, probabilities) = reference(&server, &rows).await;
    for datatype in ["INT8", "INT64", "UINT8", "UINT64"] {
        let body = json!({ "inputs": [{ "name": "input", "shape": [2, 4], "datatype": datatype,
                                       "data": flat(&rows) }] });
        let path = format!("/v2/models/{NAME}/infer");
        let v2 = send(server.addr, post_json(server.addr, &path, body.to_string()))
            .await
            .ok_json();
        assert_eq!(v2["outputs"][0]["data"], labels, "{datatype}");
        assert_eq!(v2["outputs"][1]["data"], flat(&probabilities), "{datatype}");
    }
    // One row may drop the batch dimension; `outputs` picks and orders the outputs.
    let body = json!({
        "inputs": [{ "name": "input", "shape": [4], "datatype": "FP32", "data": rows[0] }],
        "outputs": [{ "name": "probabilities" }, { "name": "label" }],
    });
    let path = format!("/v2/models/{NAME}/infer");
    let v2 = send(server.addr, post_json(server.addr, &path, body.to_string()))
        .await
        .ok_json();
    assert_eq!(v2["outputs"][0]["name"], "probabilities");
    assert_eq!(v2["outputs"][0]["shape"], json!([1, 3]));
    assert_eq!(v2["outputs"][0]["data"], probabilities[0]);
    assert_eq!(v2["outputs"][1]["data"], json!([labels[0]]));
    assert!(v2.get("id").is_none(), "no id asked, none answered");
    server.stop().await;
}

#[tokio::test]
async fn v2_binary_tensor_extension_matches_json_data() {
    let server = TestServer::bundled().await;
    let rows = json!(ROWS);
    let (labels, _) = reference(&server, &rows).await;
    let bytes: Vec<u8> = ROWS
        .iter()
        .flatten()
        .flat_map(|v| (*v as f32).to_le_bytes())
        .collect();
    let header = json!({ "inputs": [{ "name": "input", "shape": [ROWS.len(), 4], "datatype": "FP32",
                                      "parameters": { "binary_data_size": bytes.len() } }],
                         "outputs": [{ "name": "label", "parameters": { "binary_data": true } }] });
    let v2 = infer_binary(&server, &header, &bytes).await.ok_json();
    assert_eq!(v2["outputs"][0]["data"], labels);
    server.stop().await;
}

#[tokio::test]
async fn metadata_describes_the_onnx_signature() {
    let server = TestServer::bundled().await;
    let get = |path: String| send(server.addr, bodiless(server.addr, Method::GET, &path));
    let metadata = get(format!("/v2/models/{NAME}")).await.ok_json();
    assert_eq!(
        metadata,
        json!({
            "name": NAME, "versions": ["1"], "platform": "tree_kernel_onnx",
            "inputs": [{ "name": "input", "datatype": "FP32", "shape": [-1, 4] }],
            "outputs": [
                { "name": "label", "datatype": "INT64", "shape": [-1] },
                { "name": "probabilities", "datatype": "FP32", "shape": [-1, 3] },
            ],
        })
    );
    let versioned = get(format!("/v2/models/{NAME}/versions/1")).await.ok_json();
    assert_eq!(versioned, metadata);
    let ready = get(format!("/v2/models/{NAME}/versions/1/ready"))
        .await
        .ok_json();
    assert_eq!(ready, json!({ "name": NAME, "ready": true }));
    assert_eq!(get("/v2/health/live".into()).await.ok_json()["live"], true);
    assert_eq!(
        get("/v2/health/ready".into()).await.ok_json()["ready"],
        true
    );
    let server_metadata = get("/v2".into()).await.ok_json();
    assert_eq!(server_metadata["name"], "function");
    assert!(server_metadata["extensions"].is_array());
    assert_eq!(
        get("/v1/models".into()).await.ok_json(),
        json!({ "models": [NAME] })
    );
    assert_eq!(
        get(format!("/v1/models/{NAME}")).await.ok_json(),
        json!({ "name": NAME, "ready": true })
    );
    let head = send(
        server.addr,
        bodiless(server.addr, Method::HEAD, &format!("/v2/models/{NAME}")),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    server.stop().await;
}
