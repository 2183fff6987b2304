//! The hot loop: a flat tree layout built once at load time, and walks that keep several
//! independent (row, tree) paths in flight so the CPU overlaps their load latencies.
//!
//! Every node, branch or leaf, is 16 bytes (`feature`, `threshold`, two children) in one
//! array, and a leaf's children are itself. A tree of depth `d` is then walked in exactly
//! `d` steps with no branch on "is this a leaf" (on small trees those branches are
//! unpredictable and cost more than the comparisons), and a leaf's weights are found in
//! O(1) from its node index (tract 0.23 scans all leaves for that). When every branch
//! uses one comparison the walk is monomorphised for it; mixed ensembles read a per-node
//! mode.
//!
//! - Batches of [`LANES`] rows or more: each group of [`LANES`] rows is copied
//!   feature-major, then a block of groups goes through one tree at a time (the tree
//!   stays in cache), the rows of a group in lock-step.
//! - Smaller batches, and the tail of a batch: each row goes through [`LANES`] trees in
//!   lock-step, and its sums stay in registers.
//! - Trees of at most 32 leaves are not walked at all: [`small_trees`] tests all their
//!   branches at once and reads the leaf off a bit set, for a group of rows or for one
//!   row and [`LANES`] trees (on the Iris forest, 4.8 leaves per tree, a third less time
//!   per row in batches than the walks).
//!
//! A step reads its node and the row's value without bounds checks: [`Nodes`] checks
//! once, when the model loads, that every child index and feature is in range, and a
//! walk checks its root and the row's length before it starts. Those are the only
//! `unsafe` blocks in the function crate; the unit tests below and the property tests
//! (`tests/tree_ensemble.rs`, run with debug assertions on every step) cover them.

#![warn(clippy::undocumented_unsafe_blocks)]

mod small_trees;

pub use small_trees::SmallTrees;

/// In [`Node::feature`]: a NaN feature value takes the true branch.
pub const NAN_TRUE: u32 = 1 << 31;

/// Input values (floats) of the rows walked through one tree before the next tree:
/// 128 KiB, which stays in a core's L2 cache. Large trees do not fit in cache, so the
/// more rows share each pass over a tree the better (measured on a 500-tree, depth-12
/// forest of 30 features at batch 1000: 64 rows per block 112 us/row, 256 rows 57,
/// 1024 rows 45); small trees do not care.
const BLOCK_VALUES: usize = 32 * 1024;
/// At most this many rows per block, however few features they have.
const MAX_BLOCK_ROWS: usize = 4096;
/// Rows walked through a tree together, in lock-step.
pub const LANES: usize = 8;

/// The `nodes_modes` comparisons: the true branch is taken when `x <op> threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `BRANCH_LEQ`: `x <= t`.
    Leq,
    /// `BRANCH_LT`: `x < t`.
    Lt,
    /// `BRANCH_GTE`: `x >= t`.
    Gte,
    /// `BRANCH_GT`: `x > t`.
    Gt,
    /// `BRANCH_EQ`: `x == t`.
    Eq,
    /// `BRANCH_NEQ`: `x != t`.
    Neq,
}

impl Mode {
    /// Whether `value` takes the true branch (IEEE comparisons: NaN only passes `Neq`).
    #[inline(always)]
    fn holds(self, value: f32, threshold: f32) -> bool {
        match self {
            Mode::Leq => value <= threshold,
            Mode::Lt => value < threshold,
            Mode::Gte => value >= threshold,
            Mode::Gt => value > threshold,
            Mode::Eq => value == threshold,
            Mode::Neq => value != threshold,
        }
    }
}

/// The input column a node's `feature` names, without the [`NAN_TRUE`] flag. Every walk
/// and test reads it through here, so the bounds [`Nodes`] checks are the ones they use.
#[inline(always)]
fn column(feature: u32) -> usize {
    (feature & !NAN_TRUE) as usize
}

