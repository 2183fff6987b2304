//! CART trees, for classes (Gini impurity) and for values (squared error), grown in a
//! fixed order of operations, so the same rows give the same tree in every process.
//!
//! linfa-trees, which grew our trees before, keeps class counts in a `HashMap` and sums
//! the Gini terms in the map's iteration order, which is random per map: with three or
//! more classes two candidate splits whose scores differ in the last bit of an `f32`
//! are ranked differently from run to run, and the tree changes. Here the counts are
//! integers in class order, the score of a split is computed from integer sums of
//! squares, and the first best split (lowest column, lowest threshold) wins exact ties.

mod values;

use ndarray::{ArrayView1, ArrayView2};
use rand::{rngs::StdRng, SeedableRng};

/// Limits on how far a tree grows (scikit-learn's names and meanings).
#[derive(Debug, Clone, Copy)]
pub struct TreeParams {
    /// Maximum depth (the root is depth 0); `None` grows until the leaves are pure.
    pub max_depth: Option<usize>,
    /// A node with fewer rows than this is a leaf.
    pub min_samples_split: usize,
    /// A split leaving fewer rows than this on either side is not made.
    pub min_samples_leaf: usize,
    /// Columns drawn (without replacement) at each node to look for its split, as
    /// scikit-learn's `max_features`; `None` looks at every column. When none of the
    /// drawn columns can split the node, every column is tried.
    pub split_features: Option<usize>,
    /// Seed of those draws.
    pub seed: u64,
}

/// A node of a [`Tree`]; children are indices into the tree's nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Predicts `class`.
    Leaf {
        /// The most frequent class of the node's training rows (the lowest on a tie).
        class: usize,
    },
    /// Predicts `value` (a regression tree's leaf).
    Mean {
        /// The mean target of the node's training rows.
        value: f32,
    },
    /// Rows whose value in `column` is below `threshold` go `left`, the others `right`.
    Branch {
        /// The column of the table (not of a tree's feature subset).
        column: usize,
        /// The split: a value strictly between the training values on either side.
        threshold: f32,
        /// Index of the left child.
        left: usize,
        /// Index of the right child.
        right: usize,
    },
}

/// A fitted classification tree. Nodes are stored in pre-order: the root first, every
/// node before its subtree, the left subtree before the right.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    nodes: Vec<Node>,
}

/// The training rows a tree is grown on.
struct Sample<'a> {
    records: ArrayView2<'a, f32>,
    targets: &'a [usize],
    n_classes: usize,
    columns: &'a [usize],
    params: TreeParams,
}

/// The best split of a node found so far.
struct Split {
    column: usize,
    threshold: f32,
    /// `sum(left counts^2) / left rows + sum(right counts^2) / right rows`: the larger,
    /// the lower the weighted Gini impurity of the two sides.
    purity: f64,
}

