//! A CloudEvents sink for `bench/payload_log.sh`: accepts every POST with 202 after
//! `--delay-ms` (0: a fast sink; 200: the slow sink of BENCHMARKS.md), reading the body
//! first, over kept-alive HTTP/1.1 connections. Prints how many events it took when it
//! gets SIGTERM or SIGINT.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

#[derive(Parser)]
#[command(about = "A CloudEvents sink that accepts every event after a delay")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on.
    #[arg(long, default_value_t = 8099)]
    port: u16,
    /// Milliseconds to wait before answering each event.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port)).await?;
    let delay = Duration::from_millis(args.delay_ms);
    let received = Arc::new(AtomicU64::new(0));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => accepted?.0,
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        let _ = stream.set_nodelay(true);
        let received = Arc::clone(&received);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let received = Arc::clone(&received);
            async move {
                let _ = request.into_body().collect().await;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                received.fetch_add(1, Ordering::Relaxed);
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
    println!("{}", received.load(Ordering::Relaxed));
    Ok(())
}
