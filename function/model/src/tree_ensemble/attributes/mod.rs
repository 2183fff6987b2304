//! The one reader of the `ai.onnx.ml` TreeEnsembleClassifier / TreeEnsembleRegressor
//! attributes (opset 1-3) and of the opset-5 TreeEnsemble's, which it reads into the
//! same layout: every attribute's name and meaning live here, and so does the one
//! policy on what makes trees (the runtime's, whoever reads them).
//!
//! - `positions`: where each (tree id, node id) sits in the node arrays.
//! - `structure`: the node arrays checked and linked into trees (a kernel `Forest`),
//!   and the leaf entries attached to leaves.
//! - `opset5`: the opset-5 TreeEnsemble in the opset 1-3 layout (set-membership splits
//!   as chains of equality splits).

mod opset5;
mod positions;
mod structure;

pub use structure::{read_trees, NodeIndex};

use std::borrow::Cow;

use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};

/// `node` in the layout this reader reads: an opset-5 TreeEnsemble converted (see
/// `opset5`), any other node as it is. Every reader of a tree-ensemble node starts here.
pub fn in_layout(node: &NodeProto) -> Result<Cow<'_, NodeProto>, ParseError> {
    match node.op_type.as_str() {
        opset5::OP => opset5::regressor_layout(node).map(Cow::Owned),
        _ => Ok(Cow::Borrowed(node)),
    }
}

use crate::prediction::Labels;

/// A tree ensemble we refuse, naming its operator, its node and what we accept.
#[derive(Debug, thiserror::Error)]
#[error("{op} `{node}`: {message}")]
pub struct ParseError {
    op: String,
    node: String,
    message: String,
}

/// The attributes of one TreeEnsembleClassifier or TreeEnsembleRegressor node, by
/// meaning, with errors that name the node.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    node: &'a NodeProto,
}

impl<'a> Attributes<'a> {
    /// The attributes of `node`.
    pub fn of(node: &'a NodeProto) -> Attributes<'a> {
        Attributes { node }
    }

    /// An error about this node.
    pub fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            op: self.node.op_type.clone(),
            node: self.node.name.clone(),
            message: message.into(),
        }
    }

    /// Refuses the double-precision variants of the attributes (`*_as_tensor`), which a
    /// float runtime would silently misread.
    pub fn refuse_double_precision(&self) -> Result<(), ParseError> {
        for attribute in &self.node.attribute {
            if attribute.name.ends_with("_as_tensor") {
                return Err(self.error(format!(
                    "attribute {} (double precision) is not supported; export with float attributes",
                    attribute.name
                )));
            }
        }
        Ok(())
    }

    /// A classifier's labels: exactly one of `classlabels_int64s` and
    /// `classlabels_strings`, not empty.
    pub fn class_labels(&self) -> Result<Labels, ParseError> {
        match (
            self.ints("classlabels_int64s"),
            self.strings("classlabels_strings"),
        ) {
            (ints, None) if !ints.is_empty() => Ok(Labels::Int(ints.to_vec())),
            (&[], Some(strings)) if !strings.is_empty() => Ok(Labels::Str(strings)),
            _ => Err(self.error(
                "exactly one of classlabels_int64s and classlabels_strings must be non-empty",
            )),
        }
    }

    /// A regressor's `n_targets`, a positive integer.
    pub fn n_targets(&self) -> Result<usize, ParseError> {
        self.int("n_targets")
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| self.error("n_targets must be a positive integer"))
    }

    /// `base_values`, possibly empty.
    pub fn base_values(&self) -> &'a [f32] {
        self.floats("base_values")
    }

    /// `post_transform` as the file names it (`NONE` when absent).
    pub fn post_transform(&self) -> String {
        self.string("post_transform", "NONE")
    }

    /// A regressor's `aggregate_function` as the file names it (`SUM` when absent).
    pub fn aggregate_function(&self) -> String {
        self.string("aggregate_function", "SUM")
    }

    /// `nodes_missing_value_tracks_true`: per node, non-zero when a missing value takes
    /// the true branch; empty when absent.
    fn missing_value_tracks_true(&self) -> &'a [i64] {
        self.ints("nodes_missing_value_tracks_true")
    }

    /// The prefix of the leaf attributes: `class` (`class_treeids`, `class_nodeids`,
    /// `class_ids`, `class_weights`) for a classifier, `target` for a regressor.
    fn leaf_prefix(&self) -> &'static str {
        match self.is_regressor() {
            true => "target",
            false => "class",
        }
    }

    /// Whether the node is a regressor: TreeEnsembleRegressor, or the opset-5
    /// TreeEnsemble (in the layout [`in_layout`] gives it).
    pub fn is_regressor(&self) -> bool {
        matches!(
            self.node.op_type.as_str(),
            "TreeEnsembleRegressor" | opset5::OP
        )
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    /// An `ints` attribute, empty when absent.
    fn ints(&self, name: &str) -> &'a [i64] {
        self.get(name).map_or(&[], |a| &a.ints[..])
    }

    /// A `tensor` attribute, if present with a tensor.
    fn tensor(&self, name: &str) -> Option<&'a TensorProto> {
        self.get(name).and_then(|a| a.t.as_ref())
    }

    /// A `floats` attribute, empty when absent.
    fn floats(&self, name: &str) -> &'a [f32] {
        self.get(name).map_or(&[], |a| &a.floats[..])
    }

    /// A `strings` attribute, if present.
    fn strings(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
    }

    /// A `strings` attribute as raw bytes, empty when absent.
    fn byte_strings(&self, name: &str) -> &'a [Vec<u8>] {
        self.get(name).map_or(&[], |a| &a.strings[..])
    }

    /// A `string` attribute, or `default`.
    fn string(&self, name: &str, default: &str) -> String {
        self.get(name).map_or(default.to_string(), |a| {
            String::from_utf8_lossy(&a.s).into_owned()
        })
    }

    /// An `int` attribute, if present.
    fn int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|a| a.i)
    }
}

