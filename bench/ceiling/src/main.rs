//! The ceiling of `bench/compare.sh`: the least a server on this machine's HTTP stack can
//! do for `POST /predict` (hyper 1.x HTTP/1.1, read the body, parse the same JSON, answer a
//! constant). The function's requests/s and p99 are read as a fraction of this server's.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

/// The answer to every well-formed request: the function's answer for the benchmark row.
const ANSWER: &[u8] = br#"{"prediction":[0]}"#;

/// Flags as the function names them, so `bench/cold_start.py` starts both the same way.
#[derive(Parser)]
#[command(
    version,
    about = "Trivial hyper server: parses /predict's JSON, answers a constant"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on.
    #[arg(long, default_value_t = 8080)]
    port: u16,
}

/// `/predict`'s body: `{"input":[f, ...]}` or `{"input":[[f, ...], ...]}`. Parsed, not
/// just read, so the ceiling pays for JSON as the function does.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest {
    #[allow(dead_code)] // parsed for its cost; the answer is a constant
    input: Input,
}

/// One row or a batch of rows; the single row first, as most requests are.
#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Row(#[allow(dead_code)] Vec<f32>),
    Rows(#[allow(dead_code)] Vec<Vec<f32>>),
}

async fn predict(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match request.into_body().collect().await {
        Ok(body) => match serde_json::from_slice::<PredictRequest>(&body.to_bytes()) {
            Ok(_) => (StatusCode::OK, Bytes::from_static(ANSWER)),
            Err(_) => (
                StatusCode::BAD_REQUEST,
                Bytes::from_static(br#"{"error":"bad body"}"#),
            ),
        },
        Err(_) => (
            StatusCode::BAD_REQUEST,
            Bytes::from_static(br#"{"error":"bad body"}"#),
        ),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("a valid header value"),
    );
    Ok(response)
}

// tokio's default: a multi-threaded runtime with one worker per core, as the function's.
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port)).await?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // E.g. out of file descriptors: back off rather than spin, then try again.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        // As the function does: answers are one small write, never held back by Nagle.
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(predict);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