/// A node. A leaf is a node whose two children are itself, so a walk can take a fixed
/// number of steps (its tree's depth) with no test for "reached a leaf" in the loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Input column, with [`NAN_TRUE`] set when missing values go to the true branch
    /// (column 0 for leaves).
    pub feature: u32,
    /// Split value.
    pub threshold: f32,
    /// `[false child, true child]` as node indices.
    pub children: [u32; 2],
}

impl Node {
    /// The input column the node reads (see [`column()`]).
    #[inline(always)]
    pub fn column(&self) -> usize {
        column(self.feature)
    }

    /// A leaf at index `at`.
    pub fn leaf(at: u32) -> Node {
        Node {
            feature: 0,
            threshold: 0.0,
            children: [at, at],
        }
    }
}

/// The nodes of an ensemble, checked once when built so the walks need no bounds checks:
/// every child index is below the node count, and every feature below [`Self::columns`].
/// The fields are private so that nothing can break that after the check.
#[derive(Debug, Clone, PartialEq)]
pub struct Nodes {
    nodes: Vec<Node>,
    columns: usize,
}

impl Nodes {
    /// Checks `nodes` (see [`Nodes`]).
    pub fn new(nodes: Vec<Node>) -> Result<Nodes, String> {
        let len = nodes.len();
        if let Some(at) = nodes
            .iter()
            .position(|node| node.children.iter().any(|&c| c as usize >= len))
        {
            return Err(format!("node {at} has a child outside the {len} nodes"));
        }
        let columns = nodes
            .iter()
            .map(|node| node.column() + 1)
            .max()
            .unwrap_or(1);
        Ok(Nodes { nodes, columns })
    }

    /// The nodes, in index order.
    pub fn as_slice(&self) -> &[Node] {
        &self.nodes
    }

    /// One more than the largest feature index any node reads (at least 1: leaves read
    /// column 0 and ignore it). Rows must have at least this many values.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Panics unless `at` is a node: the check a walk makes once, at its root, so that
    /// [`Self::step`] may take every later index on trust.
    #[inline(always)]
    fn check(&self, at: u32) -> u32 {
        assert!((at as usize) < self.nodes.len(), "no node {at}");
        at
    }

    /// One step of a walk: the child of node `at` that the row takes, reading feature `f`
    /// of the row at `values[f * stride + lane]` (one row: stride 1, lane 0; a group of
    /// rows stored feature-major: stride [`LANES`]). A leaf stays where it is.
    ///
    /// # Safety
    /// `at` is below the node count (a root passed through [`Self::check`], or what an
    /// earlier step returned), and `values` holds at least `columns * stride` values
    /// with `lane < stride`.
    #[inline(always)]
    unsafe fn step<C: Compare>(
        &self,
        compare: C,
        at: u32,
        values: &[f32],
        stride: usize,
        lane: usize,
    ) -> u32 {
        debug_assert!((at as usize) < self.nodes.len());
        debug_assert!(lane < stride && self.columns * stride <= values.len());
        // SAFETY: `at` is below the node count (the caller's contract).
        let node = unsafe { self.nodes.get_unchecked(at as usize) };
        // SAFETY: `node.column()` is below `columns` (its definition in `new`), so the
        // index is at most `(columns - 1) * stride + lane < columns * stride <= values.len()`.
        let value = unsafe { *values.get_unchecked(node.column() * stride + lane) };
        // A conditional move, never a branch: LLVM picks the child's address with a
        // `cmov` and loads from it. Measured ~5% faster than indexing `children` by the
        // comparison; reading both children as one u64 and shifting was no faster.
        let [if_false, if_true] = node.children;
        std::hint::select_unpredictable(
            compare.goes_true(node.feature, node.threshold, at as usize, value),
            if_true,
            if_false,
        )
    }
}

/// How leaf values of different trees combine for one output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregate {
    /// Sum (classifiers, gradient boosting).
    Sum,
    /// Mean over trees (random forest regressors).
    Average,
    /// Smallest leaf value.
    Min,
    /// Largest leaf value.
    Max,
}

