//! The layers around every request, outermost first: [`observe`] gives it a request id
//! (echoed as `X-Request-Id`), counts and times it in the metrics, logs one line at
//! debug level and hands a prediction's bodies to the payload log; `guard` enforces the
//! server-wide limits (in flight, deadline) and turns a panic into a 500; then the
//! router answers it. The path is resolved once, here.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response};
use tokio::sync::Semaphore;

use super::request_id::{request_id, REQUEST_ID_NAME};
use super::router;
use crate::error::{ApiError, ErrorKind};
use crate::routes::{self, Endpoint, Resolved};
use crate::state::App;

/// Seconds a refused client is told to wait: requests take milliseconds, so a slot is
/// soon free.
const RETRY_AFTER_SECONDS: u64 = 1;

/// Answers `request` through the limits and the router, observed (so a 503 for too
/// many requests, a 408 or a caught panic is counted and logged like any answer).
pub async fn observe(
    mut request: Request<Incoming>,
    app: Arc<App>,
    limit: InFlight,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let route = routes::resolve(request.method(), request.uri().path());
    let endpoint = route.endpoint;
    let request_id = request_id(request.headers());
    let log = tracing::enabled!(tracing::Level::DEBUG);
    // Scrapes are not counted (see crate::metrics).
    let metrics = app
        .metrics
        .as_ref()
        .filter(|_| endpoint != Endpoint::Metrics);
    // Only a log line or the metrics need the clock.
    let started = (log || metrics.is_some()).then(Instant::now);
    let method = log.then(|| request.method().clone());
    let in_flight = metrics.map(|m| m.in_flight());
    let payload = app
        .payload_log
        .as_ref()
        .and_then(|log| Some((log, log.tap(&mut request, endpoint)?)));

    let Ok(mut response) = guard(request, route, Arc::clone(&app), limit).await;

    let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
    if let Some(metrics) = metrics {
        let error = response.extensions().get::<ErrorKind>().copied();
        metrics.record_request(endpoint, response.status(), error, elapsed);
    }
    drop(in_flight);
    if let Some((log, tap)) = payload {
        log.record(tap, &request_id, endpoint, &response);
    }
    if let Some(method) = method {
        tracing::debug!(
            method = %method,
            route = endpoint.label(),
            protocol = endpoint.protocol(),
            status = response.status().as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1e3,
            request_id = request_id.to_str().unwrap_or(""),
            "request"
        );
    }
    response.headers_mut().insert(REQUEST_ID_NAME, request_id);
    Ok(response)
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

/// Answers one request through the router, inside the server-wide limits: the in-flight
/// limit (503 + `Retry-After`), the request deadline (408) and a caught panic (500).
///
/// Built from combinators rather than `async fn`s: an `async fn` keeps its arguments in
/// its state next to the futures made from them, so the router's state machine (kilobytes)
/// would be stored twice, copied on every request and held per connection by hyper.
fn guard(
    request: Request<Incoming>,
    route: Resolved,
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
    futures_util::future::Either::Right(protect(router::route(request, route, app), timeout).map(
        move |response| {
            drop(permit);
            Ok(response)
        },
    ))
}

/// Runs a handler with a deadline, turning a panic into a 500 and the deadline into a
/// 408. A panic is a bug, but it must cost one request, not the connection or the
/// process.
fn protect(
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