/// Tree-ensemble nodes built by hand, for the tests of what reads them.
#[cfg(test)]
pub(crate) mod fixtures {
    use tract_onnx::pb::{AttributeProto, NodeProto};

    /// An `ints` attribute.
    pub fn ints(name: &str, ints: Vec<i64>) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            ints,
            ..Default::default()
        }
    }

    /// A TreeEnsembleClassifier named `hand` with labels 4 and 7: tree 0 is
    /// 0 -> (1 leaf, 2 -> (3 leaf, 4 leaf)), depth 2, except that node 2's true child is
    /// `true_of_2`; tree 1 is a lone leaf. Leaves 1 and 5 vote for class 0.
    pub fn hand_built(true_of_2: i64) -> NodeProto {
        let modes = ["BRANCH_LT", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF", "LEAF"];
        NodeProto {
            name: "hand".into(),
            op_type: "TreeEnsembleClassifier".into(),
            attribute: vec![
                ints("nodes_treeids", vec![0, 0, 0, 0, 0, 1]),
                ints("nodes_nodeids", vec![0, 1, 2, 3, 4, 0]),
                ints("nodes_featureids", vec![3, 0, 1, 0, 0, 0]),
                AttributeProto {
                    name: "nodes_values".into(),
                    floats: vec![0.5; 6],
                    ..Default::default()
                },
                ints("nodes_truenodeids", vec![1, 0, true_of_2, 0, 0, 0]),
                ints("nodes_falsenodeids", vec![2, 0, 4, 0, 0, 0]),
                AttributeProto {
                    name: "nodes_modes".into(),
                    strings: modes.iter().map(|m| m.as_bytes().to_vec()).collect(),
                    ..Default::default()
                },
                ints("class_treeids", vec![0, 1]),
                ints("class_nodeids", vec![1, 0]),
                ints("class_ids", vec![0, 0]),
                AttributeProto {
                    name: "class_weights".into(),
                    floats: vec![1.0, 1.0],
                    ..Default::default()
                },
                ints("classlabels_int64s", vec![4, 7]),
            ],
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{hand_built, ints};
    use super::*;

    #[test]
    fn double_precision_attributes_are_refused_naming_them() {
        let mut node = hand_built(3);
        assert!(Attributes::of(&node).refuse_double_precision().is_ok());
        node.attribute.push(ints("nodes_values_as_tensor", vec![]));
        let err = Attributes::of(&node).refuse_double_precision().unwrap_err();
        assert!(err.to_string().contains("nodes_values_as_tensor"), "{err}");
    }

    #[test]
    fn a_classifier_needs_exactly_one_non_empty_label_list() {
        let mut node = hand_built(3);
        let labels = Attributes::of(&node).class_labels().unwrap();
        assert_eq!(labels, Labels::Int(vec![4, 7]));
        node.attribute.push(AttributeProto {
            name: "classlabels_strings".into(),
            strings: vec![b"a".to_vec(), b"b".to_vec()],
            ..Default::default()
        });
        let err = Attributes::of(&node).class_labels().unwrap_err();
        assert!(err.to_string().contains("exactly one of"), "{err}");
    }
}