/// All trees of an ensemble in flat arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct Trees {
    /// Every node of every tree (a leaf loops to itself), bounds-checked once.
    pub nodes: Nodes,
    /// Per node comparison (any mode for leaves).
    pub modes: Vec<Mode>,
    /// The comparison every branch uses, if they all use one.
    pub uniform: Option<Mode>,
    /// Some branch sends missing values (NaN) to its true child.
    pub any_nan_true: bool,
    /// Per tree, its root node.
    pub roots: Vec<u32>,
    /// Per tree, the steps from its root to its deepest leaf.
    pub depths: Vec<u32>,
    /// The trees too large for [`Self::small_trees`] in groups of [`LANES`] that one row
    /// walks together.
    pub tree_groups: Vec<TreeGroup>,
    /// The trees small enough for groups of rows to skip the walk.
    pub small_trees: SmallTrees,
    /// Node `i` owns leaf entries `leaf_offsets[i]..leaf_offsets[i + 1]` (none for
    /// branches).
    pub leaf_offsets: Vec<u32>,
    /// Output (class or target) of each leaf entry.
    pub leaf_outputs: Vec<u32>,
    /// Weight of each leaf entry.
    pub leaf_weights: Vec<f32>,
    /// Every leaf weight is > 0, so a sum is non-zero exactly when some leaf added to it.
    pub weights_positive: bool,
    /// Every leaf has an entry for every output, so every output of every row is present.
    pub leaves_dense: bool,
    /// Every leaf's entries are one per output, in output order.
    pub leaves_by_output: bool,
    /// When no leaf has more than one entry: per node, its leaf's entry (`(0, 0.0)` for
    /// branches and leaves without one, which only [`Sum`] may add).
    pub single_entries: Option<Vec<(u32, f32)>>,
    /// Number of outputs (classes or targets).
    pub n_outputs: usize,
}

/// [`LANES`] trees one row walks in lock-step.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeGroup {
    /// Their roots; a short last group is padded with a leaf that has no entries.
    pub roots: [u32; LANES],
    /// Their positions in tree order (the tree count for padding).
    pub trees: [u32; LANES],
    /// The largest depth among them: the steps the group takes.
    pub depth: u32,
}

/// Per row and output: the aggregated value and whether any leaf contributed to it
/// (ONNX runtimes treat "no contribution" differently from a zero sum).
pub struct Scores {
    /// rows x outputs, row-major.
    pub values: Vec<f32>,
    /// rows x outputs: some leaf had an entry for this output.
    pub present: Vec<bool>,
}

/// How a walk decides a branch: one mode fixed at compile time, or the node's own.
trait Compare: Copy {
    /// Whether `value` takes the true branch of node `index`, whose `feature` (with its
    /// [`NAN_TRUE`] flag) and `threshold` are given.
    fn goes_true(self, feature: u32, threshold: f32, index: usize, value: f32) -> bool;
}

/// One mode for every node and no node sending NaN to its true child, fixed at compile
/// time (`M` is a [`Mode`] as `u8`): each mode gets its own copy of the walk with one
/// comparison inlined, the common case (every exporter we know writes one mode).
#[derive(Clone, Copy)]
struct Fixed<const M: u8>;

impl<const M: u8> Fixed<M> {
    const MODE: Mode = MODES_BY_CODE[M as usize];
}

/// [`Mode`]s indexed by their `as u8` code.
const MODES_BY_CODE: [Mode; 6] = [
    Mode::Leq,
    Mode::Lt,
    Mode::Gte,
    Mode::Gt,
    Mode::Eq,
    Mode::Neq,
];

impl<const M: u8> Compare for Fixed<M> {
    #[inline(always)]
    fn goes_true(self, _feature: u32, threshold: f32, _index: usize, value: f32) -> bool {
        Self::MODE.holds(value, threshold)
    }
}

/// Any ensemble: the node's own mode and missing-value rule.
#[derive(Clone, Copy)]
struct PerNode<'a>(&'a [Mode]);

