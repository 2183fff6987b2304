//! Wrong input gets a 4xx JSON error that names the problem, and the server keeps
//! serving; shutdown drains a request that is still being received.

use std::time::Duration;

use harness::client::{bodiless, post_json, send};
use harness::server::TestServer;
use harness::TIMEOUT;
use hyper::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Posts `body` to /predict and returns the status and the error message.
async fn refused(server: &TestServer, body: &str) -> (StatusCode, String) {
    refused_at(server, "/predict", body).await
}

/// Posts `body` to `path` and returns the status and the error message.
async fn refused_at(server: &TestServer, path: &str, body: &str) -> (StatusCode, String) {
    let reply = send(server.addr, post_json(server.addr, path, body.to_string())).await;
    (reply.status, reply.error())
}

#[tokio::test]
async fn malformed_bodies_get_400_naming_the_problem() {
    let server = TestServer::bundled().await;
    let cases = [
        ("not json", "not valid JSON"),
        (r#"{"inputs":[5.1,3.5,1.4,0.2]}"#, "missing field `input`"),
        (
            r#"{"input":[5.1,3.5,1.4]}"#,
            "has 3 features, the model takes 4",
        ),
        (
            r#"{"input":[5.1,"x",1.4,0.2]}"#,
            "`input[1]` is the string \"x\", not a number",
        ),
        (
            r#"{"input":[[5.1,3.5,1.4,0.2],[1,2]]}"#,
            "`input[1]` has 2 features",
        ),
        (r#"{"input":[]}"#, "empty"),
        (
            r#"{"input":[1,2,3,1e39]}"#,
            "outside the range of a 32-bit float",
        ),
    ];
    for (body, expected) in cases {
        let (status, message) = refused(&server, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(message.contains(expected), "{body}: {message}");
    }
    // Still serving after all of that.
    let ok = send(
        server.addr,
        post_json(server.addr, "/predict", r#"{"input":[5.1,3.5,1.4,0.2]}"#),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn wrong_method_route_and_content_type_get_their_4xx() {
    let server = TestServer::bundled().await;
    let get = send(server.addr, bodiless(server.addr, Method::GET, "/predict")).await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.headers["allow"], "POST");
    assert!(get.json()["error"].is_string());

    let missing = send(
        server.addr,
        bodiless(server.addr, Method::GET, "/v9/nothing"),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["error"]
        .as_str()
        .unwrap()
        .contains("/v9/nothing"));

    let mut form = post_json(server.addr, "/predict", "input=1");
    form.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let form = send(server.addr, form).await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(form.error().contains("application/json"));
    assert!(
        form.error().contains("curl -d sends a form"),
        "{}",
        form.error()
    );
    server.stop().await;
}

#[tokio::test]
async fn only_a_form_is_told_how_curl_sends_json() {
    let server = TestServer::bundled().await;
    for (path, content_type) in [
        ("/predict", "text/plain"),
        ("/", "application/cloudevents-batch+json"),
    ] {
        let mut request = post_json(server.addr, path, "[]");
        request
            .headers_mut()
            .insert("content-type", content_type.parse().unwrap());
        let reply = send(server.addr, request).await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}");
        assert!(!reply.error().contains("curl"), "{path}: {}", reply.error());
    }
    server.stop().await;
}

/// The routes that parse a JSON body of rows (CloudEvents parse theirs the same way).
const JSON_ROUTES: [&str; 3] = [
    "/predict",
    "/v1/models/test-model:predict",
    "/v2/models/test-model/infer",
];

#[tokio::test]
async fn an_empty_body_is_called_empty_in_every_protocol() {
    let server = TestServer::bundled().await;
    for path in JSON_ROUTES {
        let (status, message) = refused_at(&server, path, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(message.contains("is empty"), "{path}: {message}");
        assert!(!message.contains("EOF"), "{path}: {message}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_misspelt_query_parameter_is_refused_naming_the_known_one() {
    let server = TestServer::bundled().await;
    let body = r#"{"input":[5.1,3.5,1.4,0.2]}"#;
    let (status, message) = refused_at(&server, "/predict?probability=true", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        message,
        "unknown query parameter `probability`; /predict takes only \
         probabilities=true|false and explain=true|false"
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_a_request_that_is_still_arriving() {
    let mut server = TestServer::bundled().await;
    let body = br#"{"input":[5.1,3.5,1.4,0.2]}"#;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /predict HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    // Let the server read the head, then ask it to stop while the body is incomplete.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(&body[10..]).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut response))
        .await
        .expect("the response arrives and the connection closes")
        .unwrap();
    let response = String::from_utf8(response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with(r#"{"prediction":[0]}"#), "{response}");
    server.stop().await;
}