impl Tree {
    /// Grows a tree on `rows` (indices into `records` and `targets`; a row may repeat,
    /// as bootstrap draws do), splitting only on `columns`. `targets` are classes below
    /// `n_classes`. Every value in `records` must be finite.
    pub fn fit<'a>(
        records: ArrayView2<'a, f32>,
        targets: &'a [usize],
        n_classes: usize,
        rows: &mut [usize],
        columns: &'a [usize],
        params: TreeParams,
    ) -> Tree {
        let sample = Sample {
            records,
            targets,
            n_classes,
            columns,
            params,
        };
        let mut tree = Tree { nodes: Vec::new() };
        tree.grow(&sample, rows, 0, &mut StdRng::seed_from_u64(params.seed));
        tree
    }

    /// The nodes, root first, in pre-order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The class this tree predicts for `row` (a row of the table it was trained on);
    /// 0 for a regression tree.
    pub fn predict_row(&self, row: ArrayView1<f32>) -> usize {
        match self.leaf(row) {
            Node::Leaf { class } => *class,
            _ => 0,
        }
    }

    /// The value this regression tree predicts for `row`; the class for a classifier.
    pub fn predict_value(&self, row: ArrayView1<f32>) -> f32 {
        match self.leaf(row) {
            Node::Mean { value } => *value,
            Node::Leaf { class } => *class as f32,
            Node::Branch { .. } => unreachable!("a walk ends at a leaf"),
        }
    }

    fn leaf(&self, row: ArrayView1<f32>) -> &Node {
        let mut at = 0;
        loop {
            match self.nodes[at] {
                Node::Branch {
                    column,
                    threshold,
                    left,
                    right,
                } => at = if row[column] < threshold { left } else { right },
                ref leaf => return leaf,
            }
        }
    }

    /// Appends the subtree of `rows` and returns its root's index. A split whose two
    /// children are leaves of one class is undone: it changes no prediction.
    fn grow(
        &mut self,
        sample: &Sample,
        rows: &mut [usize],
        depth: usize,
        rng: &mut StdRng,
    ) -> usize {
        let at = self.nodes.len();
        let counts = class_counts(sample, rows);
        let class = first_max(&counts);
        self.nodes.push(Node::Leaf { class });
        let pure = counts[class] == rows.len();
        let deep = sample.params.max_depth.is_some_and(|max| depth >= max);
        if pure || deep || rows.len() < sample.params.min_samples_split {
            return at;
        }
        let picked = pick(sample.columns, sample.params.split_features, rng);
        let best = best_split(sample, rows, &counts, &picked).or_else(|| {
            retry(&picked, sample.columns, |all| {
                best_split(sample, rows, &counts, all)
            })
        });
        let Some(split) = best else {
            return at;
        };
        // Stable partition: each side keeps the rows' order, so the children see the
        // same sequence whatever the platform.
        let (left_rows, right_rows): (Vec<usize>, Vec<usize>) = rows
            .iter()
            .partition(|&&r| sample.records[[r, split.column]] < split.threshold);
        let n_left = left_rows.len();
        rows[..n_left].copy_from_slice(&left_rows);
        rows[n_left..].copy_from_slice(&right_rows);
        let (left_part, right_part) = rows.split_at_mut(n_left);
        let left = self.grow(sample, left_part, depth + 1, rng);
        let right = self.grow(sample, right_part, depth + 1, rng);
        match (&self.nodes[left], &self.nodes[right]) {
            (Node::Leaf { class: a }, Node::Leaf { class: b }) if a == b => {
                self.nodes.truncate(at + 1);
            }
            _ => {
                self.nodes[at] = Node::Branch {
                    column: split.column,
                    threshold: split.threshold,
                    left,
                    right,
                }
            }
        }
        at
    }
}

/// `k` of `columns` drawn without replacement, in increasing order (so exact ties still
/// go to the lowest column); all of them when `k` is `None` or not smaller.
fn pick(columns: &[usize], k: Option<usize>, rng: &mut StdRng) -> Vec<usize> {
    match k {
        Some(k) if k < columns.len() => {
            let mut picked: Vec<usize> = rand::seq::index::sample(rng, columns.len(), k.max(1))
                .into_iter()
                .map(|i| columns[i])
                .collect();
            picked.sort_unstable();
            picked
        }
        _ => columns.to_vec(),
    }
}

/// The search over every column, when the drawn ones were fewer and found no split.
fn retry(
    picked: &[usize],
    columns: &[usize],
    search: impl FnOnce(&[usize]) -> Option<Split>,
) -> Option<Split> {
    if picked.len() < columns.len() {
        search(columns)
    } else {
        None
    }
}

/// Rows of each class among `rows`.
fn class_counts(sample: &Sample, rows: &[usize]) -> Vec<usize> {
    let mut counts = vec![0; sample.n_classes];
    for &r in rows {
        counts[sample.targets[r]] += 1;
    }
    counts
}

/// Index of the first largest count.
fn first_max(counts: &[usize]) -> usize {
    let mut best = 0;
    for (i, &c) in counts.iter().enumerate() {
        if c > counts[best] {
            best = i;
        }
    }
    best
}

/// The split of `rows` with the lowest weighted Gini impurity that leaves at least
/// `min_samples_leaf` rows on each side, as scikit-learn's `best` splitter chooses it
/// (without its random feature order): `None` when every column is constant on `rows`.
fn best_split(
    sample: &Sample,
    rows: &[usize],
    counts: &[usize],
    columns: &[usize],
) -> Option<Split> {
    let n = rows.len();
    let min_leaf = sample.params.min_samples_leaf.max(1);
    let total_squares: u64 = counts.iter().map(|&c| (c * c) as u64).sum();
    let mut best: Option<Split> = None;
    let mut sorted: Vec<(f32, usize)> = Vec::with_capacity(n);
    for &column in columns {
        sorted.clear();
        sorted.extend(
            rows.iter()
                .map(|&r| (sample.records[[r, column]], sample.targets[r])),
        );
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut left = vec![0u64; sample.n_classes];
        let mut right: Vec<u64> = counts.iter().map(|&c| c as u64).collect();
        // Sums of squared class counts, updated exactly as one row moves left.
        let (mut left_squares, mut right_squares) = (0u64, total_squares);
        for i in 0..n - 1 {
            let class = sorted[i].1;
            left_squares += 2 * left[class] + 1;
            right_squares -= 2 * right[class] - 1;
            left[class] += 1;
            right[class] -= 1;
            let (low, high) = (sorted[i].0, sorted[i + 1].0);
            let n_left = i + 1;
            if low == high || n_left < min_leaf || n - n_left < min_leaf {
                continue;
            }
            let purity =
                left_squares as f64 / n_left as f64 + right_squares as f64 / (n - n_left) as f64;
            if best.as_ref().is_none_or(|b| purity > b.purity) {
                best = Some(Split {
                    column,
                    threshold: midpoint(low, high),
                    purity,
                });
            }
        }
    }
    best
}

