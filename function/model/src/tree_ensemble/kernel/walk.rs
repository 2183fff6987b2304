//! The walks: which loops an ensemble takes (a copy for `x < t` and one for per-node
//! modes, each per leaf layout; rows with NaN apart when the missing-value rules need
//! it), batches walked in blocks of feature-major row groups one tree at a time, and
//! single rows (and a batch's tail) walked through groups of trees.

use super::accumulate::{Accumulate, Aggregate, Scores, Sum, SumRows, SumSingle, Tracked};
use super::compare::{Compare, Fixed, Mode, PerNode};
use super::layout::Trees;
use super::LANES;

/// The comparison of every ensemble without `Eq`/`Neq` branches, for rows without NaN
/// (or for every row when no branch sends NaN to its true child).
const LESS_THAN: Fixed<{ Mode::Lt as u8 }> = Fixed;

/// How the leaves a row reaches add up: a sum specialised for the leaf layout where
/// presence is known without tracking it, or the general tracked aggregate.
#[derive(Clone, Copy)]
enum Accumulator<'a> {
    Single(SumSingle<'a>),
    Rows,
    Sum,
    Tracked(Tracked),
}

/// Whether this CPU runs AVX2 code (std caches the answer). Tests can turn it off on
/// their thread, to check both copies of the batch loop.
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    #[cfg(test)]
    if tests::AVX2_OFF.with(std::cell::Cell::get) {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2")
}

/// Input values (floats) of the rows walked through one tree before the next tree:
/// 128 KiB, which stays in a core's L2 cache. Large trees do not fit in cache, so the
/// more rows share each pass over a tree the better, up to what the cache holds (see
/// BENCHMARKS.md, "2026-11-27: the first kernel"); small trees do not care.
const BLOCK_VALUES: usize = 32 * 1024;
/// At most this many rows per block, however few features they have.
const MAX_BLOCK_ROWS: usize = 4096;

impl Trees {
    /// Aggregates the leaves reached by each row of `input` (row-major, `width` columns,
    /// `width >= n_features_used`).
    pub fn scores(&self, input: &[f32], width: usize, aggregate: Aggregate) -> Scores {
        let columns = self.nodes.columns();
        assert!(
            width >= columns,
            "rows of {width} values, the trees read {columns}"
        );
        let sums = matches!(aggregate, Aggregate::Sum | Aggregate::Average);
        let untracked = sums && (self.weights_positive || self.presence.is_some());
        let accumulator = match (&self.single_entries, untracked) {
            (_, false) => Accumulator::Tracked(Tracked(aggregate)),
            (Some(single), true) => Accumulator::Single(SumSingle(single)),
            (None, true) if self.leaves_by_output => Accumulator::Rows,
            (None, true) => Accumulator::Sum,
        };
        // Every ensemble without Eq/Neq branches compares `x < t` only (see
        // `Mode::as_less_than`), and that one comparison is inlined. The missing-value
        // flags only matter for rows with a NaN: when some node sends NaN to its true
        // child, such rows take the per-node rule, and the others keep the fast one.
        let mut scores = if self.uniform != Some(Mode::Lt) {
            self.scores_accumulated(PerNode(&self.modes), accumulator, input, width)
        } else if !self.any_nan_true || !input.iter().any(|v| v.is_nan()) {
            self.scores_accumulated(LESS_THAN, accumulator, input, width)
        } else {
            self.scores_nan_apart(accumulator, input, width)
        };
        match (&self.presence, untracked) {
            (_, false) => {}
            // Known at load: the same for every row.
            (Some(presence), true) => {
                // (No outputs: no flags, and no chunks of zero, which would panic.)
                for row in scores.present.chunks_exact_mut(presence.len().max(1)) {
                    row.copy_from_slice(presence);
                }
            }
            // Every weight is positive: a sum is non-zero once a leaf added to it.
            (None, true) => {
                for (present, value) in scores.present.iter_mut().zip(&scores.values) {
                    *present = *value != 0.0;
                }
            }
        }
        scores
    }

    /// [`Self::scores`] of the rows with a NaN (among the columns the trees read) through
    /// the per-node rule, the others through `x < t` alone; the rows are copied apart,
    /// then their scores put back in row order. Each row is still summed in tree order,
    /// so its scores are what one pass would give.
    fn scores_nan_apart(&self, accumulator: Accumulator, input: &[f32], width: usize) -> Scores {
        let columns = self.nodes.columns();
        let has_nan: Vec<bool> = (input.chunks_exact(width))
            .map(|row| row[..columns].iter().fold(false, |nan, v| nan | v.is_nan()))
            .collect();
        let (mut with_nan, mut without) = (Vec::new(), Vec::new());
        for (row, &nan) in input.chunks_exact(width).zip(&has_nan) {
            let apart = if nan { &mut with_nan } else { &mut without };
            apart.extend_from_slice(&row[..columns]);
        }
        let with_nan =
            self.scores_accumulated(PerNode(&self.modes), accumulator, &with_nan, columns);
        let without = self.scores_accumulated(LESS_THAN, accumulator, &without, columns);
        let outputs = self.n_outputs;
        let mut scores = Scores {
            values: Vec::with_capacity(has_nan.len() * outputs),
            present: Vec::with_capacity(has_nan.len() * outputs),
        };
        let mut next = [0, 0];
        for nan in has_nan {
            let (apart, at) = match nan {
                true => (&with_nan, &mut next[0]),
                false => (&without, &mut next[1]),
            };
            scores
                .values
                .extend_from_slice(&apart.values[*at..*at + outputs]);
            scores
                .present
                .extend_from_slice(&apart.present[*at..*at + outputs]);
            *at += outputs;
        }
        scores
    }

