//! Property tests of our tree-ensemble ops: random ensembles (random depths, features,
//! thresholds, every comparison mode, NaN inputs, missing-value tracking) give the same
//! answers as a straightforward reference evaluator written from the ONNX spec and
//! onnxruntime's semantics, and as tract's built-in TreeEnsembleClassifier where that
//! one is defined the same way (three or more classes, non-negative weights, and no
//! BRANCH_GTE or BRANCH_NEQ: tract 0.23 reads a BRANCH_GTE node as a leaf, because its
//! `Cmp::try_from` accepts codes 1..=5 and GreaterEqual is 6, and it sends NaN down the
//! false branch of BRANCH_NEQ where `NaN != t` holds).

use std::collections::HashMap;

use converter::onnx::{floats, int, ints, ml_node, string, strings};
use model::onnx_loader;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tract_onnx::pb::{self, NodeProto};
use tract_onnx::prelude::*;

const MODES: [&str; 6] = [
    "BRANCH_LEQ",
    "BRANCH_LT",
    "BRANCH_GTE",
    "BRANCH_GT",
    "BRANCH_EQ",
    "BRANCH_NEQ",
];

/// Rows per test case, cycling: the op walks batches smaller than its lane count (8)
/// tree-parallel and larger ones row-parallel, 8 rows at a time plus a tail.
const BATCH_SIZES: [usize; 6] = [1, 3, 8, 17, 64, 75];

/// The regressor cases add a batch beyond the op's largest block of rows (4096), so
/// several blocks are walked; tract's op, too slow for that many rows in a debug
/// build, is not run on them.
const REGRESSOR_BATCH_SIZES: [usize; 7] = [1, 3, 8, 17, 64, 75, 9000];

/// One node as the attributes list it.
#[derive(Clone, Debug)]
struct Listed {
    tree: i64,
    id: i64,
    mode: &'static str,
    feature: i64,
    threshold: f32,
    true_id: i64,
    false_id: i64,
    nan_true: bool,
    /// (output, weight) for leaves.
    weights: Vec<(i64, f32)>,
}

/// The modes tract 0.23's built-in op evaluates as the spec says.
const TRACT_MODES: [&str; 4] = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GT", "BRANCH_EQ"];

/// A random ensemble, as attribute rows.
struct Ensemble {
    nodes: Vec<Listed>,
    n_features: usize,
    n_outputs: usize,
    thresholds: Vec<f32>,
}

