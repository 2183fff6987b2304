//! The hot loop: a flat tree layout built once at load time, and walks that keep several
//! independent (row, tree) paths in flight so the CPU overlaps their load latencies.
//!
//! Every node, branch or leaf, is 16 bytes (`feature`, `threshold`, two children) in one
//! array, and a leaf's children are itself. A tree of depth `d` is then walked in exactly
//! `d` steps with no branch on "is this a leaf" (on small trees those branches are
//! unpredictable and cost more than the comparisons), and a leaf's weights are found in
//! O(1) from its node index (tract 0.23 scans all leaves for that). Every branch but
//! `Eq`/`Neq` ones is rewritten at load to `x < t` (threshold moved to the next float up
//! for `<=`, children swapped for `>=` and `>`), so the walks inline that one comparison
//! for every ensemble without equality tests; the missing-value flags are only read for
//! rows with a NaN, which are walked apart with the per-node rule. Ensembles with
//! equality tests read a per-node mode.
//!
//! - Batches of [`LANES`] rows or more: each group of [`LANES`] rows is copied
//!   feature-major, then a block of groups goes through one tree at a time (the tree
//!   stays in cache), the rows of a group in lock-step, in 8-byte nodes (`compact`)
//!   when they compare `x < t` alone.
//! - Smaller batches, and the tail of a batch: each row goes through [`TREES_IN_FLIGHT`]
//!   trees in lock-step, in 8-byte nodes (`compact`) when it compares `x < t` alone, and
//!   its sums stay in registers.
//! - Trees of at most 32 leaves are not walked at all: `small_trees` tests all their
//!   branches at once and reads the leaf off a bit set, for a group of rows or for one
//!   row and [`LANES`] trees (on forests of small trees, such as the Iris forests, less
//!   time per row in batches than the walks: see BENCHMARKS.md, "2026-11-28 (later):
//!   small trees without walks, sums in registers"). One row walks the small trees
//!   with many branches per level instead (LightGBM's 31-leaf trees: BENCHMARKS.md,
//!   "Boosted trees (issue 19)").
//!
//! A step reads its node and the row's value without bounds checks: `Nodes` (and
//! `CompactTrees`) check once, when the model loads, that every child index and feature
//! is in range, and a walk checks its root and the row's length before it starts. On
//! x86-64 CPUs with AVX2, batches run a copy of their loop compiled for it (`walk`),
//! called once the CPU was detected to have it. Those are the only `unsafe` blocks in the
//! model crate (in `nodes`, `compact` and `walk`); the unit tests and the property tests
//! (`properties`, and `tests/tree_ensemble/`, run with debug assertions on every step)
//! cover them, both copies of the batch loop included.
//!
//! - `nodes`: [`Node`] and the checked `Nodes`, with the one unchecked step.
//! - `compact`: the walked trees again in 8-byte nodes, in blocks of three levels, for
//!   rows compared by `x < t` alone.
//! - `compare`: the [`Mode`]s, their rewrite to `x < t`, and how a walk applies them
//!   (fixed or per node).
//! - `layout`: [`Trees`], everything the walks read, derived from a checked [`Forest`].
//! - `accumulate`: [`Aggregate`]s and [`Scores`]: how reached leaves add up per row.
//! - `walk`: the loops, for batches and for single rows.
//! - `small_trees`: the bit-set evaluation of trees of at most 32 leaves.
//! - `properties` (tests only): random forests of every mode, missing-value rule and leaf
//!   layout against a plain walk of their attributes, bit for bit.

#![warn(clippy::undocumented_unsafe_blocks)]

mod accumulate;
mod compact;
mod compare;
mod layout;
mod nodes;
#[cfg(test)]
pub(super) mod properties;
mod small_trees;
mod walk;

pub use accumulate::{Aggregate, Scores};
pub use compare::Mode;
pub use layout::{Forest, Trees};
pub use nodes::{Node, NAN_TRUE};

/// Rows walked through a tree together, in lock-step.
pub const LANES: usize = 8;

/// Trees one row walks together, in lock-step: each walk is a chain of dependent loads,
/// and more independent chains hide more of their latency (16 against 8 took one row of
/// the 500-tree LightGBM model from 6.4-6.8 to 5.6 us: BENCHMARKS.md, "Boosted trees
/// (issue 19)").
pub const TREES_IN_FLIGHT: usize = 16;

/// Trees the kernel's tests build by hand.
#[cfg(test)]
mod fixtures {
    use super::layout::{TreeGroup, Trees};
    use super::nodes::{Node, Nodes, NAN_TRUE};
    use super::small_trees::SmallTrees;
    use super::Mode;

    /// A branch node.
    pub(super) fn branch(feature: u32, threshold: f32, children: [u32; 2]) -> Node {
        Node {
            feature,
            threshold,
            children,
        }
    }

    /// A stump on feature 2: node 0 branches to leaves 1 (false) and 2 (true), whose
    /// single entries vote for outputs 0 and 1. As `Trees::new` lays trees out, it is
    /// either a small tree (`small`) or walked, never both.
    pub(super) fn stump(nan_true: bool, small: bool) -> Trees {
        let feature = 2 | if nan_true { NAN_TRUE } else { 0 };
        let nodes = vec![branch(feature, 0.5, [1, 2]), Node::leaf(1), Node::leaf(2)];
        let walked = TreeGroup {
            roots: std::array::from_fn(|lane| u32::from(lane > 0)),
            trees: std::array::from_fn(|lane| u32::from(lane > 0)),
            depth: 1,
        };
        Trees {
            small_trees: match small {
                true => SmallTrees::new(&nodes, &[0], &[1]),
                false => SmallTrees::default(),
            },
            compact: None,
            tree_groups: if small { vec![] } else { vec![walked] },
            nodes: Nodes::new(nodes).unwrap(),
            modes: vec![Mode::Leq; 3],
            uniform: Some(Mode::Leq),
            any_nan_true: nan_true,
            roots: vec![0],
            depths: vec![1],
            leaf_offsets: vec![0, 0, 1, 2],
            leaf_outputs: vec![0, 1],
            leaf_weights: vec![1.0, 1.0],
            weights_positive: true,
            leaves_dense: false,
            presence: None,
            leaves_by_output: false,
            single_entries: Some(vec![(0, 0.0), (0, 1.0), (1, 1.0)]),
            n_outputs: 2,
        }
    }
}
