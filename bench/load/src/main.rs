//! A small load generator for one question: what a single-row prediction costs over
//! each protocol at the same concurrency. `--concurrency` workers each send one call
//! at a time, as fast as answers come, for `--seconds` after `--warmup`; it prints
//! calls/s and latency percentiles. Every answer is checked (HTTP 200, and for gRPC
//! `grpc-status: 0` in the trailers), so a fast stream of errors cannot pass for speed.
//!
//! Modes: `grpc` (`ModelInfer`, raw FP32, over h2c), `v2` (`POST .../infer` JSON),
//! `predict` (`POST /predict`); REST over HTTP/1.1 keep-alive unless `--h2`. Each worker
//! has its own connection, unless `--connections` (h2c only) shares fewer between them,
//! as gRPC clients multiplex their calls on one channel. `all_calls` counts the warm-up
//! too, so that a server's CPU time over the whole run divides into a cost per call.

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
    /// Connections the workers share, round robin (h2c only: an HTTP/1.1 connection
    /// carries one call at a time); default one per worker.
    #[arg(long)]
    connections: Option<usize>,
    /// The server's process id, to report its CPU time per call (Linux).
    #[arg(long)]
    server_pid: Option<u32>,
}

/// A connection of either kind (an HTTP/2 one may be cloned: its calls multiplex).
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

    /// Another handle on the same connection, if it can carry calls at once.
    fn share(&self) -> Option<Sender> {
        match self {
            Sender::One(_) => None,
            Sender::Two(send) => Some(Sender::Two(send.clone())),
        }
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

/// One worker on `sender`: calls until `end`; latencies (in microseconds) of those after
/// `from`, and the number of calls made, warm-up included.
async fn worker(
    args: &Args,
    mut sender: Sender,
    from: Instant,
    end: Instant,
) -> anyhow::Result<(Vec<u32>, usize)> {
    let grpc = args.mode == Mode::Grpc;
    let body = body(args.mode, &args.model);
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut calls = 0;
    loop {
        let started = Instant::now();
        if started >= end {
            return Ok((latencies, calls));
        }
        sender.call(request(args, &body), grpc).await?;
        calls += 1;
        if started >= from {
            let micros = started.elapsed().as_micros();
            latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
    }
}

/// User and system CPU seconds used so far by process `pid` (Linux: `/proc/PID/stat`,
/// in clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime are fields 14 and 15 of the line: 11 and 12 counted from the
    // state, the first field after the name.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// The workers' connections: one each, or `--connections` shared round robin.
async fn senders(args: &Args) -> anyhow::Result<Vec<Sender>> {
    let authority = args.url.authority().context("--url needs host:port")?;
    let h2 = args.mode == Mode::Grpc || args.h2;
    let connections = args.connections.unwrap_or(args.concurrency).max(1);
    if !h2 && connections != args.concurrency {
        bail!("--connections needs h2c (gRPC or --h2): an HTTP/1.1 connection carries one call at a time");
    }
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(Sender::connect(authority.as_str(), h2).await?);
    }
    if !h2 {
        return Ok(opened);
    }
    Ok((0..args.concurrency)
        .map(|i| opened[i % connections].share().expect("an h2c connection"))
        .collect())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: &'static Args = Box::leak(Box::new(Args::parse()));
    let senders = senders(args).await?;
    let server_before = args.server_pid.and_then(cpu_seconds);
    let from = Instant::now() + Duration::from_secs_f64(args.warmup);
    let end = from + Duration::from_secs_f64(args.seconds);
    let workers: Vec<_> = (senders.into_iter())
        .map(|sender| tokio::spawn(worker(args, sender, from, end)))
        .collect();
    let mut latencies = Vec::new();
    let mut all_calls = 0;
    for worker in workers {
        let (measured, calls) = worker.await??;
        latencies.extend(measured);
        all_calls += calls;
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
    let per_call = |cpu: Option<f64>| cpu.map_or(f64::NAN, |cpu| cpu * 1e6 / all_calls as f64);
    let server_after = args.server_pid.and_then(cpu_seconds);
    let server_us = per_call(server_before.zip(server_after).map(|(b, a)| a - b));
    // The client's own CPU per call: on a shared machine it is CPU the server lacks.
    let client_us = per_call(cpu_seconds(std::process::id()));
    println!(
        "mode={:?} transport={transport} concurrency={} connections={} calls={} all_calls={all_calls} calls_per_s={:.0} p50_ms={:.3} p99_ms={:.3} server_cpu_us_per_call={server_us:.1} client_cpu_us_per_call={client_us:.1}",
        args.mode,
        args.concurrency,
        args.connections.unwrap_or(args.concurrency),
        latencies.len(),
        latencies.len() as f64 / args.seconds,
        percentile(0.50),
        percentile(0.99),
    );
    Ok(())
}
