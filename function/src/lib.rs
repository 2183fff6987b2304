//! A tabular-model inference function for Knative: serves an ONNX classifier or
//! regressor, loaded by the `model` crate, over HTTP/1.1 and h2c (REST and gRPC).
//! Modules from the bottom up; each imports only those above it in this list:
//!
//! - [`logging`]: JSON or text logs, with the Knative revision on every line.
//! - [`config`]: flags and environment, validated into a [`config::Config`]; `--help`
//!   (the payload log's settings are read by [`payload_log::settings`], a leaf).
//! - [`limits`]: body, batch, concurrency and time limits, and their defaults.
//! - [`error`]: the HTTP error type and its JSON body.
//! - [`routes`]: the one route table: paths, methods, metric labels, summaries.
//! - [`ids`]: ids for requests and events, unique across replicas.
//! - [`metrics`]: the Prometheus metrics and `GET /metrics`.
//! - [`payload_log`]: predictions' bodies as KServe-style CloudEvents to a sink
//!   (`--payload-log`, `K_SINK`), from a queue, off the request path.
//! - [`runtime`]: worker threads sized to the CPU quota; big batches off the workers.
//! - [`memory`]: free memory handed back to the kernel when the last connection closes.
//! - [`budget`]: the bytes requests in flight may hold, sized to the memory limit.
//! - [`metrics`]: the Prometheus metrics and `GET /metrics`.
//! - [`state`]: [`App`], what every request shares, built by [`App::new`].
//! - [`body`]: reading request bodies within the limits.
//! - [`infer`]: the one call into the model, measured.
//! - [`protocol`]: `/predict`, KServe V1, Open Inference Protocol V2 (REST and gRPC)
//!   and CloudEvents, each decoding its body into a batch and encoding the prediction
//!   back.
//! - [`http`]: accept, the request layers, the router, health, `GET /`, OpenAPI, and
//!   gRPC on the same port.
//! - [`startup`]: load the model, bind, serve until SIGTERM, drain.
//!
//! A request's path: [`http::server`] accepts -> [`http::layers`] (route resolved once,
//! request id, metrics, limits) -> [`http::router`] -> a [`protocol`] decodes ->
//! [`infer::predict`] -> the protocol encodes -> the response.
// One module uses `unsafe`: `memory`, which calls glibc's malloc_trim.
#![deny(unsafe_code)]

pub mod body;
pub mod budget;
pub mod config;
pub mod error;
pub mod http;
pub mod ids;
pub mod infer;
pub mod limits;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod payload_log;
pub mod protocol;
pub mod routes;
pub mod runtime;
pub mod startup;
pub mod state;

pub use http::server::run as serve;
pub use state::{App, Serving, Started};
