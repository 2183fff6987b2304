//! Explanations of a tree-ensemble node's raw scores, before its `post_transform`: the
//! node's trees, their covers (the training rows that reached each node, which ONNX
//! does not carry: a file holds them in `metadata_props` under [`COVERS_KEY`]), its
//! `base_values` and aggregate, around [`ShapTrees`].
//!
//! What is explained, per row and feature:
//! - a classifier: one value per class of the summed leaf weights (a forest's vote
//!   shares, a multi-class booster's margins), with `base_values` in the expected value;
//!   a binary booster (every leaf weight under one class id, of two classes) has one
//!   margin, which is what it sums;
//! - a regressor: one value per target, divided by the tree count for `AVERAGE`.
//!   `MIN`/`MAX` aggregates have no additive explanation and are refused.
//!
//! Covers are also counted here ([`count_covers`]): rows passed through the trees, one
//! count per node a row visits, which is what `converter train` and `converter annotate`
//! write.

#![forbid(unsafe_code)]

use tract_onnx::pb::NodeProto;

use super::attributes::{self, Attributes, NodeIndex};
use super::kernel::{Forest, NAN_TRUE};
use super::shap::ShapTrees;
use crate::explain::Explanation;

/// The `metadata_props` key whose value is the covers of the graph's tree-ensemble
/// node: one number per entry of its `nodes_*` arrays, in their order, separated by
/// spaces.
pub const COVERS_KEY: &str = "tree_node_covers";

/// A tree-ensemble node ready to explain rows.
#[derive(Debug, Clone)]
pub struct TreeExplainer {
    shap: ShapTrees,
    /// Per output explained, what is added to the trees' (scaled) sums.
    base: Vec<f64>,
    /// What the trees' sums are multiplied by (1 / trees for `AVERAGE`).
    scale: f64,
    /// Of the node's outputs, the ones explained (all, or the binary booster's one).
    outputs: Vec<usize>,
    n_features: usize,
}

impl TreeExplainer {
    /// The explainer of `node` (a TreeEnsembleClassifier, TreeEnsembleRegressor or
    /// opset-5 TreeEnsemble) with `covers` per entry of its node arrays, for rows of
    /// `n_features` values.
    pub fn new(
        node: &NodeProto,
        covers: &[f64],
        n_features: usize,
    ) -> Result<TreeExplainer, String> {
        let classifier = node.op_type == "TreeEnsembleClassifier";
        let node = attributes::in_layout(node).map_err(|e| e.to_string())?;
        let attributes = Attributes::of(&node);
        let n_outputs = match classifier {
            true => attributes.class_labels().map_err(|e| e.to_string())?.len(),
            false => attributes.n_targets().map_err(|e| e.to_string())?,
        };
        let index = NodeIndex::read(attributes).map_err(|e| e.to_string())?;
        let entries = index.leaf_entries(n_outputs).map_err(|e| e.to_string())?;
        let forest = index.link().map_err(|e| e.to_string())?;
        let n_trees = forest.roots.len();
        let scale = match (classifier, attributes.aggregate_function().as_str()) {
            (true, _) | (false, "SUM") => 1.0,
            (false, "AVERAGE") => 1.0 / n_trees.max(1) as f64,
            (false, other) => {
                return Err(format!(
                    "aggregate_function {other} has no additive explanation; SUM and \
                     AVERAGE have"
                ))
            }
        };
        let mut with_weights: Vec<u32> = entries.iter().flatten().map(|&(o, _)| o).collect();
        with_weights.sort_unstable();
        with_weights.dedup();
        let outputs: Vec<usize> = match (classifier, n_outputs, &with_weights[..]) {
            (true, 2, &[one]) => vec![one as usize],
            _ => (0..n_outputs).collect(),
        };
        let base_values = attributes.base_values();
        let base = (outputs.iter())
            .map(|&k| match base_values {
                [] => 0.0,
                [one] => f64::from(*one),
                many => many.get(k).copied().map_or(0.0, f64::from),
            })
            .collect();
        let shap = ShapTrees::new(forest, &entries, covers, n_outputs, n_features)?;
        Ok(TreeExplainer {
            shap,
            base,
            scale,
            outputs,
            n_features,
        })
    }

    /// Number of outputs each feature gets a value for.
    pub fn n_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// The explanation of one row of `n_features` values.
    pub fn explain(&self, row: &[f32]) -> Explanation {
        self.explain_rows(row, row.len()).pop().expect("one row")
    }