/// With `for_tract`, nodes are listed in id order and use only [`TRACT_MODES`]: tract
/// 0.23's built-in op also panics (a subtraction overflow in `eval_unchecked`) on some
/// ensembles whose nodes are not listed in id order.
fn random_ensemble(
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
fn random_rows(rng: &mut StdRng, ensemble: &Ensemble, n_rows: usize) -> Vec<f32> {
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
fn attributes(ensemble: &Ensemble, prefix: &str) -> Vec<pb::AttributeProto> {
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
fn model(
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

/// Runs `proto` with `onnx` on `rows`; returns every output.
fn run(
    onnx: &tract_onnx::Onnx,
    proto: &pb::ModelProto,
    rows: &[f32],
    width: usize,
) -> TractResult<TVec<TValue>> {
    let mut model = onnx.model_for_proto_model(proto)?;
    let n = model.symbols.sym("N");
    model.set_input_fact(0, f32::fact(&[n.to_dim(), width.to_dim()]).into())?;
    let plan = model.into_optimized()?.into_runnable()?;
    let input = Tensor::from_shape(&[rows.len() / width, width], rows)?;
    plan.run(tvec!(input.into_tvalue()))
}

fn floats_of(value: &TValue) -> Vec<f32> {
    value
        .try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .to_vec()
}

fn ints_of(value: &TValue) -> Vec<i64> {
    value
        .cast_to::<i64>()
        .unwrap()
        .try_as_plain_ram()
        .unwrap()
        .as_slice::<i64>()
        .unwrap()
        .to_vec()
}

/// Reference: per row, per output, (sum or min/max of weights, whether any leaf had it).
fn reference_scores(ensemble: &Ensemble, row: &[f32], aggregate: &str) -> Vec<(f32, bool)> {
    let at: HashMap<(i64, i64), &Listed> =
        ensemble.nodes.iter().map(|n| ((n.tree, n.id), n)).collect();
    let mut roots: Vec<&Listed> = Vec::new();
    for node in &ensemble.nodes {
        if roots.iter().all(|r| r.tree != node.tree) {
            roots.push(node);
        }
    }
    let mut scores = vec![(0.0f32, false); ensemble.n_outputs];
    for root in roots {
        let mut node = root;
        while node.mode != "LEAF" {
            let x = row[node.feature as usize];
            let t = node.threshold;
            let pass = match node.mode {
                "BRANCH_LEQ" => x <= t,
                "BRANCH_LT" => x < t,
                "BRANCH_GTE" => x >= t,
                "BRANCH_GT" => x > t,
                "BRANCH_EQ" => x == t,
                _ => x != t,
            } || (node.nan_true && x.is_nan());
            node = at[&(node.tree, if pass { node.true_id } else { node.false_id })];
        }
        for &(o, w) in &node.weights {
            let (s, has) = &mut scores[o as usize];
            *s = match aggregate {
                "MIN" if *has => s.min(w),
                "MAX" if *has => s.max(w),
                "MIN" | "MAX" => w,
                _ => *s + w,
            };
            *has = true;
        }
    }
    scores
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + b.abs())
}

#[test]
fn classifiers_match_the_reference_and_tract_builtin() {
    let mut rng = StdRng::seed_from_u64(2024);
    let ours = onnx_loader();
    let builtin = tract_onnx::onnx();
    let mut compared_with_tract = 0;
    for case in 0..300 {
        let n_classes = rng.gen_range(3..6);
        let tract_comparable = rng.gen_bool(0.5);
        let ensemble = random_ensemble(&mut rng, n_classes, true, tract_comparable);
        let post = ["NONE", "SOFTMAX", "LOGISTIC"][rng.gen_range(0..3)];
        let base: Vec<f32> = if rng.gen_bool(0.3) {
            (0..n_classes).map(|_| rng.gen_range(0.0..0.5)).collect()
        } else {
            vec![]
        };
        let mut attrs = attributes(&ensemble, "class");
        attrs.push(ints(
            "classlabels_int64s",
            (0..n_classes as i64).map(|c| c * 10).collect(),
        ));
        attrs.push(string("post_transform", post));
        if !base.is_empty() {
            attrs.push(floats("base_values", base.clone()));
        }
        let proto = model(
            ml_node("TreeEnsembleClassifier", attrs),
            ensemble.n_features,
            &[
                ("label", pb::tensor_proto::DataType::Int64),
                ("probabilities", pb::tensor_proto::DataType::Float),
            ],
        );
        let rows = random_rows(&mut rng, &ensemble, BATCH_SIZES[case % BATCH_SIZES.len()]);
        let width = ensemble.n_features;
        let got = run(&ours, &proto, &rows, width).unwrap_or_else(|e| panic!("case {case}: {e:#}"));
        // tract's op panics on some ensembles (an index subtraction overflows in its
        // leaf lookup); those cases are compared with the reference only.
        let want = if tract_comparable {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&builtin, &proto, &rows, width).unwrap()
            }))
            .ok()
        } else {
            None
        };
        let tract_comparable = want.is_some();
        compared_with_tract += usize::from(tract_comparable);
        let (labels, probabilities) = (ints_of(&got[0]), floats_of(&got[1]));
        let (tract_labels, tract_probabilities) = match &want {
            Some(want) => (ints_of(&want[0]), floats_of(&want[1])),
            None => (labels.clone(), probabilities.clone()),
        };
        for (row, features) in rows.chunks(width).enumerate() {
            let mut scores = reference_scores(&ensemble, features, "SUM");
            for (k, b) in base.iter().enumerate() {
                scores[k] = (scores[k].0 + b, true);
            }
            let best =
                (0..n_classes)
                    .filter(|&k| scores[k].1)
                    .fold(None, |best: Option<usize>, k| match best {
                        Some(b) if scores[b].0 >= scores[k].0 => Some(b),
                        _ => Some(k),
                    });
            assert_eq!(
                labels[row],
                best.unwrap_or(0) as i64 * 10,
                "case {case} row {row}: {scores:?}"
            );
            let mut raw: Vec<f32> = scores.iter().map(|s| s.0).collect();
            match post {
                "SOFTMAX" => {
                    let max = raw.iter().copied().fold(f32::MIN, f32::max);
                    let sum: f32 = raw.iter().map(|s| (s - max).exp()).sum();
                    raw.iter_mut().for_each(|s| *s = (*s - max).exp() / sum);
                }
                "LOGISTIC" => raw.iter_mut().for_each(|s| *s = 1.0 / (1.0 + (-*s).exp())),
                _ => {}
            }
            let got_row = &probabilities[row * n_classes..(row + 1) * n_classes];
            let tract_row = &tract_probabilities[row * n_classes..(row + 1) * n_classes];
            for k in 0..n_classes {
                assert!(
                    close(got_row[k], raw[k]),
                    "case {case} row {row}: {got_row:?} vs reference {raw:?}"
                );
                if tract_comparable {
                    assert!(
                        close(got_row[k], tract_row[k]),
                        "case {case} row {row}: {got_row:?} vs tract {tract_row:?}"
                    );
                }
            }
            // tract's arg-max may break an exact tie differently; elsewhere labels agree.
            let mut sorted = raw.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            if tract_comparable && sorted[0] - sorted[1] > 1e-5 {
                assert_eq!(labels[row], tract_labels[row], "case {case} row {row}");
            }
        }
    }
    assert!(
        compared_with_tract > 75,
        "only {compared_with_tract} cases ran on tract's op"
    );
}

