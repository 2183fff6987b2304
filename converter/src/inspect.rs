//! `converter inspect`: what an ONNX file holds, read from the protobuf without building
//! a runtime, so it also describes files the function would refuse and files from other
//! exporters (skl2onnx): opsets, signature, operators, metadata, and for tree ensembles
//! the trees, nodes, leaves, depth, classes and features they use (read by the model
//! crate's tree-ensemble reader, which refuses the trees the runtime refuses).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use model::tree_ensemble::{self, ParseError};
use model::Labels;
use prost::Message;
use serde::Serialize;
use tract_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto::dimension::Value as Dim, type_proto, ModelProto,
    NodeProto, ValueInfoProto,
};

/// Why a file cannot be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Not an ONNX protobuf. The decoder's error is the source, which a report that
    /// prints the chain (`{:#}`) shows once.
    #[error("not an ONNX model")]
    Decode(#[from] prost::DecodeError),
    /// A protobuf without a graph.
    #[error("the file holds no graph")]
    NoGraph,
    /// A tree ensemble whose node arrays do not describe trees the runtime accepts.
    #[error(transparent)]
    Tree(#[from] ParseError),
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
    /// One entry per TreeEnsembleClassifier / TreeEnsembleRegressor / (opset 5) TreeEnsemble node.
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
    /// Class labels of a classifier, as text (none when they are not as the runtime
    /// requires).
    pub classes: Option<Vec<String>>,
    /// `n_targets` of a regressor.
    pub targets: Option<usize>,
    /// Input columns some branch tests, in increasing order.
    pub features_used: Vec<usize>,
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
                "TreeEnsembleClassifier" | "TreeEnsembleRegressor" | "TreeEnsemble"
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

fn tree_ensemble(node: &NodeProto) -> Result<TreeEnsemble, InspectError> {
    let summary = tree_ensemble::describe(node)?;
    let classes = summary.classes.map(|labels| match labels {
        Labels::Int(ints) => ints.iter().map(i64::to_string).collect(),
        Labels::Str(strings) => strings,
    });
    Ok(TreeEnsemble {
        node: node.name.clone(),
        op_type: node.op_type.clone(),
        trees: summary.size.trees,
        nodes: summary.size.nodes,
        leaves: summary.leaves,
        max_depth: summary.max_depth,
        classes,
        targets: summary.targets,
        features_used: summary.features_used,
        post_transform: summary.post_transform,
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
                .map(|&f| match names.as_ref().and_then(|n| n.get(f)) {
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

    /// Tree 0: 0 -> (1 leaf, 2 -> (3 leaf, 4 leaf)), depth 2, except that node 2's true
    /// child is `true_of_2`; tree 1: a lone leaf.
    fn hand_built(true_of_2: i64) -> NodeProto {
        use crate::onnx::{floats, ints, strings};
        let mut node = crate::onnx::ml_node(
            "TreeEnsembleClassifier",
            vec![
                ints("nodes_treeids", vec![0, 0, 0, 0, 0, 1]),
                ints("nodes_nodeids", vec![0, 1, 2, 3, 4, 0]),
                ints("nodes_featureids", vec![3, 0, 1, 0, 0, 0]),
                floats("nodes_values", vec![0.5; 6]),
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
    fn shared_subtrees_are_counted_and_cycles_are_errors_not_loops() {
        // Node 2 points at leaf 1, which node 0 also points at: as the runtime, accepted,
        // every listed node counted once (leaf 3, which no branch reaches, too).
        let t = tree_ensemble(&hand_built(1)).unwrap();
        assert_eq!((t.trees, t.nodes, t.leaves, t.max_depth), (2, 6, 4, 2));
        // Node 2 points at the root: refused, with the runtime's message.
        let err = tree_ensemble(&hand_built(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "TreeEnsembleClassifier `hand`: tree 0 has a cycle"
        );
    }

    #[test]
    fn rejects_bytes_that_are_not_onnx() {
        let err = inspect(b"not a model").unwrap_err();
        assert!(matches!(err, InspectError::Decode(_)));
        let report = format!("{:#}", anyhow::Error::from(err));
        assert_eq!(report.matches("Protobuf").count(), 1, "{report}");
    }
}
