//! A tabular-model inference function for Knative: loads an ONNX classifier with tract
//! and answers predictions over HTTP/1.1 and h2c.
//!
//! - [`config`]: flags and environment, validated into a [`config::Config`].
//! - [`protocol`]: request/response adapters: `/predict`, KServe V1, Open Inference
//!   Protocol V2, CloudEvents, and the OpenAPI document.
//! - [`router`]: every route in one table, and the shared [`router::App`].
//! - [`health`]: liveness and readiness.
//! - [`metrics`]: the Prometheus metrics and `GET /metrics`.
//! - [`observe`]: the layer around every request: request id, metrics, request log.
//! - [`logging`]: JSON or text logs, with the Knative revision on every line.
//! - [`error`]: the HTTP error type and its JSON body.
//! - [`limits`]: body, batch, concurrency and time limits; the guard around each request.
//! - [`server`]: accept loop, HTTP/1.1 + h2c, graceful drain.
//! - [`runtime`]: worker threads sized to the CPU quota; big batches off the workers.
//! - [`memory`]: free memory handed back to the kernel when the last connection closes.
// One module uses `unsafe`: `memory`, which calls glibc's malloc_trim.
#![deny(unsafe_code)]

pub mod config;
pub mod error;
pub mod health;
pub mod limits;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod observe;
pub mod protocol;
pub mod router;
pub mod runtime;
pub mod server;

pub use router::App;