impl Compare for PerNode<'_> {
    #[inline(always)]
    fn goes_true(self, feature: u32, threshold: f32, index: usize, value: f32) -> bool {
        // `|`, not `||`: both sides are cheap, and a branch here would be unpredictable.
        self.0[index].holds(value, threshold) | ((feature & NAN_TRUE != 0) & value.is_nan())
    }
}

/// How a leaf's entries join its row's scores.
trait Accumulate: Copy {
    fn add_leaf(self, trees: &Trees, scores: &mut Scores, out: usize, leaf: u32);

    /// Adds the `leaves` one row reached, in tree order, to its scores at `out`.
    #[inline(always)]
    fn add_row(self, trees: &Trees, scores: &mut Scores, out: usize, leaves: &[u32]) {
        for &leaf in leaves {
            self.add_leaf(trees, scores, out, leaf);
        }
    }
}

/// The most outputs [`add_row_in_registers`] keeps in registers.
const REGISTER_SUMS: usize = 8;

/// Sum (and AVERAGE, divided later) where presence is known without tracking it
/// ([`Trees::weights_positive`] or [`Trees::leaves_dense`]): one add per entry.
#[derive(Clone, Copy)]
struct Sum;

impl Accumulate for Sum {
    #[inline(always)]
    fn add_leaf(self, trees: &Trees, scores: &mut Scores, out: usize, leaf: u32) {
        for entry in trees.entries(leaf) {
            scores.values[out + trees.leaf_outputs[entry] as usize] += trees.leaf_weights[entry];
        }
    }
}

/// [`Sum`] when no leaf has more than one entry (votes, two-class layouts): the entry
/// is read from [`Trees::single_entries`] by node, with no offsets and no loop.
#[derive(Clone, Copy)]
struct SumSingle<'a>(&'a [(u32, f32)]);

impl Accumulate for SumSingle<'_> {
    #[inline(always)]
    fn add_leaf(self, _trees: &Trees, scores: &mut Scores, out: usize, leaf: u32) {
        let (output, weight) = self.0[leaf as usize];
        scores.values[out + output as usize] += weight;
    }

    /// The leaf's weight as a row: 0.0 for the other outputs.
    #[inline(always)]
    fn add_row(self, trees: &Trees, scores: &mut Scores, out: usize, leaves: &[u32]) {
        add_row_in_registers(self, trees, scores, out, leaves, |leaf| {
            let (output, weight) = self.0[leaf as usize];
            std::array::from_fn(|lane| if lane == output as usize { weight } else { 0.0 })
        });
    }
}

/// Adds one row's `leaves` in tree order, each as `leaf_row(leaf)` (its weight per output,
/// 0.0 where it has none), with the row's sums in vector registers. Every tree adds to one
/// of the row's few sums, so the adds form a chain; through memory each would wait for the
/// previous store. Adding 0.0 leaves a sum as it was, bit for bit (a sum that starts at
/// +0.0 never becomes -0.0), so the result is `add_leaf`'s. More than [`REGISTER_SUMS`]
/// outputs take `accumulate.add_leaf`.
#[inline(always)]
fn add_row_in_registers<A: Accumulate>(
    accumulate: A,
    trees: &Trees,
    scores: &mut Scores,
    out: usize,
    leaves: &[u32],
    leaf_row: impl Fn(u32) -> [f32; REGISTER_SUMS],
) {
    let outputs = trees.n_outputs;
    if outputs > REGISTER_SUMS {
        for &leaf in leaves {
            accumulate.add_leaf(trees, scores, out, leaf);
        }
        return;
    }
    let mut sums = [0.0f32; REGISTER_SUMS];
    for &leaf in leaves {
        for (sum, weight) in sums.iter_mut().zip(leaf_row(leaf)) {
            *sum += weight;
        }
    }
    for (value, sum) in scores.values[out..out + outputs].iter_mut().zip(sums) {
        *value += sum;
    }
}

