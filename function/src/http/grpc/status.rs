//! gRPC statuses: the codes we answer with, how each [`ApiError`] maps onto one (the
//! REST status it would get rides along for the metrics), and `grpc-message`'s
//! percent-encoding.

use hyper::header::HeaderValue;
use hyper::StatusCode;

use crate::error::ApiError;

/// The gRPC status codes this server answers with (grpc/grpc `doc/statuscodes.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 0.
    Ok = 0,
    /// 3: the request is malformed or does not fit the model.
    InvalidArgument = 3,
    /// 4: not received and answered within the deadline.
    DeadlineExceeded = 4,
    /// 5: another model or version.
    NotFound = 5,
    /// 8: over a size limit (message bytes, batch rows).
    ResourceExhausted = 8,
    /// 12: a method, compression or codec we do not have.
    Unimplemented = 12,
    /// 13: the model or a handler failed.
    Internal = 13,
    /// 14: every in-flight slot is taken; a retry may succeed.
    Unavailable = 14,
}

/// A refused call: its code and message, and what its REST twin would have been
/// answered with (status and error kind), for the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The gRPC code.
    pub code: Code,
    /// Why, for the client.
    pub message: String,
    /// The REST status of the same refusal.
    pub http: StatusCode,
    /// The `kind` label of `model_prediction_errors_total`.
    pub kind: &'static str,
}

impl Status {
    /// INVALID_ARGUMENT, as a REST 400.
    pub fn invalid(message: impl Into<String>) -> Status {
        ApiError::BadRequest(message.into()).into()
    }

    /// UNIMPLEMENTED for what this server does not do (a method, a codec, HTTP/1).
    pub fn unimplemented(message: impl Into<String>) -> Status {
        Status {
            code: Code::Unimplemented,
            message: message.into(),
            http: StatusCode::NOT_IMPLEMENTED,
            kind: "unimplemented",
        }
    }

    /// `grpc-status` as a header value.
    pub fn code_header(code: Code) -> HeaderValue {
        HeaderValue::from(code as u16)
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        let code = match &error {
            ApiError::BadRequest(_) => Code::InvalidArgument,
            ApiError::NotFound { .. } | ApiError::MethodNotAllowed { .. } => Code::Unimplemented,
            ApiError::ModelNotFound(_) => Code::NotFound,
            ApiError::PayloadTooLarge { .. }
            | ApiError::TooManyRows { .. }
            | ApiError::LargerThanMemoryBudget { .. } => Code::ResourceExhausted,
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedEncoding(_) => {
                Code::Unimplemented
            }
            ApiError::RequestTimeout { .. } => Code::DeadlineExceeded,
            // Both pass with time: retryable, as REST's 503 + Retry-After.
            ApiError::Overloaded { .. } | ApiError::MemoryBudgetSpent { .. } => Code::Unavailable,
            ApiError::Internal(_) => Code::Internal,
        };
        Status {
            code,
            message: error.to_string(),
            http: error.status(),
            kind: error.kind(),
        }
    }
}

/// `grpc-message`: the message percent-encoded, as the gRPC HTTP/2 spec asks (every
/// byte outside printable ASCII, and `%`).
pub fn percent_encoded(message: &str) -> HeaderValue {
    let mut encoded = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    HeaderValue::from_str(&encoded).expect("printable ASCII is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_gets_the_code_clients_expect() {
        let code = |error: ApiError| Status::from(error).code;
        assert_eq!(
            code(ApiError::BadRequest("x".into())),
            Code::InvalidArgument
        );
        assert_eq!(code(ApiError::ModelNotFound("x".into())), Code::NotFound);
        assert_eq!(
            code(ApiError::TooManyRows { rows: 2, limit: 1 }),
            Code::ResourceExhausted
        );
        assert_eq!(
            code(ApiError::PayloadTooLarge { limit: 1 }),
            Code::ResourceExhausted
        );
        assert_eq!(code(ApiError::Overloaded { limit: 1 }), Code::Unavailable);
        let timeout = std::time::Duration::from_secs(1);
        assert_eq!(
            code(ApiError::RequestTimeout { timeout }),
            Code::DeadlineExceeded
        );
        let status = Status::from(ApiError::BadRequest("x".into()));
        assert_eq!(
            (status.http, status.kind),
            (StatusCode::BAD_REQUEST, "invalid_request")
        );
    }

    #[test]
    fn messages_are_percent_encoded_outside_printable_ascii() {
        assert_eq!(
            percent_encoded("input \"x\": 50% é"),
            "input \"x\": 50%25 %C3%A9"
        );
        assert_eq!(percent_encoded("line\nbreak"), "line%0Abreak");
    }
}
