//! Our `ai.onnx.ml` TreeEnsembleClassifier and TreeEnsembleRegressor, registered into
//! tract's ONNX loader in place of tract's own (whose per-row cost grows with the total
//! leaf count and which builds an error value at every leaf), with the opset-5
//! TreeEnsemble tract lacks, and the one reader of their attributes, which `converter
//! inspect` uses too ([`describe`]).
//!
//! - `attributes`: the one reader of the node's attributes: names, meanings, and the
//!   checks that make trees of the node arrays (one policy for every reader); an
//!   opset-5 TreeEnsemble is read into the opset 1-3 layout, so the same kernel runs it.
//! - `summary`: what a node says about itself without building the op: [`describe`]
//!   for `converter inspect`, [`EnsembleSize`] for the metrics.
//! - `parse`: checked attributes -> the kernel's layout, and the post-transforms and
//!   aggregates the runtime supports.
//! - `kernel`: the flat layout (leaves loop to themselves, so a walk takes its tree's
//!   depth in steps with no leaf test) and the walks: 16 trees in lock-step for one row
//!   (over a copy of the trees in 8-byte nodes when the row compares `x < t` alone), 8
//!   rows in lock-step through one tree for batches (an AVX2 copy of that loop where the
//!   CPU has it), specialised for the common cases (every branch rewritten to `x < t`,
//!   rows without NaN, sums that need no presence flags, one entry per leaf), with
//!   bounds checked once per model instead of once per step. Trees of up to 32 leaves
//!   skip the walk (`kernel::small_trees`: every branch tested, the leaf read off a bit
//!   set).
//! - `shap`: exact SHAP values of the summed scores (path-dependent TreeSHAP) from the
//!   trees as their attributes describe them and per-node covers; not served yet.
//! - `finalize`: aggregated scores -> labels and probabilities, as onnxruntime does
//!   (a forest's votes as exact shares: `VoteShares`).
//! - `op`: the tract builder, inference rules and typed op.

mod attributes;
mod explain;
mod finalize;
// Unchecked indexing in the walks; each `unsafe` states the invariant it relies on.
#[allow(unsafe_code)]
mod kernel;
mod op;
mod parse;
mod shap;
mod summary;

pub use attributes::ParseError;
pub use explain::{count_covers, TreeExplainer, COVERS_KEY};
pub use summary::{describe, EnsembleSize, Summary};

pub(crate) use finalize::{logistic, transform, PostTransform};
pub(crate) use op::{register, TreeEnsemble};
pub(crate) use summary::ensemble_size;
