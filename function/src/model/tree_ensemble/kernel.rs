//! The hot loop: a flat tree layout built once at load time, and a batch walk that takes
//! a block of rows through one tree at a time so the tree stays in cache.
//!
//! Branch nodes are 16 bytes (`feature`, `threshold`, two children); a child with the
//! [`LEAF`] bit set is a leaf index, so reaching a leaf's weights is O(1) (tract 0.23
//! scans all leaves for that). When every branch uses one comparison the walk is
//! monomorphised for it; mixed ensembles read a per-node mode.

/// Marks a child reference as a leaf index rather than a node index.
pub const LEAF: u32 = 1 << 31;
/// In [`Node::feature`]: a NaN feature value takes the true branch.
pub const NAN_TRUE: u32 = 1 << 31;

/// Rows walked through one tree before moving to the next tree.
const BLOCK_ROWS: usize = 64;
/// Rows walked through a tree together, in lock-step.
const LANES: usize = 8;

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

/// A branch node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Input column, with [`NAN_TRUE`] set when missing values go to the true branch.
    pub feature: u32,
    /// Split value.
    pub threshold: f32,
    /// `[false child, true child]`: node indices, or leaf indices with [`LEAF`] set.
    pub children: [u32; 2],
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
    /// Branch nodes of every tree.
    pub nodes: Vec<Node>,
    /// Per node comparison, used when `uniform` is `None`.
    pub modes: Vec<Mode>,
    /// The comparison every branch uses, if they all use one.
    pub uniform: Option<Mode>,
    /// Per tree, its root: a node index, or a leaf index with [`LEAF`] set.
    pub roots: Vec<u32>,
    /// Leaf `i` owns entries `leaf_offsets[i]..leaf_offsets[i + 1]`.
    pub leaf_offsets: Vec<u32>,
    /// Output (class or target) of each leaf entry.
    pub leaf_outputs: Vec<u32>,
    /// Weight of each leaf entry.
    pub leaf_weights: Vec<f32>,
    /// Number of outputs (classes or targets).
    pub n_outputs: usize,
    /// One more than the largest feature index any node reads.
    pub n_features_used: usize,
}

/// Per row and output: the aggregated value and whether any leaf contributed to it
/// (ONNX runtimes treat "no contribution" differently from a zero sum).
pub struct Scores {
    /// rows x outputs, row-major.
    pub values: Vec<f32>,
    /// rows x outputs: some leaf had an entry for this output.
    pub present: Vec<bool>,
}

/// Comparison strategy of a walk: one fixed mode, or the node's own.
trait Compare: Copy {
    fn goes_true(self, node: usize, value: f32, threshold: f32) -> bool;
}

/// One mode for every node, fixed at compile time (`M` is a [`Mode`] as `u8`), so each
/// mode gets its own copy of the walk with the comparison inlined.
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
    fn goes_true(self, _node: usize, value: f32, threshold: f32) -> bool {
        Self::MODE.holds(value, threshold)
    }
}

#[derive(Clone, Copy)]
struct PerNode<'a>(&'a [Mode]);

impl Compare for PerNode<'_> {
    #[inline(always)]
    fn goes_true(self, node: usize, value: f32, threshold: f32) -> bool {
        self.0[node].holds(value, threshold)
    }
}

impl Trees {
    /// Aggregates the leaves reached by each row of `input` (row-major, `width` columns,
    /// `width >= n_features_used`).
    pub fn scores(&self, input: &[f32], width: usize, aggregate: Aggregate) -> Scores {
        // Each uniform mode gets its own copy of the loop with the comparison inlined.
        let (i, w, a) = (input, width, aggregate);
        match self.uniform {
            Some(Mode::Leq) => self.scores_with(Fixed::<{ Mode::Leq as u8 }>, i, w, a),
            Some(Mode::Lt) => self.scores_with(Fixed::<{ Mode::Lt as u8 }>, i, w, a),
            Some(Mode::Gte) => self.scores_with(Fixed::<{ Mode::Gte as u8 }>, i, w, a),
            Some(Mode::Gt) => self.scores_with(Fixed::<{ Mode::Gt as u8 }>, i, w, a),
            Some(Mode::Eq) => self.scores_with(Fixed::<{ Mode::Eq as u8 }>, i, w, a),
            Some(Mode::Neq) => self.scores_with(Fixed::<{ Mode::Neq as u8 }>, i, w, a),
            None => self.scores_with(PerNode(&self.modes), i, w, a),
        }
    }

