//! A request's id: the client's `X-Request-Id`, else the trace id of its W3C
//! `traceparent`, else a new one. The request layer logs it and echoes it.

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;

use crate::ids;

/// The request id header: read from the client (or the ingress, which often sets it),
/// echoed in the response.
pub const REQUEST_ID: &str = "x-request-id";
/// W3C Trace Context: its trace id is the request id when no `X-Request-Id` is sent.
pub const TRACEPARENT: &str = "traceparent";
/// The two as header names, made once: a `&str` name is parsed on every lookup.
pub const REQUEST_ID_NAME: HeaderName = HeaderName::from_static(REQUEST_ID);
const TRACEPARENT_NAME: HeaderName = HeaderName::from_static(TRACEPARENT);
/// Longest client-sent request id kept; a longer one is replaced by a generated one.
const MAX_REQUEST_ID_LEN: usize = 128;

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

/// `id` as the response's `X-Request-Id`. Marked never-indexed for HPACK (HTTP/2's
/// header compression; no effect on HTTP/1.1): an id differs on every response, so
/// indexing it only fills the connection's table with entries no later response
/// matches, each of which the encoder then compares against on every response
/// (BENCHMARKS.md, gRPC section, measures the cost).
pub fn echoed(mut id: HeaderValue) -> HeaderValue {
    id.set_sensitive(true);
    id
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

/// A new id for a request that came without one (see [`crate::ids`]).
fn generated_id() -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(ids::next()))
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
    fn the_echoed_id_is_never_indexed_by_hpack() {
        let id = request_id(&headers(&[("x-request-id", "req-1")]));
        assert!(!id.is_sensitive());
        let echoed = echoed(id);
        assert!(echoed.is_sensitive());
        assert_eq!(echoed, "req-1");
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
