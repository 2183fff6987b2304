//! Each operator in a graph the function serves (one float input [N, features]):
//! loaded with `Model::from_bytes`, predicted with `Model::predict`.

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::NodeProto;

use super::super::testing::{
    float, floats, int, int64_tensor, ints, member_tree, model, predicted, served, standard,
    string, strings, two_class_svm, value, wired,
};
use crate::{Labels, Model, Predicted};

/// A float input `x` of `width` features.
fn x(width: i64) -> tract_onnx::pb::ValueInfoProto {
    value("x", DataType::Float, &[None, Some(width)])
}

/// A LinearRegressor from `input` to output `y` with `coefficients` and no intercept.
fn linear_regressor(input: &str, coefficients: Vec<f32>) -> NodeProto {
    wired(
        "LinearRegressor",
        &[input],
        &["y"],
        vec![
            floats("coefficients", coefficients),
            floats("intercepts", vec![0.0]),
        ],
    )
}

/// `nodes` from `x` ([N, `width`]) ending in a regressor's `y` ([N, 1]), served.
fn regression(nodes: Vec<NodeProto>, width: i64, ml_opset: i64) -> Model {
    let y = value("y", DataType::Float, &[None, Some(1)]);
    served(&model(nodes, vec![x(width)], vec![y], vec![], ml_opset))
}

fn values(model: &Model, rows: Vec<f32>, width: usize) -> Vec<f32> {
    match predicted(model, rows, width).predicted {
        Predicted::Values { values, .. } => values,
        other => panic!("a regressor answers values, not {other:?}"),
    }
}

#[test]
fn scaler_feeds_a_linear_classifier() {
    let nodes = vec![
        wired(
            "Scaler",
            &["x"],
            &["scaled"],
            vec![
                floats("offset", vec![1.0, 2.0]),
                floats("scale", vec![2.0, 0.5]),
            ],
        ),
        wired(
            "LinearClassifier",
            &["scaled"],
            &["label", "probabilities"],
            vec![
                floats("coefficients", vec![1.0, -1.0, -1.0, 1.0]),
                floats("intercepts", vec![0.0, 0.0]),
                ints("classlabels_ints", vec![0, 1]),
                string("post_transform", "NONE"),
            ],
        ),
    ];
    let outputs = vec![
        value("label", DataType::Int64, &[None]),
        value("probabilities", DataType::Float, &[None, Some(2)]),
    ];
    let model = served(&model(nodes, vec![x(2)], outputs, vec![], 1));
    // [2, 4] -> [2, 1]: scores 1, -1. [1, 6] -> [0, 2]: scores -2, 2.
    let answer = predicted(&model, vec![2.0, 4.0, 1.0, 6.0], 2);
    assert_eq!(answer.predicted, Predicted::Labels(Labels::Int(vec![0, 1])));
    assert_eq!(answer.probabilities, Some(vec![1.0, -1.0, -2.0, 2.0]));
}