    fn scores_with<C: Compare>(
        &self,
        compare: C,
        input: &[f32],
        width: usize,
        aggregate: Aggregate,
    ) -> Scores {
        let rows = input.len().checked_div(width).unwrap_or(0);
        let outputs = self.n_outputs;
        let mut scores = Scores {
            values: vec![0.0; rows * outputs],
            present: vec![false; rows * outputs],
        };
        for first in (0..rows).step_by(BLOCK_ROWS) {
            let last = (first + BLOCK_ROWS).min(rows);
            for &root in &self.roots {
                let mut row = first;
                while row + LANES <= last {
                    let leaves = self.leaves(compare, root, &input[row * width..], width);
                    for (lane, leaf) in leaves.into_iter().enumerate() {
                        self.add_leaf(&mut scores, (row + lane) * outputs, leaf, aggregate);
                    }
                    row += LANES;
                }
                for row in row..last {
                    let leaf = self.leaf(compare, root, &input[row * width..(row + 1) * width]);
                    self.add_leaf(&mut scores, row * outputs, leaf, aggregate);
                }
            }
        }
        scores
    }

    /// Adds the entries of `leaf` to the row whose outputs start at `out`.
    #[inline(always)]
    fn add_leaf(&self, scores: &mut Scores, out: usize, leaf: usize, aggregate: Aggregate) {
        let entries = self.leaf_offsets[leaf] as usize..self.leaf_offsets[leaf + 1] as usize;
        for entry in entries {
            let at = out + self.leaf_outputs[entry] as usize;
            let weight = self.leaf_weights[entry];
            let value = &mut scores.values[at];
            let present = &mut scores.present[at];
            *value = match aggregate {
                Aggregate::Sum | Aggregate::Average => *value + weight,
                Aggregate::Min if *present => value.min(weight),
                Aggregate::Max if *present => value.max(weight),
                Aggregate::Min | Aggregate::Max => weight,
            };
            *present = true;
        }
    }

    /// The leaves [`LANES`] consecutive rows (starting at `rows[0]`, `width` apart) reach
    /// from `root`, walked in lock-step: one row's walk is a chain of dependent loads,
    /// and interleaving independent chains lets the CPU overlap their latencies.
    #[inline(always)]
    fn leaves<C: Compare>(
        &self,
        compare: C,
        root: u32,
        rows: &[f32],
        width: usize,
    ) -> [usize; LANES] {
        let mut at = [root; LANES];
        let mut done = root & LEAF != 0;
        while !done {
            done = true;
            for (lane, at) in at.iter_mut().enumerate() {
                if *at & LEAF == 0 {
                    let index = *at as usize;
                    let node = &self.nodes[index];
                    let value = rows[lane * width + (node.feature & !NAN_TRUE) as usize];
                    let goes_true = compare.goes_true(index, value, node.threshold)
                        || (node.feature & NAN_TRUE != 0 && value.is_nan());
                    *at = node.children[goes_true as usize];
                }
                done &= *at & LEAF != 0;
            }
        }
        at.map(|a| (a & !LEAF) as usize)
    }

    /// The leaf `features` reaches from `at`.
    #[inline(always)]
    fn leaf<C: Compare>(&self, compare: C, mut at: u32, features: &[f32]) -> usize {
        while at & LEAF == 0 {
            let index = at as usize;
            let node = &self.nodes[index];
            let value = features[(node.feature & !NAN_TRUE) as usize];
            let goes_true = compare.goes_true(index, value, node.threshold)
                || (node.feature & NAN_TRUE != 0 && value.is_nan());
            at = node.children[goes_true as usize];
        }
        (at & !LEAF) as usize
    }
}
