//! gRPC on the HTTP port: a request whose `content-type` is `application/grpc` (or
//! `application/grpc+proto`) comes here instead of to the router, and is answered as a
//! unary call of [`GrpcMethod`]: the Open Inference Protocol's
//! `inference.GRPCInferenceService` ([`crate::protocol::open_inference::grpc`]) and
//! `grpc.health.v1.Health/Check` ([`health`]). Written by hand on hyper rather than
//! with tonic: six unary methods need only the framing ([`frame`]), the statuses
//! ([`status`]) and a body that ends in trailers ([`body`]).
//!
//! The same treatment as every REST request: a request id (`x-request-id`, echoed),
//! the metrics (`protocol="grpc"`), a debug log line, the payload log (for
//! `ModelInfer`: its messages, which the payload log's sender turns into V2 REST JSON),
//! the in-flight limit (for `ModelInfer`; UNAVAILABLE beyond), the request deadline (or
//! the client's shorter `grpc-timeout`; DEADLINE_EXCEEDED) and a caught panic
//! (INTERNAL).

pub mod body;
pub mod frame;
pub mod health;
pub mod status;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Request, Response, Version};

use super::layers::InFlight;
use super::request_id::{echoed, request_id, REQUEST_ID_NAME};
use crate::budget::refused_at_admission;
use crate::error::ApiError;
use crate::payload_log::{BodyTap, Transcode};
use crate::protocol::open_inference::as_rest;
use crate::protocol::open_inference::grpc as inference;
use crate::protocol::open_inference::proto::{Empty, ServerLiveResponse};
use crate::routes::GrpcMethod;
use crate::state::App;
use body::GrpcBody;
use status::{percent_encoded, Code, Status};

/// The media type of gRPC with protobuf messages.
const GRPC: &str = "application/grpc";

/// How the payload log turns `ModelInfer`'s request and response messages into JSON.
const INFER_AS_JSON: [Transcode; 2] = [
    Transcode {
        message: as_rest::REQUEST_MESSAGE,
        to_json: as_rest::request_json,
    },
    Transcode {
        message: as_rest::RESPONSE_MESSAGE,
        to_json: as_rest::response_json,
    },
];

