//! Prometheus metrics: what the function counts, the label values it counts them under,
//! and `GET /metrics` in the Prometheus text format (0.0.4) or OpenMetrics.
//!
//! - `model_info`: `model_info`, the model's size and load time.
//!
//! The `route` and `protocol` label values are the route table's ([`crate::routes`]);
//! a gRPC call is counted under its method's path and `protocol="grpc"`.
//! - [`process`]: start time, memory, file descriptors and CPU of the process.
//!
//! Exported (names follow Prometheus' conventions; KServe's and MLServer's closest
//! names in brackets):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `route`, `protocol`, `code_class` |
//! | `http_request_duration_seconds` | histogram | `route`, `protocol` |
//! | `http_requests_in_flight` | gauge | |
//! | `http_requests_in_flight_bytes`, `http_requests_in_flight_bytes_max` | gauge | |
//! | `http_requests_memory_refused_total` | counter | |
//! | `model_inference_duration_seconds` (KServe `request_predict_seconds`) | histogram | |
//! | `model_predicted_rows_total` | counter | |
//! | `model_explain_duration_seconds` | histogram | |
//! | `model_explained_rows_total` | counter | |
//! | `model_prediction_errors_total` (MLServer `model_infer_request_failure`) | counter | `protocol`, `kind` |
//! | `model_info` | info (1) | `name`, `version`, `operator`, `producer` |
//! | `model_features`, `model_classes`, `model_trees`, `model_tree_nodes` | gauge | |
//! | `model_load_duration_seconds` | gauge | |
//! | `process_*` | see [`process`] | |
//! | `payload_events_sent_total`, `payload_events_failed_total` | counter | |
//! | `payload_events_dropped_total` | counter | `reason` ([`DropReason`]) |
//!
//! Scrapes of `/metrics` are not counted: each would count itself, and a Prometheus
//! scraping every few seconds would show up as traffic and as one request in flight.

mod budget;
mod model_info;
mod payload_events;
pub mod process;

pub use payload_events::{DropReason, PayloadEvents};

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header, HeaderMap, Response, StatusCode};
use prometheus_client::encoding::{prometheus_text, text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use model::Model;

use crate::error::ErrorKind;
use crate::routes::{Endpoint, GrpcMethod};

/// OpenMetrics 1.0, sent when the scraper's `Accept` asks for it (Prometheus does).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets from 5 us (a one-row prediction takes ~2-30 us) doubling to ~10 s
/// (the longest a request may start answering in, per the Knative manifest).
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(5e-6, 2.0, 22)
}

fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    protocol: &'static str,
    code_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    protocol: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    protocol: &'static str,
    kind: &'static str,
}

/// Status classes `1xx`..`5xx`, indexed by the first digit minus one.
const CODE_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// Every metric the function keeps, in one registry per served model.
///
/// The hot path touches only atomics and one uncontended lock per histogram: label sets
/// are static strings, and the series of each route are looked up once, then kept here.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<RouteLabels>,
    errors: Family<ErrorLabels, Counter>,
    in_flight: Gauge,
    inference: Histogram,
    rows: Counter,
    explain: Histogram,
    explained_rows: Counter,
    payload_events: PayloadEvents,
    /// Series handles by endpoint (and status class), created at first use so that only
    /// routes that were called have series.
    request_series: [[OnceLock<Counter>; 5]; Endpoint::COUNT],
    duration_series: [OnceLock<Histogram>; Endpoint::COUNT],
    /// The same for gRPC methods.
    grpc_request_series: [[OnceLock<Counter>; 5]; GrpcMethod::COUNT],
    grpc_duration_series: [OnceLock<Histogram>; GrpcMethod::COUNT],
}

/// What a request is counted under: its route's labels, and its cached series.
struct Counted<'a> {
    route: &'static str,
    protocol: &'static str,
    predicts: bool,
    requests: &'a [OnceLock<Counter>; 5],
    duration: &'a OnceLock<Histogram>,
}