    /// [`Self::scores_with`] monomorphised for `accumulator`.
    fn scores_accumulated<C: Compare>(
        &self,
        compare: C,
        accumulator: Accumulator,
        input: &[f32],
        width: usize,
    ) -> Scores {
        match accumulator {
            Accumulator::Single(single) => self.scores_with(compare, single, input, width),
            Accumulator::Rows => self.scores_with(compare, SumRows, input, width),
            Accumulator::Sum => self.scores_with(compare, Sum, input, width),
            Accumulator::Tracked(tracked) => self.scores_with(compare, tracked, input, width),
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
        self.groups_through_trees(compare, accumulate, &lanes, columns, &mut scores);
        one_by_one(&mut scores, groups * LANES);
        scores
    }

    /// Adds to `scores` the leaves every group of [`LANES`] rows in `lanes` (each
    /// `columns` values, feature-major) reaches in every tree: the groups in blocks that
    /// stay in cache, each block through one tree after the other. On x86-64 CPUs with
    /// AVX2, a copy of the loop compiled for it: the bit-set tests of a group's 8 rows
    /// are then one vector instruction each instead of two (the build targets baseline
    /// x86-64, which has 4-lane vectors only).
    fn groups_through_trees<C: Compare, A: Accumulate>(
        &self,
        compare: C,
        accumulate: A,
        lanes: &[f32],
        columns: usize,
        scores: &mut Scores,
    ) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 (just detected), the one requirement for calling
            // a function compiled with it.
            unsafe { self.groups_through_trees_avx2(compare, accumulate, lanes, columns, scores) };
            return;
        }
        self.groups_through_trees_inline(compare, accumulate, lanes, columns, scores);
    }

    /// [`Self::groups_through_trees`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn groups_through_trees_avx2<C: Compare, A: Accumulate>(
        &self,
        compare: C,
        accumulate: A,
        lanes: &[f32],
        columns: usize,
        scores: &mut Scores,
    ) {
        self.groups_through_trees_inline(compare, accumulate, lanes, columns, scores);
    }

    #[inline(always)]
    fn groups_through_trees_inline<C: Compare, A: Accumulate>(
        &self,
        compare: C,
        accumulate: A,
        lanes: &[f32],
        columns: usize,
        scores: &mut Scores,
    ) {
        let group_values = columns * LANES;
        let groups = lanes.len() / group_values;
        let block = (BLOCK_VALUES / group_values).clamp(1, MAX_BLOCK_ROWS / LANES);
        let compact = self.compact.as_ref().filter(|_| C::LESS_THAN_ONLY);
        for first in (0..groups).step_by(block) {
            let last = (first + block).min(groups);
            let block = &lanes[first * group_values..last * group_values];
            let first_row = first * LANES;
            for (tree, (&root, &depth)) in self.roots.iter().zip(&self.depths).enumerate() {
                // One loop per kind of tree: one loop choosing per group took 2.04-2.16
                // ms for 1000 rows of the 500-tree LightGBM model (small trees only),
                // against 1.83-1.99 ms with these loops or none for compact trees.
                match (self.small_trees.tree(tree), compact) {
                    (Some(small), _) => self.block_through_tree(
                        accumulate,
                        block,
                        group_values,
                        first_row,
                        scores,
                        |values| self.small_trees.rows_through(compare, small, values),
                    ),
                    (None, Some(compact)) => self.block_through_tree(
                        accumulate,
                        block,
                        group_values,
                        first_row,
                        scores,
                        |values| compact.rows_through_tree(tree, depth, values),
                    ),
                    (None, None) => self.block_through_tree(
                        accumulate,
                        block,
                        group_values,
                        first_row,
                        scores,
                        |values| self.rows_through_tree(compare, root, depth, values),
                    ),
                }
            }
        }
    }

    /// Adds to `scores` the leaves `walk` finds for each group of `block` (feature-major
    /// groups of [`LANES`] rows, `group_values` values each, the first one row
    /// `first_row`) in one tree.
    #[inline(always)]
    fn block_through_tree<A: Accumulate>(
        &self,
        accumulate: A,
        block: &[f32],
        group_values: usize,
        first_row: usize,
        scores: &mut Scores,
        walk: impl Fn(&[f32]) -> [u32; LANES],
    ) {
        let outputs = self.n_outputs;
        for (group, values) in block.chunks_exact(group_values).enumerate() {
            for (lane, leaf) in walk(values).into_iter().enumerate() {
                let row = first_row + group * LANES + lane;
                accumulate.add_leaf(self, scores, row * outputs, leaf);
            }
        }
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
        if let (true, Some(compact)) = (C::LESS_THAN_ONLY, &self.compact) {
            compact.row_through_groups(&self.tree_groups, features, leaves);
            return;
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
pub(super) mod tests {
    use super::super::fixtures::stump;
    use super::*;

    thread_local! {
        /// Set: this thread's batches take the baseline copy of the loop even where the
        /// CPU has AVX2.
        pub(in super::super) static AVX2_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
