//! Operators on string columns, which the function serves once graphs with several
//! (string) inputs are: loaded through tract's loader with our operators and run.

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::prelude::*;

use super::super::tensors;
use super::super::testing::{
    int, int64_tensor, ints, model, refusal, standard, string, strings, through_tract, value, wired,
};

/// A string tensor of `shape`.
fn texts(shape: &[usize], values: &[&str]) -> Tensor {
    tensors::tensor(shape, values.iter().map(|s| s.to_string()).collect()).unwrap()
}

#[test]
fn one_hot_encoder_of_a_string_column_as_skl2onnx_wires_it() {
    let nodes = vec![
        wired(
            "OneHotEncoder",
            &["s"],
            &["encoded"],
            vec![strings("cats_strings", &["a", "b", "c"]), int("zeros", 1)],
        ),
        standard("Reshape", &["encoded", "shape"], "y", vec![]),
    ];
    let proto = model(
        nodes,
        vec![value("s", DataType::String, &[None, Some(1)])],
        vec![value("y", DataType::Float, &[None, Some(3)])],
        vec![int64_tensor("shape", vec![-1, 3])],
        1,
    );
    let out = through_tract(&proto, vec![texts(&[2, 1], &["b", "z"])]).unwrap();
    assert_eq!(out[0], tensor2(&[[0.0f32, 1.0, 0.0], [0.0, 0.0, 0.0]]));
}

#[test]
fn label_encoder_maps_strings_to_int64() {
    let encoder = wired(
        "LabelEncoder",
        &["s"],
        &["y"],
        vec![
            strings("keys_strings", &["low", "high"]),
            ints("values_int64s", vec![0, 1]),
            int("default_int64", -5),
        ],
    );
    let proto = model(
        vec![encoder],
        vec![value("s", DataType::String, &[None])],
        vec![value("y", DataType::Int64, &[None])],
        vec![],
        2,
    );
    let out = through_tract(&proto, vec![texts(&[3], &["high", "mid", "low"])]).unwrap();
    assert_eq!(out[0], tensor1(&[1i64, -5, 0]));
}

#[test]
fn skl2onnx_string_imputer_replaces_the_missing_marker_by_the_fill_value() {
    // skl2onnx's SimpleImputer on strings (imputer_op.py): the fill value from a
    // LabelEncoder of the constant 0, the column by ArrayFeatureExtractor, a
    // LabelEncoder marking the missing value, Cast to BOOL, Where.
    let nodes = vec![
        wired(
            "LabelEncoder",
            &["zero"],
            &["fill"],
            vec![
                ints("keys_int64s", vec![0]),
                strings("values_strings", &["frequent"]),
                string("default_string", "unused"),
            ],
        ),
        wired("ArrayFeatureExtractor", &["s", "i0"], &["column"], vec![]),
        wired(
            "LabelEncoder",
            &["column"],
            &["missing"],
            vec![
                strings("keys_strings", &[""]),
                ints("values_int64s", vec![1]),
                int("default_int64", 0),
            ],
        ),
        standard(
            "Cast",
            &["missing"],
            "is_missing",
            vec![int("to", DataType::Bool as i64)],
        ),
        standard("Where", &["is_missing", "fill", "column"], "y", vec![]),
    ];
    let proto = model(
        nodes,
        vec![value("s", DataType::String, &[None, Some(2)])],
        vec![value("y", DataType::String, &[None, Some(1)])],
        vec![int64_tensor("zero", vec![0]), int64_tensor("i0", vec![0])],
        2,
    );
    let s = texts(&[2, 2], &["", "x", "y", ""]);
    let out = through_tract(&proto, vec![s]).unwrap();
    assert_eq!(out[0], texts(&[2, 1], &["frequent", "y"]));
}

#[test]
fn integer_categories_for_a_string_column_are_refused_naming_the_node() {
    let encoder = wired(
        "OneHotEncoder",
        &["s"],
        &["y"],
        vec![ints("cats_int64s", vec![1, 2])],
    );
    let proto = model(
        vec![encoder],
        vec![value("s", DataType::String, &[None, Some(1)])],
        vec![value("y", DataType::Float, &[None, Some(1), Some(2)])],
        vec![],
        1,
    );
    let err = refusal(&proto);
    assert!(
        err.contains("OneHotEncoder `OneHotEncoder_y`: attribute cats_int64s is for numeric input, the input is String"),
        "{err}"
    );
}
