//! The label values a request is counted under: fixed strings per route, so that no
//! client can create new series, and the kind of a refused prediction.

/// The route a request took, as metric labels and log fields: fixed strings, never the
/// request's own path, so a client cannot create new series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /predict`.
    Predict,
    /// `POST /` (CloudEvents).
    CloudEvents,
    /// `POST /v1/models/{name}:predict`.
    V1Predict,
    /// `GET /v1/models`.
    V1Models,
    /// `GET /v1/models/{name}`.
    V1Model,
    /// `POST /v2/models/{name}[/versions/{v}]/infer`.
    V2Infer,
    /// `GET /v2`.
    V2Server,
    /// `GET /v2/health/live`, `/v2/health/ready`.
    V2Health,
    /// `GET /v2/models/{name}[/versions/{v}]`.
    V2Model,
    /// `GET /v2/models/{name}[/versions/{v}]/ready`.
    V2ModelReady,
    /// `/healthz`, `/health/liveness`.
    Live,
    /// `/readyz`, `/health/readiness`.
    Ready,
    /// `GET /`.
    Index,
    /// `/openapi.json`.
    OpenApi,
    /// `/metrics` (never counted).
    Metrics,
    /// Any path without a route (404).
    Unmatched,
}

impl Endpoint {
    /// Number of endpoints, for per-endpoint tables.
    pub(super) const COUNT: usize = Endpoint::Unmatched as usize + 1;

    /// The `route` label: the route's path template.
    pub fn route(self) -> &'static str {
        match self {
            Endpoint::Predict => "/predict",
            Endpoint::CloudEvents | Endpoint::Index => "/",
            Endpoint::V1Predict => "/v1/models/{name}:predict",
            Endpoint::V1Models => "/v1/models",
            Endpoint::V1Model => "/v1/models/{name}",
            Endpoint::V2Infer => "/v2/models/{name}/infer",
            Endpoint::V2Server => "/v2",
            Endpoint::V2Health => "/v2/health",
            Endpoint::V2Model => "/v2/models/{name}",
            Endpoint::V2ModelReady => "/v2/models/{name}/ready",
            Endpoint::Live => "/healthz",
            Endpoint::Ready => "/readyz",
            Endpoint::OpenApi => "/openapi.json",
            Endpoint::Metrics => "/metrics",
            Endpoint::Unmatched => "unmatched",
        }
    }

    /// The `protocol` label: which API the route belongs to.
    pub fn protocol(self) -> &'static str {
        match self {
            Endpoint::Predict => "predict",
            Endpoint::CloudEvents => "cloudevents",
            Endpoint::V1Predict | Endpoint::V1Models | Endpoint::V1Model => "kserve_v1",
            Endpoint::V2Infer
            | Endpoint::V2Server
            | Endpoint::V2Health
            | Endpoint::V2Model
            | Endpoint::V2ModelReady => "open_inference_v2",
            Endpoint::Live | Endpoint::Ready => "health",
            Endpoint::Index | Endpoint::OpenApi | Endpoint::Metrics => "info",
            Endpoint::Unmatched => "none",
        }
    }

    /// Whether the route runs the model, so its errors are prediction errors.
    pub fn predicts(self) -> bool {
        matches!(
            self,
            Endpoint::Predict | Endpoint::CloudEvents | Endpoint::V1Predict | Endpoint::V2Infer
        )
    }
}

/// Why a request was refused, as the `kind` label of `model_prediction_errors_total`.
/// [`crate::error::ApiError`] attaches it to its response as an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorKind(pub &'static str);
