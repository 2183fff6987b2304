//! A small load generator for one question: what a single-row prediction costs over
//! each protocol at the same concurrency. `--concurrency` workers each send one call
//! at a time, as fast as answers come, for `--seconds` after `--warmup`; it prints
//! calls/s and latency percentiles. Every answer is checked (HTTP 200, and for gRPC
//! `grpc-status: 0` in the trailers), so a fast stream of errors cannot pass for speed.
//!
//! Modes: `grpc` (`ModelInfer`, raw FP32, over h2c), `v2` (`POST .../infer` JSON),
//! `predict` (`POST /predict`); REST over HTTP/1.1 keep-alive unless `--h2`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use function::protocol::open_inference::proto::{InferInputTensor, ModelInferRequest};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::{Request, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// The tutorial's row.
const ROW: [f32; 4] = [5.1, 3.5, 1.4, 0.2];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// `inference.GRPCInferenceService/ModelInfer`, raw FP32 contents (as tritonclient).
    Grpc,
    /// `POST /v2/models/{model}/infer`, a JSON tensor.
    V2,
    /// `POST /predict`, `{"input":[...]}`.
    Predict,
}

/// Single-row inference calls at a fixed concurrency; calls/s and latency percentiles.
#[derive(Debug, Parser)]
struct Args {
    /// Base URL of the function.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: Uri,
    /// The protocol.
    #[arg(long, value_enum)]
    mode: Mode,
    /// The served model's name.
    #[arg(long, default_value = "iris-forest")]
    model: String,
    /// Calls in flight at once, each worker with its own connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of calls before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// REST over h2c (prior knowledge) instead of HTTP/1.1; gRPC is always h2c.
    #[arg(long)]
    h2: bool,
}

/// A connection of either kind.
enum Sender {
    One(http1::SendRequest<Full<Bytes>>),
    Two(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    async fn connect(authority: &str, h2: bool) -> anyhow::Result<Sender> {
        let stream = TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        let io = TokioIo::new(stream);
        Ok(if h2 {
            let (send, connection) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(connection);
            Sender::Two(send)
        } else {
            let (send, connection) = http1::handshake(io).await?;
            tokio::spawn(connection);
            Sender::One(send)
        })
    }

    /// Sends `request`, reads the whole answer, and checks it succeeded.
    async fn call(&mut self, request: Request<Full<Bytes>>, grpc: bool) -> anyhow::Result<()> {
        let response = match self {
            Sender::One(send) => {
                send.ready().await?;
                send.send_request(request).await?
            }
            Sender::Two(send) => {
                send.ready().await?;
                send.send_request(request).await?
            }
        };
        let status = response.status();
        let collected = response.into_body().collect().await?;
        if !status.is_success() {
            bail!("HTTP {status}: {:?}", collected.to_bytes());
        }
        if grpc {
            let code = collected
                .trailers()
                .and_then(|t| t.get("grpc-status"))
                .cloned();
            if code.as_ref().map(|c| c.as_bytes()) != Some(b"0") {
                bail!("grpc-status {code:?}");
            }
        }
        Ok(())
    }
}

/// The request body of `mode`, made once.
fn body(mode: Mode, model: &str) -> Bytes {
    match mode {
        Mode::Predict => Bytes::from(format!("{{\"input\":{ROW:?}}}")),
        Mode::V2 => Bytes::from(format!(
            "{{\"inputs\":[{{\"name\":\"input\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":{ROW:?}}}]}}"
        )),
        Mode::Grpc => {
            let request = ModelInferRequest {
                model_name: model.into(),
                inputs: vec![InferInputTensor {
                    name: "input".into(),
                    datatype: "FP32".into(),
                    shape: vec![1, 4],
                    ..Default::default()
                }],
                raw_input_contents: vec![ROW.iter().flat_map(|v| v.to_le_bytes()).collect()],
                ..Default::default()
            };
            let message = prost::Message::encode_to_vec(&request);
            let mut framed = vec![0];
            framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
            framed.extend_from_slice(&message);
            Bytes::from(framed)
        }
    }
}

fn request(args: &Args, body: &Bytes) -> Request<Full<Bytes>> {
    let authority = args.url.authority().map_or("", |a| a.as_str());
    let path = match args.mode {
        Mode::Predict => "/predict".to_string(),
        Mode::V2 => format!("/v2/models/{}/infer", args.model),
        Mode::Grpc => "/inference.GRPCInferenceService/ModelInfer".to_string(),
    };
    let content_type = match args.mode {
        Mode::Grpc => "application/grpc",
        _ => "application/json",
    };
    let mut builder =
        Request::post(format!("http://{authority}{path}")).header("content-type", content_type);
    if args.mode == Mode::Grpc {
        builder = builder.header("te", "trailers");
    } else if !args.h2 {
        builder = builder.header("host", authority);
    }
    builder
        .body(Full::new(body.clone()))
        .expect("a valid request")
}

/// One worker: calls until `end`, latencies (in microseconds) of those after `from`.
async fn worker(args: &Args, from: Instant, end: Instant) -> anyhow::Result<Vec<u32>> {
    let authority = args.url.authority().context("--url needs host:port")?;
    let grpc = args.mode == Mode::Grpc;
    let mut sender = Sender::connect(authority.as_str(), grpc || args.h2).await?;
    let body = body(args.mode, &args.model);
    let mut latencies = Vec::with_capacity(1 << 16);
    loop {
        let started = Instant::now();
        if started >= end {
            return Ok(latencies);
        }
        sender.call(request(args, &body), grpc).await?;
        if started >= from {
            let micros = started.elapsed().as_micros();
            latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: &'static Args = Box::leak(Box::new(Args::parse()));
    let from = Instant::now() + Duration::from_secs_f64(args.warmup);
    let end = from + Duration::from_secs_f64(args.seconds);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(args, from, end)))
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let at = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len());
        f64::from(latencies[at - 1]) / 1e3
    };
    if latencies.is_empty() {
        bail!("no call finished within {} s", args.seconds);
    }
    let transport = if args.mode == Mode::Grpc || args.h2 {
        "h2c"
    } else {
        "http/1.1"
    };
    println!(
        "mode={:?} transport={transport} concurrency={} calls={} calls_per_s={:.0} p50_ms={:.3} p99_ms={:.3}",
        args.mode,
        args.concurrency,
        latencies.len(),
        latencies.len() as f64 / args.seconds,
        percentile(0.50),
        percentile(0.99),
    );
    Ok(())
}