impl Metrics {
    /// The registry for `model`, served as `name` version `version`, which took `load`
    /// to load, in a process started at `started`.
    pub fn new(
        model: &Model,
        name: &str,
        version: &str,
        load: Duration,
        started: SystemTime,
    ) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, protocol and status class (1xx..5xx); /metrics scrapes are not counted",
            requests.clone(),
        );
        let durations: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request's head to its response being ready (body read, decode, model, encode)",
            durations.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being handled now, /metrics scrapes excepted",
            in_flight.clone(),
        );
        let inference = latency_histogram();
        registry.register(
            "model_inference_duration_seconds",
            "Time the model takes to predict one batch, without decoding or encoding",
            inference.clone(),
        );
        let rows = Counter::default();
        registry.register(
            "model_predicted_rows",
            "Rows the model has predicted (a batch of n rows counts n)",
            rows.clone(),
        );
        let explain = latency_histogram();
        registry.register(
            "model_explain_duration_seconds",
            "Time the model takes to explain one batch (SHAP values), without decoding or encoding",
            explain.clone(),
        );
        let explained_rows = Counter::default();
        registry.register(
            "model_explained_rows",
            "Rows the model has explained (a batch of n rows counts n)",
            explained_rows.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "model_prediction_errors",
            "Prediction requests refused or failed, by protocol and kind (invalid_request, unknown_model, payload_too_large, unsupported_media_type, method_not_allowed: the client's; timeout: no full request in time; overloaded: too many requests at once; internal: the model failed or a handler panicked)",
            errors.clone(),
        );
        let payload_events = PayloadEvents::default();
        payload_events.register(&mut registry);
        model_info::register(&mut registry, model, name, version, load);
        registry.register_collector(Box::new(process::ProcessCollector::new(started)));
        Metrics {
            registry,
            requests,
            durations,
            errors,
            in_flight,
            inference,
            rows,
            explain,
            explained_rows,
            payload_events,
            request_series: Default::default(),
            duration_series: Default::default(),
            grpc_request_series: Default::default(),
            grpc_duration_series: Default::default(),
        }
    }

    /// Exports `budget`: its size, what requests hold of it, and its refusals.
    pub fn register_budget(&mut self, budget: std::sync::Arc<crate::budget::MemoryBudget>) {
        self.registry
            .register_collector(Box::new(budget::BudgetCollector(budget)));
    }

    /// Counts a request as in flight until the returned guard is dropped (also when the
    /// client goes away and the request's future is dropped mid-way).
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Records a finished request.
    pub fn record_request(
        &self,
        endpoint: Endpoint,
        status: StatusCode,
        error: Option<ErrorKind>,
        elapsed: Duration,
    ) {
        let counted = Counted {
            route: endpoint.label(),
            protocol: endpoint.protocol(),
            predicts: endpoint.predicts(),
            requests: &self.request_series[endpoint as usize],
            duration: &self.duration_series[endpoint as usize],
        };
        self.record(counted, status, error, elapsed);
    }

    /// Records a finished gRPC call. Its HTTP status is always 200, so `status` is the
    /// one its REST twin would get (INVALID_ARGUMENT: 400, UNAVAILABLE: 503, ...): the
    /// `code_class` then reads the same across protocols.
    pub fn record_grpc(
        &self,
        method: GrpcMethod,
        status: StatusCode,
        error: Option<ErrorKind>,
        elapsed: Duration,
    ) {
        let counted = Counted {
            route: method.label(),
            protocol: GrpcMethod::PROTOCOL,
            predicts: method.predicts(),
            requests: &self.grpc_request_series[method as usize],
            duration: &self.grpc_duration_series[method as usize],
        };
        self.record(counted, status, error, elapsed);
    }

    fn record(
        &self,
        counted: Counted<'_>,
        status: StatusCode,
        error: Option<ErrorKind>,
        elapsed: Duration,
    ) {
        let class = usize::from(status.as_u16() / 100)
            .clamp(1, 5)
            .saturating_sub(1);
        counted.requests[class]
            .get_or_init(|| {
                self.requests.get_or_create_owned(&RequestLabels {
                    route: counted.route,
                    protocol: counted.protocol,
                    code_class: CODE_CLASSES[class],
                })
            })
            .inc();
        counted
            .duration
            .get_or_init(|| {
                self.durations.get_or_create_owned(&RouteLabels {
                    route: counted.route,
                    protocol: counted.protocol,
                })
            })
            .observe(elapsed.as_secs_f64());
        if let Some(ErrorKind(kind)) = error.filter(|_| counted.predicts) {
            // Errors are rare: the family lookup is fine here.
            self.errors
                .get_or_create(&ErrorLabels {
                    protocol: counted.protocol,
                    kind,
                })
                .inc();
        }
    }

    /// Records one successful model run over `rows` rows.
    pub fn record_inference(&self, rows: usize, elapsed: Duration) {
        self.inference.observe(elapsed.as_secs_f64());
        self.rows.inc_by(rows as u64);
    }

    /// Records one explanation of `rows` rows.
    pub fn record_explanation(&self, rows: usize, elapsed: Duration) {
        self.explain.observe(elapsed.as_secs_f64());
        self.explained_rows.inc_by(rows as u64);
    }

    /// The payload log's counters (`crate::payload_log`).
    pub fn payload_events(&self) -> &PayloadEvents {
        &self.payload_events
    }

    /// Encodes every metric: OpenMetrics if `accept` asks for it, else the Prometheus
    /// text format 0.0.4 (what a parser of "the Prometheus format" expects).
    pub fn encode(&self, accept: Option<&str>) -> (&'static str, String) {
        let openmetrics = accept.is_some_and(|a| a.contains("application/openmetrics-text"));
        let mut body = String::with_capacity(16 * 1024);
        let encoded = if openmetrics {
            text::encode(&mut body, &self.registry)
        } else {
            prometheus_text::encode(&mut body, &self.registry)
        };
        // Writing to a String cannot fail; a collector that fails leaves its part out.
        if let Err(error) = encoded {
            tracing::warn!(%error, "a metric could not be encoded");
        }
        let content_type = if openmetrics {
            OPENMETRICS_CONTENT_TYPE
        } else {
            prometheus_text::CONTENT_TYPE
        };
        (content_type, body)
    }

    /// The `GET /metrics` response.
    pub fn respond(&self, headers: &HeaderMap) -> Response<Full<Bytes>> {
        let accept = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok());
        let (content_type, body) = self.encode(accept);
        let mut response = Response::new(Full::new(Bytes::from(body)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type),
        );
        response
    }
}