#[test]
fn regressors_match_the_reference_for_every_aggregate() {
    let mut rng = StdRng::seed_from_u64(7);
    let ours = onnx_loader();
    for case in 0..200 {
        let n_targets = rng.gen_range(1..4);
        let ensemble = random_ensemble(&mut rng, n_targets, false, false);
        let aggregate = ["SUM", "AVERAGE", "MIN", "MAX"][rng.gen_range(0..4)];
        let base: Vec<f32> = if rng.gen_bool(0.5) {
            (0..n_targets).map(|_| rng.gen_range(-1.0..1.0)).collect()
        } else {
            vec![]
        };
        let mut attrs = attributes(&ensemble, "target");
        attrs.push(int("n_targets", n_targets as i64));
        attrs.push(string("aggregate_function", aggregate));
        if !base.is_empty() {
            attrs.push(floats("base_values", base.clone()));
        }
        let mut node = ml_node("TreeEnsembleRegressor", attrs);
        node.output = vec!["variable".into()];
        let proto = model(
            node,
            ensemble.n_features,
            &[("variable", pb::tensor_proto::DataType::Float)],
        );
        let rows = random_rows(
            &mut rng,
            &ensemble,
            REGRESSOR_BATCH_SIZES[case % REGRESSOR_BATCH_SIZES.len()],
        );
        let width = ensemble.n_features;
        let got = floats_of(
            &run(&ours, &proto, &rows, width).unwrap_or_else(|e| panic!("case {case}: {e:#}"))[0],
        );
        let n_trees = ensemble.nodes.iter().map(|n| n.tree).max().unwrap() as f32 + 1.0;
        for (row, features) in rows.chunks(width).enumerate() {
            let scores = reference_scores(&ensemble, features, aggregate);
            for k in 0..n_targets {
                let (s, has) = scores[k];
                let b = base.get(k).copied().unwrap_or(0.0);
                let want = match aggregate {
                    "AVERAGE" => s / n_trees + b,
                    "MIN" | "MAX" => b + if has { s } else { 0.0 },
                    _ => s + b,
                };
                let value = got[row * n_targets + k];
                assert!(
                    close(value, want),
                    "case {case} row {row} target {k}: {value} vs {want} ({aggregate})"
                );
            }
        }
    }
}

