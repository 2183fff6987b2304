//! A small HTTP/1.1 and h2c client built on hyper, one request per connection, and the
//! requests the tests send. Every request is bounded by [`TIMEOUT`].

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::header::HeaderName;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::TIMEOUT;

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The response headers.
    pub headers: hyper::HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Reply {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The body parsed as JSON, after checking the status is 200.
    pub fn ok_json(&self) -> serde_json::Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        self.json()
    }

    /// The message of a JSON error body, `{"error": "..."}`.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field in {}", self.text()))
            .to_string()
    }

    /// The body as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// Sends one HTTP/1.1 request on a new connection.
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    within_timeout(async {
        let (mut sender, connection) = http1::handshake(connect(addr).await).await.unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await
    })
    .await
}

/// Sends one request over HTTP/2 with prior knowledge (h2c), as Knative does.
pub async fn send_h2c(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    within_timeout(async {
        let io = connect(addr).await;
        let (mut sender, connection) = http2::handshake(TokioExecutor::new(), io).await.unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await
    })
    .await
}

/// A new connection to `addr`, for hyper.
async fn connect(addr: SocketAddr) -> TokioIo<TcpStream> {
    TokioIo::new(TcpStream::connect(addr).await.unwrap())
}

/// The reply `exchange` gets, body and all, within [`TIMEOUT`].
async fn within_timeout(
    exchange: impl Future<Output = hyper::Result<Response<Incoming>>>,
) -> Reply {
    tokio::time::timeout(TIMEOUT, async {
        let (parts, body) = exchange.await.unwrap().into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    })
    .await
    .expect("request completes within the timeout")
}

/// A JSON POST request.
pub fn post_json(addr: SocketAddr, path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}{path}"))
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap()
}

/// A [`post_json`] request with `headers` set on it (a `content-type` among them
/// replaces the JSON one).
pub fn post_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut request = post_json(addr, path, body);
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    request
}

/// A request without a body.
pub fn bodiless(addr: SocketAddr, method: Method, path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// JSON for `{"input": rows}`.
pub fn rows_json(rows: &ndarray::Array2<f32>) -> String {
    let rows: Vec<Vec<f32>> = rows.rows().into_iter().map(|r| r.to_vec()).collect();
    serde_json::json!({ "input": rows }).to_string()
}