/// [`Sum`] when every leaf's entries are one per output in output order
/// ([`Trees::leaves_by_output`]): a leaf's weights are a row added to the row's scores.
#[derive(Clone, Copy)]
struct SumRows;

impl Accumulate for SumRows {
    #[inline(always)]
    fn add_leaf(self, trees: &Trees, scores: &mut Scores, out: usize, leaf: u32) {
        let weights = &trees.leaf_weights[trees.entries(leaf)];
        let values = &mut scores.values[out..out + weights.len()];
        for (value, weight) in values.iter_mut().zip(weights) {
            *value += weight;
        }
    }

    /// The leaf's weights, padded with 0.0.
    #[inline(always)]
    fn add_row(self, trees: &Trees, scores: &mut Scores, out: usize, leaves: &[u32]) {
        add_row_in_registers(self, trees, scores, out, leaves, |leaf| {
            let weights = &trees.leaf_weights[trees.entries(leaf)];
            std::array::from_fn(|o| weights.get(o).copied().unwrap_or(0.0))
        });
    }
}

/// Any aggregate, recording which outputs some leaf contributed to.
#[derive(Clone, Copy)]
struct Tracked(Aggregate);

impl Accumulate for Tracked {
    #[inline(always)]
    fn add_leaf(self, trees: &Trees, scores: &mut Scores, out: usize, leaf: u32) {
        for entry in trees.entries(leaf) {
            let at = out + trees.leaf_outputs[entry] as usize;
            let weight = trees.leaf_weights[entry];
            let (value, present) = (&mut scores.values[at], &mut scores.present[at]);
            *value = match self.0 {
                Aggregate::Sum | Aggregate::Average => *value + weight,
                Aggregate::Min if *present => value.min(weight),
                Aggregate::Max if *present => value.max(weight),
                Aggregate::Min | Aggregate::Max => weight,
            };
            *present = true;
        }
    }
}

impl Trees {
    /// The leaf entries of node `leaf` (none for a branch).
    #[inline(always)]
    fn entries(&self, leaf: u32) -> std::ops::Range<usize> {
        let leaf = leaf as usize;
        self.leaf_offsets[leaf] as usize..self.leaf_offsets[leaf + 1] as usize
    }

    /// Aggregates the leaves reached by each row of `input` (row-major, `width` columns,
    /// `width >= n_features_used`).
    pub fn scores(&self, input: &[f32], width: usize, aggregate: Aggregate) -> Scores {
        let sums = matches!(aggregate, Aggregate::Sum | Aggregate::Average);
        let untracked = sums && (self.weights_positive || self.leaves_dense);
        let (i, w) = (input, width);
        // The common cases get a copy of the loops per mode, with the comparison and the
        // add inlined; everything else takes the general walk.
        let fixed = if untracked && !self.any_nan_true {
            self.uniform
        } else {
            None
        };
        let mut scores = match (fixed, &self.single_entries) {
            (Some(mode), Some(single)) => self.scores_fixed(mode, SumSingle(single), i, w),
            (Some(mode), None) if self.leaves_by_output => self.scores_fixed(mode, SumRows, i, w),
            (Some(mode), None) => self.scores_fixed(mode, Sum, i, w),
            (None, _) if untracked => self.scores_with(PerNode(&self.modes), Sum, i, w),
            (None, _) => self.scores_with(PerNode(&self.modes), Tracked(aggregate), i, w),
        };
        if untracked {
            for (present, value) in scores.present.iter_mut().zip(&scores.values) {
                *present = self.leaves_dense || *value != 0.0;
            }
        }
        scores
    }

    /// [`Self::scores_with`] monomorphised for `mode`.
    fn scores_fixed<A: Accumulate>(&self, mode: Mode, a: A, i: &[f32], w: usize) -> Scores {
        match mode {
            Mode::Leq => self.scores_with(Fixed::<{ Mode::Leq as u8 }>, a, i, w),
            Mode::Lt => self.scores_with(Fixed::<{ Mode::Lt as u8 }>, a, i, w),
            Mode::Gte => self.scores_with(Fixed::<{ Mode::Gte as u8 }>, a, i, w),
            Mode::Gt => self.scores_with(Fixed::<{ Mode::Gt as u8 }>, a, i, w),
            Mode::Eq => self.scores_with(Fixed::<{ Mode::Eq as u8 }>, a, i, w),
            Mode::Neq => self.scores_with(Fixed::<{ Mode::Neq as u8 }>, a, i, w),
        }
    }

