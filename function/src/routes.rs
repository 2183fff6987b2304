//! The one route table: every path the function answers, the methods it takes, the
//! labels it is counted under and what it is for. Parsing, `Allow`, metric labels,
//! `GET /` and the OpenAPI paths all read [`ROUTES`]; `crate::http::router` maps each
//! [`Endpoint`] to its handler. GET routes answer HEAD too; `{name}` is the served
//! model's name, `{version}` its version.

use hyper::Method;

/// What a request asks for: one row of [`ROUTES`], or no route at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /predict`: the tutorial's contract.
    Predict,
    /// `GET /healthz`, `/health/liveness`.
    Live,
    /// `GET /readyz`, `/health/readiness`.
    Ready,
    /// `GET /`: the model and route summary.
    Index,
    /// `POST /`: CloudEvents.
    CloudEvents,
    /// `GET /openapi.json`.
    OpenApi,
    /// `GET /metrics` (never counted in the metrics).
    Metrics,
    /// `GET /v1/models`.
    V1Models,
    /// `POST /v1/models/{name}:predict`.
    V1Predict,
    /// `POST /v1/models/{name}:explain`.
    V1Explain,
    /// `GET /v1/models/{name}`.
    V1Model,
    /// `GET /v2`.
    V2Server,
    /// `GET /v2/health/live`.
    V2Live,
    /// `GET /v2/health/ready`.
    V2Ready,
    /// `GET /v2/models/{name}[/versions/{version}]/ready`.
    V2ModelReady,
    /// `POST /v2/models/{name}[/versions/{version}]/infer`.
    V2Infer,
    /// `GET /v2/models/{name}[/versions/{version}]`.
    V2Model,
    /// Any path without a route (404).
    Unmatched,
}

/// The methods a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Methods {
    /// GET, and HEAD (the same answer without a body).
    Get,
    /// POST.
    Post,
}

impl Methods {
    /// Whether `method` is one of these.
    fn admit(self, method: &Method) -> bool {
        match self {
            Methods::Get => method == Method::GET || method == Method::HEAD,
            Methods::Post => method == Method::POST,
        }
    }
}

/// One path of a route, as written in the documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    /// The path, with `{name}` and `{version}` for the parts a request fills in; a part
    /// may end in a literal (`{name}:predict`).
    pub template: &'static str,
    /// The OpenAPI `operationId` of this path's operation (`...Head` for HEAD).
    pub operation_id: &'static str,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// What the route does; rows are in [`Endpoint`] order.
    pub endpoint: Endpoint,
    /// The methods it takes. Rows with the same paths are one resource: a method none of
    /// them takes gets 405 with the methods they take together.
    pub methods: Methods,
    /// The paths it answers on.
    pub paths: &'static [Path],
    /// The `route` metric label: one template for all the paths, never a request's own
    /// path, so that no client can create new series.
    pub label: &'static str,
    /// The `protocol` metric label: which API the route belongs to.
    pub protocol: &'static str,
    /// Whether it runs the model, so that its refusals are prediction errors.
    pub predicts: bool,
    /// What it is for, in `GET /` and as the OpenAPI summary.
    pub summary: &'static str,
}

const fn path(template: &'static str, operation_id: &'static str) -> Path {
    Path {
        template,
        operation_id,
    }
}

