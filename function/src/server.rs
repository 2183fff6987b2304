//! The accept loop: HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on one port, and a
//! graceful drain when the shutdown future completes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::observe;
use crate::router::App;

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and waits
/// up to `drain` for in-flight requests to finish.
///
/// Kubernetes sends SIGTERM only after the pod is removed from the endpoints (Knative's
/// queue-proxy has drained it too), so at that point no new requests should arrive but
/// the ones already accepted must still be answered before the process exits.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    // The auto builder reads the first bytes: an HTTP/2 preface means h2c (Knative uses
    // it when the container port is named `h2c`), anything else HTTP/1.1.
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
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
        let app = Arc::clone(&app);
        let service = service_fn(move |request| observe::serve(request, Arc::clone(&app)));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
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
