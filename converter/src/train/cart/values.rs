//! Regression trees: the split of least squared error, leaves that predict the mean of
//! their training rows (sums in f64, in row order, so runs agree to the bit).

use ndarray::ArrayView2;
use rand::{rngs::StdRng, SeedableRng};

use super::{midpoint, pick, retry, Node, Split, Tree, TreeParams};

impl Tree {
    /// Grows a regression tree on `rows` of `records` and their target `values`,
    /// splitting only on `columns`, choosing the split of least squared error (sums
    /// in f64 in row order). Every value must be finite.
    pub fn fit_values<'a>(
        records: ArrayView2<'a, f32>,
        values: &'a [f32],
        rows: &mut [usize],
        columns: &'a [usize],
        params: TreeParams,
    ) -> Tree {
        let mut tree = Tree { nodes: Vec::new() };
        let sample = ValueSample {
            records,
            values,
            columns,
            params,
        };
        tree.grow_values(&sample, rows, 0, &mut StdRng::seed_from_u64(params.seed));
        tree
    }

    fn grow_values(
        &mut self,
        sample: &ValueSample,
        rows: &mut [usize],
        depth: usize,
        rng: &mut StdRng,
    ) -> usize {
        let at = self.nodes.len();
        let sum: f64 = rows.iter().map(|&r| f64::from(sample.values[r])).sum();
        let value = (sum / rows.len() as f64) as f32;
        self.nodes.push(Node::Mean { value });
        let first = sample.values[rows[0]];
        let constant = rows.iter().all(|&r| sample.values[r] == first);
        let deep = sample.params.max_depth.is_some_and(|max| depth >= max);
        if constant || deep || rows.len() < sample.params.min_samples_split {
            return at;
        }
        let picked = pick(sample.columns, sample.params.split_features, rng);
        let best = best_value_split(sample, rows, sum, &picked).or_else(|| {
            retry(&picked, sample.columns, |all| {
                best_value_split(sample, rows, sum, all)
            })
        });
        let Some(split) = best else {
            return at;
        };
        let (left_rows, right_rows): (Vec<usize>, Vec<usize>) = rows
            .iter()
            .partition(|&&r| sample.records[[r, split.column]] < split.threshold);
        let n_left = left_rows.len();
        rows[..n_left].copy_from_slice(&left_rows);
        rows[n_left..].copy_from_slice(&right_rows);
        let (left_part, right_part) = rows.split_at_mut(n_left);
        let left = self.grow_values(sample, left_part, depth + 1, rng);
        let right = self.grow_values(sample, right_part, depth + 1, rng);
        self.nodes[at] = Node::Branch {
            column: split.column,
            threshold: split.threshold,
            left,
            right,
        };
        at
    }

    /// Length of the longest path from the root to a leaf, in edges.
    pub fn depth(&self) -> usize {
        fn below(nodes: &[Node], at: usize) -> usize {
            match nodes[at] {
                Node::Leaf { .. } | Node::Mean { .. } => 0,
                Node::Branch { left, right, .. } => 1 + below(nodes, left).max(below(nodes, right)),
            }
        }
        below(&self.nodes, 0)
    }
}

/// The training rows a regression tree is grown on.
struct ValueSample<'a> {
    records: ArrayView2<'a, f32>,
    values: &'a [f32],
    columns: &'a [usize],
    params: TreeParams,
}

/// The split of `rows` with the least squared error (the largest
/// `left sum^2 / left rows + right sum^2 / right rows`), at least `min_samples_leaf`
/// rows on each side; the first best wins ties. `None` when every column is constant.
fn best_value_split(
    sample: &ValueSample,
    rows: &[usize],
    total: f64,
    columns: &[usize],
) -> Option<Split> {
    let n = rows.len();
    let min_leaf = sample.params.min_samples_leaf.max(1);
    let mut best: Option<Split> = None;
    let mut sorted: Vec<(f32, f64)> = Vec::with_capacity(n);
    for &column in columns {
        sorted.clear();
        sorted.extend(
            rows.iter()
                .map(|&r| (sample.records[[r, column]], f64::from(sample.values[r]))),
        );
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut left = 0.0f64;
        for i in 0..n - 1 {
            left += sorted[i].1;
            let (low, high) = (sorted[i].0, sorted[i + 1].0);
            let n_left = i + 1;
            if low == high || n_left < min_leaf || n - n_left < min_leaf {
                continue;
            }
            let right = total - left;
            let purity = left * left / n_left as f64 + right * right / (n - n_left) as f64;
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    const GROW: TreeParams = TreeParams {
        max_depth: None,
        min_samples_split: 2,
        min_samples_leaf: 1,
        split_features: None,
        seed: 0,
    };

    #[test]
    fn a_regression_tree_fits_a_step_and_averages_its_leaves() {
        let records = Array2::from_shape_fn((6, 2), |(i, j)| (i * (j + 1)) as f32);
        let values = [1.0, 1.0, 1.0, 5.0, 5.0, 6.0];
        let mut rows: Vec<usize> = (0..6).collect();
        let params = TreeParams {
            max_depth: Some(1),
            ..GROW
        };
        let tree = Tree::fit_values(records.view(), &values, &mut rows, &[0, 1], params);
        let predicted: Vec<f32> = (records.rows().into_iter())
            .map(|row| tree.predict_value(row))
            .collect();
        assert_eq!(
            predicted,
            [1.0, 1.0, 1.0, 16.0 / 3.0, 16.0 / 3.0, 16.0 / 3.0]
        );
        assert!(matches!(tree.nodes()[0], Node::Branch { column: 0, .. }));
    }
}
