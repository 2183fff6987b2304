//! Every route in one place (GET routes answer HEAD too; `{name}` is the served model's
//! name, `{v}` its version):
//!
//! | method   | path                                        | handler                     |
//! |----------|---------------------------------------------|-----------------------------|
//! | POST     | `/predict`                                  | the tutorial's contract     |
//! | GET      | `/healthz`, `/health/liveness`              | liveness                    |
//! | GET      | `/readyz`, `/health/readiness`              | readiness                   |
//! | GET      | `/`                                         | model and route summary     |
//! | POST     | `/`                                         | CloudEvents (binary, structured) |
//! | GET      | `/openapi.json`                             | OpenAPI 3 document          |
//! | GET      | `/metrics`                                  | Prometheus metrics          |
//! | GET      | `/v1/models`                                | KServe V1: model list       |
//! | GET      | `/v1/models/{name}`                         | KServe V1: model readiness  |
//! | POST     | `/v1/models/{name}:predict`                 | KServe V1: predict          |
//! | GET      | `/v2`                                       | V2: server metadata         |
//! | GET      | `/v2/health/live`, `/v2/health/ready`       | V2: server health           |
//! | GET      | `/v2/models/{name}[/versions/{v}]`          | V2: model metadata          |
//! | GET      | `/v2/models/{name}[/versions/{v}]/ready`    | V2: model readiness         |
//! | POST     | `/v2/models/{name}[/versions/{v}]/infer`    | V2: inference               |

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::error::{json_response, ApiError};
use crate::limits::Limits;
use crate::metrics::{Endpoint, Metrics};
use crate::runtime::Offload;
use crate::{health, protocol};
use model::Model;

