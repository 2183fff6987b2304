//! The queue's behaviour against real sockets: a sink that takes events, one that
//! refuses connections, and a queue too small for what arrives.

use std::convert::Infallible;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::HeaderMap;
use tokio::net::TcpListener;

use super::*;
use hyper::Uri;

/// What a test sink received: each event's headers and body.
type Received = mpsc::UnboundedReceiver<(HeaderMap, Bytes)>;

/// A sink on a free port answering 202 to every event; its URL and what it received.
async fn sink() -> (Uri, Received) {
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
                    let body = http_body_util::BodyExt::collect(request.into_body())
                        .await
                        .unwrap()
                        .to_bytes();
                    received.send((headers, body)).unwrap();
                    let mut answer = Response::new(Full::new(Bytes::new()));
                    *answer.status_mut() = StatusCode::ACCEPTED;
                    Ok::<_, Infallible>(answer)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    (url.parse().unwrap(), events)
}

/// A URL nothing listens on: connections are refused.
async fn refusing_sink() -> Uri {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    url.parse().unwrap()
}

fn log_to(sink: Uri, mode: Mode, events: usize, bytes: usize) -> (PayloadLog, Delivery) {
    let attributes = Attributes::new("iris", Some("ns"), "pod-1", &[]);
    let sender = Sender::new(sink, attributes, shared(PayloadEvents::default()));
    start_with(mode, sender, events, bytes)
}

/// One answered `/predict` request with `request` and `response` bodies.
fn exchange(log: &PayloadLog, id: &'static str, request: &'static [u8], response: &'static [u8]) {
    let mut incoming = Request::new(());
    let tap = log
        .tap(&mut incoming, Endpoint::Predict)
        .expect("/predict is logged");
    if let Some(body) = incoming.extensions().get::<BodyTap>() {
        body.keep(&Bytes::from_static(request));
    }
    let answer = Response::new(Full::new(Bytes::from_static(response)));
    log.record(
        tap,
        &HeaderValue::from_static(id),
        Endpoint::Predict,
        &answer,
    );
}

fn counters(delivery: &Delivery) -> PayloadEvents {
    delivery.shared.counters.clone()
}

#[tokio::test]
async fn both_events_reach_the_sink_with_the_pair_sharing_the_request_id() {
    let (url, mut received) = sink().await;
    let (log, delivery) = log_to(url, Mode::All, 16, 1 << 20);
    exchange(
        &log,
        "req-1",
        br#"{"input":[1,2,3,4]}"#,
        br#"{"prediction":[0]}"#,
    );
    let counts = counters(&delivery);
    delivery.flush(Duration::from_secs(10)).await;
    let mut events = Vec::new();
    while let Ok(event) = received.try_recv() {
        events.push(event);
    }
    events.sort_by_key(|(headers, _)| headers["ce-type"].to_str().unwrap().to_string());
    let [(request, request_body), (response, response_body)] = &events[..] else {
        panic!("two events expected: {events:?}");
    };
    assert_eq!(request["ce-type"], event::REQUEST_TYPE);
    assert_eq!(response["ce-type"], event::RESPONSE_TYPE);
    assert_eq!(request["ce-id"], "req-1");
    assert_eq!(response["ce-id"], "req-1");
    assert_eq!(&request_body[..], br#"{"input":[1,2,3,4]}"#);
    assert_eq!(&response_body[..], br#"{"prediction":[0]}"#);
    assert_eq!(request["ce-endpoint"], "/predict");
    assert_eq!(counts.sent_count(), 2);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_instead_of_waiting() {
    let (log, delivery) = log_to(refusing_sink().await, Mode::All, 2, 1 << 20);
    // No await between them: the sender has not run, so only two fit.
    for id in ["a", "b", "c"] {
        exchange(&log, id, b"{}", b"{}");
    }
    let counts = counters(&delivery);
    assert_eq!(counts.dropped_count(DropReason::QueueFull), 4);
    delivery.flush(Duration::from_secs(10)).await;
    // The two queued ones were tried: the sink refused them.
    assert_eq!(counts.dropped_count(DropReason::DeliveryFailed), 2);
    assert_eq!(counts.sent_count(), 0);
    // After the flush nothing more is taken.
    exchange(&log, "d", b"{}", b"{}");
    assert_eq!(counts.dropped_count(DropReason::Shutdown), 2);
}

#[tokio::test]
async fn a_queue_holding_too_many_bytes_drops_the_next_body() {
    let (url, _received) = sink().await;
    let (log, delivery) = log_to(url, Mode::Request, 16, 12);
    exchange(&log, "a", b"0123456789", b"{}");
    exchange(&log, "b", b"0123456789", b"{}");
    let counts = counters(&delivery);
    assert_eq!(counts.dropped_count(DropReason::QueueFull), 1);
    delivery.flush(Duration::from_secs(10)).await;
    assert_eq!(counts.sent_count(), 1);
}

#[tokio::test]
async fn each_mode_sends_only_its_half() {
    for (mode, want) in [
        (Mode::Request, event::REQUEST_TYPE),
        (Mode::Response, event::RESPONSE_TYPE),
    ] {
        let (url, mut received) = sink().await;
        let (log, delivery) = log_to(url, mode, 16, 1 << 20);
        exchange(&log, "only", b"{}", b"{}");
        delivery.flush(Duration::from_secs(10)).await;
        let (headers, _) = received.try_recv().unwrap();
        assert_eq!(headers["ce-type"], want, "{mode:?}");
        assert!(received.try_recv().is_err(), "{mode:?} sent both");
    }
}

#[tokio::test]
async fn an_error_response_sends_no_response_event_and_other_routes_none() {
    let (url, mut received) = sink().await;
    let (log, delivery) = log_to(url, Mode::All, 16, 1 << 20);
    assert!(log.tap(&mut Request::new(()), Endpoint::V2Model).is_none());
    let mut incoming = Request::new(());
    let tap = log.tap(&mut incoming, Endpoint::V1Predict).unwrap();
    incoming
        .extensions()
        .get::<BodyTap>()
        .unwrap()
        .keep(&Bytes::from_static(b"[]"));
    let mut refused = Response::new(Full::new(Bytes::from_static(b"{\"error\":\"x\"}")));
    *refused.status_mut() = StatusCode::BAD_REQUEST;
    log.record(
        tap,
        &HeaderValue::from_static("bad"),
        Endpoint::V1Predict,
        &refused,
    );
    delivery.flush(Duration::from_secs(10)).await;
    let (headers, _) = received.try_recv().unwrap();
    assert_eq!(headers["ce-type"], event::REQUEST_TYPE);
    assert!(received.try_recv().is_err());
}
