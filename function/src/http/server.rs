//! The accept loop: HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on one port, and a
//! graceful drain when the shutdown future completes. Slow clients are cut off: a
//! connection's first request and every request head must arrive within
//! `header_read_timeout` (see [`crate::limits`]). Each request goes through
//! [`layers::observe`], the outermost layer, except gRPC calls (`content-type:
//! application/grpc`), which [`grpc::serve`] answers on the same connections.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use futures_util::FutureExt;
use http_body_util as body;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::grpc;
use super::layers::{self, InFlight};
use crate::memory::{Connections, TRIM_INTERVAL};
use crate::state::App;

/// The most hyper buffers per HTTP/1.1 connection while reading (its default is ~400 KB).
pub const MAX_READ_BUFFER_BYTES: usize = 64 * 1024;

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and waits
/// up to `drain` for in-flight requests to finish.
///
/// `shutdown` completes once no new requests should arrive: after Knative's queue-proxy
/// has drained the pod, or after the shutdown delay that follows SIGTERM on plain
/// Kubernetes (`crate::startup`). The requests already accepted must still be answered
/// before the process exits.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    // The auto builder reads the first bytes: an HTTP/2 preface means h2c (Knative uses
    // it when the container port is named `h2c`), anything else HTTP/1.1.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper enforces the header timeout only with a timer. It runs while hyper waits for
    // a head, so it also closes idle keep-alive connections.
    // hyper's read buffer grows to ~400 KB on a connection receiving a big body; with
    // hundreds of such connections that is memory the budget does not see, so it stops
    // at 64 KiB (still above the 60 KiB of headers Envoy, Knative's ingress, passes on).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.limits.header_read_timeout)
        .max_buf_size(MAX_READ_BUFFER_BYTES);
    builder.http2().timer(TokioTimer::new());
    let in_flight = InFlight::new(app.limits.max_in_flight);
    let first_request_timeout = app.limits.header_read_timeout;
    let graceful = GracefulShutdown::new();
    let connections = Connections::new(TRIM_INTERVAL);
    tokio::pin!(shutdown);
    let mut accept_failures = 0u32;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    // Usually EMFILE: back off so the loop does not spin, then retry.
                    accept_failures = (accept_failures + 1).min(10);
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(5 << accept_failures.min(6))).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        accept_failures = 0;
        // Responses are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let (app, in_flight) = (Arc::clone(&app), in_flight.clone());
        let started = Arc::new(AtomicBool::new(false));
        let service =
            {
                let started = Arc::clone(&started);
                service_fn(move |request| {
                    started.store(true, Ordering::Relaxed);
                    // Boxed: REST's future stays as small as it was (see `layers::guard`).
                    if grpc::is_grpc(&request) {
                        let call = grpc::serve(request, Arc::clone(&app), in_flight.clone());
                        Either::Left(Box::pin(call).map(|response| {
                            Ok::<_, std::convert::Infallible>(response.map(body::Either::Right))
                        }))
                    } else {
                        let rest = layers::observe(request, Arc::clone(&app), in_flight.clone());
                        Either::Right(rest.map(|response| {
                            response.map(|response| response.map(body::Either::Left))
                        }))
                    }
                })
            };
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        let open = connections.open();
        tokio::spawn(async move {
            // Counted until the task ends, whichever way: the last one out trims memory.
            let _open = open;
            tokio::pin!(connection);
            // hyper's header timer starts only once the protocol is known: a client that
            // sends nothing, part of the HTTP/2 preface, or only HTTP/2 settings would
            // otherwise hold the connection forever.
            let result = tokio::select! {
                result = &mut connection => result,
                () = tokio::time::sleep(first_request_timeout) => {
                    if !started.load(Ordering::Relaxed) {
                        tracing::debug!(%peer, "no request within the header timeout; closing");
                        return;
                    }
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Not ready from here on even when the caller's shutdown did not say so already
    // (servers that tests start): a probe on a kept-alive connection must not see 200.
    app.stop_being_ready();
    tracing::info!(
        drain_seconds = drain.as_secs_f64(),
        "shutting down: draining connections"
    );
    match tokio::time::timeout(drain, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections drained"),
        Err(_) => tracing::warn!(
            drain_seconds = drain.as_secs_f64(),
            "drain deadline passed with connections still open"
        ),
    }
}
