//! The layers around every request, outermost first: [`observe`] gives it a request id
//! (echoed as `X-Request-Id`), counts and times it in the metrics, logs one line at
//! debug level and hands a prediction's bodies to the payload log; `guard` enforces the
//! server-wide limits (in flight, memory budget, deadline) and turns a panic into a
//! 500; then the router answers it. The path is resolved once, here.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::BodyExt;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::{header, Method, Request, Response, Version};
use tokio::sync::Semaphore;

use super::request_id::{echoed, request_id, REQUEST_ID_NAME};
use super::router;
use crate::budget::refused_at_admission;
use crate::error::{ApiError, ErrorKind};
use crate::routes::{self, Endpoint, Resolved};
use crate::state::App;

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
    response
        .headers_mut()
        .insert(REQUEST_ID_NAME, echoed(request_id));
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

    /// A slot, held until dropped, unless every one is taken.
    pub(super) fn try_take(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// Answers one request through the router, inside the server-wide limits: the in-flight
/// limit and the memory budget (503 + `Retry-After`; 413 for a body larger than the
/// whole budget), the request deadline (408) and a caught panic (500).
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
    use futures_util::future::Either;
    let counted = !matches!(*request.method(), Method::GET | Method::HEAD);
    let answer_now =
        |request, error| Either::Left(std::future::ready(Ok(refuse(request, error, &app))));
    // Held until the response is built: the body is read inside the handler, so a slow
    // upload keeps its slot.
    let permit = match counted.then(|| in_flight.0.clone().try_acquire_owned()) {
        Some(Err(_)) => {
            let limit = app.limits.max_in_flight;
            return answer_now(request, ApiError::Overloaded { limit });
        }
        Some(Ok(permit)) => Some(permit),
        None => None,
    };
    // The declared body and what it decodes to are reserved before a byte is read; a
    // body over the body limit is left for the body reader to refuse with 413.
    let reservation = if counted {
        let declared = usize::try_from(request.body().size_hint().lower()).unwrap_or(usize::MAX);
        let charge = if declared <= app.limits.max_body_bytes {
            app.budget.cost_of_body(declared)
        } else {
            0
        };
        match app.budget.reserve(charge) {
            Ok(reservation) => Some(reservation),
            Err(why) => {
                let error = refused_at_admission(why, &app.budget, charge);
                return answer_now(request, error);
            }
        }
    } else {
        None
    };
    let timeout = app.limits.request_timeout;
    let handler = router::route(request, route, app);
    // The reservation is given back when the handler's future is dropped.
    let handler = match reservation {
        Some(reservation) => Either::Left(reservation.scope(handler)),
        None => Either::Right(handler),
    };
    Either::Right(protect(handler, timeout).map(move |response| {
        drop(permit);
        Ok(response)
    }))
}

/// The answer to a request refused before its body is read. An HTTP/1.1 client still
/// sending its body would see the connection reset instead of the answer if the body
/// were left unread (the kernel resets a socket closed with data unread), so the body
/// is read and thrown away in the background, a frame at a time, within the body
/// limit and the request deadline. A client that asked `Expect: 100-continue` has sent
/// no body and will not; nor does HTTP/2 need it (a stream is reset on its own).
fn refuse(request: Request<Incoming>, error: ApiError, app: &App) -> Response<Full<Bytes>> {
    let expects_continue = request.headers().contains_key(header::EXPECT);
    let unread = !request.body().is_end_stream();
    if unread && !expects_continue && request.version() <= Version::HTTP_11 {
        let (limit, timeout) = (app.limits.max_body_bytes, app.limits.request_timeout);
        let mut body = request.into_body();
        tokio::spawn(tokio::time::timeout(timeout, async move {
            let mut read = 0;
            while let Some(Ok(frame)) = body.frame().await {
                read += frame.data_ref().map_or(0, Bytes::len);
                if read > limit {
                    break;
                }
            }
        }));
    }
    error.into_response()
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
        let response = ApiError::Overloaded { limit: 3 }.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert!(error_of(&response).contains("3 requests"));
    }
}
