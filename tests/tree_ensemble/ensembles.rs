//! Random tree ensembles and their ONNX layout: nodes as the `ai.onnx.ml` attributes
//! list them (each tree's root first), the rows to run them on, and a model of
//! one TreeEnsembleClassifier or TreeEnsembleRegressor node around them.

use converter::onnx::{floats, ints, strings};
use rand::rngs::StdRng;
use rand::Rng;
use tract_onnx::pb::{self, NodeProto};

/// Every comparison mode the spec defines.
const MODES: [&str; 6] = [
    "BRANCH_LEQ",
    "BRANCH_LT",
    "BRANCH_GTE",
    "BRANCH_GT",
    "BRANCH_EQ",
    "BRANCH_NEQ",
];

/// One node as the attributes list it.
#[derive(Clone, Debug)]
pub struct Listed {
    /// The tree it belongs to.
    pub tree: i64,
    /// Its id in that tree.
    pub id: i64,
    /// `LEAF`, or the comparison of a branch (`BRANCH_LEQ`, ...).
    pub mode: &'static str,
    /// The feature a branch compares.
    pub feature: i64,
    /// What a branch compares the feature with.
    pub threshold: f32,
    /// The child when the comparison holds.
    pub true_id: i64,
    /// The child when it does not.
    pub false_id: i64,
    /// A NaN feature takes the true branch (missing-value tracking).
    pub nan_true: bool,
    /// (output, weight) for leaves.
    pub weights: Vec<(i64, f32)>,
}

/// The modes tract 0.23's built-in op evaluates as the spec says.
const TRACT_MODES: [&str; 4] = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GT", "BRANCH_EQ"];

/// A random ensemble, as attribute rows.
pub struct Ensemble {
    /// Every node, each tree's root first.
    pub nodes: Vec<Listed>,
    /// Values in a row.
    pub n_features: usize,
    /// Classes or regression targets.
    pub n_outputs: usize,
    /// Every branch's threshold, so rows can hit them exactly.
    thresholds: Vec<f32>,
}

/// With `for_tract`, nodes are listed in id order and use only [`TRACT_MODES`]: tract
/// 0.23's built-in op also panics (a subtraction overflow in `eval_unchecked`) on some
/// ensembles whose nodes are not listed in id order.
pub fn random_ensemble(
    rng: &mut StdRng,
    n_outputs: usize,
    positive: bool,
    for_tract: bool,
) -> Ensemble {
    let modes: &'static [&'static str] = if for_tract { &TRACT_MODES } else { &MODES };
    let shape = Shape {
        n_features: rng.gen_range(1..8),
        n_outputs,
        positive,
        mixed: rng.gen_bool(0.5),
        uniform: modes[rng.gen_range(0..modes.len())],
        modes,
    };
    let n_trees = rng.gen_range(1..12);
    let mut nodes = Vec::new();
    let mut thresholds = Vec::new();
    for tree in 0..n_trees {
        let max_depth = rng.gen_range(0..7);
        let mut tree_nodes = Vec::new();
        shape.grow(rng, tree, max_depth, &mut tree_nodes, &mut thresholds);
        // The root stays first (runtimes take the first listed node as the root); the
        // other nodes are listed in a random order to exercise the id lookups.
        let (root, rest) = tree_nodes.split_at_mut(1);
        for i in (1..rest.len()).rev().filter(|_| !for_tract) {
            rest.swap(i, rng.gen_range(0..=i));
        }
        nodes.extend(root.iter().cloned());
        nodes.extend(rest.iter().cloned());
    }
    Ensemble {
        nodes,
        n_features: shape.n_features,
        n_outputs,
        thresholds,
    }
}

/// What every node of one random ensemble shares.
struct Shape {
    n_features: usize,
    n_outputs: usize,
    /// Leaf weights are all non-negative.
    positive: bool,
    /// Each branch draws its own mode from `modes`; otherwise all use `uniform`.
    mixed: bool,
    uniform: &'static str,
    modes: &'static [&'static str],
}