/// What every request handler shares: the model and the serving limits.
#[derive(Debug)]
pub struct App {
    /// The loaded model (shared with the blocking pool for big batches).
    pub model: Arc<Model>,
    /// The name the model is served under.
    pub model_name: String,
    /// The version the model is served as (Open Inference Protocol paths).
    pub model_version: String,
    /// The metrics, or `None` when they are turned off (`/metrics` is then a 404).
    pub metrics: Option<Metrics>,
    /// Body size, batch size, concurrency and time limits.
    pub limits: Limits,
    /// Where big batches run (off the worker threads).
    pub offload: Offload,
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

/// A path this function answers, with the parts it names.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Route<'a> {
    Predict,
    Live,
    Ready,
    Root,
    OpenApi,
    Metrics,
    V1Models,
    V1Model(&'a str),
    V1Predict(&'a str),
    V2Server,
    V2Live,
    V2Ready,
    V2Model(&'a str, Option<&'a str>),
    V2ModelReady(&'a str, Option<&'a str>),
    V2Infer(&'a str, Option<&'a str>),
}

impl<'a> Route<'a> {
    /// The route for `path`, if there is one.
    fn parse(path: &'a str) -> Option<Route<'a>> {
        Some(match path {
            "/predict" => Route::Predict,
            "/healthz" | "/health/liveness" => Route::Live,
            "/readyz" | "/health/readiness" => Route::Ready,
            "/" => Route::Root,
            "/openapi.json" => Route::OpenApi,
            "/metrics" => Route::Metrics,
            "/v1/models" => Route::V1Models,
            "/v2" => Route::V2Server,
            "/v2/health/live" => Route::V2Live,
            "/v2/health/ready" => Route::V2Ready,
            _ => {
                if let Some(rest) = path.strip_prefix("/v1/models/") {
                    return Self::v1(rest);
                }
                return Self::v2(path.strip_prefix("/v2/models/")?);
            }
        })
    }

    /// `{name}` or `{name}:predict` after `/v1/models/`.
    fn v1(rest: &'a str) -> Option<Route<'a>> {
        if rest.is_empty() || rest.contains('/') {
            return None;
        }
        Some(match rest.strip_suffix(":predict") {
            Some(name) if !name.is_empty() => Route::V1Predict(name),
            Some(_) => return None,
            None => Route::V1Model(rest),
        })
    }

    /// `{name}[/versions/{v}][/ready|/infer]` after `/v2/models/`.
    fn v2(rest: &'a str) -> Option<Route<'a>> {
        let mut segments: Vec<&str> = rest.split('/').collect();
        let action = match segments.last() {
            Some(&"ready") | Some(&"infer") if segments.len() > 1 => segments.pop(),
            _ => None,
        };
        let (name, version) = match segments[..] {
            [name] => (name, None),
            [name, "versions", version] if !version.is_empty() => (name, Some(version)),
            _ => return None,
        };
        if name.is_empty() {
            return None;
        }
        Some(match action {
            None => Route::V2Model(name, version),
            Some("ready") => Route::V2ModelReady(name, version),
            _ => Route::V2Infer(name, version),
        })
    }

    /// The methods the route takes, for `Allow`.
    fn allow(self) -> &'static str {
        match self {
            Route::Predict | Route::V1Predict(_) | Route::V2Infer(..) => "POST",
            Route::Root => "GET, HEAD, POST",
            _ => "GET, HEAD",
        }
    }
}

/// The route `path` takes with `method`, as metric labels and log fields.
pub fn endpoint(method: &Method, path: &str) -> Endpoint {
    let Some(route) = Route::parse(path) else {
        return Endpoint::Unmatched;
    };
    match route {
        Route::Predict => Endpoint::Predict,
        Route::Root if method == Method::POST => Endpoint::CloudEvents,
        Route::Root => Endpoint::Index,
        Route::Live => Endpoint::Live,
        Route::Ready => Endpoint::Ready,
        Route::OpenApi => Endpoint::OpenApi,
        Route::Metrics => Endpoint::Metrics,
        Route::V1Models => Endpoint::V1Models,
        Route::V1Model(_) => Endpoint::V1Model,
        Route::V1Predict(_) => Endpoint::V1Predict,
        Route::V2Server => Endpoint::V2Server,
        Route::V2Live | Route::V2Ready => Endpoint::V2Health,
        Route::V2Model(..) => Endpoint::V2Model,
        Route::V2ModelReady(..) => Endpoint::V2ModelReady,
        Route::V2Infer(..) => Endpoint::V2Infer,
    }
}

async fn dispatch(
    request: Request<Incoming>,
    app: &App,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let Some(route) = Route::parse(&path) else {
        return Err(ApiError::NotFound { path });
    };
    let read_only = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    // The other protocols' handlers are boxed: this future is as large as its largest
    // arm, it is moved through every layer around it on each request, and hyper keeps
    // room for one per connection, so only `/predict`, the hot path, is kept inline.
    match route {
        Route::Predict if post => protocol::predict::handle(request, app).await,
        Route::Root if post => Box::pin(protocol::cloudevents::handle(request, app)).await,
        Route::V1Predict(name) if post => {
            Box::pin(protocol::kserve_v1::predict(request, app, name)).await
        }
        Route::V2Infer(name, version) if post => {
            Box::pin(protocol::open_inference::infer(request, app, name, version)).await
        }
        Route::Live if read_only => Ok(health::live()),
        Route::Ready if read_only => Ok(health::ready(app)),
        Route::Root if read_only => Ok(index(app)),
        Route::OpenApi if read_only => Ok(protocol::openapi::document(app)),
        Route::Metrics if read_only => match &app.metrics {
            Some(metrics) => Ok(metrics.respond(request.headers())),
            None => Err(ApiError::NotFound { path }),
        },
        Route::V1Models if read_only => Ok(protocol::kserve_v1::list(app)),
        Route::V1Model(name) if read_only => protocol::kserve_v1::model(app, name),
        Route::V2Server if read_only => Ok(protocol::open_inference::server_metadata()),
        Route::V2Live if read_only => Ok(protocol::open_inference::live()),
        Route::V2Ready if read_only => Ok(protocol::open_inference::ready()),
        Route::V2Model(name, version) if read_only => {
            protocol::open_inference::model_metadata(app, name, version)
        }
        Route::V2ModelReady(name, version) if read_only => {
            protocol::open_inference::model_ready(app, name, version)
        }
        _ => Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            allow: route.allow(),
        }),
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
            "missing_values": info.handles_missing,
        },
        "version": app.model_version,
        "routes": {
            "POST /predict": r#"{"input":[...features]} or {"input":[[...],[...]]}; ?probabilities=true adds class probabilities"#,
            "GET /healthz, /health/liveness": "liveness",
            "GET /readyz, /health/readiness": "readiness",
            "POST /": "CloudEvents, binary or structured mode, data {\"input\":[...]}",
            "GET /v1/models, /v1/models/{name}, POST /v1/models/{name}:predict": "KServe V1",
            "GET /v2, /v2/health/live, /v2/health/ready, /v2/models/{name}[/versions/{v}][/ready], POST /v2/models/{name}[/versions/{v}]/infer": "Open Inference Protocol V2",
            "GET /openapi.json": "OpenAPI 3 document of every route",
            "GET /metrics": "Prometheus metrics (text format 0.0.4, or OpenMetrics if the Accept header asks for it)",
        },
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_paths() {
        assert_eq!(Route::parse("/v1/models"), Some(Route::V1Models));
        assert_eq!(
            Route::parse("/v1/models/iris"),
            Some(Route::V1Model("iris"))
        );
        assert_eq!(
            Route::parse("/v1/models/iris:predict"),
            Some(Route::V1Predict("iris"))
        );
        assert_eq!(Route::parse("/v1/models/:predict"), None);
        assert_eq!(Route::parse("/v1/models/a/b"), None);
    }

    #[test]
    fn parses_v2_paths_with_and_without_version() {
        assert_eq!(Route::parse("/v2"), Some(Route::V2Server));
        assert_eq!(
            Route::parse("/v2/models/m"),
            Some(Route::V2Model("m", None))
        );
        assert_eq!(
            Route::parse("/v2/models/m/versions/1"),
            Some(Route::V2Model("m", Some("1")))
        );
        assert_eq!(
            Route::parse("/v2/models/m/ready"),
            Some(Route::V2ModelReady("m", None))
        );
        assert_eq!(
            Route::parse("/v2/models/m/versions/2/infer"),
            Some(Route::V2Infer("m", Some("2")))
        );
        // A model may be called "infer"; only a trailing segment is an action.
        assert_eq!(
            Route::parse("/v2/models/infer"),
            Some(Route::V2Model("infer", None))
        );
        for missing in [
            "/v2/models/",
            "/v2/models/m/versions",
            "/v2/models/m/x",
            "/v2/",
        ] {
            assert_eq!(Route::parse(missing), None, "{missing}");
        }
    }

    #[test]
    fn post_routes_allow_post_and_root_allows_both() {
        assert_eq!(Route::V2Infer("m", None).allow(), "POST");
        assert_eq!(Route::Root.allow(), "GET, HEAD, POST");
        assert_eq!(Route::V2Model("m", None).allow(), "GET, HEAD");
    }
}