/// Whether `request` is a gRPC call: `application/grpc`, with or without a `+codec`
/// suffix or parameters. gRPC-Web (`application/grpc-web*`) frames its trailers
/// differently and is left to the router, which refuses it.
pub fn is_grpc<B>(request: &Request<B>) -> bool {
    let Some(value) = request.headers().get(CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    value.len() >= GRPC.len()
        && value[..GRPC.len()].eq_ignore_ascii_case(GRPC.as_bytes())
        && matches!(value.get(GRPC.len()), None | Some(b'+' | b';'))
}

/// Answers one gRPC call, observed like a REST request.
pub async fn serve(
    mut request: Request<Incoming>,
    app: Arc<App>,
    in_flight: InFlight,
) -> Response<GrpcBody> {
    let method = GrpcMethod::resolve(request.uri().path());
    let request_id = request_id(request.headers());
    let log = tracing::enabled!(tracing::Level::DEBUG);
    let metrics = app.metrics.as_ref();
    let started = (log || metrics.is_some()).then(Instant::now);
    let gauge = metrics.map(|m| m.in_flight());
    let payload = app
        .payload_log
        .as_ref()
        .and_then(|log| Some((log, log.tap_call(&mut request, method)?)));

    let outcome = guard(request, method, &app, &in_flight).await;

    let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
    let (code, http, kind) = match &outcome {
        Ok(_) => (Code::Ok, hyper::StatusCode::OK, None),
        Err(status) => (status.code, status.http, Some(status.kind)),
    };
    if let Some(metrics) = metrics {
        let kind = kind.map(crate::error::ErrorKind);
        metrics.record_grpc(method, http, kind, elapsed);
    }
    drop(gauge);
    if let Some((log, tap)) = payload {
        let message = outcome.as_ref().ok().map(frame::unframed);
        log.record_call(tap, &request_id, method, message, INFER_AS_JSON);
    }
    if let (Err(status), true) = (&outcome, http.is_server_error()) {
        tracing::error!(error = %status.message, grpc_status = code as u8, "grpc call failed");
    }
    if log {
        tracing::debug!(
            route = method.label(),
            protocol = GrpcMethod::PROTOCOL,
            grpc_status = code as u8,
            latency_ms = elapsed.as_secs_f64() * 1e3,
            request_id = request_id.to_str().unwrap_or(""),
            "request"
        );
    }
    let mut response = match outcome {
        Ok(message) => {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", Status::code_header(Code::Ok));
            Response::new(GrpcBody::new(message, trailers))
        }
        Err(status) => trailers_only(status),
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(GRPC));
    headers.insert(REQUEST_ID_NAME, echoed(request_id));
    response
}

/// A refusal with its status in the headers and no body.
fn trailers_only(status: Status) -> Response<GrpcBody> {
    let mut response = Response::new(GrpcBody::empty());
    let headers = response.headers_mut();
    headers.insert("grpc-status", Status::code_header(status.code));
    headers.insert("grpc-message", percent_encoded(&status.message));
    if status.code == Code::Unimplemented {
        headers.insert("grpc-accept-encoding", HeaderValue::from_static("identity"));
    }
    response
}

/// Answers the call inside the limits: the in-flight limit for `ModelInfer` (probes and
/// metadata are never refused for it, as REST's GETs are not), the deadline, and a
/// caught panic.
async fn guard(
    request: Request<Incoming>,
    method: GrpcMethod,
    app: &App,
    in_flight: &InFlight,
) -> Result<Bytes, Status> {
    let _permit = match method.predicts().then(|| in_flight.try_take()) {
        Some(None) => {
            let limit = app.limits.max_in_flight;
            return Err(ApiError::Overloaded { limit }.into());
        }
        Some(Some(permit)) => Some(permit),
        None => None,
    };
    // Inference calls hold a share of the memory budget, as REST requests do: nothing
    // at admission (the message's size is in its prefix), the message and its batch
    // once the prefix is read.
    let reservation = match method.predicts() {
        true => match app.budget.reserve(0) {
            Ok(reservation) => Some(reservation),
            Err(why) => return Err(refused_at_admission(why, &app.budget, 0).into()),
        },
        false => None,
    };
    let timeout = deadline(request.headers(), app.limits.request_timeout);
    let call = answer(request, method, app);
    match reservation {
        Some(reservation) => protect(reservation.scope(call), timeout).await,
        None => protect(call, timeout).await,
    }
}

/// Runs `call` within `timeout`, turning a panic into INTERNAL: it costs one call.
async fn protect(
    call: impl Future<Output = Result<Bytes, Status>>,
    timeout: Duration,
) -> Result<Bytes, Status> {
    match tokio::time::timeout(timeout, AssertUnwindSafe(call).catch_unwind()).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_panic)) => {
            tracing::error!("grpc handler panicked; answered INTERNAL");
            Err(ApiError::Internal("the request handler failed unexpectedly".into()).into())
        }
        Err(_elapsed) => Err(ApiError::RequestTimeout { timeout }.into()),
    }
}

/// The server's request timeout, or the client's `grpc-timeout` when shorter.
fn deadline(headers: &HeaderMap, server: Duration) -> Duration {
    let client = headers
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(grpc_timeout);
    client.map_or(server, |client| client.min(server))
}

/// A `grpc-timeout` value: up to 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
fn grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The call's response message, framed.
async fn answer(
    mut request: Request<Incoming>,
    method: GrpcMethod,
    app: &App,
) -> Result<Bytes, Status> {
    check_call(&request, method)?;
    let tap = request.extensions_mut().remove::<BodyTap>();
    let message = frame::read_message(request.into_body(), app.limits.max_body_bytes).await?;
    if let Some(tap) = tap {
        tap.keep(&message);
    }
    Ok(match method {
        GrpcMethod::ServerLive => {
            decode::<Empty>(&message, "ServerLiveRequest")?;
            frame::encode(&ServerLiveResponse { live: true })
        }
        GrpcMethod::ServerReady => {
            decode::<Empty>(&message, "ServerReadyRequest")?;
            frame::encode(&inference::server_ready(app))
        }
        GrpcMethod::ModelReady => {
            let request = decode(&message, "ModelReadyRequest")?;
            frame::encode(&inference::model_ready(app, &request)?)
        }
        GrpcMethod::ServerMetadata => {
            decode::<Empty>(&message, "ServerMetadataRequest")?;
            frame::encode(&inference::server_metadata())
        }
        GrpcMethod::ModelMetadata => {
            let request = decode(&message, "ModelMetadataRequest")?;
            frame::encode(&inference::model_metadata(app, &request)?)
        }
        GrpcMethod::ModelInfer => {
            let request = decode(&message, "ModelInferRequest")?;
            frame::encode(&inference::model_infer(app, request).await?)
        }
        GrpcMethod::HealthCheck => {
            let request = decode(&message, "HealthCheckRequest")?;
            frame::encode(&health::check(app, &request)?)
        }
        GrpcMethod::Unknown => unreachable!("refused by check_call"),
    })
}