/// Every route. Matching takes the first row with a path that fits, so a more specific
/// path comes before a more general one (`{name}:predict` before `{name}`); rows that
/// share their paths (`GET /` and `POST /`) are next to each other.
pub static ROUTES: [Route; Endpoint::Unmatched as usize] = [
    Route {
        endpoint: Endpoint::Predict,
        methods: Methods::Post,
        paths: &[path("/predict", "predict")],
        label: "/predict",
        protocol: "predict",
        predicts: true,
        summary: r#"The tutorial's contract: {"input":[...features]} or {"input":[[...],[...]]}, or records {"input":[{"column":value,...}]}; ?probabilities=true adds class probabilities"#,
    },
    Route {
        endpoint: Endpoint::Live,
        methods: Methods::Get,
        paths: &[path("/healthz", "healthz"), path("/health/liveness", "liveness")],
        label: "/healthz",
        protocol: "health",
        predicts: false,
        summary: "Liveness",
    },
    Route {
        endpoint: Endpoint::Ready,
        methods: Methods::Get,
        paths: &[path("/readyz", "readyz"), path("/health/readiness", "readiness")],
        label: "/readyz",
        protocol: "health",
        predicts: false,
        summary: "Readiness",
    },
    Route {
        endpoint: Endpoint::Index,
        methods: Methods::Get,
        paths: &[path("/", "index")],
        label: "/",
        protocol: "info",
        predicts: false,
        summary: "Model and route summary",
    },
    Route {
        endpoint: Endpoint::CloudEvents,
        methods: Methods::Post,
        paths: &[path("/", "cloudEvent")],
        label: "/",
        protocol: "cloudevents",
        predicts: true,
        summary: r#"CloudEvents, binary or structured mode, data {"input":[...]}; the reply is an event too"#,
    },
    Route {
        endpoint: Endpoint::OpenApi,
        methods: Methods::Get,
        paths: &[path("/openapi.json", "openapi")],
        label: "/openapi.json",
        protocol: "info",
        predicts: false,
        summary: "OpenAPI 3 document of every route",
    },
    Route {
        endpoint: Endpoint::Metrics,
        methods: Methods::Get,
        paths: &[path("/metrics", "metrics")],
        label: "/metrics",
        protocol: "info",
        predicts: false,
        summary: "Prometheus metrics (text format 0.0.4; OpenMetrics 1.0 when Accept asks for application/openmetrics-text)",
    },
    Route {
        endpoint: Endpoint::V1Models,
        methods: Methods::Get,
        paths: &[path("/v1/models", "v1ListModels")],
        label: "/v1/models",
        protocol: "kserve_v1",
        predicts: false,
        summary: "KServe V1: the served models",
    },
    Route {
        endpoint: Endpoint::V1Predict,
        methods: Methods::Post,
        paths: &[path("/v1/models/{name}:predict", "v1Predict")],
        label: "/v1/models/{name}:predict",
        protocol: "kserve_v1",
        predicts: true,
        summary: "KServe V1: one prediction per instance",
    },
    Route {
        endpoint: Endpoint::V1Explain,
        methods: Methods::Post,
        paths: &[path("/v1/models/{name}:explain", "v1Explain")],
        label: "/v1/models/{name}:explain",
        protocol: "kserve_v1",
        predicts: true,
        summary: "KServe V1: each instance's SHAP values (tree ensembles with node covers)",
    },
    Route {
        endpoint: Endpoint::V1Model,
        methods: Methods::Get,
        paths: &[path("/v1/models/{name}", "v1ModelReady")],
        label: "/v1/models/{name}",
        protocol: "kserve_v1",
        predicts: false,
        summary: "KServe V1: model readiness",
    },
    Route {
        endpoint: Endpoint::V2Server,
        methods: Methods::Get,
        paths: &[path("/v2", "v2ServerMetadata")],
        label: "/v2",
        protocol: "open_inference_v2",
        predicts: false,
        summary: "V2: server metadata",
    },
    Route {
        endpoint: Endpoint::V2Live,
        methods: Methods::Get,
        paths: &[path("/v2/health/live", "v2Live")],
        label: "/v2/health/live",
        protocol: "open_inference_v2",
        predicts: false,
        summary: "V2: server liveness",
    },
    Route {
        endpoint: Endpoint::V2Ready,
        methods: Methods::Get,
        paths: &[path("/v2/health/ready", "v2Ready")],
        label: "/v2/health/ready",
        protocol: "open_inference_v2",
        predicts: false,
        summary: "V2: server readiness",
    },
    Route {
        endpoint: Endpoint::V2ModelReady,
        methods: Methods::Get,
        paths: &[
            path("/v2/models/{name}/ready", "v2ModelReady"),
            path(
                "/v2/models/{name}/versions/{version}/ready",
                "v2ModelReadyVersion",
            ),
        ],
        label: "/v2/models/{name}/ready",
        protocol: "open_inference_v2",
        predicts: false,
        summary: "V2: model readiness",
    },
    Route {
        endpoint: Endpoint::V2Infer,
        methods: Methods::Post,
        paths: &[
            path("/v2/models/{name}/infer", "v2Infer"),
            path(
                "/v2/models/{name}/versions/{version}/infer",
                "v2InferVersion",
            ),
        ],
        label: "/v2/models/{name}/infer",
        protocol: "open_inference_v2",
        predicts: true,
        summary: "V2: inference",
    },
    Route {
        endpoint: Endpoint::V2Model,
        methods: Methods::Get,
        paths: &[
            path("/v2/models/{name}", "v2ModelMetadata"),
            path(
                "/v2/models/{name}/versions/{version}",
                "v2ModelMetadataVersion",
            ),
        ],
        label: "/v2/models/{name}",
        protocol: "open_inference_v2",
        predicts: false,
        summary: "V2: model metadata",
    },
];