    fn scores_with<C: Compare, A: Accumulate>(
        &self,
        compare: C,
        accumulate: A,
        input: &[f32],
        width: usize,
    ) -> Scores {
        // The walks read only the first `columns` values of a row, and trust them there.
        let columns = self.nodes.columns();
        assert!(
            width >= columns,
            "rows of {width} values, the trees read {columns}"
        );
        let rows = input.len() / width;
        let outputs = self.n_outputs;
        let mut scores = Scores {
            values: vec![0.0; rows * outputs],
            present: vec![false; rows * outputs],
        };
        // Per tree (plus one slot for padding lanes), the leaf the current row reached.
        let mut leaves = vec![0u32; self.roots.len() + 1];
        let mut one_by_one = |scores: &mut Scores, first: usize| {
            for (row, features) in input.chunks_exact(width).enumerate().skip(first) {
                self.row_through_groups(compare, &features[..columns], &mut leaves);
                // In tree order, so sums round as a tree-by-tree evaluation does.
                accumulate.add_row(self, scores, row * outputs, &leaves[..self.roots.len()]);
            }
        };
        let groups = rows / LANES;
        if groups == 0 {
            one_by_one(&mut scores, 0);
            return scores;
        }
        // Each group of LANES rows copied feature-major (feature f of lane l at
        // `f * LANES + l`): one base address serves every lane, where row-major rows
        // would need a register per lane.
        let group_values = columns * LANES;
        let mut lanes = Vec::with_capacity(groups * group_values);
        for group in input.chunks_exact(LANES * width).take(groups) {
            for feature in 0..columns {
                lanes.extend((0..LANES).map(|lane| group[lane * width + feature]));
            }
        }
        let block = (BLOCK_VALUES / group_values).clamp(1, MAX_BLOCK_ROWS / LANES);
        for first in (0..groups).step_by(block) {
            let last = (first + block).min(groups);
            for (tree, (&root, &depth)) in self.roots.iter().zip(&self.depths).enumerate() {
                let small = self.small_trees.tree(tree);
                for group in first..last {
                    let values = &lanes[group * group_values..(group + 1) * group_values];
                    let leaves = match small {
                        Some(small) => self.small_trees.rows_through(compare, small, values),
                        None => self.rows_through_tree(compare, root, depth, values),
                    };
                    for (lane, leaf) in leaves.into_iter().enumerate() {
                        let row = group * LANES + lane;
                        accumulate.add_leaf(self, &mut scores, row * outputs, leaf);
                    }
                }
            }
        }
        one_by_one(&mut scores, groups * LANES);
        scores
    }

    /// The leaves the [`LANES`] rows of `values` (a feature-major group) reach in the
    /// tree at `root`, walked in lock-step: one walk is a chain of dependent loads, and
    /// interleaving independent chains lets the CPU overlap their latencies.
    #[inline(always)]
    fn rows_through_tree<C: Compare>(
        &self,
        compare: C,
        root: u32,
        depth: u32,
        values: &[f32],
    ) -> [u32; LANES] {
        assert!(values.len() >= self.nodes.columns() * LANES);
        let mut at = [self.nodes.check(root); LANES];
        for _ in 0..depth {
            for (lane, at) in at.iter_mut().enumerate() {
                // SAFETY: `at` starts at a checked root and only takes values `step`
                // returns; `values` holds `columns * LANES` values (asserted above).
                *at = unsafe { self.nodes.step(compare, *at, values, LANES, lane) };
            }
        }
        at
    }

