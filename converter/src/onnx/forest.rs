//! Trees (a bagged forest, or one tree) as one `ai.onnx.ml` TreeEnsembleClassifier:
//! `BRANCH_LT` splits (linfa sends `x < split` left), each tree's feature indices mapped
//! back to input columns, and one leaf weight of `1 / trees` per vote so the
//! probabilities are the vote shares.

use linfa_trees::{DecisionTree, TreeNode};
use tract_onnx::pb::NodeProto;

use super::{class_labels, floats, ints, ml_node, string, strings};
use crate::data::ClassLabels;

/// Flat node and leaf arrays in the layout of the ONNX attributes.
#[derive(Default)]
struct Ensemble {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    feature_ids: Vec<i64>,
    modes: Vec<&'static str>,
    values: Vec<f32>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    leaf_tree_ids: Vec<i64>,
    leaf_node_ids: Vec<i64>,
    leaf_class_ids: Vec<i64>,
    leaf_weights: Vec<f32>,
}

impl Ensemble {
    /// Appends `node` and its subtree in pre-order, numbering nodes from `next_id`;
    /// returns the node's id. `columns[i]` is the input column of the tree's feature i.
    fn push(
        &mut self,
        tree: i64,
        node: &TreeNode<f32, usize>,
        columns: &[usize],
        vote: f32,
        next_id: &mut i64,
    ) -> i64 {
        let id = *next_id;
        *next_id += 1;
        let slot = self.node_ids.len();
        self.tree_ids.push(tree);
        self.node_ids.push(id);
        // linfa marks a node a leaf when either child is missing; it then predicts at the
        // node and ignores any child, so we do too.
        if let Some(class) = node.prediction() {
            self.feature_ids.push(0);
            self.modes.push("LEAF");
            self.values.push(0.0);
            self.true_ids.push(0);
            self.false_ids.push(0);
            self.leaf_tree_ids.push(tree);
            self.leaf_node_ids.push(id);
            self.leaf_class_ids.push(class as i64);
            self.leaf_weights.push(vote);
            return id;
        }
        let (feature, split, _) = node.split();
        self.feature_ids.push(columns[feature] as i64);
        self.modes.push("BRANCH_LT");
        self.values.push(split);
        self.true_ids.push(0);
        self.false_ids.push(0);
        let [left, right] = [0, 1].map(|side| {
            node.children()[side]
                .as_deref()
                .expect("linfa gives a non-leaf node both children")
        });
        self.true_ids[slot] = self.push(tree, left, columns, vote, next_id);
        self.false_ids[slot] = self.push(tree, right, columns, vote, next_id);
        id
    }
}

/// The TreeEnsembleClassifier node of `trees`, each with the input column of each of
/// its features; class `c` (linfa's prediction) is labelled `labels[c]`.
pub fn forest_node(
    trees: &[(&DecisionTree<f32, usize>, &[usize])],
    labels: &ClassLabels,
) -> NodeProto {
    let vote = 1.0 / trees.len() as f32;
    let mut ensemble = Ensemble::default();
    for (tree_id, (tree, columns)) in trees.iter().enumerate() {
        let mut next_id = 0;
        ensemble.push(
            tree_id as i64,
            tree.root_node(),
            columns,
            vote,
            &mut next_id,
        );
    }
    let Ensemble {
        tree_ids,
        node_ids,
        feature_ids,
        modes,
        values,
        true_ids,
        false_ids,
        leaf_tree_ids,
        leaf_node_ids,
        leaf_class_ids,
        leaf_weights,
    } = ensemble;
    ml_node(
        "TreeEnsembleClassifier",
        vec![
            ints("class_ids", leaf_class_ids),
            ints("class_nodeids", leaf_node_ids),
            ints("class_treeids", leaf_tree_ids),
            floats("class_weights", leaf_weights),
            class_labels("classlabels_int64s", labels),
            ints("nodes_falsenodeids", false_ids),
            ints("nodes_featureids", feature_ids),
            strings("nodes_modes", modes),
            ints("nodes_nodeids", node_ids),
            ints("nodes_treeids", tree_ids),
            ints("nodes_truenodeids", true_ids),
            floats("nodes_values", values),
            string("post_transform", "NONE"),
        ],
    )
}
