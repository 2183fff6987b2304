//! The opset-5 TreeEnsemble read into the opset 1-3 layout: the conversion, and what
//! the kernel then answers, worked out by hand from the ONNX specification and
//! onnxruntime's `tree_ensemble_attribute.h`.

use tract_onnx::pb::AttributeProto;

use super::*;
use crate::ml::testing::{self, float_tensor, int, ints, tensor_attribute, uint8_tensor};
use crate::prediction::Predicted;
use crate::tree_ensemble::TreeEnsemble;

/// The member tree of `crate::ml::testing`, named `t`.
fn member_tree(tracks: Vec<i64>) -> NodeProto {
    NodeProto {
        name: "t".into(),
        op_type: OP.into(),
        attribute: testing::member_tree(tracks),
        ..Default::default()
    }
}

/// What the op built from `node` answers for `rows` of `width` features.
fn predict(node: &NodeProto, rows: &[f32], width: usize) -> Vec<f32> {
    let op = TreeEnsemble::from_node(node).unwrap();
    match op.predict(rows, width).unwrap().predicted {
        Predicted::Values { values, .. } => values,
        other => panic!("a regressor answers values, not {other:?}"),
    }
}

fn set(node: &mut NodeProto, attribute: AttributeProto) {
    node.attribute.retain(|a| a.name != attribute.name);
    node.attribute.push(attribute);
}

fn refusal(node: &NodeProto) -> String {
    regressor_layout(node).unwrap_err().to_string()
}

#[test]
fn a_member_split_becomes_a_chain_of_equality_splits_sharing_the_true_child() {
    let converted = regressor_layout(&member_tree(vec![1, 0])).unwrap();
    let attributes = Attributes::of(&converted);
    let modes: Vec<&[u8]> = attributes
        .byte_strings("nodes_modes")
        .iter()
        .map(|m| &m[..])
        .collect();
    // Ids in the order first reached: the chain 0, 1, 3 (members 1, 3, 5), leaf 0 as
    // 2, node 1 as 4, its leaves as 5 (false) and 6 (true).
    let expected: [&[u8]; 7] = [
        b"BRANCH_EQ",
        b"BRANCH_EQ",
        b"LEAF",
        b"BRANCH_EQ",
        b"BRANCH_LT",
        b"LEAF",
        b"LEAF",
    ];
    assert_eq!(modes, expected);
    assert_eq!(
        attributes.floats("nodes_values"),
        [1.0, 3.0, 0.0, 5.0, 0.5, 0.0, 0.0]
    );
    assert_eq!(attributes.ints("nodes_truenodeids"), [2, 2, 0, 2, 6, 0, 0]);
    assert_eq!(attributes.ints("nodes_falsenodeids"), [1, 3, 0, 4, 5, 0, 0]);
    assert_eq!(
        attributes.ints("nodes_missing_value_tracks_true"),
        [1, 1, 0, 1, 0, 0, 0]
    );
    assert_eq!(attributes.ints("target_nodeids"), [2, 5, 6]);
    assert_eq!(attributes.floats("target_weights"), [10.0, 30.0, 20.0]);
}

#[test]
fn members_take_the_true_branch_and_others_the_false_one() {
    let rows = [3.0, 9.0, 2.0, 0.1, 5.0, 0.0, 2.0, 0.7];
    assert_eq!(
        predict(&member_tree(vec![0, 0]), &rows, 2),
        [10.0, 20.0, 10.0, 30.0]
    );
}

#[test]
fn nan_takes_the_true_branch_of_a_member_split_when_missing_tracks_true() {
    let rows = [f32::NAN, 9.0, 2.0, f32::NAN];
    // Node 0 tracks true: NaN is a member. Node 1 does not: NaN < 0.5 is false.
    assert_eq!(predict(&member_tree(vec![1, 0]), &rows, 2), [10.0, 30.0]);
    // Without: NaN is no member, and 0.1 < 0.5.
    assert_eq!(
        predict(&member_tree(vec![0, 0]), &[f32::NAN, 0.1], 2),
        [20.0]
    );
}

#[test]
fn trees_add_up_per_target_and_a_one_leaf_tree_reads_the_leaf_of_its_roots_index() {
    // Tree 0: x0 <= 1 -> leaf 0 (target 0, 1.0), else leaf 1 (target 1, 2.0). Tree 1:
    // root node 1 with both children leaf 2: onnxruntime (and the reference) read it
    // as the one leaf of index 1, the root's own.
    let node = NodeProto {
        name: "t".into(),
        op_type: OP.into(),
        attribute: vec![
            ints("nodes_featureids", vec![0, 0]),
            tensor_attribute("nodes_modes", uint8_tensor(vec![0, 0])),
            tensor_attribute("nodes_splits", float_tensor(vec![1.0, 0.0])),
            ints("nodes_truenodeids", vec![0, 2]),
            ints("nodes_trueleafs", vec![1, 1]),
            ints("nodes_falsenodeids", vec![1, 2]),
            ints("nodes_falseleafs", vec![1, 1]),
            ints("leaf_targetids", vec![0, 1, 1]),
            tensor_attribute("leaf_weights", float_tensor(vec![1.0, 2.0, 5.0])),
            ints("tree_roots", vec![0, 1]),
            int("n_targets", 2),
        ],
        ..Default::default()
    };
    assert_eq!(predict(&node, &[0.5, 3.0], 1), [1.0, 2.0, 0.0, 4.0]);
}

#[test]
fn a_member_split_without_members_is_refused() {
    let mut node = member_tree(vec![0, 0]);
    set(
        &mut node,
        tensor_attribute("membership_values", float_tensor(vec![f32::NAN])),
    );
    assert_eq!(
        refusal(&node),
        "TreeEnsemble `t`: node 0 is BRANCH_MEMBER with no membership_values"
    );
}

#[test]
fn a_disputed_post_transform_is_refused_explaining_why() {
    let mut node = member_tree(vec![0, 0]);
    set(&mut node, int("post_transform", 2));
    let err = refusal(&node);
    assert!(
        err.contains("post_transform 2 is not supported for 1 target(s)"),
        "{err}"
    );
    assert!(err.contains("disagree"), "{err}");
}

#[test]
fn a_child_that_does_not_exist_is_refused_naming_it() {
    let mut node = member_tree(vec![0, 0]);
    set(&mut node, ints("nodes_falsenodeids", vec![1, 7]));
    assert_eq!(
        refusal(&node),
        "TreeEnsemble `t`: node 1 has false child leaf 7, which does not exist"
    );
}

#[test]
fn trees_sharing_a_node_are_refused() {
    let mut node = member_tree(vec![0, 0]);
    set(&mut node, ints("tree_roots", vec![0, 0]));
    assert_eq!(
        refusal(&node),
        "TreeEnsemble `t`: node 0 is in trees 0 and 1; trees must not share nodes"
    );
}

#[test]
fn double_precision_splits_are_refused() {
    let mut node = member_tree(vec![0, 0]);
    let splits = tract_onnx::pb::TensorProto {
        data_type: DataType::Double as i32,
        dims: vec![2],
        double_data: vec![0.0, 0.5],
        ..Default::default()
    };
    set(&mut node, tensor_attribute("nodes_splits", splits));
    let err = refusal(&node);
    assert!(
        err.ends_with("nodes_splits is a DOUBLE tensor; it must be FLOAT"),
        "{err}"
    );
}