    /// Puts in `leaves[tree]` the leaf one row (its first `columns` values) reaches in
    /// each tree, walking the trees of a group in lock-step.
    #[inline(always)]
    fn row_through_groups<C: Compare>(&self, compare: C, features: &[f32], leaves: &mut [u32]) {
        assert!(features.len() >= self.nodes.columns());
        for group in self.small_trees.groups() {
            let reached = self.small_trees.row_through_group(compare, group, features);
            for (&tree, leaf) in group.trees.iter().zip(reached) {
                leaves[tree as usize] = leaf;
            }
        }
        for group in &self.tree_groups {
            let mut at = group.roots.map(|root| self.nodes.check(root));
            for _ in 0..group.depth {
                for at in at.iter_mut() {
                    // SAFETY: `at` starts at a checked root and only takes values `step`
                    // returns; `features` holds `columns` values (asserted above).
                    *at = unsafe { self.nodes.step(compare, *at, features, 1, 0) };
                }
            }
            for (&tree, leaf) in group.trees.iter().zip(at) {
                leaves[tree as usize] = leaf;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A branch node (shared with `small_trees`' tests).
    pub(super) fn branch(feature: u32, threshold: f32, children: [u32; 2]) -> Node {
        Node {
            feature,
            threshold,
            children,
        }
    }

    /// A stump on feature 2: node 0 branches to leaves 1 (false) and 2 (true), whose
    /// single entries vote for outputs 0 and 1. As `parse` lays trees out, it is either
    /// a small tree (`small`) or walked, never both.
    fn stump(nan_true: bool, small: bool) -> Trees {
        let feature = 2 | if nan_true { NAN_TRUE } else { 0 };
        let nodes = vec![branch(feature, 0.5, [1, 2]), Node::leaf(1), Node::leaf(2)];
        let walked = TreeGroup {
            roots: [0, 1, 1, 1, 1, 1, 1, 1],
            trees: [0, 1, 1, 1, 1, 1, 1, 1],
            depth: 1,
        };
        Trees {
            small_trees: match small {
                true => SmallTrees::new(&nodes, &[0], &[1]),
                false => SmallTrees::default(),
            },
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
            leaves_by_output: false,
            single_entries: Some(vec![(0, 0.0), (0, 1.0), (1, 1.0)]),
            n_outputs: 2,
        }
    }

    #[test]
    fn nodes_refuse_a_child_outside_the_array() {
        let err = Nodes::new(vec![branch(0, 0.0, [1, 3]), Node::leaf(1)]).unwrap_err();
        assert!(err.contains("node 0"), "{err}");
        assert!(Nodes::new(vec![branch(0, 0.0, [1, 1]), Node::leaf(1)]).is_ok());
    }

    #[test]
    fn columns_count_the_highest_feature_without_the_missing_value_flag() {
        let nodes = Nodes::new(vec![branch(4 | NAN_TRUE, 0.0, [1, 1]), Node::leaf(1)]).unwrap();
        assert_eq!(nodes.columns(), 5);
        assert_eq!(Nodes::new(vec![Node::leaf(0)]).unwrap().columns(), 1);
    }

    #[test]
    fn a_root_outside_the_nodes_panics_instead_of_reading_past_them() {
        // Only the walks read roots.
        let mut trees = stump(false, false);
        trees.roots = vec![7];
        let walk = std::panic::catch_unwind(|| trees.scores(&[0.0; 3 * 8], 3, Aggregate::Sum));
        assert!(walk.is_err());
    }

    #[test]
    fn rows_narrower_than_the_columns_read_panic_instead_of_reading_past_them() {
        for small in [false, true] {
            let trees = stump(false, small);
            for rows in [1, 8] {
                let input = vec![0.0; 2 * rows];
                let walk = std::panic::catch_unwind(|| trees.scores(&input, 2, Aggregate::Sum));
                assert!(walk.is_err(), "{rows} rows of 2 values, feature 2 read");
            }
        }
    }

    /// The register sums of one row give the sums `add_leaf` writes, bit for bit: in
    /// tree order (output 0 is 0.0 in that order, 1.0 in any order that adds the large
    /// weights first), and through zero (output 1).
    #[test]
    fn a_rows_register_sums_equal_adding_leaf_by_leaf() {
        let mut trees = stump(false, true);
        trees.n_outputs = 3;
        let single = [
            (0, 1.0),
            (1, 0.5),
            (0, 1e8),
            (2, -0.25),
            (1, -0.5),
            (0, -1e8),
        ];
        let leaves: Vec<u32> = (0..single.len() as u32).collect();
        let fresh = || Scores {
            values: vec![0.0; 6],
            present: vec![false; 6],
        };
        let (mut by_leaf, mut by_row) = (fresh(), fresh());
        for &leaf in &leaves {
            SumSingle(&single).add_leaf(&trees, &mut by_leaf, 3, leaf);
        }
        SumSingle(&single).add_row(&trees, &mut by_row, 3, &leaves);
        let bits = |s: &Scores| s.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&by_row), bits(&by_leaf));
        assert_eq!(by_row.values[..3], [0.0; 3], "the other row is untouched");
    }

    /// Leaf rows added as vectors give the sums `add_leaf` writes, bit for bit.
    #[test]
    fn a_rows_register_sums_of_leaf_rows_equal_adding_leaf_by_leaf() {
        let mut trees = stump(false, true);
        trees.n_outputs = 2;
        let rows = [[1.0, 0.5], [1e8, -0.25], [-1e8, -0.5], [0.125, 3.0]];
        trees.leaf_offsets = (0..=rows.len() as u32).map(|leaf| 2 * leaf).collect();
        trees.leaf_outputs = rows.iter().flat_map(|_| [0, 1]).collect();
        trees.leaf_weights = rows.iter().flatten().copied().collect();
        let leaves: Vec<u32> = (0..rows.len() as u32).collect();
        let fresh = || Scores {
            values: vec![0.0; 4],
            present: vec![false; 4],
        };
        let (mut by_leaf, mut by_row) = (fresh(), fresh());
        for &leaf in &leaves {
            SumRows.add_leaf(&trees, &mut by_leaf, 2, leaf);
            Sum.add_leaf(&trees, &mut by_row, 0, leaf);
        }
        SumRows.add_row(&trees, &mut by_row, 2, &leaves);
        let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&by_row.values[2..]), bits(&by_leaf.values[2..]));
        // And both are what the general sum gives (row 0 of `by_row`).
        assert_eq!(bits(&by_row.values[..2]), bits(&by_leaf.values[2..]));
        assert_eq!(by_leaf.values[..2], [0.0; 2], "the other row is untouched");
    }

