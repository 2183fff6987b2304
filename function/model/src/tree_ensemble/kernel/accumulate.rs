//! How the leaves a row reaches become its scores: the aggregates, and accumulators
//! specialised for the common leaf layouts (sums that need no presence flags, one entry
//! per leaf, one entry per output in output order), with one row's sums in registers;
//! and which outputs a row's leaves fill, when the layout says so at load.

#![forbid(unsafe_code)]

use super::layout::Trees;
use super::nodes::Node;

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

/// Per row and output: the aggregated value and whether any leaf contributed to it
/// (ONNX runtimes treat "no contribution" differently from a zero sum).
pub struct Scores {
    /// rows x outputs, row-major.
    pub values: Vec<f32>,
    /// rows x outputs: some leaf had an entry for this output.
    pub present: Vec<bool>,
}

/// How a leaf's entries join its row's scores.
pub(super) trait Accumulate: Copy {
    /// Adds the entries of node `leaf` to one row's scores, which start at `out`.
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
/// ([`Trees::weights_positive`], or [`Trees::presence`] known at load): one add per
/// entry.
#[derive(Clone, Copy)]
pub(super) struct Sum;

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
pub(super) struct SumSingle<'a>(pub(super) &'a [(u32, f32)]);

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
pub(super) struct SumRows;

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
pub(super) struct Tracked(pub(super) Aggregate);

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

/// Per output, whether every row's leaves have an entry for it (`true`) or none do
/// (`false`), or `None` when some output is neither: then only tracking while adding
/// tells. An output is always there when one tree has an entry for it in every leaf,
/// and never when no leaf has one; XGBoost's binary and multi-class layouts (each tree's
/// leaves all for one class) are always one or the other, with weights of both signs,
/// so a sum of zero does not tell either.
pub(super) fn output_presence(
    nodes: &[Node],
    roots: &[u32],
    entries: &[Vec<(u32, f32)>],
    n_outputs: usize,
) -> Option<Vec<bool>> {
    let (mut always, mut sometimes) = (vec![false; n_outputs], vec![false; n_outputs]);
    // Per output, the leaves of the current tree with an entry for it.
    let mut leaves_with = vec![0usize; n_outputs];
    let mut stack = Vec::new();
    for &root in roots {
        leaves_with.fill(0);
        let mut leaves = 0;
        stack.push(root);
        while let Some(at) = stack.pop() {
            let node = &nodes[at as usize];
            if node.children != [at, at] {
                stack.extend(node.children);
                continue;
            }
            leaves += 1;
            for (k, with) in leaves_with.iter_mut().enumerate() {
                *with += usize::from(entries[at as usize].iter().any(|&(o, _)| o as usize == k));
            }
        }
        for (k, &with) in leaves_with.iter().enumerate() {
            always[k] |= with == leaves;
            sometimes[k] |= with > 0 && with < leaves;
        }
    }
    let known = (0..n_outputs).all(|k| always[k] || !sometimes[k]);
    known.then_some(always)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::stump;
    use super::*;

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
}
