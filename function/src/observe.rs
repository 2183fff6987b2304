//! The layer around every request: gives it a request id (echoed as `X-Request-Id`),
//! counts and times it in the metrics, and logs one line per request at debug level.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Request, Response};

use crate::limits::{self, InFlight};
use crate::metrics::{Endpoint, ErrorKind};
use crate::router::{self, App};

/// The request id header: read from the client (or the ingress, which often sets it),
/// echoed in the response.
pub const REQUEST_ID: &str = "x-request-id";
/// W3C Trace Context: its trace id is the request id when no `X-Request-Id` is sent.
pub const TRACEPARENT: &str = "traceparent";
/// The two as header names, made once: a `&str` name is parsed on every lookup.
const REQUEST_ID_NAME: HeaderName = HeaderName::from_static(REQUEST_ID);
const TRACEPARENT_NAME: HeaderName = HeaderName::from_static(TRACEPARENT);
/// Longest client-sent request id kept; a longer one is replaced by a generated one.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Answers `request` through the limits and the router, observed (so a 503 for too
/// many requests, a 408 or a caught panic is counted and logged like any answer).
pub async fn serve(
    request: Request<Incoming>,
    app: Arc<App>,
    limit: InFlight,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let endpoint = router::endpoint(request.method(), request.uri().path());
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

    let Ok(mut response) = limits::guard(request, Arc::clone(&app), limit).await;

    let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
    if let Some(metrics) = metrics {
        let error = response.extensions().get::<ErrorKind>().copied();
        metrics.record_request(endpoint, response.status(), error, elapsed);
    }
    drop(in_flight);
    if let Some(method) = method {
        tracing::debug!(
            method = %method,
            route = endpoint.route(),
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

/// The request's id: the client's `X-Request-Id` if it is printable and not too long,
/// else the trace id of a valid `traceparent`, else a new one.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(REQUEST_ID_NAME).filter(|id| {
        (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
            && id.as_bytes().iter().all(|b| b.is_ascii_graphic())
    }) {
        return id.clone();
    }
    if let Some(trace_id) = headers
        .get(TRACEPARENT_NAME)
        .and_then(|v| v.to_str().ok())
        .and_then(trace_id)
    {
        if let Ok(value) = HeaderValue::from_str(trace_id) {
            return value;
        }
    }
    generated_id()
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), unless it is
/// malformed or all zeros (which the spec says is invalid).
fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace_id, 32)
        && hex(parent_id, 16)
        && hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0');
    valid.then_some(trace_id)
}

/// `<process prefix>-<counter>`: unique within the process by the counter, across
/// replicas by the random prefix, and far cheaper than a UUID per request.
fn generated_id() -> HeaderValue {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| {
        // std's RandomState is seeded from the OS's random source once per process.
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        format!("{:012x}-", hasher.finish() & 0xffff_ffff_ffff)
    });
    // One allocation, which the header value then owns (this runs on every request).
    let mut id = Vec::with_capacity(prefix.len() + 20);
    id.extend_from_slice(prefix.as_bytes());
    id.extend_from_slice(
        itoa::Buffer::new()
            .format(NEXT.fetch_add(1, Ordering::Relaxed))
            .as_bytes(),
    );
    HeaderValue::from_maybe_shared(Bytes::from(id))
        .expect("hex digits, '-' and digits are header-safe")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn keeps_the_clients_request_id() {
        let id = request_id(&headers(&[
            (REQUEST_ID, "abc-123"),
            (
                TRACEPARENT,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]));
        assert_eq!(id, "abc-123");
    }

    #[test]
    fn falls_back_to_the_trace_id_of_traceparent() {
        let id = request_id(&headers(&[(
            TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]));
        assert_eq!(id, "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn generates_distinct_ids_for_bad_or_missing_headers() {
        let too_long = "x".repeat(MAX_REQUEST_ID_LEN + 1);
        let zeros = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
        let ids: Vec<HeaderValue> = [
            headers(&[]),
            headers(&[(REQUEST_ID, too_long.as_str())]),
            headers(&[(REQUEST_ID, "has space")]),
            headers(&[(TRACEPARENT, zeros)]),
            headers(&[(TRACEPARENT, "00-4bf92f3577b34da6a3ce929d0e0e4736-short-01")]),
        ]
        .iter()
        .map(request_id)
        .collect();
        for (i, id) in ids.iter().enumerate() {
            let text = id.to_str().unwrap();
            let (prefix, counter) = text.split_once('-').unwrap();
            assert_eq!(prefix.len(), 12, "{text}");
            assert!(counter.parse::<u64>().is_ok(), "{text}");
            assert!(!ids[..i].contains(id), "{text} repeats");
        }
    }
}