    /// The explanations of every row of `rows` (row-major, `width` values each), the
    /// trees taken for blocks of rows at a time ([`ShapTrees::explain_rows`]).
    pub fn explain_rows(&self, rows: &[f32], width: usize) -> Vec<Explanation> {
        let n_outputs = self.shap.n_outputs();
        let per_row = self.n_features * n_outputs;
        let n_rows = rows.len() / width.max(1);
        let mut all = vec![0.0; n_rows * per_row];
        self.shap.explain_rows(rows, width, &mut all);
        let expected: Vec<f64> = (self.outputs.iter().zip(&self.base))
            .map(|(&k, base)| base + self.scale * self.shap.expected_values()[k])
            .collect();
        all.chunks_exact(per_row.max(1))
            .take(n_rows)
            .map(|all| Explanation {
                expected: expected.clone(),
                values: (0..self.n_features)
                    .flat_map(|f| self.outputs.iter().map(move |&k| (f, k)))
                    .map(|(f, k)| self.scale * all[f * n_outputs + k])
                    .collect(),
            })
            .collect()
    }
}

/// The covers of `node`'s trees over `rows` (row-major, `width` values each): for each
/// entry of its node arrays, how many rows visit it.
pub fn count_covers(node: &NodeProto, rows: &[f32], width: usize) -> Result<Vec<f64>, String> {
    let node = attributes::in_layout(node).map_err(|e| e.to_string())?;
    let forest = attributes::read_trees(Attributes::of(&node)).map_err(|e| e.to_string())?;
    let read = forest
        .nodes
        .iter()
        .map(|n| n.column() + 1)
        .max()
        .unwrap_or(0);
    if width == 0 || read > width {
        return Err(format!("the trees read {read} features, rows have {width}"));
    }
    let mut covers = vec![0.0; forest.nodes.len()];
    for row in rows.chunks_exact(width) {
        for &root in &forest.roots {
            visit(&forest, root, row, &mut covers);
        }
    }
    Ok(covers)
}

/// Counts the nodes `row` visits from `at` down to its leaf.
fn visit(forest: &Forest, mut at: u32, row: &[f32], covers: &mut [f64]) {
    loop {
        covers[at as usize] += 1.0;
        let Some(mode) = forest.modes[at as usize] else {
            return;
        };
        let node = forest.nodes[at as usize];
        let nan_true = node.feature & NAN_TRUE != 0;
        let goes_true = mode.takes_true(row[node.column()], node.threshold, nan_true);
        at = node.children[usize::from(goes_true)];
    }
}

#[cfg(test)]
mod tests {
    use super::super::attributes::fixtures::{self, hand_built};
    use super::*;
    use crate::Predicted;

    /// The fixture's trees as an AVERAGE regressor with `base_values`, leaf weights of
    /// both signs.
    fn regressor() -> NodeProto {
        let mut node = hand_built(3);
        node.op_type = "TreeEnsembleRegressor".into();
        node.attribute.retain(|a| a.name != "classlabels_int64s");
        for attribute in &mut node.attribute {
            if let Some(rest) = attribute.name.strip_prefix("class_") {
                attribute.name = format!("target_{rest}");
            }
            if attribute.name == "target_weights" {
                attribute.floats = vec![2.5, -1.25];
            }
        }
        let string = |name: &str, value: &str| tract_onnx::pb::AttributeProto {
            name: name.into(),
            s: value.as_bytes().to_vec(),
            ..Default::default()
        };
        node.attribute.push(string("aggregate_function", "AVERAGE"));
        node.attribute.push(fixtures::ints("n_targets", vec![]));
        node.attribute.last_mut().unwrap().i = 1;
        node.attribute.push(tract_onnx::pb::AttributeProto {
            name: "base_values".into(),
            floats: vec![0.75],
            ..Default::default()
        });
        node
    }

    /// Covers counted from rows explain those rows additively: the values and the
    /// expected value add up to the scores the op computes.
    #[test]
    fn counted_covers_explain_the_ops_scores_additively() {
        let node = regressor();
        let width = 4;
        let rows: Vec<f32> = (0..40).map(|i| ((i * 7) % 11) as f32 / 4.0 - 1.0).collect();
        let covers = count_covers(&node, &rows, width).unwrap();
        assert_eq!(covers[0], 10.0, "every row visits the root of tree 0");
        let explainer = TreeExplainer::new(&node, &covers, width).unwrap();
        let op = super::super::TreeEnsemble::from_node(&node).unwrap();
        let Predicted::Values { values, .. } = op.predict(&rows, width).unwrap().predicted else {
            panic!("a regressor predicts values")
        };
        let mut explained_some = false;
        for (row, score) in rows.chunks(width).zip(values) {
            let explanation = explainer.explain(row);
            let total = explanation.expected[0] + explanation.values.iter().sum::<f64>();
            assert!(
                (total - f64::from(score)).abs() < 1e-6,
                "{row:?}: {total} vs {score}"
            );
            explained_some |= explanation.values.iter().any(|v| *v != 0.0);
        }
        assert!(explained_some);
    }

    #[test]
    fn min_and_max_aggregates_are_refused() {
        let mut node = regressor();
        for attribute in &mut node.attribute {
            if attribute.name == "aggregate_function" {
                attribute.s = b"MAX".to_vec();
            }
        }
        let err = TreeExplainer::new(&node, &[1.0; 6], 4).unwrap_err();
        assert!(err.contains("MAX has no additive explanation"), "{err}");
    }
}
