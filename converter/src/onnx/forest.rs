//! Trees (a bagged forest, or one tree) as one `ai.onnx.ml` TreeEnsembleClassifier:
//! `BRANCH_LT` splits (our trees send `x < threshold` left), node ids as the trees
//! store them (pre-order), and one leaf weight of `1 / trees` per vote so the
//! probabilities are the vote shares.
//!
//! Two classes are written in skl2onnx's binary layout: every leaf carries one weight,
//! under class id 0, that is class 1's vote (or 0 for a leaf of class 0). onnxruntime
//! reads a two-class ensemble with weights for both classes by class 1's score alone
//! (class 1 whenever it is above 0), which is not the majority vote, and with weights
//! under class id 1 only it outputs `[0, share]`; in this layout it answers class 1 when
//! the share is above 0.5, with the probabilities `[1 - share, share]`.

use tract_onnx::pb::NodeProto;

use super::{class_labels, floats, int, ints, ml_node, string, strings};
use crate::data::ClassLabels;
use crate::train::cart::{Node, Tree};

/// The TreeEnsembleRegressor node of regression `trees`, averaging their leaves
/// (`aggregate_function` AVERAGE), one target, output [`super::VARIABLE`].
pub fn regressor_node(trees: &[Tree]) -> NodeProto {
    let mut nodes = Nodes::default();
    let (mut leaf_trees, mut leaf_nodes, mut leaf_weights) = (Vec::new(), Vec::new(), Vec::new());
    for (tree_id, tree) in trees.iter().enumerate() {
        for (id, node) in tree.nodes().iter().enumerate() {
            nodes.push(tree_id as i64, id as i64, node);
            if let Node::Mean { value } = *node {
                leaf_trees.push(tree_id as i64);
                leaf_nodes.push(id as i64);
                leaf_weights.push(value);
            }
        }
    }
    let n_leaves = leaf_weights.len();
    let mut attributes = vec![
        string("aggregate_function", "AVERAGE"),
        int("n_targets", 1),
        string("post_transform", "NONE"),
        ints("target_ids", vec![0; n_leaves]),
        ints("target_nodeids", leaf_nodes),
        ints("target_treeids", leaf_trees),
        floats("target_weights", leaf_weights),
    ];
    attributes.extend(nodes.attributes());
    let mut node = ml_node("TreeEnsembleRegressor", attributes);
    node.output = vec![super::VARIABLE.to_string()];
    node
}

/// The node arrays of the ensemble attributes (`nodes_*`).
#[derive(Default)]
struct Nodes {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    feature_ids: Vec<i64>,
    modes: Vec<&'static str>,
    values: Vec<f32>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
}

impl Nodes {
    fn push(&mut self, tree: i64, id: i64, node: &Node) {
        self.tree_ids.push(tree);
        self.node_ids.push(id);
        let (feature, mode, value, left, right) = match *node {
            Node::Branch {
                column,
                threshold,
                left,
                right,
            } => (
                column as i64,
                "BRANCH_LT",
                threshold,
                left as i64,
                right as i64,
            ),
            Node::Leaf { .. } | Node::Mean { .. } => (0, "LEAF", 0.0, 0, 0),
        };
        self.feature_ids.push(feature);
        self.modes.push(mode);
        self.values.push(value);
        self.true_ids.push(left);
        self.false_ids.push(right);
    }

    fn attributes(self) -> Vec<tract_onnx::pb::AttributeProto> {
        vec![
            ints("nodes_falsenodeids", self.false_ids),
            ints("nodes_featureids", self.feature_ids),
            strings("nodes_modes", self.modes),
            ints("nodes_nodeids", self.node_ids),
            ints("nodes_treeids", self.tree_ids),
            ints("nodes_truenodeids", self.true_ids),
            floats("nodes_values", self.values),
        ]
    }
}

/// The TreeEnsembleClassifier node of `trees`; class `c` is labelled `labels[c]`.
pub fn forest_node(trees: &[Tree], labels: &ClassLabels) -> NodeProto {
    let vote = 1.0 / trees.len() as f32;
    let binary = labels.len() == 2;
    let mut tree_ids = Vec::new();
    let mut node_ids = Vec::new();
    let mut feature_ids = Vec::new();
    let mut modes = Vec::new();
    let mut values = Vec::new();
    let mut true_ids = Vec::new();
    let mut false_ids = Vec::new();
    let mut leaf_tree_ids = Vec::new();
    let mut leaf_node_ids = Vec::new();
    let mut leaf_class_ids = Vec::new();
    let mut leaf_weights = Vec::new();
    for (tree_id, tree) in trees.iter().enumerate() {
        let tree_id = tree_id as i64;
        for (id, node) in tree.nodes().iter().enumerate() {
            let id = id as i64;
            tree_ids.push(tree_id);
            node_ids.push(id);
            match *node {
                Node::Leaf { class } => {
                    feature_ids.push(0);
                    modes.push("LEAF");
                    values.push(0.0);
                    true_ids.push(0);
                    false_ids.push(0);
                    leaf_tree_ids.push(tree_id);
                    leaf_node_ids.push(id);
                    if binary {
                        leaf_class_ids.push(0);
                        leaf_weights.push(if class == 1 { vote } else { 0.0 });
                    } else {
                        leaf_class_ids.push(class as i64);
                        leaf_weights.push(vote);
                    }
                }
                Node::Branch {
                    column,
                    threshold,
                    left,
                    right,
                } => {
                    feature_ids.push(column as i64);
                    modes.push("BRANCH_LT");
                    values.push(threshold);
                    true_ids.push(left as i64);
                    false_ids.push(right as i64);
                }
                Node::Mean { .. } => unreachable!("a classification tree has class leaves"),
            }
        }
    }
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