#[test]
fn malformed_ensembles_are_refused_at_load_time_naming_the_problem() {
    let mut rng = StdRng::seed_from_u64(1);
    let ensemble = random_ensemble(&mut rng, 3, true, false);
    let load = |mutate: &dyn Fn(&mut Vec<pb::AttributeProto>)| {
        let mut attrs = attributes(&ensemble, "class");
        attrs.push(ints("classlabels_int64s", vec![0, 1, 2]));
        mutate(&mut attrs);
        let proto = model(
            ml_node("TreeEnsembleClassifier", attrs),
            ensemble.n_features,
            &[
                ("label", pb::tensor_proto::DataType::Int64),
                ("probabilities", pb::tensor_proto::DataType::Float),
            ],
        );
        format!(
            "{:#}",
            onnx_loader().model_for_proto_model(&proto).unwrap_err()
        )
    };
    let set = |name: &'static str, attr: pb::AttributeProto| {
        move |attrs: &mut Vec<pb::AttributeProto>| {
            attrs.retain(|a| a.name != name);
            attrs.push(attr.clone());
        }
    };
    let n = ensemble.nodes.len();
    let message = load(&set(
        "nodes_modes",
        strings("nodes_modes", vec!["BRANCH_WHAT"; n]),
    ));
    assert!(message.contains("BRANCH_WHAT"), "{message}");
    let message = load(&set("post_transform", string("post_transform", "PROBIT")));
    assert!(
        message.contains("post_transform PROBIT is not supported"),
        "{message}"
    );
    let message = load(&set(
        "class_ids",
        ints(
            "class_ids",
            vec![7; ensemble.nodes.iter().map(|x| x.weights.len()).sum()],
        ),
    ));
    assert!(message.contains("is outside 0..3"), "{message}");
    let message = load(&set(
        "nodes_values",
        floats("nodes_values", vec![0.0; n + 1]),
    ));
    assert!(message.contains("nodes_values has"), "{message}");
}

#[test]
fn a_cycle_is_refused_instead_of_looping() {
    // Tree 0: node 0 branches to 1 and 2; node 1 points back to 0.
    let attrs = vec![
        ints("nodes_treeids", vec![0, 0, 0]),
        ints("nodes_nodeids", vec![0, 1, 2]),
        ints("nodes_featureids", vec![0, 0, 0]),
        strings("nodes_modes", vec!["BRANCH_LT", "BRANCH_LT", "LEAF"]),
        floats("nodes_values", vec![0.5, 0.5, 0.0]),
        ints("nodes_truenodeids", vec![1, 0, 0]),
        ints("nodes_falsenodeids", vec![2, 2, 0]),
        ints("class_treeids", vec![0]),
        ints("class_nodeids", vec![2]),
        ints("class_ids", vec![0]),
        floats("class_weights", vec![1.0]),
        ints("classlabels_int64s", vec![0, 1, 2]),
    ];
    let proto = model(
        ml_node("TreeEnsembleClassifier", attrs),
        1,
        &[
            ("label", pb::tensor_proto::DataType::Int64),
            ("probabilities", pb::tensor_proto::DataType::Float),
        ],
    );
    let message = format!(
        "{:#}",
        onnx_loader().model_for_proto_model(&proto).unwrap_err()
    );
    assert!(message.contains("cycle"), "{message}");
}