    /// Every path of `scores_with` (one row, groups of LANES rows with a tail, several
    /// blocks) reads each row's own values: row r gets output 1 exactly when its
    /// feature 2 is <= 0.5, or NaN with the missing-value flag.
    #[test]
    fn each_row_of_every_path_reads_its_own_values() {
        for (nan_true, small) in [(false, false), (true, false), (false, true), (true, true)] {
            let trees = stump(nan_true, small);
            for rows in [1, 7, 8, 9, 23, 5000] {
                let width = 4;
                let input: Vec<f32> = (0..rows * width)
                    .map(|i| match (i / width % 3, i % width) {
                        (_, c) if c != 2 => 9.0,
                        (0, _) => 0.25,
                        (1, _) => 0.75,
                        _ => f32::NAN,
                    })
                    .collect();
                let scores = trees.scores(&input, width, Aggregate::Sum);
                for (row, features) in input.chunks(width).enumerate() {
                    let x = features[2];
                    let goes_true = x <= 0.5 || (nan_true && x.is_nan());
                    let want = if goes_true { [0.0, 1.0] } else { [1.0, 0.0] };
                    assert_eq!(
                        scores.values[row * 2..row * 2 + 2],
                        want,
                        "row {row}/{rows}"
                    );
                }
            }
        }
    }
}
