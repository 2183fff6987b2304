//! Property tests of our tree-ensemble ops: random ensembles (random depths, features,
//! thresholds, every comparison mode, NaN inputs, missing-value tracking) give the same
//! answers as a straightforward reference evaluator written from the ONNX spec and
//! onnxruntime's semantics, and as tract's built-in TreeEnsembleClassifier where that
//! one is defined the same way (three or more classes, non-negative weights, and no
//! BRANCH_GTE or BRANCH_NEQ: tract 0.23 reads a BRANCH_GTE node as a leaf, because its
//! `Cmp::try_from` accepts codes 1..=5 and GreaterEqual is 6, and it sends NaN down the
//! false branch of BRANCH_NEQ where `NaN != t` holds).
//!
//! Modules: `ensembles` (random ensembles and their ONNX layout), `reference` (the
//! evaluator they are checked against).

mod ensembles;
mod reference;

use converter::onnx::{floats, int, ints, ml_node, string, strings};
use model::{onnx_loader, Batch, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use ensembles::{attributes, model, random_ensemble, random_rows};
use reference::reference_scores;

/// Rows per test case, cycling: the op walks batches smaller than its lane count (8)
/// tree-parallel and larger ones row-parallel, 8 rows at a time plus a tail.
const BATCH_SIZES: [usize; 6] = [1, 3, 8, 17, 64, 75];

/// The regressor cases add a batch beyond the op's largest block of rows (4096), so
/// several blocks are walked; tract's op, too slow for that many rows in a debug
/// build, is not run on them.
const REGRESSOR_BATCH_SIZES: [usize; 7] = [1, 3, 8, 17, 64, 75, 9000];

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

/// onnxmltools' LightGBM regressors end in an `Identity` that renames the ensemble's
/// output: such graphs run on the op directly, and answer as tract's plan of the same
/// graph does.
#[test]
fn regressors_renamed_by_an_identity_run_directly_and_answer_as_tracts_plan() {
    let mut rng = StdRng::seed_from_u64(19);
    for case in 0..60 {
        let n_targets = rng.gen_range(1..3);
        let ensemble = random_ensemble(&mut rng, n_targets, false, false);
        let mut attrs = attributes(&ensemble, "target");
        attrs.push(int("n_targets", n_targets as i64));
        let mut node = ml_node("TreeEnsembleRegressor", attrs);
        node.output = vec!["raw".into()];
        let mut proto = model(
            node,
            ensemble.n_features,
            &[("variable", pb::tensor_proto::DataType::Float)],
        );
        proto.graph.as_mut().unwrap().node.push(pb::NodeProto {
            op_type: "Identity".into(),
            input: vec!["raw".into()],
            output: vec!["variable".into()],
            ..Default::default()
        });
        let bytes = converter::onnx::encode(&proto);
        let direct = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let planned = Model::from_bytes_through_tract(&bytes).unwrap();
        assert!(!direct.runs_through_tract(), "case {case}");
        let rows = random_rows(&mut rng, &ensemble, BATCH_SIZES[case % BATCH_SIZES.len()]);
        let batch = Batch::new(rows, ensemble.n_features);
        assert_eq!(
            direct.predict(&batch).unwrap(),
            planned.predict(&batch).unwrap(),
            "case {case}"
        );
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
