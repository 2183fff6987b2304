//! gRPC on the HTTP port against clients that misbehave at the transport level, over a
//! real h2c connection: a frame cut short, a call with no message, a message over the
//! size limit announced by its prefix, a client that never half-closes, gRPC over
//! HTTP/1.1. Each gets a gRPC status, promptly; none hangs or takes the server down.
//! (Well-behaved clients, tritonclient and grpcio, are tests/interop/test_grpc_interop.py.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use function::limits::Limits;
use function::protocol::open_inference::proto::{InferInputTensor, ModelInferRequest};
use harness::server::{TestServer, MODEL_NAME};
use harness::TIMEOUT;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::client::conn::{http1, http2};
use hyper::{HeaderMap, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const INFER: &str = "/inference.GRPCInferenceService/ModelInfer";

type Chunks = mpsc::Sender<Result<Frame<Bytes>, std::convert::Infallible>>;

/// A call's outcome: its status and message, wherever they were (trailers-only
/// headers or trailers), and the response message bytes.
#[derive(Debug)]
struct Outcome {
    status: String,
    message: String,
    body: Bytes,
    headers: HeaderMap,
}

/// A framed ModelInferRequest of the tutorial's row, raw FP32.
fn infer_message() -> Vec<u8> {
    let request = ModelInferRequest {
        model_name: MODEL_NAME.into(),
        id: "call-1".into(),
        inputs: vec![InferInputTensor {
            name: "input".into(),
            datatype: "FP32".into(),
            shape: vec![1, 4],
            ..Default::default()
        }],
        raw_input_contents: vec![[5.1f32, 3.5, 1.4, 0.2]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()],
        ..Default::default()
    };
    framed(&prost::Message::encode_to_vec(&request))
}

fn framed(message: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0];
    bytes.extend_from_slice(&(message.len() as u32).to_be_bytes());
    bytes.extend_from_slice(message);
    bytes
}

