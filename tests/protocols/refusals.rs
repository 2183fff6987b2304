//! Malformed requests in every protocol get the protocol's 4xx and a body that is only
//! `{"error": "..."}` naming the problem, and the OpenAPI document lists, for each
//! route, every status it answered.

use harness::client::{bodiless, post_with, send};
use harness::server::TestServer;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::{reference, NAME, ROWS};

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
        let mut request = post_with(server.addr, &path, &headers, body.clone());
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
    let server = TestServer::bundled().await;
    let mut seen = refused(&server, v2_cases()).await;
    seen.extend(refused(&server, v1_and_cloudevents_cases()).await);
    let spec = send(
        server.addr,
        bodiless(server.addr, Method::GET, "/openapi.json"),
    )
    .await
    .ok_json();
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
