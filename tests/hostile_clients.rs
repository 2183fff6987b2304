//! The input policy and resource limits against a real server, in every protocol: too
//! many rows or bytes (413), missing values (passed to a tree ensemble, 400 from a
//! linear model), NaN tokens and deep JSON (400), too many requests at once (503 +
//! Retry-After), and slow clients (cut off, or 408).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use converter::onnx::{self, floats, int, ints, string};
use function::limits::Limits;
use harness::client::{bodiless, post_json, post_with, send, Reply};
use harness::raw::read_until_closed;
use harness::server::TestServer;
use harness::TIMEOUT;
use hyper::{Method, StatusCode};
use model::Model;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROW: [f32; 4] = [5.1, 3.5, 1.4, 0.2];

/// The same rows (each a JSON array text, e.g. `[1,2,3,4]` or `[1,null,3,4]`) as a
/// request of each protocol: (protocol, path, content type, body).
fn every_protocol(rows: &[String]) -> Vec<(&'static str, &'static str, &'static str, String)> {
    let rows = rows.join(",");
    let n = rows.matches('[').count();
    vec![
        (
            "predict",
            "/predict",
            "application/json",
            format!(r#"{{"input":[{rows}]}}"#),
        ),
        (
            "kserve v1",
            "/v1/models/test-model:predict",
            "application/json",
            format!(r#"{{"instances":[{rows}]}}"#),
        ),
        (
            "open inference",
            "/v2/models/test-model/infer",
            "application/json",
            format!(
                r#"{{"inputs":[{{"name":"input","shape":[{n},4],"datatype":"FP32","data":[{rows}]}}]}}"#
            ),
        ),
        (
            "cloudevents",
            "/",
            "application/cloudevents+json",
            format!(
                r#"{{"specversion":"1.0","id":"1","source":"/t","type":"t","data":{{"input":[{rows}]}}}}"#
            ),
        ),
    ]
}

/// Posts to every protocol and returns each reply, checking each is a JSON error.
async fn post_everywhere(server: &TestServer, rows: &[String]) -> Vec<(&'static str, Reply)> {
    let mut replies = Vec::new();
    for (protocol, path, content_type, body) in every_protocol(rows) {
        let request = post_with(server.addr, path, &[("content-type", content_type)], body);
        replies.push((protocol, send(server.addr, request).await));
    }
    replies
}

fn row_text(row: &[f32]) -> String {
    serde_json::to_string(row).unwrap()
}

#[tokio::test]
async fn every_protocol_takes_a_valid_row_and_refuses_more_rows_than_the_limit() {
    let server = TestServer::bundled_with(Limits {
        max_batch_rows: 2,
        ..Limits::default()
    })
    .await;
    let two = vec![row_text(&ROW); 2];
    for (protocol, reply) in post_everywhere(&server, &two).await {
        assert_eq!(reply.status, StatusCode::OK, "{protocol}: {}", reply.text());
    }
    let three = vec![row_text(&ROW); 3];
    for (protocol, reply) in post_everywhere(&server, &three).await {
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{protocol}");
        let message = reply.error();
        assert!(
            message.contains("3 rows, more than the limit of 2"),
            "{protocol}: {message}"
        );
    }
    server.stop().await;
}

/// A multinomial logistic regression on Iris' four features (weights by hand): a model
/// whose answer to a missing value would itself be undefined.
fn linear_model() -> Model {
    let coefficients = vec![
        0.4, 1.4, -2.2, -1.0, // setosa
        0.4, -1.6, 0.6, -1.4, // versicolor
        -0.8, 0.2, 1.6, 2.4, // virginica
    ];
    let classifier = onnx::ml_node(
        "LinearClassifier",
        vec![
            ints("classlabels_ints", vec![0, 1, 2]),
            floats("coefficients", coefficients),
            floats("intercepts", vec![0.3, 1.0, -1.3]),
            int("multi_class", 1),
            string("post_transform", "SOFTMAX"),
        ],
    );
    let info = onnx::ModelInfo {
        regression: false,
        string_labels: false,
        feature_names: ["a", "b", "c", "d"].map(String::from).to_vec(),
        class_names: ["setosa", "versicolor", "virginica"]
            .map(String::from)
            .to_vec(),
        model_type: "logistic_regression",
        description: "by hand".into(),
    };
    let bytes = onnx::encode(&onnx::tabular_model(vec![classifier], &info, None));
    Model::from_bytes(&bytes).unwrap()
}

#[tokio::test]
async fn missing_values_reach_a_tree_ensemble_in_every_protocol() {
    let server = TestServer::bundled().await;
    for (protocol, reply) in post_everywhere(&server, &["[5.1,null,1.4,0.2]".into()]).await {
        assert_eq!(reply.status, StatusCode::OK, "{protocol}: {}", reply.text());
    }
    server.stop().await;
}

#[tokio::test]
async fn missing_values_get_400_from_a_linear_model_and_nan_tokens_from_any() {
    let server = TestServer::start(linear_model()).await;
    assert_eq!(
        post_everywhere(&server, &[row_text(&ROW)]).await[0]
            .1
            .status,
        StatusCode::OK
    );
    for (protocol, reply) in post_everywhere(&server, &["[5.1,null,1.4,0.2]".into()]).await {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{protocol}");
        assert!(
            reply.error().contains("missing value"),
            "{protocol}: {}",
            reply.error()
        );
    }
    // What Python's json.dumps writes for float('nan') and float('inf').
    for token in ["NaN", "Infinity", "-Infinity"] {
        let row = format!("[5.1,{token},1.4,0.2]");
        for (protocol, reply) in post_everywhere(&server, &[row]).await {
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{protocol}");
            let message = reply.error();
            assert!(message.contains("NaN or Infinity"), "{protocol}: {message}");
        }
    }
    // 1e39 is a JSON number but infinite as the model's f32.
    for (protocol, reply) in post_everywhere(&server, &["[5.1,1e39,1.4,0.2]".into()]).await {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{protocol}");
        assert!(reply.error().contains("32-bit float"), "{protocol}");
    }
    server.stop().await;
}

#[tokio::test]
async fn deeply_nested_json_gets_400_in_every_protocol() {
    let server = TestServer::bundled().await;
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    for (protocol, reply) in post_everywhere(&server, &[deep]).await {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{protocol}");
        let message = reply.error();
        assert!(
            message.contains("more than 32 levels deep"),
            "{protocol}: {message}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_with_or_without_content_length() {
    let server = TestServer::bundled_with(Limits {
        max_body_bytes: 1000,
        ..Limits::default()
    })
    .await;
    let big = format!(r#"{{"input":[{}]}}"#, vec![row_text(&ROW); 100].join(","));
    assert!(big.len() > 1000);
    let declared = send(server.addr, post_json(server.addr, "/predict", big.clone())).await;
    assert_eq!(declared.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(declared.error().contains("limit of 1000 bytes"));

    // Chunked, no Content-Length: the limit holds while streaming.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /v1/models/test-model:predict HTTP/1.1\r\nhost: t\r\n\
              content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    for chunk in big.as_bytes().chunks(100) {
        let framed = format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            String::from_utf8_lossy(chunk)
        );
        if stream.write_all(framed.as_bytes()).await.is_err() {
            break; // the server may answer and close before the rest is sent
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let response = read_until_closed(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains(r#"{"error":"#), "{response}");
    server.stop().await;
}

/// A POST /predict whose body never finishes: it holds an in-flight slot.
async fn hold_a_slot(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /predict HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
              content-length: 27\r\n\r\n{\"input\":",
        )
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn requests_over_the_in_flight_limit_get_503_with_retry_after() {
    let server = TestServer::bundled_with(Limits {
        max_in_flight: 1,
        ..Limits::default()
    })
    .await;
    let mut holder = hold_a_slot(server.addr).await;
    // The held request must have reached the handler before the next one is sent.
    let deadline = Instant::now() + TIMEOUT;
    let busy = loop {
        let reply = send(
            server.addr,
            post_json(server.addr, "/predict", r#"{"input":[5.1,3.5,1.4,0.2]}"#),
        )
        .await;
        if reply.status != StatusCode::OK || Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.headers["retry-after"], "1");
    assert_eq!(
        busy.error(),
        "the function is busy with 1 request; retry shortly"
    );
    // Probes are not counted: a busy pod stays live and ready.
    let live = send(server.addr, bodiless(server.addr, Method::GET, "/healthz")).await;
    assert_eq!(live.status, StatusCode::OK);

    holder.write_all(b"[5.1,3.5,1.4,0.2]}").await.unwrap();
    let mut head = [0; 12];
    holder.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    // The slot is free again.
    let after = send(
        server.addr,
        post_json(server.addr, "/predict", r#"{"input":[5.1,3.5,1.4,0.2]}"#),
    )
    .await;
    assert_eq!(after.status, StatusCode::OK);
    server.stop().await;
}

fn short_timeouts() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(500),
        ..Limits::default()
    }
}

#[tokio::test]
async fn a_client_sending_headers_slowly_is_disconnected() {
    let server = TestServer::bundled_with(short_timeouts()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // One header byte every 50 ms: each write is progress, but the head never ends.
    let mut closed = false;
    for _ in 0..100 {
        if stream.write_all(b"x").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0; 256];
        match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "still connected after {:?}", started.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn silent_connections_and_a_stalled_http2_preface_are_closed() {
    let server = TestServer::bundled_with(short_timeouts()).await;
    for opening in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(opening).await.unwrap();
        let response = read_until_closed(&mut stream).await;
        assert!(!response.contains("200"), "{response}");
    }
    // The server still answers a prompt client.
    let ok = send(server.addr, bodiless(server.addr, Method::GET, "/healthz")).await;
    assert_eq!(ok.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_body_sent_too_slowly_gets_408_and_the_connection_closes() {
    let server = TestServer::bundled_with(short_timeouts()).await;
    let mut stream = hold_a_slot(server.addr).await;
    let response = read_until_closed(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(
        response.contains(r#"{"error":"the request was not received"#),
        "{response}"
    );
    server.stop().await;
}
