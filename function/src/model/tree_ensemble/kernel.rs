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
//! - Batches of [`LANES`] rows or more: a block of rows goes through one tree at a time
//!   (the tree stays in cache), [`LANES`] rows in lock-step.
//! - Smaller batches: each row goes through [`LANES`] trees in lock-step.

/// In [`Node::feature`]: a NaN feature value takes the true branch.
pub const NAN_TRUE: u32 = 1 << 31;

/// Input values (floats) of the rows walked through one tree before the next tree:
/// 128 KiB, which stays in a core's L2 cache. Large trees do not fit in cache, so the
/// more rows share each pass over a tree the better (measured on a 500-tree, depth-12
/// forest of 30 features at batch 1000: 64 rows per block 112 us/row, 256 rows 57,
/// 1024 rows 45); small trees do not care.
const BLOCK_VALUES: usize = 32 * 1024;
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
    /// A leaf at index `at`.
    pub fn leaf(at: u32) -> Node {
        Node {
            feature: 0,
            threshold: 0.0,
            children: [at, at],
        }
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
    /// Every node of every tree (a leaf loops to itself).
    pub nodes: Vec<Node>,
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
    /// The trees in groups of [`LANES`] that one row walks together.
    pub tree_groups: Vec<TreeGroup>,
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
    /// When no leaf has more than one entry: per node, its leaf's entry (`(0, 0.0)` for
    /// branches and leaves without one, which only [`Sum`] may add).
    pub single_entries: Option<Vec<(u32, f32)>>,
    /// Number of outputs (classes or targets).
    pub n_outputs: usize,
    /// One more than the largest feature index any node reads (at least 1: leaves read
    /// column 0 and ignore it).
    pub n_features_used: usize,
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
    /// The input column `node` reads.
    fn feature(self, node: &Node) -> usize;
    fn goes_true(self, node: &Node, index: usize, value: f32) -> bool;
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
    fn feature(self, node: &Node) -> usize {
        // No node has the NAN_TRUE bit on this path.
        node.feature as usize
    }

    #[inline(always)]
    fn goes_true(self, node: &Node, _index: usize, value: f32) -> bool {
        Self::MODE.holds(value, node.threshold)
    }
}

/// Any ensemble: the node's own mode and missing-value rule.
#[derive(Clone, Copy)]
struct PerNode<'a>(&'a [Mode]);

impl Compare for PerNode<'_> {
    #[inline(always)]
    fn feature(self, node: &Node) -> usize {
        (node.feature & !NAN_TRUE) as usize
    }

    #[inline(always)]
    fn goes_true(self, node: &Node, index: usize, value: f32) -> bool {
        // `|`, not `||`: both sides are cheap, and a branch here would be unpredictable.
        self.0[index].holds(value, node.threshold)
            | ((node.feature & NAN_TRUE != 0) & value.is_nan())
    }
}

/// How a leaf's entries join its row's scores.
trait Accumulate: Copy {
    fn add_leaf(self, trees: &Trees, scores: &mut Scores, out: usize, leaf: u32);
}

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
        let rows = input.len().checked_div(width).unwrap_or(0);
        let outputs = self.n_outputs;
        let mut scores = Scores {
            values: vec![0.0; rows * outputs],
            present: vec![false; rows * outputs],
        };
        if rows < LANES {
            // Per tree (plus one slot for padding lanes), the leaf the current row reached.
            let mut leaves = vec![0u32; self.roots.len() + 1];
            for (row, features) in input.chunks_exact(width).enumerate() {
                self.row_through_groups(compare, features, &mut leaves);
                // In tree order, so sums round as a tree-by-tree evaluation does.
                for &leaf in &leaves[..self.roots.len()] {
                    accumulate.add_leaf(self, &mut scores, row * outputs, leaf);
                }
            }
            return scores;
        }
        let block_rows = (BLOCK_VALUES / width).clamp(LANES, 4096);
        for first in (0..rows).step_by(block_rows) {
            let last = (first + block_rows).min(rows);
            for (&root, &depth) in self.roots.iter().zip(&self.depths) {
                let mut row = first;
                while row + LANES <= last {
                    let block = &input[row * width..(row + LANES) * width];
                    let leaves = self.rows_through_tree(compare, root, depth, block, width);
                    for (lane, leaf) in leaves.into_iter().enumerate() {
                        accumulate.add_leaf(self, &mut scores, (row + lane) * outputs, leaf);
                    }
                    row += LANES;
                }
                for row in row..last {
                    let features = &input[row * width..(row + 1) * width];
                    let mut at = root;
                    for _ in 0..depth {
                        at = self.step(compare, at, features);
                    }
                    accumulate.add_leaf(self, &mut scores, row * outputs, at);
                }
            }
        }
        scores
    }

    /// One step of a walk: the child of node `at` that `features` takes (a leaf stays).
    #[inline(always)]
    fn step<C: Compare>(&self, compare: C, at: u32, features: &[f32]) -> u32 {
        let node = &self.nodes[at as usize];
        let value = features[compare.feature(node)];
        node.children[compare.goes_true(node, at as usize, value) as usize]
    }

    /// The leaves [`LANES`] consecutive rows of `block` (`width` apart) reach in the
    /// tree at `root`, walked in lock-step: one walk is a chain of dependent loads, and
    /// interleaving independent chains lets the CPU overlap their latencies.
    #[inline(always)]
    fn rows_through_tree<C: Compare>(
        &self,
        compare: C,
        root: u32,
        depth: u32,
        block: &[f32],
        width: usize,
    ) -> [u32; LANES] {
        let rows: [&[f32]; LANES] = std::array::from_fn(|lane| &block[lane * width..]);
        let mut at = [root; LANES];
        for _ in 0..depth {
            for lane in 0..LANES {
                at[lane] = self.step(compare, at[lane], rows[lane]);
            }
        }
        at
    }

    /// Puts in `leaves[tree]` the leaf one row reaches in each tree, walking the trees
    /// of a group in lock-step.
    #[inline(always)]
    fn row_through_groups<C: Compare>(&self, compare: C, features: &[f32], leaves: &mut [u32]) {
        for group in &self.tree_groups {
            let mut at = group.roots;
            for _ in 0..group.depth {
                for lane in at.iter_mut() {
                    *lane = self.step(compare, *lane, features);
                }
            }
            for (&tree, leaf) in group.trees.iter().zip(at) {
                leaves[tree as usize] = leaf;
            }
        }
    }
}