impl Route {
    /// Whether `other` answers on the same paths (one resource, other methods).
    fn same_paths(&self, other: &Route) -> bool {
        let templates = |route: &Route| route.paths.iter().map(|path| path.template);
        templates(self).eq(templates(other))
    }
}

impl Endpoint {
    /// Number of endpoints, [`Endpoint::Unmatched`] included, for per-endpoint tables.
    pub const COUNT: usize = Endpoint::Unmatched as usize + 1;

    /// Its row of [`ROUTES`]; `None` for [`Endpoint::Unmatched`].
    pub fn route(self) -> Option<&'static Route> {
        ROUTES.get(self as usize)
    }

    /// The `route` metric label (see [`Route::label`]).
    pub fn label(self) -> &'static str {
        self.route().map_or("unmatched", |route| route.label)
    }

    /// The `protocol` metric label (see [`Route::protocol`]).
    pub fn protocol(self) -> &'static str {
        self.route().map_or("none", |route| route.protocol)
    }

    /// Whether the route runs the model (see [`Route::predicts`]).
    pub fn predicts(self) -> bool {
        self.route().is_some_and(|route| route.predicts)
    }
}

/// A gRPC method the function answers (`POST /package.Service/Method` with a
/// `content-type: application/grpc*`, on the same port as the routes above; see
/// `crate::http::grpc`). Counted in the metrics like a route, under `protocol="grpc"`
/// and the method's path as the `route` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcMethod {
    /// `inference.GRPCInferenceService/ServerLive`.
    ServerLive,
    /// `inference.GRPCInferenceService/ServerReady`.
    ServerReady,
    /// `inference.GRPCInferenceService/ModelReady`.
    ModelReady,
    /// `inference.GRPCInferenceService/ServerMetadata`.
    ServerMetadata,
    /// `inference.GRPCInferenceService/ModelMetadata`.
    ModelMetadata,
    /// `inference.GRPCInferenceService/ModelInfer`.
    ModelInfer,
    /// `grpc.health.v1.Health/Check`: what Kubernetes' gRPC probes call.
    HealthCheck,
    /// Any other path: UNIMPLEMENTED.
    Unknown,
}

/// The path of each [`GrpcMethod`] but `Unknown`, in its order.
pub const GRPC_PATHS: [&str; GrpcMethod::Unknown as usize] = [
    "/inference.GRPCInferenceService/ServerLive",
    "/inference.GRPCInferenceService/ServerReady",
    "/inference.GRPCInferenceService/ModelReady",
    "/inference.GRPCInferenceService/ServerMetadata",
    "/inference.GRPCInferenceService/ModelMetadata",
    "/inference.GRPCInferenceService/ModelInfer",
    "/grpc.health.v1.Health/Check",
];

impl GrpcMethod {
    /// Number of methods, `Unknown` included, for per-method tables.
    pub const COUNT: usize = GrpcMethod::Unknown as usize + 1;
    /// The `protocol` metric label of every gRPC call.
    pub const PROTOCOL: &'static str = "grpc";
    const ALL: [GrpcMethod; GrpcMethod::Unknown as usize] = [
        GrpcMethod::ServerLive,
        GrpcMethod::ServerReady,
        GrpcMethod::ModelReady,
        GrpcMethod::ServerMetadata,
        GrpcMethod::ModelMetadata,
        GrpcMethod::ModelInfer,
        GrpcMethod::HealthCheck,
    ];

    /// The method a request path names.
    pub fn resolve(path: &str) -> GrpcMethod {
        let at = GRPC_PATHS.iter().position(|known| *known == path);
        at.map_or(GrpcMethod::Unknown, |at| GrpcMethod::ALL[at])
    }

    /// The `route` metric label: the method's path, `unmatched` for any other.
    pub fn label(self) -> &'static str {
        GRPC_PATHS
            .get(self as usize)
            .copied()
            .unwrap_or("unmatched")
    }

    /// Whether the method runs the model, so that its refusals are prediction errors.
    pub fn predicts(self) -> bool {
        self == GrpcMethod::ModelInfer
    }
}

/// Where a part of the request's path is, as a byte range of the path.
pub type Span = (usize, usize);

