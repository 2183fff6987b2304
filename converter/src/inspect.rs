//! `converter inspect`: what an ONNX file holds, read straight from the protobuf (no
//! runtime), so it also describes files the function would refuse and files from other
//! exporters (skl2onnx): opsets, signature, operators, metadata, and for tree ensembles
//! the trees, nodes, leaves, depth, classes and features they use.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use prost::Message;
use serde::Serialize;
use tract_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto::dimension::Value as Dim, type_proto,
    AttributeProto, ModelProto, NodeProto, ValueInfoProto,
};

/// Why a file cannot be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Not an ONNX protobuf.
    #[error("not an ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A protobuf without a graph.
    #[error("the file holds no graph")]
    NoGraph,
    /// A tree ensemble whose node arrays do not describe trees.
    #[error("{op} `{node}`: {message}")]
    Tree {
        /// The operator.
        op: String,
        /// The node's name.
        node: String,
        /// What is wrong.
        message: String,
    },
}

/// A summary of a model file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `ir_version`.
    pub ir_version: i64,
    /// `producer_name producer_version`.
    pub producer: String,
    /// `model_version`.
    pub model_version: i64,
    /// `doc_string`.
    pub description: String,
    /// Opset imports: domain (`ai.onnx` for the default domain) and version.
    pub opsets: Vec<Opset>,
    /// Graph inputs that are not initializers.
    pub inputs: Vec<Value>,
    /// Graph outputs.
    pub outputs: Vec<Value>,
    /// Operators by domain and type, with how many nodes use each, in graph order.
    pub operators: Vec<Operator>,
    /// `metadata_props`, in file order.
    pub metadata: Vec<(String, String)>,
    /// One entry per TreeEnsembleClassifier / TreeEnsembleRegressor node.
    pub tree_ensembles: Vec<TreeEnsemble>,
}

/// An opset import.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Opset {
    /// Domain; `ai.onnx` for the default.
    pub domain: String,
    /// Version.
    pub version: i64,
}

/// A graph input or output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Value {
    /// Its name.
    pub name: String,
    /// Element type (`float`, `int64`, `string`), or `non-tensor` (a sequence or map,
    /// such as skl2onnx's ZipMap output).
    pub elem_type: String,
    /// Dimensions: a number, a symbol, or `?`; `None` when the shape is not given.
    pub shape: Option<Vec<String>>,
}

/// An operator the graph uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operator {
    /// Domain; `ai.onnx` for the default.
    pub domain: String,
    /// Operator type.
    pub op_type: String,
    /// Nodes using it.
    pub count: usize,
}

/// The shape of a tree ensemble node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeEnsemble {
    /// The node's name.
    pub node: String,
    /// `TreeEnsembleClassifier` or `TreeEnsembleRegressor`.
    pub op_type: String,
    /// Number of trees.
    pub trees: usize,
    /// Number of nodes (branches and leaves).
    pub nodes: usize,
    /// Number of leaves.
    pub leaves: usize,
    /// Largest number of branches from a root to a leaf (a lone leaf has depth 0, as
    /// scikit-learn's `get_depth`).
    pub max_depth: usize,
    /// Class labels of a classifier, as text.
    pub classes: Option<Vec<String>>,
    /// `n_targets` of a regressor.
    pub targets: Option<i64>,
    /// Input columns some branch tests, in increasing order.
    pub features_used: Vec<i64>,
    /// `post_transform`.
    pub post_transform: String,
}

