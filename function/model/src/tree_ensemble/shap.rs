//! Exact SHAP values of a tree ensemble's summed scores: path-dependent TreeSHAP
//! (Lundberg, Erion and Lee, "Consistent individualized feature attribution for tree
//! ensembles", 2018, Algorithm 2), in polynomial time per tree.
//!
//! The value of a set of features `S` for a row is the tree's expected output when the
//! row's values are known for `S` only: at a branch on a feature in `S` the row's branch
//! is taken, at any other the two children are averaged, weighted by the share of the
//! training rows (the node *covers*) that went each way. A feature's SHAP value is its
//! Shapley value in that game. TreeSHAP gets all of them in one pass over the tree by
//! carrying, along each root-to-leaf path, the weights of every subset size of the
//! features met so far (`extend` and `unwind` below), so it visits each node once where
//! the definition enumerates `2^features` sets. The values of a row plus the ensemble's
//! expected value add up to its raw score exactly (additivity), which the tests check
//! along with the definition itself on small forests.
//!
//! The comparisons are the attributes' own (every `nodes_modes`, both missing-value
//! rules): the trees are read before the kernel rewrites them, so a row goes where the
//! model sends it. Branch shares come from the children's covers, `cover(child) /
//! (cover(true) + cover(false))`, and are even when both are 0 (a branch no training row
//! reached), so each branch's shares add up to 1 and additivity holds for any covers.
//! Scores are `f64`: the sums of many small terms stay exact to well below the 1e-5 that
//! shap's own (double) values are compared at.
//!
//! Trees are explained leaf by leaf instead (`tables`), with per-leaf tables of subset
//! weights where memory allows: the same values, several times faster. The recursion
//! remains for trees with a path of over 64 distinct features, and as the tests'
//! second opinion.

#![forbid(unsafe_code)]

mod tables;

use super::kernel::{Forest, NAN_TRUE};
use std::sync::OnceLock;

use tables::{Tables, BLOCK_ROWS, TABLE_BUDGET};

/// One feature met on the path to the current node, as TreeSHAP carries it.
#[derive(Debug, Clone, Copy)]
struct PathStep {
    /// The feature (`None` for the root's placeholder step).
    feature: Option<u32>,
    /// The share of the subsets without this feature that reach here.
    zero: f64,
    /// 1 when the row itself goes this way at every branch on the feature so far, else 0.
    one: f64,
    /// The weight of the subsets of this many of the path's features.
    weight: f64,
}

/// A tree ensemble ready to be explained: its trees as their attributes describe them,
/// each branch's share of training rows per child, and per leaf its value per output.
#[derive(Debug, Clone)]
pub struct ShapTrees {
    forest: Forest,
    /// Per node, the share of its cover that went `[false child, true child]`.
    shares: Vec<[f64; 2]>,
    /// Per node, `n_outputs` values (0.0 for branches): the leaf's entries per output.
    leaf_values: Vec<f64>,
    n_outputs: usize,
    n_features: usize,
    /// Per output, the trees' expected outputs summed (before any scale or base).
    expected: Vec<f64>,
    /// The per-leaf tables, built at the first explanation rather than at load: they
    /// cost tens of milliseconds and up to 32 MiB (lgbm500: load 17 ms without them,
    /// 71 ms with), which a served model that is never asked to explain should not pay
    /// at every cold start.
    tables: OnceLock<Tables>,
}

