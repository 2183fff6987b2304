//! Liveness and readiness for Kubernetes (`/healthz`, `/readyz`) and Knative Functions
//! (`/health/liveness`, `/health/readiness`). The port opens only after the model has
//! loaded, so a process that answers is ready until SIGTERM ([`App::stop_being_ready`]).

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::error::json_response;
use crate::state::App;

/// 200 while the process serves requests.
pub fn live() -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, br#"{"status":"alive"}"#.to_vec())
}

/// 200 with the model's name (the model is loaded before the port opens); 503 once
/// shutdown has begun, while the shutdown delay still serves predictions.
pub fn ready(app: &App) -> Response<Full<Bytes>> {
    let word = if app.is_ready() { "ready" } else { "stopping" };
    let body = serde_json::json!({ "status": word, "model": app.model_name });
    json_response(app.readiness_status(), body.to_string().into_bytes())
}
