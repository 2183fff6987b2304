//! Protocol adapters: each decodes its request body into a [`model::Batch`], runs it
//! through [`crate::infer::predict`] (the one call into the model), and encodes the
//! [`model::Prediction`] back, so the same rows give the same numbers everywhere.
//!
//! - [`predict`]: the tutorial's `/predict`.
//! - [`kserve_v1`]: KServe V1 (`/v1/models/...`).
//! - [`open_inference`]: Open Inference Protocol V2 REST (`/v2/...`).
//! - [`cloudevents`]: CloudEvents over HTTP (`POST /`), binary and structured mode.
//! - [`explanations`]: SHAP values as JSON, for KServe V1's `:explain` and
//!   `/predict?explain=true`.
//! - [`json`], [`rows`], [`records`]: what they share: JSON parsing with clear errors,
//!   rows of values checked against the model's inputs, sent as arrays (a model of one
//!   numeric input) or as records of named columns.
//! - `fast_rows`, `fast_records`: `/predict`'s, CloudEvents' (binary mode) and KServe
//!   V1's common bodies (rows of numbers, records) decoded without a JSON tree.

pub mod cloudevents;
pub mod explanations;
mod fast_records;
mod fast_rows;
pub mod json;
pub mod kserve_v1;
pub mod open_inference;
pub mod predict;
pub mod records;
pub mod rows;