impl ShapTrees {
    /// The ensemble of `forest` (trees checked by the attribute reader), with `entries`
    /// per node its leaf entries (output, weight) for `n_outputs` outputs, and `covers`
    /// per node the training rows (or their weights) that reached it. Rows have
    /// `n_features` values, at least as many as the trees read.
    pub fn new(
        forest: Forest,
        entries: &[Vec<(u32, f32)>],
        covers: &[f64],
        n_outputs: usize,
        n_features: usize,
    ) -> Result<ShapTrees, String> {
        let n_nodes = forest.nodes.len();
        if covers.len() != n_nodes {
            return Err(format!("{} node covers for {n_nodes} nodes", covers.len()));
        }
        if let Some(at) = covers.iter().position(|c| !(c.is_finite() && *c >= 0.0)) {
            return Err(format!("node {at} has cover {}, not a count", covers[at]));
        }
        assert_eq!(entries.len(), n_nodes, "leaf entries per node");
        let is_leaf = |at: usize| forest.modes[at].is_none();
        let shares = (0..n_nodes)
            .map(|at| match is_leaf(at) {
                true => [0.0; 2],
                false => {
                    let [if_false, if_true] = forest.nodes[at].children.map(|c| covers[c as usize]);
                    let total = if_false + if_true;
                    match total > 0.0 {
                        true => [if_false / total, if_true / total],
                        false => [0.5, 0.5],
                    }
                }
            })
            .collect();
        let mut leaf_values = vec![0.0; n_nodes * n_outputs];
        for (at, entries) in entries.iter().enumerate().filter(|(at, _)| is_leaf(*at)) {
            for &(output, weight) in entries {
                leaf_values[at * n_outputs + output as usize] += f64::from(weight);
            }
        }
        let read = (forest.nodes.iter().enumerate())
            .filter(|(at, _)| !is_leaf(*at))
            .map(|(_, node)| node.column() + 1)
            .max()
            .unwrap_or(0);
        if read > n_features {
            return Err(format!(
                "the trees read {read} features, rows have {n_features}"
            ));
        }
        let mut trees = ShapTrees {
            forest,
            shares,
            leaf_values,
            n_outputs,
            n_features,
            expected: vec![0.0; n_outputs],
            tables: OnceLock::new(),
        };
        let mut expected = vec![0.0; n_outputs];
        for &root in &trees.forest.roots {
            trees.add_expected(root, 1.0, &mut expected);
        }
        trees.expected = expected;
        Ok(trees)
    }

    /// The same trees with tables for at most `budget` entries (0: every leaf computes
    /// its weights), for tests that compare the ways.
    #[cfg(test)]
    fn with_table_budget(mut self, budget: usize) -> ShapTrees {
        self.tables = OnceLock::from(Tables::new(&self, budget));
        self
    }

    /// The same trees explained by the recursion alone, for tests.
    #[cfg(test)]
    fn recursive_only(mut self) -> ShapTrees {
        self.tables = OnceLock::from(Tables::default());
        self
    }

    /// The tables, built on first use.
    fn tables(&self) -> &Tables {
        self.tables.get_or_init(|| Tables::new(self, TABLE_BUDGET))
    }

    /// Per output, the sum over trees of each tree's expected output: the raw score of a
    /// row about which nothing is known.
    pub fn expected_values(&self) -> &[f64] {
        &self.expected
    }

    /// Number of outputs explained.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Adds to `phi` (`n_features x n_outputs`, feature-major) the SHAP values of `row`
    /// (`n_features` values) for the summed scores of every tree.
    #[cfg(test)]
    pub fn explain(&self, row: &[f32], phi: &mut [f64]) {
        assert!(row.len() >= self.n_features, "a value per feature");
        self.explain_rows(row, row.len(), phi);
    }

