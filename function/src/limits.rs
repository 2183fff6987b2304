//! What one request and the whole server may use, and the guard around every request
//! that enforces the server-wide part: the in-flight limit (503 + `Retry-After`), the
//! request deadline (408) and a caught panic (500, the server keeps serving).

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::router::{self, App};

/// Default limit on a request body: a 1000-row batch of 30 features is ~300 KB of JSON.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default limit on rows per request: ~40x the batch the README suggests, still a few
/// milliseconds of model time, and 10000 x 4 features is only 160 KB of f32.
pub const DEFAULT_MAX_BATCH_ROWS: usize = 10_000;
/// Default limit on requests being handled at once. Knative's queue-proxy usually limits
/// concurrency first (`containerConcurrency`, at most 1000); this is the defence when
/// nothing is in front.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// Default time a client has to send a request head; also how long an idle keep-alive
/// connection is kept (hyper's timer runs while it waits for the next head). hyper's
/// own default; nginx uses 60 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time from the request head to the response: reading the body and
/// predicting. Predicting takes microseconds, so this bounds slow bodies.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds a refused client is told to wait: requests take milliseconds, so a slot is
/// soon free.
const RETRY_AFTER_SECONDS: u64 = 1;

/// Limits on requests, set from flags and environment (see `config`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most rows in one request (413 beyond).
    pub max_batch_rows: usize,
    /// Most requests handled at once; more get 503 with `Retry-After`. GET and HEAD
    /// requests (probes, metadata) are not counted, so a busy pod is not restarted by
    /// its liveness probe.
    pub max_in_flight: usize,
    /// Time a client has to send a request head (and a connection's first request).
    pub header_read_timeout: Duration,
    /// Time from the request head to the response (408 beyond).
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch_rows: DEFAULT_MAX_BATCH_ROWS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// The slots of the in-flight limit, shared by every connection of one server.
#[derive(Debug, Clone)]
pub struct InFlight(Arc<Semaphore>);

impl InFlight {
    /// `limit` slots.
    pub fn new(limit: usize) -> InFlight {
        InFlight(Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS))))
    }
}

/// Answers one request through the router, inside the server-wide limits.
///
/// Built from combinators rather than `async fn`s: an `async fn` keeps its arguments in
/// its state next to the futures made from them, so the router's state machine (kilobytes)
/// would be stored twice, copied on every request and held per connection by hyper.
pub fn guard(
    request: Request<Incoming>,
    app: Arc<App>,
    in_flight: InFlight,
) -> impl Future<Output = Result<Response<Full<Bytes>>, Infallible>> {
    let counted = !matches!(*request.method(), Method::GET | Method::HEAD);
    // Held until the response is built: the body is read inside the handler, so a slow
    // upload keeps its slot.
    let permit = match counted.then(|| in_flight.0.clone().try_acquire_owned()) {
        Some(Err(_)) => {
            let refused = overloaded(app.limits.max_in_flight);
            return futures_util::future::Either::Left(std::future::ready(Ok(refused)));
        }
        Some(Ok(permit)) => Some(permit),
        None => None,
    };
    let timeout = app.limits.request_timeout;
    futures_util::future::Either::Right(protect(router::route(request, app), timeout).map(
        move |response| {
            drop(permit);
            Ok(response)
        },
    ))
}

/// Runs a handler with a deadline, turning a panic into a 500 and the deadline into a
/// 408. A panic is a bug, but it must cost one request, not the connection or the
/// process.
pub fn protect(
    handler: impl Future<Output = Result<Response<Full<Bytes>>, Infallible>>,
    timeout: Duration,
) -> impl Future<Output = Response<Full<Bytes>>> {
    tokio::time::timeout(timeout, AssertUnwindSafe(handler).catch_unwind()).map(move |result| {
        match result {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(infallible))) => match infallible {},
            Ok(Err(_panic)) => {
                // The default panic hook has already printed the message and location.
                tracing::error!("request handler panicked; answered 500");
                ApiError::Internal("the request handler failed unexpectedly".into()).into_response()
            }
            Err(_elapsed) => ApiError::RequestTimeout { timeout }.into_response(),
        }
    })
}

/// Logs every panic as one error record (location and message) instead of the default
/// multi-line report on stderr: log collectors split records on newlines, and a panic
/// caught by [`protect`] or by the model loader must not break the log.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        tracing::error!(%location, "panic: {}", message.replace('\n', " "));
    }));
}

/// 503 with `Retry-After`: every slot is taken.
fn overloaded(limit: usize) -> Response<Full<Bytes>> {
    let mut response = ApiError::Overloaded { limit }.into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(RETRY_AFTER_SECONDS),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;

    fn ok() -> Result<Response<Full<Bytes>>, Infallible> {
        Ok(Response::new(Full::new(Bytes::from_static(b"{}"))))
    }

    fn error_of(response: &Response<Full<Bytes>>) -> String {
        use http_body_util::BodyExt;
        let body = futures_util::FutureExt::now_or_never(response.body().clone().collect())
            .expect("a full body is ready")
            .unwrap()
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        json["error"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_500_and_the_next_request_is_served() {
        let timeout = Duration::from_secs(5);
        let panicked = protect(
            async {
                if timeout > Duration::ZERO {
                    panic!("a bug in a handler");
                }
                ok()
            },
            timeout,
        )
        .await;
        assert_eq!(panicked.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(error_of(&panicked).contains("internal error"));
        let next = protect(async { ok() }, timeout).await;
        assert_eq!(next.status(), StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_past_the_deadline_gets_408() {
        let slow = protect(
            async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                ok()
            },
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(slow.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(error_of(&slow).contains("2 s"), "{}", error_of(&slow));
    }

    #[test]
    fn overloaded_says_when_to_retry() {
        let response = overloaded(3);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert!(error_of(&response).contains("3 requests"));
    }
}
