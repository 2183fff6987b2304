//! Payload events of gRPC `ModelInfer` calls, from the binary to a sink on a socket: a
//! call gives the same pair of events as the same V2 REST request (KServe's types, the
//! request id), and their data is the JSON of that REST request and its answer, byte
//! for byte. A call the function refuses, whose message has no JSON form, gives its
//! request event only, carrying the protobuf message and naming its type.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use function::protocol::open_inference::proto::{
    InferInputTensor, ModelInferRequest, ModelInferResponse,
};
use harness::client::{post_json, send, send_h2c, Reply};
use harness::process::{serving, Running};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_function");
/// The bundled model's name.
const MODEL: &str = "iris-forest";
const INFER: &str = "/inference.GRPCInferenceService/ModelInfer";
const ROWS: [f32; 8] = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3];
/// Longest wait for an event the function has queued.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// One event as the sink received it.
#[derive(Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |value| value.to_str().unwrap())
    }
}

/// A sink on a free port answering 202 to every event; its URL and what it received.
async fn sink() -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let (received, events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let received = received.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let received = received.clone();
                async move {
                    let headers = request.headers().clone();
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    let _ = received.send(Received { headers, body });
                    let mut answer = Response::new(Full::new(Bytes::new()));
                    *answer.status_mut() = StatusCode::ACCEPTED;
                    Ok::<_, Infallible>(answer)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (url, events)
}

/// The next `count` events, in the order they arrived.
async fn next(events: &mut mpsc::UnboundedReceiver<Received>, count: usize) -> Vec<Received> {
    let mut got = Vec::new();
    while got.len() < count {
        let event = tokio::time::timeout(EVENT_TIMEOUT, events.recv())
            .await
            .unwrap_or_else(|_| panic!("{} of {count} events arrived", got.len()))
            .expect("the sink runs");
        got.push(event);
    }
    got
}

/// The function serving the bundled model, logging every prediction to `sink`.
fn start(sink: &str) -> (Running, SocketAddr) {
    let (mut command, addr) = serving(BIN);
    command.args(["--payload-log", "all", "--payload-log-url", sink]);
    let running = tokio::task::block_in_place(|| Running::ready(&mut command, addr));
    (running, addr)
}

fn framed(message: &ModelInferRequest) -> Bytes {
    let message = prost::Message::encode_to_vec(message);
    let mut bytes = vec![0];
    bytes.extend_from_slice(&(message.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&message);
    bytes.into()
}

/// A `ModelInfer` call over h2c with `id` as both the message's id and the request id.
async fn call(addr: SocketAddr, id: &str, request: &ModelInferRequest) -> Reply {
    let request = Request::post(format!("http://{addr}{INFER}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("x-request-id", id)
        .body(Full::new(framed(request)))
        .unwrap();
    send_h2c(addr, request).await
}

/// Checks that `reply` is an answer (its status is in the trailers, which the reply
/// leaves out; a refusal's is in the headers) with two outputs.
fn answered(reply: Reply) {
    assert!(
        !reply.headers.contains_key("grpc-status"),
        "{:?}",
        reply.headers
    );
    let response: ModelInferResponse = prost::Message::decode(&reply.body[5..]).unwrap();
    assert_eq!(response.outputs.len(), 2, "{response:?}");
}

/// The message of a tritonclient call: the rows as raw FP32.
fn raw_rows(id: &str) -> ModelInferRequest {
    ModelInferRequest {
        model_name: MODEL.into(),
        id: id.into(),
        inputs: vec![InferInputTensor {
            name: "input".into(),
            datatype: "FP32".into(),
            shape: vec![2, 4],
            ..Default::default()
        }],
        raw_input_contents: vec![ROWS.iter().flat_map(|v| v.to_le_bytes()).collect()],
        ..Default::default()
    }
}

/// The request and response events of `id`, from `events` holding exactly that pair.
fn pair<'a>(events: &'a [Received], id: &str) -> (&'a Received, &'a Received) {
    let of = |kind: &str| {
        events
            .iter()
            .find(|e| e.header("ce-type") == kind && e.header("ce-id") == id)
            .unwrap_or_else(|| panic!("no {kind} event for {id}: {events:?}"))
    };
    (
        of("org.kubeflow.serving.inference.request"),
        of("org.kubeflow.serving.inference.response"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_call_gives_the_events_of_the_same_rest_request() {
    let (url, mut events) = sink().await;
    let (function, addr) = start(&url);

    answered(call(addr, "rows-grpc", &raw_rows("rows-grpc")).await);
    let grpc = next(&mut events, 2).await;
    // The REST request whose JSON the gRPC call's message stands for, id included.
    let rest_body = r#"{"id":"rows-grpc","inputs":[{"name":"input","datatype":"FP32","shape":[2,4],"data":[5.1,3.5,1.4,0.2,6.7,3.0,5.2,2.3]}]}"#;
    let mut rest_request = post_json(addr, &format!("/v2/models/{MODEL}/infer"), rest_body);
    rest_request
        .headers_mut()
        .insert("x-request-id", "rows-rest".parse().unwrap());
    let rest = send(addr, rest_request).await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.text());
    let rest_events = next(&mut events, 2).await;

    let (request, response) = pair(&grpc, "rows-grpc");
    let (rest_request_event, rest_response_event) = pair(&rest_events, "rows-rest");
    assert_eq!(
        request.body, rest_body,
        "the request event is the REST body"
    );
    assert_eq!(request.body, rest_request_event.body);
    assert_eq!(
        response.body, rest.body,
        "the response event is the REST answer"
    );
    assert_eq!(response.body, rest_response_event.body);
    for event in [request, response] {
        assert_eq!(event.header("content-type"), "application/json");
        assert_eq!(event.header("ce-endpoint"), INFER);
        assert_eq!(event.header("ce-component"), "predictor");
        assert_eq!(event.header("ce-inferenceservicename"), MODEL);
        assert!(!event.headers.contains_key("ce-dataschema"));
    }
    function.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_sends_its_message_as_protobuf_and_no_response_event() {
    let (url, mut events) = sink().await;
    let (function, addr) = start(&url);
    let mut refused = raw_rows("refused");
    refused.inputs[0].datatype = "COMPLEX64".into();
    let refusal = call(addr, "refused", &refused).await;
    assert_eq!(refusal.headers["grpc-status"], "3", "INVALID_ARGUMENT");
    // Events are sent in queue order: once a later call's pair has arrived, a response
    // event of the refused call would have arrived too.
    answered(call(addr, "after", &raw_rows("after")).await);
    let got = next(&mut events, 3).await;
    let refused_events: Vec<_> = got
        .iter()
        .filter(|e| e.header("ce-id") == "refused")
        .collect();
    let [event] = refused_events[..] else {
        panic!("one event for the refused call: {got:?}");
    };
    assert_eq!(
        event.header("ce-type"),
        "org.kubeflow.serving.inference.request"
    );
    assert_eq!(event.header("content-type"), "application/protobuf");
    assert_eq!(
        event.header("ce-dataschema"),
        "type.googleapis.com/inference.ModelInferRequest"
    );
    assert_eq!(
        event.body,
        framed(&refused).slice(5..),
        "the message, unframed"
    );
    pair(&got, "after");
    function.stop();
}
