//! Every route in one place:
//!
//! | method   | path                                   | handler                  |
//! |----------|----------------------------------------|--------------------------|
//! | POST     | `/predict`                             | the tutorial's contract  |
//! | GET/HEAD | `/healthz`, `/health/liveness`         | liveness                 |
//! | GET/HEAD | `/readyz`, `/health/readiness`         | readiness                |
//! | GET      | `/`                                    | model and route summary  |

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::error::{json_response, ApiError};
use crate::model::Model;
use crate::{health, protocol};

/// Default limit on a request body: a 1000-row batch of 30 features is ~300 KB of JSON.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What every request handler shares: the model and the serving limits.
#[derive(Debug)]
pub struct App {
    /// The loaded model.
    pub model: Model,
    /// The name the model is served under.
    pub model_name: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

/// Answers one request. Never fails: every error becomes its HTTP response here.
pub async fn route(
    request: Request<Incoming>,
    app: Arc<App>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let result = dispatch(request, &app).await;
    Ok(result.unwrap_or_else(|error| {
        if error.status().is_server_error() {
            tracing::error!(%error, "request failed");
        }
        error.into_response()
    }))
}

async fn dispatch(
    request: Request<Incoming>,
    app: &App,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let read_only = method == Method::GET || method == Method::HEAD;
    match path.as_str() {
        "/predict" if method == Method::POST => protocol::predict::handle(request, app).await,
        "/predict" => Err(not_allowed(&method, "POST")),
        "/healthz" | "/health/liveness" if read_only => Ok(health::live()),
        "/readyz" | "/health/readiness" if read_only => Ok(health::ready(app)),
        "/" if read_only => Ok(index(app)),
        "/healthz" | "/health/liveness" | "/readyz" | "/health/readiness" | "/" => {
            Err(not_allowed(&method, "GET, HEAD"))
        }
        _ => Err(ApiError::NotFound { path }),
    }
}

fn not_allowed(method: &Method, allow: &'static str) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        allow,
    }
}

/// A summary a person can read with curl: the model and the routes.
fn index(app: &App) -> Response<Full<Bytes>> {
    let info = app.model.info();
    let body = serde_json::json!({
        "name": app.model_name,
        "model": {
            "operator": info.operator,
            "producer": info.producer,
            "features": info.n_features,
            "feature_names": info.feature_names,
            "class_names": info.class_names,
        },
        "routes": {
            "POST /predict": r#"{"input":[...features]} or {"input":[[...],[...]]}; ?probabilities=true adds class probabilities"#,
            "GET /healthz, /health/liveness": "liveness",
            "GET /readyz, /health/readiness": "readiness",
        },
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}
