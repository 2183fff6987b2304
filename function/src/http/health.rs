//! Liveness and readiness for Kubernetes (`/healthz`, `/readyz`) and Knative Functions
//! (`/health/liveness`, `/health/readiness`). The port opens only after the model has
//! loaded, so a process that answers is ready.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::error::json_response;
use crate::state::App;

/// 200 while the process serves requests.
pub fn live() -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, br#"{"status":"alive"}"#.to_vec())
}

/// 200 with the model's name: the model is loaded before the port opens.
pub fn ready(app: &App) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "status": "ready", "model": app.model_name });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}