/// Decrements `http_requests_in_flight` when dropped.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::BUNDLED_MODEL;

    fn metrics() -> Metrics {
        let model = Model::from_bytes(BUNDLED_MODEL).unwrap();
        Metrics::new(
            &model,
            "iris",
            "1",
            Duration::from_millis(3),
            SystemTime::now(),
        )
    }

    /// The value of the sample `name{labels}` in Prometheus text, labels as written.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.parse().unwrap())
    }

    #[test]
    fn counts_requests_by_route_and_status_class() {
        let metrics = metrics();
        for status in [StatusCode::OK, StatusCode::OK, StatusCode::BAD_REQUEST] {
            metrics.record_request(Endpoint::Predict, status, None, Duration::from_micros(30));
        }
        let (_, text) = metrics.encode(None);
        let series = |class: &str| {
            format!(
                r#"http_requests_total{{route="/predict",protocol="predict",code_class="{class}"}}"#
            )
        };
        assert_eq!(sample(&text, &series("2xx")), Some(2.0));
        assert_eq!(sample(&text, &series("4xx")), Some(1.0));
        assert_eq!(
            sample(&text, &series("5xx")),
            None,
            "no 5xx series before a 5xx"
        );
        let count = r#"http_request_duration_seconds_count{route="/predict",protocol="predict"}"#;
        assert_eq!(sample(&text, count), Some(3.0));
        // 30 us: above the 20 us bucket (5 us doubled twice), within the 40 us one.
        let bucket = |le: &str| {
            format!(
                r#"http_request_duration_seconds_bucket{{route="/predict",protocol="predict",le="{le}"}}"#
            )
        };
        assert_eq!(sample(&text, &bucket("2e-05")), Some(0.0), "{text}");
        assert_eq!(sample(&text, &bucket("4e-05")), Some(3.0), "{text}");
    }

    #[test]
    fn prediction_errors_count_only_on_prediction_routes() {
        let metrics = metrics();
        let invalid = Some(ErrorKind("invalid_request"));
        metrics.record_request(
            Endpoint::V2Infer,
            StatusCode::BAD_REQUEST,
            invalid,
            Duration::ZERO,
        );
        metrics.record_request(
            Endpoint::V1Model,
            StatusCode::NOT_FOUND,
            invalid,
            Duration::ZERO,
        );
        let (_, text) = metrics.encode(None);
        let errors: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("model_prediction_errors_total"))
            .collect();
        assert_eq!(
            errors,
            [
                r#"model_prediction_errors_total{protocol="open_inference_v2",kind="invalid_request"} 1"#
            ]
        );
    }

    #[test]
    fn grpc_calls_are_counted_under_their_method_and_protocol_grpc() {
        let metrics = metrics();
        let invalid = Some(ErrorKind("invalid_request"));
        let infer = GrpcMethod::ModelInfer;
        metrics.record_grpc(infer, StatusCode::OK, None, Duration::ZERO);
        metrics.record_grpc(infer, StatusCode::BAD_REQUEST, invalid, Duration::ZERO);
        metrics.record_grpc(GrpcMethod::ServerLive, StatusCode::OK, None, Duration::ZERO);
        let (_, text) = metrics.encode(None);
        let series = |method: &str, class: &str| {
            format!(
                r#"http_requests_total{{route="/inference.GRPCInferenceService/{method}",protocol="grpc",code_class="{class}"}}"#
            )
        };
        assert_eq!(sample(&text, &series("ModelInfer", "2xx")), Some(1.0));
        assert_eq!(sample(&text, &series("ModelInfer", "4xx")), Some(1.0));
        assert_eq!(sample(&text, &series("ServerLive", "2xx")), Some(1.0));
        let errors = r#"model_prediction_errors_total{protocol="grpc",kind="invalid_request"}"#;
        assert_eq!(sample(&text, errors), Some(1.0));
    }

    #[test]
    fn in_flight_drops_back_when_the_guard_goes() {
        let metrics = metrics();
        let first = metrics.in_flight();
        let second = metrics.in_flight();
        assert_eq!(metrics.in_flight.get(), 2);
        drop(first);
        drop(second);
        assert_eq!(metrics.in_flight.get(), 0);
    }

    #[test]
    fn exports_the_memory_budget_and_its_use() {
        let model = Model::from_bytes(BUNDLED_MODEL).unwrap();
        let mut metrics = metrics();
        let budget = crate::budget::MemoryBudget::new(1000, model.info(), 10);
        metrics.register_budget(std::sync::Arc::clone(&budget));
        let held = budget.reserve(300).unwrap();
        assert!(budget.reserve(800).is_err());
        let (_, text) = metrics.encode(None);
        assert_eq!(
            sample(&text, "http_requests_in_flight_bytes_max"),
            Some(1000.0)
        );
        assert_eq!(sample(&text, "http_requests_in_flight_bytes"), Some(300.0));
        assert_eq!(
            sample(&text, "http_requests_memory_refused_total"),
            Some(1.0)
        );
        drop(held);
        let (_, text) = metrics.encode(None);
        assert_eq!(sample(&text, "http_requests_in_flight_bytes"), Some(0.0));
    }

    #[test]
    fn describes_the_model() {
        let (_, text) = metrics().encode(None);
        let info = text.lines().find(|l| l.starts_with("model_info{")).unwrap();
        assert!(
            info.contains(r#"name="iris""#)
                && info.contains(r#"operator="TreeEnsembleClassifier""#),
            "{info}"
        );
        assert_eq!(sample(&text, "model_features"), Some(4.0));
        assert_eq!(sample(&text, "model_classes"), Some(3.0));
        assert_eq!(sample(&text, "model_trees"), Some(100.0));
        assert_eq!(sample(&text, "model_load_duration_seconds"), Some(0.003));
    }

    #[test]
    fn negotiates_openmetrics_and_defaults_to_the_prometheus_text_format() {
        let metrics = metrics();
        let (content_type, text) = metrics.encode(Some("text/plain"));
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        assert!(text.contains("# TYPE http_requests_in_flight gauge") && !text.contains("# EOF"));
        let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        let (content_type, text) = metrics.encode(Some(accept));
        assert_eq!(content_type, OPENMETRICS_CONTENT_TYPE);
        assert!(text.ends_with("# EOF\n") && text.contains("# TYPE model info"));
    }
}
