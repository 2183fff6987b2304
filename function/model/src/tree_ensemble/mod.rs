//! Our `ai.onnx.ml` TreeEnsembleClassifier and TreeEnsembleRegressor, registered into
//! tract's ONNX loader in place of tract's own (whose per-row cost grows with the total
//! leaf count and which builds an error value at every leaf).
//!
//! - `parse`: attributes -> flat, validated trees.
//! - `kernel`: the flat layout (leaves loop to themselves, so a walk takes its tree's
//!   depth in steps with no leaf test) and the walks: 8 trees in lock-step for one row,
//!   8 rows in lock-step through one tree for batches, specialised for the common cases
//!   (one comparison mode, sums that need no presence flags, one entry per leaf), with
//!   bounds checked once per model instead of once per step. Trees of up to 32 leaves
//!   skip the walk (`kernel::small_trees`: every branch tested, the leaf read off a bit
//!   set).
//! - `finalize`: aggregated scores -> labels and probabilities, as onnxruntime does.
//! - `op`: the tract builder, inference rules and typed op.

mod finalize;
// Unchecked indexing in the walks; each `unsafe` states the invariant it relies on.
#[allow(unsafe_code)]
mod kernel;
mod op;
mod parse;

pub use op::register;
pub(super) use op::TreeEnsemble;

/// The `post_transform` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostTransform {
    /// Scores as they are.
    None,
    /// Softmax over the classes of a row.
    Softmax,
    /// The logistic function of each score.
    Logistic,
    /// Softmax that leaves zero scores at zero.
    SoftmaxZero,
}