/// Refuses, before reading the body, what cannot be a call we answer: an unknown
/// method, a codec other than protobuf, HTTP/1 (whose responses have no trailers).
fn check_call<B>(request: &Request<B>, method: GrpcMethod) -> Result<(), Status> {
    if method == GrpcMethod::Unknown || request.method() != Method::POST {
        return Err(Status::unimplemented(format!(
            "unknown method {} {}; this server implements \
             inference.GRPCInferenceService/{{ServerLive, ServerReady, ModelReady, \
             ServerMetadata, ModelMetadata, ModelInfer}} and grpc.health.v1.Health/Check",
            request.method(),
            request.uri().path()
        )));
    }
    if request.version() != Version::HTTP_2 {
        return Err(Status::unimplemented(
            "gRPC needs HTTP/2: connect with h2c (prior knowledge)",
        ));
    }
    let content_type = request.headers().get(CONTENT_TYPE);
    let codec = content_type.map_or(&b""[..], |value| {
        value.as_bytes().get(GRPC.len()..).unwrap_or_default()
    });
    let codec = codec.split(|&b| b == b';').next().unwrap_or_default();
    if !codec.is_empty() && !codec.eq_ignore_ascii_case(b"+proto") {
        return Err(Status::unimplemented(format!(
            "codec {:?} is not supported; send protobuf (application/grpc)",
            String::from_utf8_lossy(codec)
        )));
    }
    Ok(())
}

/// A request message of type `M`, named `what` in the error.
fn decode<M: prost::Message + Default>(message: &[u8], what: &str) -> Result<M, Status> {
    M::decode(message).map_err(|e| Status::invalid(format!("the request is not a {what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: &str) -> Request<()> {
        Request::builder()
            .method(Method::POST)
            .uri("/inference.GRPCInferenceService/ModelInfer")
            .version(Version::HTTP_2)
            .header(CONTENT_TYPE, content_type)
            .body(())
            .unwrap()
    }

    #[test]
    fn grpc_is_told_by_its_content_type() {
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC",
        ] {
            assert!(is_grpc(&request(grpc)), "{grpc}");
        }
        for other in [
            "application/json",
            "application/grpc-web",
            "application/grpcx",
        ] {
            assert!(!is_grpc(&request(other)), "{other}");
        }
    }

    #[test]
    fn only_protobuf_over_http2_to_a_known_method_is_answered() {
        let infer = GrpcMethod::ModelInfer;
        assert!(check_call(&request("application/grpc+proto"), infer).is_ok());
        let json = check_call(&request("application/grpc+json"), infer).unwrap_err();
        assert_eq!(json.code, Code::Unimplemented);
        let unknown = check_call(&request(GRPC), GrpcMethod::Unknown).unwrap_err();
        assert!(
            unknown.message.contains("unknown method"),
            "{}",
            unknown.message
        );
        let mut http1 = request(GRPC);
        *http1.version_mut() = Version::HTTP_11;
        assert!(check_call(&http1, infer)
            .unwrap_err()
            .message
            .contains("HTTP/2"));
    }

    #[test]
    fn the_clients_grpc_timeout_shortens_the_deadline() {
        assert_eq!(grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(grpc_timeout("2S"), Some(Duration::from_secs(2)));
        for bad in ["", "m", "5x", "123456789S", "-1S"] {
            assert_eq!(grpc_timeout(bad), None, "{bad}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", HeaderValue::from_static("1S"));
        assert_eq!(
            deadline(&headers, Duration::from_secs(30)),
            Duration::from_secs(1)
        );
        headers.insert("grpc-timeout", HeaderValue::from_static("1H"));
        assert_eq!(
            deadline(&headers, Duration::from_secs(30)),
            Duration::from_secs(30)
        );
    }
}
