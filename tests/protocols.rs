//! Every protocol against the real server: KServe V1, Open Inference Protocol V2,
//! CloudEvents (binary and structured) and the OpenAPI document. The same rows give the
//! same labels and probabilities through each as through `/predict`; malformed requests
//! get a 4xx and `{"error": "..."}`; the document lists every status a route answered.

mod common;

use bytes::Bytes;
use common::{bodiless, post_json, send, Reply, TestServer};
use http_body_util::Full;
use hyper::{Method, Request, StatusCode};
use model::{Model, BUNDLED_MODEL};
use serde_json::{json, Value};

/// Iris rows across the three classes and near their boundaries.
const ROWS: [[f64; 4]; 5] = [
    [5.1, 3.5, 1.4, 0.2],
    [6.0, 2.9, 4.5, 1.5],
    [6.7, 3.0, 5.2, 2.3],
    [5.9, 3.0, 5.1, 1.8],
    [6.3, 2.5, 4.9, 1.5],
];
/// The served model's name in `TestServer`.
const NAME: &str = "test-model";

async fn bundled() -> TestServer {
    TestServer::start(Model::from_bytes(BUNDLED_MODEL).unwrap()).await
}

fn ok_json(reply: &Reply) -> Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()
}

/// A request with a body and extra headers.
fn post(
    server: &TestServer,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut request = post_json(server.addr, path, body);
    for (name, value) in headers {
        request.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    request
}

/// `/predict?probabilities=true` for `rows`: the reference every protocol must match.
async fn reference(server: &TestServer, rows: &Value) -> (Value, Value) {
    let body = json!({ "input": rows }).to_string();
    let answer = ok_json(
        &send(
            server.addr,
            post_json(server.addr, "/predict?probabilities=true", body),
        )
        .await,
    );
    (
        answer["prediction"].clone(),
        answer["probabilities"].clone(),
    )
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
    let server = bundled().await;
    let rows = json!(ROWS);
    let (labels, probabilities) = reference(&server, &rows).await;
    assert_eq!(labels.as_array().unwrap().len(), ROWS.len());

    // KServe V1: labels only.
    let v1 = ok_json(
        &send(
            server.addr,
            post_json(
                server.addr,
                &format!("/v1/models/{NAME}:predict"),
                json!({ "instances": rows }).to_string(),
            ),
        )
        .await,
    );
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
        let v2 = ok_json(&send(server.addr, post_json(server.addr, &path, body.to_string())).await);
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
        post(
            &server,
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
    let answer = ok_json(&binary);
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
        post(
            &server,
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
    let reply = ok_json(&structured);
    assert_eq!(
        reply["data"],
        json!({ "prediction": labels, "probabilities": probabilities })
    );
    assert_eq!(reply["type"], "dev.tabular-function.prediction.response");
    assert_eq!(reply["inresponseto"], "event-2");
    assert_ne!(reply["id"], header("ce-id"), "each reply has a new id");
    server.stop().await;
}

#[tokio::test]
async fn v2_integer_datatypes_and_a_single_row_shape_match_predict() {
    let server = bundled().await;
    let rows = json!([[5, 3, 1, 0], [7, 3, 6, 2]]);
    let (labels, probabilities) = reference(&server, &rows).await;
    for datatype in ["INT8", "INT64", "UINT8", "UINT64"] {
        let body = json!({ "inputs": [{ "name": "input", "shape": [2, 4], "datatype": datatype,
                                       "data": flat(&rows) }] });
        let path = format!("/v2/models/{NAME}/infer");
        let v2 = ok_json(&send(server.addr, post_json(server.addr, &path, body.to_string())).await);
        assert_eq!(v2["outputs"][0]["data"], labels, "{datatype}");
        assert_eq!(v2["outputs"][1]["data"], flat(&probabilities), "{datatype}");
    }
    // One row may drop the batch dimension; `outputs` picks and orders the outputs.
    let body = json!({
        "inputs": [{ "name": "input", "shape": [4], "datatype": "FP32", "data": rows[0] }],
        "outputs": [{ "name": "probabilities" }, { "name": "label" }],
    });
    let path = format!("/v2/models/{NAME}/infer");
    let v2 = ok_json(&send(server.addr, post_json(server.addr, &path, body.to_string())).await);
    assert_eq!(v2["outputs"][0]["name"], "probabilities");
    assert_eq!(v2["outputs"][0]["shape"], json!([1, 3]));
    assert_eq!(v2["outputs"][0]["data"], probabilities[0]);
    assert_eq!(v2["outputs"][1]["data"], json!([labels[0]]));
    assert!(v2.get("id").is_none(), "no id asked, none answered");
    server.stop().await;
}

#[tokio::test]
async fn v2_binary_tensor_extension_matches_json_data() {
    let server = bundled().await;
    let rows = json!(ROWS);
    let (labels, _) = reference(&server, &rows).await;
    let bytes: Vec<u8> = ROWS
        .iter()
        .flatten()
        .flat_map(|v| (*v as f32).to_le_bytes())
        .collect();
    let header =
        json!({ "inputs": [{ "name": "input", "shape": [ROWS.len(), 4], "datatype": "FP32",
                                      "parameters": { "binary_data_size": bytes.len() } }],
                         "outputs": [{ "name": "label", "parameters": { "binary_data": true } }] })
        .to_string();
    let mut body = header.clone().into_bytes();
    body.extend_from_slice(&bytes);
    let length = header.len().to_string();
    let request = post(
        &server,
        &format!("/v2/models/{NAME}/infer"),
        &[
            ("content-type", "application/octet-stream"),
            ("inference-header-content-length", &length),
        ],
        body,
    );
    let v2 = ok_json(&send(server.addr, request).await);
    assert_eq!(v2["outputs"][0]["data"], labels);
    server.stop().await;
}

#[tokio::test]
async fn metadata_describes_the_onnx_signature() {
    let server = bundled().await;
    let get = |path: String| send(server.addr, bodiless(server.addr, Method::GET, &path));
    let metadata = ok_json(&get(format!("/v2/models/{NAME}")).await);
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
    let versioned = ok_json(&get(format!("/v2/models/{NAME}/versions/1")).await);
    assert_eq!(versioned, metadata);
    let ready = ok_json(&get(format!("/v2/models/{NAME}/versions/1/ready")).await);
    assert_eq!(ready, json!({ "name": NAME, "ready": true }));
    assert_eq!(ok_json(&get("/v2/health/live".into()).await)["live"], true);
    assert_eq!(
        ok_json(&get("/v2/health/ready".into()).await)["ready"],
        true
    );
    let server_metadata = ok_json(&get("/v2".into()).await);
    assert_eq!(server_metadata["name"], "function");
    assert!(server_metadata["extensions"].is_array());
    assert_eq!(
        ok_json(&get("/v1/models".into()).await),
        json!({ "models": [NAME] })
    );
    assert_eq!(
        ok_json(&get(format!("/v1/models/{NAME}")).await),
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

/// (method, path, extra headers, body, status, fragment of the error message)
type Case = (
    Method,
    String,
    Vec<(&'static str, &'static str)>,
    String,
    StatusCode,
    &'static str,
);

/// Sends each case and checks the status and the `{"error": ...}` body; returns the
/// replies so the caller can check the OpenAPI document lists each status.
async fn refused(server: &TestServer, cases: Vec<Case>) -> Vec<(Method, String, StatusCode)> {
    let mut seen = Vec::new();
    for (method, path, headers, body, status, fragment) in cases {
        let mut request = post(server, &path, &headers, body.clone());
        *request.method_mut() = method.clone();
        let reply = send(server.addr, request).await;
        assert_eq!(
            reply.status,
            status,
            "{method} {path} {body}: {}",
            reply.text()
        );
        let json = reply.json();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["error"], "{}", reply.text());
        let message = json["error"].as_str().unwrap();
        assert!(
            message.contains(fragment),
            "{method} {path} {body}: {message:?} lacks {fragment:?}"
        );
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(reply.headers.contains_key("allow"));
        }
        seen.push((method, path, status));
    }
    seen
}

fn v2_cases() -> Vec<Case> {
    let infer = format!("/v2/models/{NAME}/infer");
    let input = |shape: &str, datatype: &str, data: &str| {
        format!(
            r#"{{"inputs":[{{"name":"input","shape":{shape},"datatype":"{datatype}","data":{data}}}]}}"#
        )
    };
    let bad = StatusCode::BAD_REQUEST;
    let case = |body: &str, fragment: &'static str| {
        (
            Method::POST,
            infer.clone(),
            vec![],
            body.to_string(),
            bad,
            fragment,
        )
    };
    vec![
        case("{", "not an inference request"),
        case(r#"{"input":[]}"#, "missing field `inputs`"),
        case(r#"{"inputs":[]}"#, "`inputs` has 0 tensors"),
        case(
            r#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"#,
            "unknown input \"x\"",
        ),
        case(
            &input("[1,4]", "BOOL", "[true,true,true,true]"),
            "datatype BOOL",
        ),
        case(
            &input("[1,4]", "BYTES", r#"["a","b","c","d"]"#),
            "datatype BYTES",
        ),
        case(
            &input("[2,4]", "FP32", "[1,2,3,4]"),
            "has 4 values, shape [2, 4] needs 8",
        ),
        case(
            &input("[1,3]", "FP32", "[1,2,3]"),
            "does not fit the model's input [-1, 4]",
        ),
        case(&input("[1,4]", "INT8", "[1,2,3,300]"), "not a INT8 integer"),
        case(&input("[1,4]", "FP32", r#"[1,2,3,"4"]"#), "not a number"),
        case(&input("[1,4]", "FP64", "[1,2,3,1e300]"), "32-bit float"),
        case(
            r#"{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"scores"}]}"#,
            "unknown output \"scores\"",
        ),
        (
            Method::POST,
            "/v2/models/other/infer".into(),
            vec![],
            input("[1,4]", "FP32", "[1,2,3,4]"),
            StatusCode::NOT_FOUND,
            "unknown model \"other\"",
        ),
        (
            Method::POST,
            format!("/v2/models/{NAME}/versions/9/infer"),
            vec![],
            input("[1,4]", "FP32", "[1,2,3,4]"),
            StatusCode::NOT_FOUND,
            "no version \"9\"",
        ),
        (
            Method::GET,
            format!("/v2/models/{NAME}/versions/9"),
            vec![],
            String::new(),
            StatusCode::NOT_FOUND,
            "no version",
        ),
        (
            Method::GET,
            "/v2/models/other/ready".into(),
            vec![],
            String::new(),
            StatusCode::NOT_FOUND,
            "unknown model",
        ),
        (
            Method::GET,
            infer.clone(),
            vec![],
            String::new(),
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST",
        ),
        (
            Method::POST,
            infer.clone(),
            vec![("content-type", "text/plain")],
            "{}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "text/plain",
        ),
        (
            Method::POST,
            infer,
            vec![("inference-header-content-length", "999")],
            "{}".into(),
            bad,
            "has only 2 bytes",
        ),
    ]
}

fn v1_and_cloudevents_cases() -> Vec<Case> {
    let predict = format!("/v1/models/{NAME}:predict");
    let bad = StatusCode::BAD_REQUEST;
    let binary = vec![
        ("ce-specversion", "1.0"),
        ("ce-id", "1"),
        ("ce-source", "/t"),
        ("ce-type", "t"),
    ];
    let structured = vec![("content-type", "application/cloudevents+json")];
    let root = || "/".to_string();
    vec![
        (
            Method::POST,
            predict.clone(),
            vec![],
            "[".into(),
            bad,
            "not valid JSON",
        ),
        (
            Method::POST,
            predict.clone(),
            vec![],
            r#"{"inputs":[[1,2,3,4]]}"#.into(),
            bad,
            "missing field `instances`",
        ),
        (
            Method::POST,
            predict.clone(),
            vec![],
            r#"{"instances":[1,2,3,4]}"#.into(),
            bad,
            "`instances[0]` is 1, not a row",
        ),
        (
            Method::POST,
            predict.clone(),
            vec![],
            r#"{"instances":[[1,2,3]]}"#.into(),
            bad,
            "has 3 features",
        ),
        (
            Method::POST,
            "/v1/models/other:predict".into(),
            vec![],
            r#"{"instances":[[1,2,3,4]]}"#.into(),
            StatusCode::NOT_FOUND,
            "unknown model",
        ),
        (
            Method::GET,
            "/v1/models/other".into(),
            vec![],
            "".into(),
            StatusCode::NOT_FOUND,
            "unknown model",
        ),
        (
            Method::GET,
            predict,
            vec![],
            "".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST",
        ),
        (
            Method::POST,
            root(),
            vec![],
            r#"{"input":[1,2,3,4]}"#.into(),
            bad,
            "POST / takes a CloudEvent",
        ),
        (
            Method::POST,
            root(),
            binary[..2].to_vec(),
            r#"{"input":[1,2,3,4]}"#.into(),
            bad,
            "lacks the required header(s) ce-source, ce-type",
        ),
        (
            Method::POST,
            root(),
            binary.clone(),
            r#"{"input":[1,2,3]}"#.into(),
            bad,
            "has 3 features",
        ),
        (
            Method::POST,
            root(),
            binary.clone(),
            "nope".into(),
            bad,
            "not valid JSON",
        ),
        (
            Method::POST,
            root(),
            [&binary[1..], &[("ce-specversion", "0.3")]].concat(),
            r#"{"input":[1,2,3,4]}"#.into(),
            bad,
            "specversion \"0.3\"",
        ),
        (
            Method::POST,
            root(),
            structured.clone(),
            r#"{"specversion":"1.0","data":{"input":[1,2,3,4]}}"#.into(),
            bad,
            "attribute(s) id, source, type",
        ),
        (
            Method::POST,
            root(),
            structured.clone(),
            r#"{"specversion":"1.0","id":"1","source":"/t","type":"t"}"#.into(),
            bad,
            "no `data`",
        ),
        (
            Method::POST,
            root(),
            structured,
            r#"{"specversion":"1.0","id":"1","source":"/t","type":"t","data":{"input":"x"}}"#
                .into(),
            bad,
            "must be an array",
        ),
        (
            Method::PUT,
            root(),
            vec![],
            "".into(),
            StatusCode::METHOD_NOT_ALLOWED,
            "GET, HEAD, POST",
        ),
    ]
}

#[tokio::test]
async fn malformed_requests_get_the_protocol_s_error_and_are_documented() {
    let server = bundled().await;
    let mut seen = refused(&server, v2_cases()).await;
    seen.extend(refused(&server, v1_and_cloudevents_cases()).await);
    let spec = ok_json(
        &send(
            server.addr,
            bodiless(server.addr, Method::GET, "/openapi.json"),
        )
        .await,
    );
    for (method, path, status) in seen {
        if status == StatusCode::METHOD_NOT_ALLOWED {
            continue; // a method the document does not list for the path
        }
        let template = path
            .replace(&format!("/{NAME}"), "/{name}")
            .replace("/other", "/{name}")
            .replace("/versions/9", "/versions/{version}");
        let operation = &spec["paths"][&template][method.as_str().to_lowercase()];
        assert!(
            operation["responses"][status.as_str()].is_object(),
            "{method} {template} answered {status}, the OpenAPI document does not list it"
        );
    }
    // Still serving after all of that.
    let (labels, _) = reference(&server, &json!(ROWS)).await;
    assert_eq!(labels.as_array().unwrap().len(), ROWS.len());
    server.stop().await;
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let server = bundled().await;
    let spec = ok_json(
        &send(
            server.addr,
            bodiless(server.addr, Method::GET, "/openapi.json"),
        )
        .await,
    );
    assert_eq!(spec["openapi"], "3.0.3");
    let routes = [
        ("post", "/predict"),
        ("get", "/"),
        ("post", "/"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/health/liveness"),
        ("get", "/health/readiness"),
        ("get", "/openapi.json"),
        ("get", "/metrics"),
        ("get", "/v1/models"),
        ("get", "/v1/models/{name}"),
        ("post", "/v1/models/{name}:predict"),
        ("get", "/v2"),
        ("get", "/v2/health/live"),
        ("get", "/v2/health/ready"),
        ("get", "/v2/models/{name}"),
        ("get", "/v2/models/{name}/ready"),
        ("post", "/v2/models/{name}/infer"),
        ("get", "/v2/models/{name}/versions/{version}"),
        ("get", "/v2/models/{name}/versions/{version}/ready"),
        ("post", "/v2/models/{name}/versions/{version}/infer"),
    ];
    for (method, path) in routes {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} is missing"
        );
    }
    let documented: usize = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| *m != "head")
                .count()
        })
        .sum();
    assert_eq!(
        documented,
        routes.len(),
        "a documented route the test does not know"
    );
    assert_eq!(
        spec["components"]["parameters"]["ModelName"]["example"],
        NAME
    );
    server.stop().await;
}
