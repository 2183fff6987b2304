//! How big a tree ensemble is, read from the ONNX attributes at load time (for the
//! `model_trees` and `model_tree_nodes` metrics): the runtime never needs it.

use tract_onnx::pb::{ModelProto, NodeProto};

/// Trees and nodes of the model's tree ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnsembleSize {
    /// Number of trees.
    pub trees: usize,
    /// Number of nodes, branches and leaves, over all trees.
    pub nodes: usize,
}

/// The size of the first tree-ensemble operator in the graph, if there is one.
pub(super) fn ensemble_size(proto: &ModelProto) -> Option<EnsembleSize> {
    let node = proto
        .graph
        .as_ref()?
        .node
        .iter()
        .find(|n| n.op_type.starts_with("TreeEnsemble"))?;
    size_of(node)
}

/// Every node of an ONNX tree ensemble has one entry in `nodes_treeids`: the distinct
/// ids are the trees.
fn size_of(node: &NodeProto) -> Option<EnsembleSize> {
    let tree_ids = &node
        .attribute
        .iter()
        .find(|a| a.name == "nodes_treeids")?
        .ints;
    let mut ids: Vec<i64> = tree_ids.clone();
    ids.sort_unstable();
    ids.dedup();
    Some(EnsembleSize {
        trees: ids.len(),
        nodes: tree_ids.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::AttributeProto;

    #[test]
    fn counts_distinct_tree_ids_and_every_node() {
        let node = NodeProto {
            op_type: "TreeEnsembleClassifier".into(),
            attribute: vec![AttributeProto {
                name: "nodes_treeids".into(),
                ints: vec![0, 0, 0, 1, 2, 2, 2],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(size_of(&node), Some(EnsembleSize { trees: 3, nodes: 7 }));
    }

    #[test]
    fn a_linear_model_has_no_ensemble() {
        let node = NodeProto {
            op_type: "LinearClassifier".into(),
            ..Default::default()
        };
        let proto = ModelProto {
            graph: Some(tract_onnx::pb::GraphProto {
                node: vec![node],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(ensemble_size(&proto), None);
    }
}
