//! The one HTTP error type, and the one place that turns it into a status code and a
//! JSON body `{"error": "..."}` (the shape KServe and the Open Inference Protocol use).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header, Response, StatusCode};

/// Seconds a client refused with 503 is told to wait (`Retry-After`): requests take
/// milliseconds, so a slot or the memory they hold is soon free.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// Why a request was refused, as the `kind` label of `model_prediction_errors_total`:
/// [`ApiError::into_response`] attaches it to the response as an extension, and the
/// request layer reads it from there for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorKind(pub &'static str);

/// Everything a request can be refused for. Messages name the problem and what would be
/// accepted.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body or query is malformed: 400.
    #[error("{0}")]
    BadRequest(String),
    /// No route has this path: 404.
    #[error("no route for {path}; GET /openapi.json lists the routes")]
    NotFound {
        /// The requested path.
        path: String,
    },
    /// The path names a model or version this function does not serve: 404.
    #[error("{0}")]
    ModelNotFound(String),
    /// The route exists but not for this method: 405 with `Allow`.
    #[error("method {method} is not allowed here; use {allow}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The methods the route takes, for the `Allow` header.
        allow: &'static str,
    },
    /// The body is larger than the configured limit: 413.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The batch has more rows than the configured limit: 413.
    #[error(
        "the batch has {rows} rows, more than the limit of {limit}; split it into smaller \
         requests"
    )]
    TooManyRows {
        /// Rows sent.
        rows: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is not JSON by its declared content type: 415. A form (what `curl -d`
    /// sends by default) gets a hint on how to send JSON instead.
    #[error("content-type {0} is not supported; send application/json{hint}", hint = form_hint(.0))]
    UnsupportedMediaType(String),
    /// The body is compressed: 415.
    #[error("content-encoding {0} is not supported; send the body uncompressed")]
    UnsupportedEncoding(String),
    /// The request was not received and answered in time: 408.
    #[error(
        "the request was not received and answered within {} s; send the body promptly",
        timeout.as_secs_f64()
    )]
    RequestTimeout {
        /// The deadline.
        timeout: std::time::Duration,
    },
    /// Every in-flight slot is taken: 503 with `Retry-After`.
    #[error("the function is busy with {limit} request{s}; retry shortly", s = plural(.limit))]
    Overloaded {
        /// The in-flight limit.
        limit: usize,
    },
    /// The requests in flight already hold the memory budget: 503 with `Retry-After`.
    #[error(
        "the function's memory budget for requests in flight ({budget} bytes) is in use; \
         retry shortly"
    )]
    MemoryBudgetSpent {
        /// The budget in bytes.
        budget: usize,
    },
    /// The request needs more memory than the whole budget: 413, since no wait helps.
    #[error(
        "the request needs {needed} bytes of memory, more than the function's whole \
         budget of {budget} bytes for requests in flight (--max-in-flight-bytes); send \
         a smaller body or split the batch"
    )]
    LargerThanMemoryBudget {
        /// What the request would be charged, in bytes.
        needed: usize,
        /// The budget in bytes.
        budget: usize,
    },
    /// The server failed: 500. Logged; the client sees the message.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The plural ending for `count` things.
fn plural(count: &usize) -> &'static str {
    if *count == 1 {
        ""
    } else {
        "s"
    }
}

/// What to add to a 415 for `content_type`: how to send JSON with curl when it is the
/// form `curl -d` sends unless told otherwise, nothing for any other type.
fn form_hint(content_type: &str) -> &'static str {
    if content_type
        .to_ascii_lowercase()
        .contains("application/x-www-form-urlencoded")
    {
        " (curl -d sends a form unless you add -H 'Content-Type: application/json')"
    } else {
        ""
    }
}

impl ApiError {
    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } | ApiError::ModelNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. }
            | ApiError::TooManyRows { .. }
            | ApiError::LargerThanMemoryBudget { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded { .. } | ApiError::MemoryBudgetSpent { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What went wrong, as the `kind` label of `model_prediction_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::NotFound { .. } => "not_found",
            ApiError::ModelNotFound(_) => "unknown_model",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. }
            | ApiError::TooManyRows { .. }
            | ApiError::LargerThanMemoryBudget { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedEncoding(_) => {
                "unsupported_media_type"
            }
            ApiError::RequestTimeout { .. } => "timeout",
            ApiError::Overloaded { .. } | ApiError::MemoryBudgetSpent { .. } => "overloaded",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP response: the status, a JSON body, `Allow` for 405 and `Retry-After`
    /// for 503 (the server is busy, not broken). The error's
    /// [`ErrorKind`] rides along as an extension, for the metrics.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = serde_json::json!({ "error": self.to_string() });
        let mut response = json_response(self.status(), body.to_string().into_bytes());
        response.extensions_mut().insert(ErrorKind(self.kind()));
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(RETRY_AFTER_SECONDS),
            );
        }
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        response
    }
}

/// A response with a JSON body.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let response = ApiError::MethodNotAllowed {
            method: "GET".into(),
            allow: "POST",
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "POST");
    }

    #[test]
    fn only_a_form_gets_the_curl_hint() {
        let form = ApiError::UnsupportedMediaType(r#""application/x-www-form-urlencoded""#.into());
        assert!(form.to_string().contains("curl -d sends a form"), "{form}");
        for other in [
            r#""text/plain""#,
            "application/cloudevents-batch+json (batched events)",
        ] {
            let message = ApiError::UnsupportedMediaType(other.into()).to_string();
            assert!(message.ends_with("; send application/json"), "{message}");
        }
    }

    #[test]
    fn busy_counts_its_requests_in_the_singular_and_plural() {
        let busy = |limit| ApiError::Overloaded { limit }.to_string();
        assert_eq!(
            busy(1),
            "the function is busy with 1 request; retry shortly"
        );
        assert_eq!(
            busy(2),
            "the function is busy with 2 requests; retry shortly"
        );
    }

    #[test]
    fn errors_are_json_objects_with_an_error_field() {
        let response = ApiError::BadRequest("bad `input`".into()).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            response.extensions().get::<ErrorKind>(),
            Some(&ErrorKind("invalid_request"))
        );
        let body = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(
            response.into_body(),
        ))
        .expect("a full body is ready")
        .unwrap()
        .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json, serde_json::json!({ "error": "bad `input`" }));
    }
}