/// A threshold `t` with `low < t <= high`, so that `x < t` sends `low` left and `high`
/// right: the midpoint, or `high` when the midpoint rounds down to `low`.
fn midpoint(low: f32, high: f32) -> f32 {
    let mid = ((f64::from(low) + f64::from(high)) / 2.0) as f32;
    if mid > low {
        mid
    } else {
        high
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    const GROW: TreeParams = TreeParams {
        max_depth: None,
        min_samples_split: 2,
        min_samples_leaf: 1,
        split_features: None,
        seed: 0,
    };

    fn fit(records: &Array2<f32>, targets: &[usize], params: TreeParams) -> Tree {
        let mut rows: Vec<usize> = (0..targets.len()).collect();
        let columns: Vec<usize> = (0..records.ncols()).collect();
        let n_classes = targets.iter().max().unwrap() + 1;
        Tree::fit(
            records.view(),
            targets,
            n_classes,
            &mut rows,
            &columns,
            params,
        )
    }

    #[test]
    fn a_fully_grown_tree_predicts_every_training_row() {
        let records = array![[1.0, 5.0], [2.0, 4.0], [3.0, 3.0], [4.0, 2.0], [5.0, 9.0]];
        let targets = [0, 1, 2, 1, 0];
        let tree = fit(&records, &targets, GROW);
        for (row, &class) in records.rows().into_iter().zip(&targets) {
            assert_eq!(tree.predict_row(row), class);
        }
    }

    #[test]
    fn thresholds_fall_between_training_values_even_for_adjacent_floats() {
        let low = 1.0f32;
        let high = f32::from_bits(low.to_bits() + 1);
        let t = midpoint(low, high);
        assert!(low < t && t <= high, "{t}");
        assert_eq!(midpoint(1.0, 3.0), 2.0);
    }

    #[test]
    fn exact_ties_go_to_the_first_column_and_leaf_ties_to_the_lowest_class() {
        // Both columns split the rows identically: the first one is chosen.
        let records = array![[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]];
        let tree = fit(&records, &[0, 0, 1, 1], GROW);
        assert!(matches!(tree.nodes()[0], Node::Branch { column: 0, .. }));
        let stump = fit(&records, &[1, 0, 1, 0], GROW);
        assert_eq!(stump.nodes(), [Node::Leaf { class: 0 }]);
    }

    #[test]
    fn splits_that_change_no_prediction_are_undone() {
        // Class 0 dominates both sides of every split when depth is limited to 1.
        let records = Array2::from_shape_fn((8, 1), |(i, _)| i as f32);
        let targets = [0, 0, 1, 0, 0, 1, 0, 0];
        let params = TreeParams {
            max_depth: Some(1),
            ..GROW
        };
        assert_eq!(fit(&records, &targets, params).nodes().len(), 1);
        // Grown in full, the same rows do need splits.
        assert!(fit(&records, &targets, GROW).nodes().len() > 1);
    }

    #[test]
    fn min_samples_leaf_and_max_depth_bound_the_tree() {
        let records = Array2::from_shape_fn((40, 1), |(i, _)| i as f32);
        let targets: Vec<usize> = (0..40).map(|i| (i * 7 % 3) % 2).collect();
        let deep = fit(&records, &targets, GROW);
        assert!(deep.depth() > 2);
        let shallow = fit(
            &records,
            &targets,
            TreeParams {
                max_depth: Some(2),
                ..GROW
            },
        );
        assert!(shallow.depth() <= 2);
        let leafy = fit(
            &records,
            &targets,
            TreeParams {
                min_samples_leaf: 8,
                ..GROW
            },
        );
        let mut sizes = vec![0; leafy.nodes().len()];
        for row in records.rows() {
            let mut at = 0;
            while let Node::Branch {
                column,
                threshold,
                left,
                right,
            } = leafy.nodes()[at]
            {
                at = if row[column] < threshold { left } else { right };
            }
            sizes[at] += 1;
        }
        let leaves = sizes.iter().filter(|&&s| s > 0);
        assert!(leaves.clone().all(|&s| s >= 8), "{sizes:?}");
    }
}
