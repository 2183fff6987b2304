//! Each route of the table ([`crate::routes`]) to its handler: the one `match` from an
//! [`Endpoint`] to the code that answers it. The path was resolved once, by the request
//! layer; model routes are checked against the served model's name and version here,
//! before the handler reads a byte of the body.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::{health, index, openapi};
use crate::error::ApiError;
use crate::protocol::{cloudevents, kserve_v1, open_inference, predict};
use crate::routes::{Endpoint, Resolved};
use crate::state::App;

/// Answers one request on the route it resolved to. Never fails: every error becomes
/// its HTTP response here.
pub async fn route(
    request: Request<Incoming>,
    route: Resolved,
    app: Arc<App>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let result = dispatch(request, route, &app).await;
    Ok(result.unwrap_or_else(|error| {
        if error.status().is_server_error() {
            tracing::error!(%error, "request failed");
        }
        error.into_response()
    }))
}

async fn dispatch(
    request: Request<Incoming>,
    route: Resolved,
    app: &App,
) -> Result<Response<Full<Bytes>>, ApiError> {
    if route.endpoint == Endpoint::Unmatched {
        return Err(not_found(&request));
    }
    if !route.allowed {
        return Err(ApiError::MethodNotAllowed {
            method: request.method().to_string(),
            allow: route.allow(),
        });
    }
    if let Some((from, to)) = route.name {
        let path = request.uri().path();
        let version = route.version.map(|(from, to)| &path[from..to]);
        app.check_model(&path[from..to], version)?;
    }
    // The other protocols' handlers are boxed: this future is as large as its largest
    // arm, it is moved through every layer around it on each request, and hyper keeps
    // room for one per connection, so only `/predict`, the hot path, is kept inline.
    match route.endpoint {
        Endpoint::Predict => predict::handle(request, app).await,
        Endpoint::CloudEvents => Box::pin(cloudevents::handle(request, app)).await,
        Endpoint::V1Predict => Box::pin(kserve_v1::predict(request, app)).await,
        Endpoint::V1Explain => Box::pin(kserve_v1::explain(request, app)).await,
        Endpoint::V2Infer => Box::pin(open_inference::infer(request, app)).await,
        Endpoint::Live => Ok(health::live()),
        Endpoint::Ready => Ok(health::ready(app)),
        Endpoint::Index => Ok(index::summary(app)),
        Endpoint::OpenApi => Ok(openapi::document(app)),
        Endpoint::Metrics => match &app.metrics {
            Some(metrics) => Ok(metrics.respond(request.headers())),
            None => Err(not_found(&request)),
        },
        Endpoint::V1Models => Ok(kserve_v1::list(app)),
        Endpoint::V1Model => Ok(kserve_v1::model(app)),
        Endpoint::V2Server => Ok(open_inference::server_metadata()),
        Endpoint::V2Live => Ok(open_inference::live()),
        Endpoint::V2Ready => Ok(open_inference::ready(app)),
        Endpoint::V2Model => Ok(open_inference::model_metadata(app)),
        Endpoint::V2ModelReady => Ok(open_inference::model_ready(app)),
        Endpoint::Unmatched => Err(not_found(&request)),
    }
}

/// 404 for a path without a route (or `/metrics` with the metrics off).
fn not_found(request: &Request<Incoming>) -> ApiError {
    ApiError::NotFound {
        path: request.uri().path().to_string(),
    }
}