/// The route a request takes, found once per request by [`resolve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// The route, or [`Endpoint::Unmatched`]. For a method the path does not take, the
    /// path's first route (so a wrong method is counted under the path's label).
    pub endpoint: Endpoint,
    /// Whether the path takes the request's method.
    pub allowed: bool,
    /// The `{name}` part of the path, if its template has one.
    pub name: Option<Span>,
    /// The `{version}` part of the path, if its template has one.
    pub version: Option<Span>,
}

impl Resolved {
    /// The methods the path takes, for `Allow`.
    pub fn allow(&self) -> &'static str {
        let Some(first) = self.endpoint.route() else {
            return "";
        };
        let shared = ROUTES[first.endpoint as usize..]
            .iter()
            .take_while(|route| route.same_paths(first));
        let (mut get, mut post) = (false, false);
        for route in shared {
            get |= route.methods == Methods::Get;
            post |= route.methods == Methods::Post;
        }
        match (get, post) {
            (true, true) => "GET, HEAD, POST",
            (false, true) => "POST",
            _ => "GET, HEAD",
        }
    }
}

/// The route `method` and `path` take.
pub fn resolve(method: &Method, path: &str) -> Resolved {
    let unmatched = Resolved {
        endpoint: Endpoint::Unmatched,
        allowed: false,
        name: None,
        version: None,
    };
    let Some((at, captures)) = ROUTES.iter().enumerate().find_map(|(at, route)| {
        route
            .paths
            .iter()
            .find_map(|p| captures(p.template, path))
            .map(|captures| (at, captures))
    }) else {
        return unmatched;
    };
    let first = &ROUTES[at];
    let chosen = ROUTES[at..]
        .iter()
        .take_while(|route| route.same_paths(first))
        .find(|route| route.methods.admit(method));
    Resolved {
        endpoint: chosen.unwrap_or(first).endpoint,
        allowed: chosen.is_some(),
        name: captures.name,
        version: captures.version,
    }
}

/// The parts of a path its template leaves open.
#[derive(Debug, Default)]
struct Captures {
    name: Option<Span>,
    version: Option<Span>,
}

