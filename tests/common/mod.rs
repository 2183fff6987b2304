//! Test helpers: start the real server in-process on an ephemeral port, and a small
//! HTTP/1.1 and h2c client built on hyper. Every await is bounded by [`TIMEOUT`].
#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use function::limits::Limits;
use function::{App, Serving, Started};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use model::Model;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound on any single step of a test.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A server running in this process until [`TestServer::stop`].
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Serves `model` on 127.0.0.1 with an ephemeral port.
    pub async fn start(model: Model) -> TestServer {
        TestServer::start_with(model, Limits::default()).await
    }

    /// Serves `model` with `limits` on 127.0.0.1 with an ephemeral port.
    pub async fn start_with(model: Model, limits: Limits) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = Serving {
            model_name: "test-model".into(),
            limits,
            workers: 2,
            ..Serving::default()
        };
        let app = Arc::new(App::new(model, serving, Started::now()));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(function::serve(
            listener,
            app,
            async {
                let _ = rx.await;
            },
            Duration::from_secs(5),
        ));
        TestServer {
            addr,
            shutdown: Some(tx),
            task,
        }
    }

    /// Starts the graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits for the drain to finish.
    pub async fn stop(mut self) {
        self.begin_shutdown();
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("server drains within the timeout")
            .unwrap();
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The body as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// Sends one HTTP/1.1 request on a new connection.
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    tokio::time::timeout(TIMEOUT, async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        collect(sender.send_request(request).await.unwrap()).await
    })
    .await
    .expect("request completes within the timeout")
}

/// Sends one request over HTTP/2 with prior knowledge (h2c), as Knative does.
pub async fn send_h2c(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    tokio::time::timeout(TIMEOUT, async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        collect(sender.send_request(request).await.unwrap()).await
    })
    .await
    .expect("request completes within the timeout")
}

async fn collect(response: hyper::Response<hyper::body::Incoming>) -> Reply {
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
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