    /// Adds to `phi` (per row, `n_features x n_outputs`, feature-major) the SHAP values
    /// of every row of `rows` (row-major, `width >= n_features` values each). Rows are
    /// taken in blocks, each tree for every row of a block in turn: a tree's tables
    /// (kilobytes) stay in cache for the block, where row after row through all the
    /// trees reads megabytes of them per row, a cache miss per lookup.
    pub fn explain_rows(&self, rows: &[f32], width: usize, phi: &mut [f64]) {
        assert!(width >= self.n_features, "a value per feature");
        let per_row = self.n_features * self.n_outputs;
        let n_rows = rows.len() / width.max(1);
        assert_eq!(phi.len(), n_rows * per_row, "rows x features x outputs");
        // Each level's path is a copy of its parent's plus one step, laid out one after
        // the other: a path of depth d needs (d + 1)(d + 2) / 2 steps, allocated once.
        let depth = self.forest.depths.iter().max().map_or(0, |&d| d as usize);
        let placeholder = PathStep {
            feature: None,
            zero: 0.0,
            one: 0.0,
            weight: 0.0,
        };
        let mut paths = vec![placeholder; (depth + 2) * (depth + 3) / 2];
        let tables = self.tables();
        let mut ways = tables.scratch();
        // Rows of a block: their values per output stay in L1/L2 (64 rows of 30
        // features are 15 KB), the tree's tables too.
        let blocks = (rows.chunks(BLOCK_ROWS * width)).zip(phi.chunks_mut(BLOCK_ROWS * per_row));
        for (rows, phi) in blocks {
            for (t, &root) in self.forest.roots.iter().enumerate() {
                if tables.has(t) {
                    tables.explain_block(self, t, rows, width, &mut ways, phi);
                    continue;
                }
                for (row, phi) in rows.chunks_exact(width).zip(phi.chunks_exact_mut(per_row)) {
                    self.recurse(row, root, &mut paths, 0, 0, [1.0, 1.0], None, phi);
                }
            }
        }
    }

    fn is_leaf(&self, at: u32) -> bool {
        self.forest.modes[at as usize].is_none()
    }

    /// Adds `share` times the expected output of the subtree at `at` to `expected`.
    fn add_expected(&self, at: u32, share: f64, expected: &mut [f64]) {
        if self.is_leaf(at) {
            let values = &self.leaf_values[at as usize * self.n_outputs..][..self.n_outputs];
            for (sum, value) in expected.iter_mut().zip(values) {
                *sum += share * value;
            }
            return;
        }
        let [if_false, if_true] = self.forest.nodes[at as usize].children;
        let [to_false, to_true] = self.shares[at as usize];
        self.add_expected(if_false, share * to_false, expected);
        self.add_expected(if_true, share * to_true, expected);
    }

    /// Whether `row` takes the true child of branch `at`, as the model decides it.
    fn goes_true(&self, at: u32, row: &[f32]) -> bool {
        let node = &self.forest.nodes[at as usize];
        let mode = self.forest.modes[at as usize].expect("a branch");
        let value = row[node.column()];
        mode.takes_true(value, node.threshold, node.feature & NAN_TRUE != 0)
    }

    /// Algorithm 2's RECURSE: the path to `at` is the parent's (`paths[parent..parent +
    /// length]`) extended by the step into `at` (`fractions`: its zero and one
    /// fractions, on `feature`), written right after the parent's; at a leaf, each
    /// feature of the path is credited, else both children are visited.
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &self,
        row: &[f32],
        at: u32,
        paths: &mut [PathStep],
        parent: usize,
        length: usize,
        [zero, one]: [f64; 2],
        feature: Option<u32>,
        phi: &mut [f64],
    ) {
        let here = parent + length;
        paths.copy_within(parent..here, here);
        let mut length = length + 1;
        extend(&mut paths[here..here + length], zero, one, feature);
        let path = &mut paths[here..here + length];
        if self.is_leaf(at) {
            let values = &self.leaf_values[at as usize * self.n_outputs..][..self.n_outputs];
            for i in 1..length {
                let step = path[i];
                let scale = unwound_sum(path, i) * (step.one - step.zero);
                let feature = step.feature.expect("only the first step has none") as usize;
                let out = &mut phi[feature * self.n_outputs..][..self.n_outputs];
                for (phi, value) in out.iter_mut().zip(values) {
                    *phi += scale * value;
                }
            }
            return;
        }
        let node = self.forest.nodes[at as usize];
        let column = node.column() as u32;
        let hot = usize::from(self.goes_true(at, row));
        let shares = self.shares[at as usize];
        // A feature met again: its earlier step is folded into this one.
        let (mut zero, mut one) = (1.0, 1.0);
        if let Some(k) = (1..length).find(|&k| path[k].feature == Some(column)) {
            (zero, one) = (path[k].zero, path[k].one);
            unwind(path, k);
            length -= 1;
        }
        let children = node.children;
        let here_feature = Some(column);
        for (child, fractions) in [
            (children[hot], [zero * shares[hot], one]),
            (children[1 - hot], [zero * shares[1 - hot], 0.0]),
        ] {
            // A child that neither the row nor any training row reaches adds nothing to
            // any set's value (and its zero shares would divide by zero when unwound).
            if fractions[0] > 0.0 || fractions[1] > 0.0 {
                self.recurse(
                    row,
                    child,
                    paths,
                    here,
                    length,
                    fractions,
                    here_feature,
                    phi,
                );
            }
        }
    }
}