/// Decodes and summarises the ONNX file in `bytes`.
pub fn inspect(bytes: &[u8]) -> Result<Summary, InspectError> {
    let model = ModelProto::decode(bytes)?;
    let graph = model.graph.as_ref().ok_or(InspectError::NoGraph)?;
    let initializers: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut operators: Vec<Operator> = Vec::new();
    for node in &graph.node {
        let domain = domain_name(&node.domain);
        match operators
            .iter_mut()
            .find(|o| o.domain == domain && o.op_type == node.op_type)
        {
            Some(op) => op.count += 1,
            None => operators.push(Operator {
                domain,
                op_type: node.op_type.clone(),
                count: 1,
            }),
        }
    }
    let tree_ensembles = graph
        .node
        .iter()
        .filter(|n| {
            matches!(
                n.op_type.as_str(),
                "TreeEnsembleClassifier" | "TreeEnsembleRegressor"
            )
        })
        .map(tree_ensemble)
        .collect::<Result<_, _>>()?;
    Ok(Summary {
        ir_version: model.ir_version,
        producer: format!("{} {}", model.producer_name, model.producer_version)
            .trim()
            .to_string(),
        model_version: model.model_version,
        description: model.doc_string.clone(),
        opsets: model
            .opset_import
            .iter()
            .map(|o| Opset {
                domain: domain_name(&o.domain),
                version: o.version,
            })
            .collect(),
        inputs: graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .map(value)
            .collect(),
        outputs: graph.output.iter().map(value).collect(),
        operators,
        metadata: model
            .metadata_props
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect(),
        tree_ensembles,
    })
}

fn domain_name(domain: &str) -> String {
    if domain.is_empty() {
        "ai.onnx".into()
    } else {
        domain.into()
    }
}