#[test]
fn imputer_feeds_a_tree_ensemble_classifier() {
    // A stump x0 <= 4: class 10 (leaf 1), else class 30 (leaf 2); NaN imputed to 5.
    let modes = ["BRANCH_LEQ", "LEAF", "LEAF"];
    let tree = vec![
        ints("nodes_treeids", vec![0, 0, 0]),
        ints("nodes_nodeids", vec![0, 1, 2]),
        ints("nodes_featureids", vec![0, 0, 0]),
        floats("nodes_values", vec![4.0, 0.0, 0.0]),
        strings("nodes_modes", &modes),
        ints("nodes_truenodeids", vec![1, 0, 0]),
        ints("nodes_falsenodeids", vec![2, 0, 0]),
        ints("class_treeids", vec![0, 0]),
        ints("class_nodeids", vec![1, 2]),
        ints("class_ids", vec![0, 2]),
        floats("class_weights", vec![1.0, 1.0]),
        ints("classlabels_int64s", vec![10, 20, 30]),
    ];
    let nodes = vec![
        wired(
            "Imputer",
            &["x"],
            &["imputed"],
            vec![
                floats("imputed_value_floats", vec![5.0, 0.0]),
                float("replaced_value_float", f32::NAN),
            ],
        ),
        wired(
            "TreeEnsembleClassifier",
            &["imputed"],
            &["label", "probabilities"],
            tree,
        ),
    ];
    let outputs = vec![
        value("label", DataType::Int64, &[None]),
        value("probabilities", DataType::Float, &[None, Some(3)]),
    ];
    let model = served(&model(nodes, vec![x(2)], outputs, vec![], 3));
    let answer = predicted(&model, vec![f32::NAN, 0.0, 1.0, f32::NAN], 2);
    assert_eq!(
        answer.predicted,
        Predicted::Labels(Labels::Int(vec![30, 10]))
    );
    assert_eq!(
        answer.probabilities,
        Some(vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    );
}

#[test]
fn binarizer_feeds_a_linear_regressor() {
    let nodes = vec![
        wired(
            "Binarizer",
            &["x"],
            &["bits"],
            vec![float("threshold", 0.5)],
        ),
        linear_regressor("bits", vec![1.0, 10.0]),
    ];
    let model = regression(nodes, 2, 1);
    // [0.7, 0.2] -> [1, 0] -> 1; [0.1, 3] -> [0, 1] -> 10; 0.5 is not above 0.5.
    assert_eq!(
        values(&model, vec![0.7, 0.2, 0.1, 3.0, 0.5, 0.5], 2),
        [1.0, 10.0, 0.0]
    );
}

#[test]
fn array_feature_extractor_selects_constant_columns() {
    let nodes = vec![
        wired(
            "ArrayFeatureExtractor",
            &["x", "columns"],
            &["picked"],
            vec![],
        ),
        linear_regressor("picked", vec![1.0, 100.0]),
    ];
    let y = value("y", DataType::Float, &[None, Some(1)]);
    let columns = int64_tensor("columns", vec![2, 0]);
    let model = served(&model(nodes, vec![x(3)], vec![y], vec![columns], 1));
    // [1, 2, 3] -> [3, 1] -> 3 + 100
    assert_eq!(values(&model, vec![1.0, 2.0, 3.0], 3), [103.0]);
}

#[test]
fn feature_vectorizer_joins_the_input_and_its_int64_cast() {
    let nodes = vec![
        standard(
            "Cast",
            &["x"],
            "ints",
            vec![int("to", DataType::Int64 as i64)],
        ),
        wired(
            "FeatureVectorizer",
            &["x", "ints"],
            &["joined"],
            vec![ints("inputdimensions", vec![2, 2])],
        ),
        linear_regressor("joined", vec![1.0, 1.0, 1.0, 1.0]),
    ];
    let model = regression(nodes, 2, 1);
    // [1.5, 2.25] -> [1.5, 2.25, 1, 2] -> 6.75
    assert_eq!(values(&model, vec![1.5, 2.25], 2), [6.75]);
}

#[test]
fn label_encoder_maps_floats_to_floats() {
    let nodes = vec![
        wired(
            "LabelEncoder",
            &["x"],
            &["mapped"],
            vec![
                floats("keys_floats", vec![1.0, 2.0]),
                floats("values_floats", vec![10.0, 20.0]),
                float("default_float", 7.0),
            ],
        ),
        linear_regressor("mapped", vec![1.0]),
    ];
    let model = regression(nodes, 1, 2);
    assert_eq!(values(&model, vec![2.0, 3.0, 1.0], 1), [20.0, 7.0, 10.0]);
}

#[test]
fn one_hot_encoder_of_a_float_column_cast_to_int64_as_skl2onnx_wires_it() {
    let nodes = vec![
        standard(
            "Cast",
            &["x"],
            "category",
            vec![int("to", DataType::Int64 as i64)],
        ),
        wired(
            "OneHotEncoder",
            &["category"],
            &["encoded"],
            vec![ints("cats_int64s", vec![1, 2, 3]), int("zeros", 1)],
        ),
        standard("Reshape", &["encoded", "shape"], "flat", vec![]),
        linear_regressor("flat", vec![10.0, 20.0, 30.0]),
    ];
    let y = value("y", DataType::Float, &[None, Some(1)]);
    let shape = int64_tensor("shape", vec![-1, 3]);
    let model = served(&model(nodes, vec![x(1)], vec![y], vec![shape], 1));
    // 2 -> [0, 1, 0] -> 20; 7 is no category -> zeros -> 0; 3.5 -> 3 -> 30.
    assert_eq!(values(&model, vec![2.0, 7.0, 3.5], 1), [20.0, 0.0, 30.0]);
}

#[test]
fn svm_classifier_is_served_with_its_labels_and_scores() {
    let mut svm = two_class_svm();
    svm.push(floats("kernel_params", vec![0.0, 0.0, 1.0]));
    let nodes = vec![wired("SVMClassifier", &["x"], &["label", "scores"], svm)];
    let outputs = vec![
        value("label", DataType::Int64, &[None]),
        value("scores", DataType::Float, &[None, Some(2)]),
    ];
    let model = served(&model(nodes, vec![x(1)], outputs, vec![], 1));
    let answer = predicted(&model, vec![2.0, -2.0], 1);
    assert_eq!(
        answer.predicted,
        Predicted::Labels(Labels::Int(vec![10, 20]))
    );
    let scores = answer.probabilities.unwrap();
    let expected = [-2.1, 2.1, 1.9, -1.9];
    assert!(
        scores
            .iter()
            .zip(expected)
            .all(|(s, e)| (s - e).abs() < 1e-5),
        "{scores:?}"
    );
}

#[test]
fn svm_regressor_is_served_as_a_one_target_regressor() {
    let svm = vec![
        floats("coefficients", vec![2.0, -1.0]),
        floats("rho", vec![0.5]),
        int("n_supports", 0),
    ];
    let model = regression(vec![wired("SVMRegressor", &["x"], &["y"], svm)], 2, 1);
    // 2 * 3 - 1 * 4 + 0.5
    assert_eq!(values(&model, vec![3.0, 4.0], 2), [2.5]);
}

#[test]
fn opset5_tree_ensemble_is_served_directly_and_through_tract_alike() {
    // x0 in {1, 3, 5} (NaN too) -> 10, else x1 < 0.5 -> 20, else 30.
    let tree = member_tree(vec![1, 0]);
    let y = value("y", DataType::Float, &[None, Some(1)]);
    let proto = model(
        vec![wired("TreeEnsemble", &["x"], &["y"], tree)],
        vec![x(2)],
        vec![y],
        vec![],
        5,
    );
    let bytes = prost::Message::encode_to_vec(&proto);
    let direct = Model::from_bytes(&bytes).unwrap();
    let planned = Model::from_bytes_through_tract(&bytes).unwrap();
    assert!(!direct.runs_through_tract() && planned.runs_through_tract());
    let rows = vec![3.0, 9.0, 2.0, 0.1, f32::NAN, 0.0, 2.0, f32::NAN];
    assert_eq!(values(&direct, rows.clone(), 2), [10.0, 20.0, 10.0, 30.0]);
    assert_eq!(values(&planned, rows, 2), [10.0, 20.0, 10.0, 30.0]);
    assert_eq!(direct.info().operator, "TreeEnsemble");
}

#[test]
fn an_operator_refused_at_load_is_named_with_its_node() {
    let imputer = vec![floats("imputed_value_floats", vec![0.0; 3])];
    let nodes = vec![
        wired("Imputer", &["x"], &["imputed"], imputer),
        linear_regressor("imputed", vec![1.0, 1.0]),
    ];
    let y = value("y", DataType::Float, &[None, Some(1)]);
    let bytes = prost::Message::encode_to_vec(&model(nodes, vec![x(2)], vec![y], vec![], 1));
    let err = Model::from_bytes(&bytes).unwrap_err().to_string();
    let expected = "Imputer `Imputer_imputed`: attribute imputed_value_floats has 3 values for \
                    rows of 2 features; it needs 1 or 2";
    assert!(err.contains(expected), "{err}");
}

#[test]
fn a_linear_model_whose_coefficients_do_not_fit_its_rows_is_refused_at_load() {
    // onnxruntime's GEMM would read [N, 2] rows as rows of 3, past their end.
    let y = value("y", DataType::Float, &[None, Some(1)]);
    let proto = model(
        vec![linear_regressor("x", vec![1.0, 2.0, 3.0])],
        vec![x(2)],
        vec![y.clone()],
        vec![],
        1,
    );
    let refused = Model::from_bytes(&prost::Message::encode_to_vec(&proto)).unwrap_err();
    assert!(
        refused.to_string().contains(
            "LinearRegressor `LinearRegressor_y`: rows have 2 features, the coefficients 3"
        ),
        "{refused}"
    );
    let fits = model(
        vec![linear_regressor("x", vec![1.0, 2.0])],
        vec![x(2)],
        vec![y],
        vec![],
        1,
    );
    assert_eq!(values(&served(&fits), vec![1.0, 1.0], 2), [3.0]);
}