fn grpc_request<B>(addr: SocketAddr, body: B) -> Request<B> {
    Request::post(format!("http://{addr}{INFER}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("x-request-id", "grpc-test-1")
        .body(body)
        .unwrap()
}

/// Starts a call over h2c whose body is what the test sends on the returned channel
/// (dropping it half-closes); the outcome arrives on the returned task.
async fn call(addr: SocketAddr) -> (Chunks, tokio::task::JoinHandle<Outcome>) {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (mut sender, connection) = http2::handshake(TokioExecutor::new(), io).await.unwrap();
    tokio::spawn(connection);
    let (chunks, receiver) = mpsc::channel(4);
    let body = StreamBody::new(tokio_stream(receiver));
    let outcome = tokio::spawn(async move {
        let response = sender.send_request(grpc_request(addr, body)).await.unwrap();
        let headers = response.headers().clone();
        let collected = response.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let field = |name: &str| {
            (headers.get(name).or_else(|| trailers.get(name)))
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        Outcome {
            status: field("grpc-status"),
            message: field("grpc-message"),
            body: collected.to_bytes(),
            headers,
        }
    });
    (chunks, outcome)
}

/// The receiver as a stream of body frames.
fn tokio_stream(
    mut receiver: mpsc::Receiver<Result<Frame<Bytes>, std::convert::Infallible>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, std::convert::Infallible>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

async fn send(chunks: &Chunks, bytes: &[u8]) {
    let frame = Frame::data(Bytes::copy_from_slice(bytes));
    chunks.send(Ok(frame)).await.unwrap();
}

async fn outcome(task: tokio::task::JoinHandle<Outcome>) -> Outcome {
    tokio::time::timeout(TIMEOUT, task)
        .await
        .expect("the call gets a status within the timeout")
        .unwrap()
}

#[tokio::test]
async fn a_whole_call_answers_with_its_message_then_status_ok_in_the_trailers() {
    let server = TestServer::bundled().await;
    let (chunks, task) = call(server.addr).await;
    send(&chunks, &infer_message()).await;
    drop(chunks);
    let outcome = outcome(task).await;
    assert_eq!(outcome.status, "0", "{}", outcome.message);
    assert!(
        outcome.headers.get("grpc-status").is_none(),
        "status in the trailers"
    );
    assert_eq!(outcome.headers["content-type"], "application/grpc");
    assert_eq!(outcome.headers["x-request-id"], "grpc-test-1");
    let response: function::protocol::open_inference::proto::ModelInferResponse =
        prost::Message::decode(&outcome.body[5..]).unwrap();
    assert_eq!(response.id, "call-1");
    assert_eq!(response.raw_output_contents[0], 0i64.to_le_bytes());
    server.stop().await;
}

#[tokio::test]
async fn a_frame_cut_short_or_no_message_is_invalid_argument() {
    let server = TestServer::bundled().await;
    let whole = infer_message();
    for (sent, says) in [
        (&whole[..whole.len() - 3], "the call ended after"),
        (&whole[..3], "3 bytes into a message's 5-byte prefix"),
        (&whole[..0], "without a request message"),
    ] {
        let (chunks, task) = call(server.addr).await;
        if !sent.is_empty() {
            send(&chunks, sent).await;
        }
        drop(chunks);
        let outcome = outcome(task).await;
        assert_eq!(outcome.status, "3", "{}", outcome.message);
        assert!(outcome.message.contains(says), "{}", outcome.message);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_from_its_prefix_without_the_rest() {
    let limits = Limits {
        max_body_bytes: 1000,
        ..Limits::default()
    };
    let server = TestServer::bundled_with(limits).await;
    let (chunks, task) = call(server.addr).await;
    // The prefix announces a million bytes; none of them is sent, and the body stays open.
    send(&chunks, &[0, 0, 0x0f, 0x42, 0x40]).await;
    let outcome = outcome(task).await;
    assert_eq!(outcome.status, "8", "{}", outcome.message);
    assert!(
        outcome.message.contains("limit of 1000 bytes"),
        "{}",
        outcome.message
    );
    drop(chunks);
    server.stop().await;
}

/// An inference call is charged to the memory budget once its prefix gives the
/// message's size: one that needs more than the whole budget is RESOURCE_EXHAUSTED,
/// naming the budget, while probes and small calls are still answered.
#[tokio::test]
async fn a_message_larger_than_the_memory_budget_is_resource_exhausted() {
    let limits = Limits {
        max_in_flight_bytes: 64 * 1024,
        ..Limits::default()
    };
    let server = TestServer::bundled_with(limits).await;
    let (chunks, task) = call(server.addr).await;
    // A 900 KB message (within the 4 MiB body limit), announced and not sent.
    send(&chunks, &[0, 0, 0x0d, 0xbb, 0xa0]).await;
    let outcome = outcome(task).await;
    assert_eq!(outcome.status, "8", "{}", outcome.message);
    assert!(outcome.message.contains("budget"), "{}", outcome.message);
    drop(chunks);
    let (chunks, task) = call(server.addr).await;
    send(&chunks, &infer_message()).await;
    drop(chunks);
    assert_eq!(outcome_status(task).await, "0");
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_half_closes_gets_deadline_exceeded() {
    let limits = Limits {
        request_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = TestServer::bundled_with(limits).await;
    let (chunks, task) = call(server.addr).await;
    send(&chunks, &infer_message()).await;
    let started = Instant::now();
    let outcome = outcome(task).await;
    assert_eq!(outcome.status, "4", "{}", outcome.message);
    assert!(started.elapsed() < TIMEOUT);
    drop(chunks);
    // The server still answers the next call.
    let (chunks, task) = call(server.addr).await;
    send(&chunks, &infer_message()).await;
    drop(chunks);
    assert_eq!(outcome_status(task).await, "0");
    server.stop().await;
}

async fn outcome_status(task: tokio::task::JoinHandle<Outcome>) -> String {
    outcome(task).await.status
}

#[tokio::test]
async fn grpc_over_http1_is_unimplemented_in_the_headers() {
    let server = TestServer::bundled().await;
    let io = TokioIo::new(TcpStream::connect(server.addr).await.unwrap());
    let (mut sender, connection) = http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let request = grpc_request(server.addr, Full::new(Bytes::from(infer_message())));
    let response = tokio::time::timeout(TIMEOUT, sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.headers()["grpc-status"], "12");
    let message = response.headers()["grpc-message"].to_str().unwrap();
    assert!(message.contains("HTTP/2"), "{message}");
    server.stop().await;
}