impl Shape {
    /// Appends a random subtree in pre-order and returns its root's id.
    fn grow(
        &self,
        rng: &mut StdRng,
        tree: i64,
        depth_left: usize,
        nodes: &mut Vec<Listed>,
        thresholds: &mut Vec<f32>,
    ) -> i64 {
        let id = nodes.len() as i64;
        let mut node = Listed {
            tree,
            id,
            mode: "LEAF",
            feature: 0,
            threshold: 0.0,
            true_id: 0,
            false_id: 0,
            nan_true: false,
            weights: Vec::new(),
        };
        if depth_left == 0 || rng.gen_bool(0.2) {
            let entries = rng.gen_range(1..=2.min(self.n_outputs));
            node.weights = (0..entries)
                .map(|_| {
                    let w: f32 = rng.gen_range(0.0..1.0);
                    let w = if self.positive || rng.gen_bool(0.5) {
                        w
                    } else {
                        -w
                    };
                    (rng.gen_range(0..self.n_outputs) as i64, w)
                })
                .collect();
            nodes.push(node);
            return id;
        }
        nodes.push(node);
        let threshold = (rng.gen_range(-10..=10) as f32) / 10.0;
        thresholds.push(threshold);
        let mode = if self.mixed {
            self.modes[rng.gen_range(0..self.modes.len())]
        } else {
            self.uniform
        };
        let feature = rng.gen_range(0..self.n_features) as i64;
        let nan_true = rng.gen_bool(0.5);
        let true_id = self.grow(rng, tree, depth_left - 1, nodes, thresholds);
        let false_id = self.grow(rng, tree, depth_left - 1, nodes, thresholds);
        let node = &mut nodes[id as usize];
        node.mode = mode;
        node.feature = feature;
        node.threshold = threshold;
        node.true_id = true_id;
        node.false_id = false_id;
        node.nan_true = nan_true;
        id
    }
}

/// Rows mixing uniform values, exact thresholds (to tell `<` from `<=`) and NaN.
pub fn random_rows(rng: &mut StdRng, ensemble: &Ensemble, n_rows: usize) -> Vec<f32> {
    (0..n_rows * ensemble.n_features)
        .map(|_| match rng.gen_range(0..10) {
            0 => f32::NAN,
            1..=3 if !ensemble.thresholds.is_empty() => {
                ensemble.thresholds[rng.gen_range(0..ensemble.thresholds.len())]
            }
            _ => rng.gen_range(-1.2..1.2),
        })
        .collect()
}

/// The ensemble's attributes, with leaf attributes under `prefix` (`class`/`target`).
pub fn attributes(ensemble: &Ensemble, prefix: &str) -> Vec<pb::AttributeProto> {
    let n = &ensemble.nodes;
    let leaves: Vec<(&Listed, i64, f32)> = n
        .iter()
        .flat_map(|node| node.weights.iter().map(move |&(o, w)| (node, o, w)))
        .collect();
    vec![
        ints("nodes_treeids", n.iter().map(|x| x.tree).collect()),
        ints("nodes_nodeids", n.iter().map(|x| x.id).collect()),
        ints("nodes_featureids", n.iter().map(|x| x.feature).collect()),
        strings("nodes_modes", n.iter().map(|x| x.mode).collect()),
        floats("nodes_values", n.iter().map(|x| x.threshold).collect()),
        ints("nodes_truenodeids", n.iter().map(|x| x.true_id).collect()),
        ints("nodes_falsenodeids", n.iter().map(|x| x.false_id).collect()),
        ints(
            "nodes_missing_value_tracks_true",
            n.iter().map(|x| x.nan_true as i64).collect(),
        ),
        ints(
            &format!("{prefix}_treeids"),
            leaves.iter().map(|l| l.0.tree).collect(),
        ),
        ints(
            &format!("{prefix}_nodeids"),
            leaves.iter().map(|l| l.0.id).collect(),
        ),
        ints(
            &format!("{prefix}_ids"),
            leaves.iter().map(|l| l.1).collect(),
        ),
        floats(
            &format!("{prefix}_weights"),
            leaves.iter().map(|l| l.2).collect(),
        ),
    ]
}

/// A model with one node reading `input` [N, features].
pub fn model(
    node: NodeProto,
    n_features: usize,
    outputs: &[(&str, pb::tensor_proto::DataType)],
) -> pb::ModelProto {
    let info = |name: &str,
                elem: pb::tensor_proto::DataType,
                dims: Vec<pb::tensor_shape_proto::Dimension>| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(pb::TensorShapeProto { dim: dims }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let dim = |v: pb::tensor_shape_proto::dimension::Value| pb::tensor_shape_proto::Dimension {
        value: Some(v),
        ..Default::default()
    };
    let batch = || {
        dim(pb::tensor_shape_proto::dimension::Value::DimParam(
            "N".into(),
        ))
    };
    let fixed = |n: usize| dim(pb::tensor_shape_proto::dimension::Value::DimValue(n as i64));
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![
            pb::OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            },
            pb::OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: 3,
            },
        ],
        graph: Some(pb::GraphProto {
            node: vec![node],
            input: vec![info(
                "input",
                pb::tensor_proto::DataType::Float,
                vec![batch(), fixed(n_features)],
            )],
            output: outputs
                .iter()
                .map(|(name, t)| info(name, *t, vec![]))
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}
