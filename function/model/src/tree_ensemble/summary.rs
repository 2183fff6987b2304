//! What a tree-ensemble node says about itself, read by the one attribute reader
//! without building the op: for `converter inspect` ([`describe`]) and the size metrics
//! ([`EnsembleSize`]).

use tract_onnx::pb::NodeProto;

use super::attributes::{in_layout, read_trees, Attributes, ParseError};
use super::kernel::Forest;
use crate::prediction::Labels;

/// Trees and nodes of the model's tree ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnsembleSize {
    /// Number of trees.
    pub trees: usize,
    /// Number of nodes, branches and leaves, over all trees.
    pub nodes: usize,
}

impl EnsembleSize {
    /// The size of the checked trees `forest`: its trees, and every node listed.
    pub(crate) fn of(forest: &Forest) -> EnsembleSize {
        EnsembleSize {
            trees: forest.roots.len(),
            nodes: forest.nodes.len(),
        }
    }
}

/// The size of the first tree-ensemble node among `nodes`, if there is one and the
/// reader accepts its trees.
pub(crate) fn ensemble_size(nodes: &[NodeProto]) -> Option<EnsembleSize> {
    let node = nodes
        .iter()
        .find(|n| n.op_type.starts_with("TreeEnsemble"))?;
    let node = in_layout(node).ok()?;
    let forest = read_trees(Attributes::of(&node)).ok()?;
    Some(EnsembleSize::of(&forest))
}

/// What a TreeEnsembleClassifier, TreeEnsembleRegressor or TreeEnsemble node holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Its trees, and its nodes (branches and leaves) as listed.
    pub size: EnsembleSize,
    /// Number of leaves listed.
    pub leaves: usize,
    /// Largest number of branches from a root to a leaf (a lone leaf has depth 0, as
    /// scikit-learn's `get_depth`).
    pub max_depth: usize,
    /// Input columns some branch tests, in increasing order.
    pub features_used: Vec<usize>,
    /// A classifier's labels, when it declares them as the runtime requires (exactly one
    /// of `classlabels_int64s` and `classlabels_strings`, not empty).
    pub classes: Option<Labels>,
    /// A regressor's `n_targets`, when it is a positive integer.
    pub targets: Option<usize>,
    /// `post_transform` as the file names it (`NONE` when absent), supported or not.
    pub post_transform: String,
}

/// Summarises the tree-ensemble `node`, refusing it where the runtime refuses its trees:
/// node arrays of different lengths, a node id listed twice in a tree, an unknown mode,
/// a feature that is no column, a child missing from its tree, a cycle. Shared subtrees
/// are accepted, each node counted once. What the runtime refuses beyond the trees
/// (labels, leaf weights, post_transform PROBIT, double precision) is described, not
/// refused: the file may be one the function does not serve. An opset-5 TreeEnsemble
/// is described in the layout the runtime reads it into (a set-membership split is a
/// chain of equality splits), and refused where that reading refuses it.
pub fn describe(node: &NodeProto) -> Result<Summary, ParseError> {
    let node = in_layout(node)?;
    let attributes = Attributes::of(&node);
    let forest = read_trees(attributes)?;
    let branches = (forest.nodes.iter().zip(&forest.modes))
        .filter(|(_, mode)| mode.is_some())
        .map(|(node, _)| node);
    let mut features_used: Vec<usize> = branches.map(|node| node.column()).collect();
    features_used.sort_unstable();
    features_used.dedup();
    Ok(Summary {
        size: EnsembleSize::of(&forest),
        leaves: forest.modes.iter().filter(|mode| mode.is_none()).count(),
        max_depth: forest
            .depths
            .iter()
            .max()
            .map_or(0, |&depth| depth as usize),
        features_used,
        classes: attributes.class_labels().ok(),
        targets: (attributes.is_regressor())
            .then(|| attributes.n_targets().ok())
            .flatten(),
        post_transform: attributes.post_transform(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::attributes::fixtures::hand_built;
    use super::*;

    #[test]
    fn the_size_counts_trees_and_every_node_listed() {
        let size = ensemble_size(&[hand_built(3)]);
        assert_eq!(size, Some(EnsembleSize { trees: 2, nodes: 6 }));
    }

    #[test]
    fn a_linear_model_has_no_ensemble() {
        let node = NodeProto {
            op_type: "LinearClassifier".into(),
            ..Default::default()
        };
        assert_eq!(ensemble_size(&[node]), None);
    }

    #[test]
    fn a_summary_counts_leaves_depth_and_the_features_branches_test() {
        let summary = describe(&hand_built(3)).unwrap();
        assert_eq!(summary.size, EnsembleSize { trees: 2, nodes: 6 });
        assert_eq!((summary.leaves, summary.max_depth), (4, 2));
        assert_eq!(summary.features_used, [1, 3]);
        assert_eq!(summary.classes, Some(Labels::Int(vec![4, 7])));
        assert_eq!(summary.targets, None);
        assert_eq!(summary.post_transform, "NONE");
    }

    #[test]
    fn a_summary_counts_a_shared_subtree_once() {
        // Node 2's true child is leaf 1, which node 0 also points at; leaf 3 is listed
        // but reached by no branch.
        let summary = describe(&hand_built(1)).unwrap();
        assert_eq!(summary.size, EnsembleSize { trees: 2, nodes: 6 });
        assert_eq!((summary.leaves, summary.max_depth), (4, 2));
    }
}
