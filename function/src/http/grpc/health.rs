//! `grpc.health.v1.Health/Check` (grpc/grpc `doc/health-checking.md`): what
//! Kubernetes' gRPC probes call. The server and the inference service are SERVING
//! while ready, NOT_SERVING once shutdown begins; any other service is NOT_FOUND.
//! `Watch`, a stream, is not served (UNIMPLEMENTED), as probes do not use it.

use super::status::Status;
use crate::error::ApiError;
use crate::state::App;

/// The service names we answer for: the whole server (`""`) and the inference service.
const SERVICES: [&str; 2] = ["", "inference.GRPCInferenceService"];

/// `HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckRequest {
    /// The service asked about; empty for the whole server.
    #[prost(string, tag = "1")]
    pub service: String,
}

/// `HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckResponse {
    /// A `ServingStatus`.
    #[prost(enumeration = "ServingStatus", tag = "1")]
    pub status: i32,
}

/// `HealthCheckResponse.ServingStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ServingStatus {
    /// Not known.
    Unknown = 0,
    /// Ready for requests.
    Serving = 1,
    /// Shutting down.
    NotServing = 2,
    /// Only for `Watch`.
    ServiceUnknown = 3,
}

/// The status of `request.service`.
pub fn check(app: &App, request: &HealthCheckRequest) -> Result<HealthCheckResponse, Status> {
    if !SERVICES.contains(&request.service.as_str()) {
        return Err(ApiError::ModelNotFound(format!(
            "unknown service {:?}; ask about \"\" (the server) or {:?}",
            request.service, SERVICES[1]
        ))
        .into());
    }
    let status = if app.is_ready() {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    Ok(HealthCheckResponse {
        status: status as i32,
    })
}