/// `1 / k` for the path lengths of all but pathological trees: the weight updates below
/// divide by small integers at every step, and a division costs several multiplications
/// (it was most of the time of an explanation).
const RECIPROCALS: [f64; 128] = {
    let mut table = [0.0; 128];
    let mut k = 1;
    while k < table.len() {
        table[k] = 1.0 / k as f64;
        k += 1;
    }
    table
};

/// `1 / k`, from [`RECIPROCALS`] when it is there.
#[inline(always)]
fn reciprocal(k: usize) -> f64 {
    match RECIPROCALS.get(k) {
        Some(&r) => r,
        None => 1.0 / k as f64,
    }
}

/// Algorithm 2's EXTEND: sets the path's last step (`path` is the parent's path and one
/// more slot) and updates the weights of every subset size, in place.
fn extend(path: &mut [PathStep], zero: f64, one: f64, feature: Option<u32>) {
    let l = path.len() - 1;
    path[l] = PathStep {
        feature,
        zero,
        one,
        weight: if l == 0 { 1.0 } else { 0.0 },
    };
    let (one, zero) = (one * reciprocal(l + 1), zero * reciprocal(l + 1));
    for i in (0..l).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64;
        path[i].weight = zero * path[i].weight * (l - i) as f64;
    }
}

/// Algorithm 2's UNWIND: removes step `i` from the path, undoing its [`extend`] on the
/// weights; the path is then one step shorter (its last slot is left as it was).
fn unwind(path: &mut [PathStep], i: usize) {
    let l = path.len() - 1;
    let PathStep { zero, one, .. } = path[i];
    let denominator = (l + 1) as f64;
    let mut next = path[l].weight;
    if one != 0.0 {
        let (up, down) = (denominator / one, zero / denominator);
        for j in (0..l).rev() {
            let weight = path[j].weight;
            path[j].weight = next * up * reciprocal(j + 1);
            next = weight - path[j].weight * down * (l - j) as f64;
        }
    } else {
        let up = denominator / zero;
        for j in (0..l).rev() {
            path[j].weight *= up * reciprocal(l - j);
        }
    }
    for j in i..l {
        let PathStep {
            feature, zero, one, ..
        } = path[j + 1];
        (path[j].feature, path[j].zero, path[j].one) = (feature, zero, one);
    }
}

/// The total weight of the path with step `i` unwound, without changing the path.
fn unwound_sum(path: &[PathStep], i: usize) -> f64 {
    let l = path.len() - 1;
    let PathStep { zero, one, .. } = path[i];
    let denominator = (l + 1) as f64;
    let mut total = 0.0;
    if one != 0.0 {
        let (up, down) = (denominator / one, zero / denominator);
        let mut next = path[l].weight;
        for j in (0..l).rev() {
            let weight = next * up * reciprocal(j + 1);
            total += weight;
            next = path[j].weight - weight * down * (l - j) as f64;
        }
    } else {
        let up = denominator / zero;
        for j in (0..l).rev() {
            total += path[j].weight * reciprocal(l - j);
        }
        total *= up;
    }
    total
}

#[cfg(test)]
mod tests;