fn value(info: &ValueInfoProto) -> Value {
    let tensor = match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(tensor)) => tensor,
        None => {
            return Value {
                name: info.name.clone(),
                elem_type: "non-tensor".into(),
                shape: None,
            }
        }
    };
    let elem_type = DataType::try_from(tensor.elem_type)
        .map(|d| d.as_str_name().to_lowercase())
        .unwrap_or_else(|_| format!("type {}", tensor.elem_type));
    let shape = tensor.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(Dim::DimValue(n)) => n.to_string(),
                Some(Dim::DimParam(p)) if !p.is_empty() => p.clone(),
                _ => "?".into(),
            })
            .collect()
    });
    Value {
        name: info.name.clone(),
        elem_type,
        shape,
    }
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn tree_ensemble(node: &NodeProto) -> Result<TreeEnsemble, InspectError> {
    let bad = |message: String| InspectError::Tree {
        op: node.op_type.clone(),
        node: node.name.clone(),
        message,
    };
    let ints = |name: &str| attribute(node, name).map_or(&[][..], |a| &a.ints[..]);
    let (tree_ids, node_ids) = (ints("nodes_treeids"), ints("nodes_nodeids"));
    let (true_ids, false_ids) = (ints("nodes_truenodeids"), ints("nodes_falsenodeids"));
    let feature_ids = ints("nodes_featureids");
    let modes: Vec<&[u8]> = attribute(node, "nodes_modes")
        .map_or(Vec::new(), |a| a.strings.iter().map(|s| &s[..]).collect());
    let n = node_ids.len();
    for (name, len) in [
        ("nodes_treeids", tree_ids.len()),
        ("nodes_modes", modes.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
        ("nodes_featureids", feature_ids.len()),
    ] {
        if len != n {
            return Err(bad(format!("{name} has {len} entries, nodes_nodeids {n}")));
        }
    }
    let is_leaf = |i: usize| modes[i] == b"LEAF";
    // (tree, node id) -> position in the arrays.
    let index: HashMap<(i64, i64), usize> =
        (0..n).map(|i| ((tree_ids[i], node_ids[i]), i)).collect();
    let mut is_child = vec![false; n];
    let mut children = vec![[None, None]; n];
    for i in (0..n).filter(|&i| !is_leaf(i)) {
        for (side, id) in [true_ids[i], false_ids[i]].into_iter().enumerate() {
            let child = *index.get(&(tree_ids[i], id)).ok_or_else(|| {
                bad(format!(
                    "tree {} node {} points to missing node {id}",
                    tree_ids[i], node_ids[i]
                ))
            })?;
            is_child[child] = true;
            children[i][side] = Some(child);
        }
    }
    // Depth of every node reachable from a root; a node met twice means a cycle or a
    // shared subtree, and bounds the walk.
    let mut depth: Vec<Option<usize>> = vec![None; n];
    let mut stack: Vec<(usize, usize)> = (0..n).filter(|&i| !is_child[i]).map(|i| (i, 0)).collect();
    while let Some((i, d)) = stack.pop() {
        if depth[i].replace(d).is_some() {
            return Err(bad(format!(
                "tree {} node {} is reached twice",
                tree_ids[i], node_ids[i]
            )));
        }
        stack.extend(children[i].iter().flatten().map(|&c| (c, d + 1)));
    }
    if depth.iter().any(Option::is_none) {
        return Err(bad(
            "some nodes are on a cycle, unreachable from any root".into()
        ));
    }
    let classes = match (
        attribute(node, "classlabels_int64s"),
        attribute(node, "classlabels_strings"),
    ) {
        (Some(ints), _) => Some(ints.ints.iter().map(i64::to_string).collect()),
        (None, Some(strings)) => Some(
            strings
                .strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        (None, None) => None,
    };
    let features_used: BTreeSet<i64> = (0..n)
        .filter(|&i| !is_leaf(i))
        .map(|i| feature_ids[i])
        .collect();
    Ok(TreeEnsemble {
        node: node.name.clone(),
        op_type: node.op_type.clone(),
        trees: tree_ids.iter().collect::<BTreeSet<_>>().len(),
        nodes: n,
        leaves: (0..n).filter(|&i| is_leaf(i)).count(),
        max_depth: depth.iter().flatten().copied().max().unwrap_or(0),
        classes,
        targets: (node.op_type == "TreeEnsembleRegressor")
            .then(|| attribute(node, "n_targets").map_or(1, |a| a.i)),
        features_used: features_used.into_iter().collect(),
        post_transform: attribute(node, "post_transform").map_or("NONE".into(), |a| {
            String::from_utf8_lossy(&a.s).into_owned()
        }),
    })
}

impl Summary {
    /// Feature names from the metadata (`feature_names`, a JSON array), if present.
    pub fn feature_names(&self) -> Option<Vec<String>> {
        let (_, json) = self.metadata.iter().find(|(k, _)| k == "feature_names")?;
        serde_json::from_str(json).ok()
    }

    /// The summary as text for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "producer: {}", or_none(&self.producer));
        let _ = writeln!(
            out,
            "ir version: {}, model version: {}",
            self.ir_version, self.model_version
        );
        let opsets: Vec<String> = self
            .opsets
            .iter()
            .map(|o| format!("{} {}", o.domain, o.version))
            .collect();
        let _ = writeln!(out, "opsets: {}", opsets.join(", "));
        if !self.description.is_empty() {
            let _ = writeln!(out, "description: {}", self.description);
        }
        for (title, values) in [("inputs", &self.inputs), ("outputs", &self.outputs)] {
            let _ = writeln!(out, "{title}:");
            for v in values {
                let shape = v
                    .shape
                    .as_ref()
                    .map_or("(shape not given)".to_string(), |s| {
                        format!("[{}]", s.join(", "))
                    });
                let _ = writeln!(out, "  {} {} {shape}", v.name, v.elem_type);
            }
        }
        let _ = writeln!(out, "operators:");
        for op in &self.operators {
            let _ = writeln!(out, "  {}.{} x{}", op.domain, op.op_type, op.count);
        }
        if !self.metadata.is_empty() {
            let _ = writeln!(out, "metadata:");
            let sorted: BTreeMap<_, _> = self.metadata.iter().map(|(k, v)| (k, v)).collect();
            for (k, v) in sorted {
                let _ = writeln!(out, "  {k}: {v}");
            }
        }
        let names = self.feature_names();
        for t in &self.tree_ensembles {
            let _ = writeln!(out, "{} `{}`:", t.op_type, t.node);
            let _ = writeln!(
                out,
                "  trees: {}, nodes: {}, leaves: {}, max depth: {}",
                t.trees, t.nodes, t.leaves, t.max_depth
            );
            if let Some(classes) = &t.classes {
                let _ = writeln!(out, "  classes ({}): {}", classes.len(), classes.join(", "));
            }
            if let Some(targets) = t.targets {
                let _ = writeln!(out, "  targets: {targets}");
            }
            let used: Vec<String> = t
                .features_used
                .iter()
                .map(|&f| match names.as_ref().and_then(|n| n.get(f as usize)) {
                    Some(name) => format!("{f} ({name})"),
                    None => f.to_string(),
                })
                .collect();
            let _ = writeln!(out, "  features used ({}): {}", used.len(), used.join(", "));
            let _ = writeln!(out, "  post_transform: {}", t.post_transform);
        }
        out
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "(not given)"
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::BUNDLED_MODEL;

    #[test]
    fn describes_the_bundled_forest() {
        let s = inspect(BUNDLED_MODEL).unwrap();
        assert_eq!(
            s.inputs[0].shape.as_deref(),
            Some(&["N".to_string(), "4".into()][..])
        );
        assert_eq!(s.outputs[0].elem_type, "int64");
        let t = &s.tree_ensembles[0];
        assert_eq!(t.trees, 100);
        assert_eq!(
            t.classes.as_deref(),
            Some(&["0".to_string(), "1".into(), "2".into()][..])
        );
        // A binary tree has one more leaf than branches, in every tree.
        assert_eq!(t.leaves, (t.nodes + t.trees) / 2);
    }

    /// Tree 0: 0 -> (1 leaf, 2 -> (3 leaf, 4 leaf)), depth 2; tree 1: a lone leaf.
    fn hand_built(true_of_2: i64) -> NodeProto {
        use crate::onnx::{ints, strings};
        let mut node = crate::onnx::ml_node(
            "TreeEnsembleClassifier",
            vec![
                ints("nodes_treeids", vec![0, 0, 0, 0, 0, 1]),
                ints("nodes_nodeids", vec![0, 1, 2, 3, 4, 0]),
                ints("nodes_featureids", vec![3, 0, 1, 0, 0, 0]),
                ints("nodes_truenodeids", vec![1, 0, true_of_2, 0, 0, 0]),
                ints("nodes_falsenodeids", vec![2, 0, 4, 0, 0, 0]),
                strings(
                    "nodes_modes",
                    vec!["BRANCH_LT", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF", "LEAF"],
                ),
                ints("classlabels_int64s", vec![4, 7]),
            ],
        );
        node.name = "hand".into();
        node
    }

    #[test]
    fn counts_trees_nodes_leaves_depth_and_features_of_a_hand_built_ensemble() {
        let t = tree_ensemble(&hand_built(3)).unwrap();
        assert_eq!((t.trees, t.nodes, t.leaves, t.max_depth), (2, 6, 4, 2));
        assert_eq!(t.features_used, [1, 3]);
        assert_eq!(
            t.classes.as_deref(),
            Some(&["4".to_string(), "7".into()][..])
        );
    }

    #[test]
    fn shared_subtrees_and_cycles_are_errors_not_loops() {
        // Node 2 points at leaf 1, which node 0 also points at.
        let err = tree_ensemble(&hand_built(1)).unwrap_err();
        assert!(err.to_string().contains("reached twice"), "{err}");
        // Node 2 points at the root.
        let err = tree_ensemble(&hand_built(0)).unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");
    }

    #[test]
    fn rejects_bytes_that_are_not_onnx() {
        assert!(matches!(
            inspect(b"not a model"),
            Err(InspectError::Decode(_))
        ));
    }
}