/// The parts `path` fills in `template`, if it fits: literal parts must be equal, and a
/// `{part}` (followed by an optional literal, as in `{name}:predict`) must be a
/// non-empty path segment.
fn captures(template: &str, path: &str) -> Option<Captures> {
    if !template.contains('{') {
        return (template == path).then(Captures::default);
    }
    let mut found = Captures::default();
    let mut segments = path.split('/');
    let mut offset = 0;
    for pattern in template.split('/') {
        let segment = segments.next()?;
        let start = offset;
        offset += segment.len() + 1;
        let Some(open) = pattern.strip_prefix('{') else {
            if pattern != segment {
                return None;
            }
            continue;
        };
        let (param, suffix) = open.split_once('}')?;
        let value = segment.strip_suffix(suffix)?;
        if value.is_empty() {
            return None;
        }
        let span = Some((start, start + value.len()));
        match param {
            "name" => found.name = span,
            "version" => found.version = span,
            _ => return None,
        }
    }
    segments.next().is_none().then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The endpoint and the captured parts of `path` for `method`.
    fn parse(method: Method, path: &str) -> (Endpoint, bool, Option<&str>, Option<&str>) {
        let resolved = resolve(&method, path);
        let part = |span: Option<Span>| span.map(|(from, to)| &path[from..to]);
        (
            resolved.endpoint,
            resolved.allowed,
            part(resolved.name),
            part(resolved.version),
        )
    }

    #[test]
    fn rows_are_in_endpoint_order() {
        for (at, route) in ROUTES.iter().enumerate() {
            assert_eq!(route.endpoint as usize, at, "{:?}", route.endpoint);
        }
    }

    #[test]
    fn every_documented_path_resolves_to_its_own_route() {
        for route in &ROUTES {
            for path in route.paths {
                let filled = path
                    .template
                    .replace("{name}", "m")
                    .replace("{version}", "2");
                let method = match route.methods {
                    Methods::Get => Method::GET,
                    Methods::Post => Method::POST,
                };
                let resolved = resolve(&method, &filled);
                assert_eq!(resolved.endpoint, route.endpoint, "{filled}");
                assert!(resolved.allowed, "{filled}");
            }
        }
    }

    #[test]
    fn parses_v1_paths() {
        assert_eq!(
            parse(Method::GET, "/v1/models"),
            (Endpoint::V1Models, true, None, None)
        );
        assert_eq!(
            parse(Method::GET, "/v1/models/iris"),
            (Endpoint::V1Model, true, Some("iris"), None)
        );
        assert_eq!(
            parse(Method::POST, "/v1/models/iris:predict"),
            (Endpoint::V1Predict, true, Some("iris"), None)
        );
        assert_eq!(parse(Method::GET, "/v1/models/a/b").0, Endpoint::Unmatched);
        assert_eq!(parse(Method::GET, "/v1/models/").0, Endpoint::Unmatched);
    }

    #[test]
    fn parses_v2_paths_with_and_without_version() {
        assert_eq!(parse(Method::GET, "/v2").0, Endpoint::V2Server);
        assert_eq!(
            parse(Method::GET, "/v2/models/m"),
            (Endpoint::V2Model, true, Some("m"), None)
        );
        assert_eq!(
            parse(Method::GET, "/v2/models/m/versions/1"),
            (Endpoint::V2Model, true, Some("m"), Some("1"))
        );
        assert_eq!(
            parse(Method::GET, "/v2/models/m/ready"),
            (Endpoint::V2ModelReady, true, Some("m"), None)
        );
        assert_eq!(
            parse(Method::POST, "/v2/models/m/versions/2/infer"),
            (Endpoint::V2Infer, true, Some("m"), Some("2"))
        );
        // A model may be called "infer"; only a trailing segment is an action.
        assert_eq!(
            parse(Method::GET, "/v2/models/infer"),
            (Endpoint::V2Model, true, Some("infer"), None)
        );
        for missing in [
            "/v2/models/",
            "/v2/models/m/versions",
            "/v2/models/m/x",
            "/v2/",
            "/v2/models/m/versions//ready",
        ] {
            assert_eq!(
                parse(Method::GET, missing).0,
                Endpoint::Unmatched,
                "{missing}"
            );
        }
    }

    #[test]
    fn a_method_the_path_does_not_take_names_the_ones_it_does() {
        let wrong = resolve(&Method::GET, "/v2/models/m/infer");
        assert_eq!((wrong.endpoint, wrong.allowed), (Endpoint::V2Infer, false));
        assert_eq!(wrong.allow(), "POST");
        let root = resolve(&Method::PUT, "/");
        assert_eq!((root.endpoint, root.allowed), (Endpoint::Index, false));
        assert_eq!(root.allow(), "GET, HEAD, POST");
        assert_eq!(resolve(&Method::POST, "/").endpoint, Endpoint::CloudEvents);
        assert_eq!(resolve(&Method::HEAD, "/").endpoint, Endpoint::Index);
        assert_eq!(
            resolve(&Method::DELETE, "/v2/models/m").allow(),
            "GET, HEAD"
        );
    }

    /// Two routes share their series only when they are one resource (`GET /` and
    /// `POST /`, told apart by `protocol`): liveness and readiness are never summed.
    #[test]
    fn routes_on_different_paths_are_counted_apart() {
        for (at, route) in ROUTES.iter().enumerate() {
            for other in &ROUTES[at + 1..] {
                assert!(
                    route.label != other.label || route.same_paths(other),
                    "{:?} and {:?} share the label {}",
                    route.endpoint,
                    other.endpoint,
                    route.label
                );
            }
            assert!(
                route.paths.iter().any(|path| path.template == route.label),
                "{:?}: the label {} is not one of its paths",
                route.endpoint,
                route.label
            );
        }
    }

    #[test]
    fn grpc_methods_resolve_by_their_whole_path() {
        for (at, path) in GRPC_PATHS.iter().enumerate() {
            let method = GrpcMethod::resolve(path);
            assert_eq!(method as usize, at, "{path}");
            assert_eq!(method.label(), *path);
        }
        let infer = GrpcMethod::resolve("/inference.GRPCInferenceService/ModelInfer");
        assert!(infer.predicts() && !GrpcMethod::ServerLive.predicts());
        for other in ["/inference.GRPCInferenceService/ModelStreamInfer", "/", ""] {
            assert_eq!(GrpcMethod::resolve(other), GrpcMethod::Unknown, "{other}");
        }
        assert_eq!(GrpcMethod::Unknown.label(), "unmatched");
    }

    #[test]
    fn labels_are_templates_never_the_request_path() {
        let resolved = resolve(&Method::POST, "/v2/models/anything/versions/9/infer");
        assert_eq!(resolved.endpoint.label(), "/v2/models/{name}/infer");
        assert_eq!(resolved.endpoint.protocol(), "open_inference_v2");
        assert_eq!(Endpoint::Unmatched.label(), "unmatched");
        assert!(Endpoint::V2Infer.predicts() && !Endpoint::V2Model.predicts());
    }
}
