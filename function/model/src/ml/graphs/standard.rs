//! The standard operators skl2onnx wires around the ml operators, run in tract 0.23
//! with our loader: what they answer, worked out from the ONNX definitions.

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::prelude::*;

use super::super::tensors;
use super::super::testing::{int, int64_tensor, model, standard, through_tract, value};

#[test]
fn arithmetic_reductions_and_heads_run_as_onnx_defines_them() {
    let nodes = vec![
        standard("Identity", &["x"], "same", vec![]),
        standard("Mul", &["same", "two"], "doubled", vec![]),
        standard("Add", &["doubled", "one"], "shifted", vec![]),
        standard(
            "ReduceSum",
            &["shifted", "axes"],
            "sum",
            vec![int("keepdims", 1)],
        ),
        standard("Concat", &["x", "x"], "twice", vec![int("axis", 1)]),
        standard("Gather", &["x", "columns"], "picked", vec![int("axis", 1)]),
        standard("Softmax", &["x"], "softmax", vec![int("axis", 1)]),
        standard("Sigmoid", &["x"], "sigmoid", vec![]),
        standard(
            "ArgMax",
            &["x"],
            "best",
            vec![int("axis", 1), int("keepdims", 0)],
        ),
    ];
    let floats = |name: &str| value(name, DataType::Float, &[None, None]);
    let outputs = vec![
        floats("sum"),
        floats("twice"),
        floats("picked"),
        floats("softmax"),
        floats("sigmoid"),
        value("best", DataType::Int64, &[None]),
    ];
    let constants = vec![
        scalar("two", 2.0),
        scalar("one", 1.0),
        int64_tensor("axes", vec![1]),
        int64_tensor("columns", vec![2, 0]),
    ];
    let input = value("x", DataType::Float, &[None, Some(3)]);
    let proto = model(nodes, vec![input], outputs, constants, 3);
    let out = through_tract(&proto, vec![tensor2(&[[0.0f32, 1.0, -1.0]])]).unwrap();
    // 2x + 1 = [1, 3, -1], summed: 3.
    assert_eq!(out[0], tensor2(&[[3.0f32]]));
    assert_eq!(out[1], tensor2(&[[0.0f32, 1.0, -1.0, 0.0, 1.0, -1.0]]));
    assert_eq!(out[2], tensor2(&[[-1.0f32, 0.0]]));
    let e = std::f32::consts::E;
    let total = 1.0 + e + 1.0 / e;
    assert_close(&out[3], &[1.0 / total, e / total, 1.0 / e / total]);
    assert_close(&out[4], &[0.5, 1.0 / (1.0 + 1.0 / e), 1.0 / (1.0 + e)]);
    assert_eq!(out[5], tensor1(&[1i64]));
}

#[test]
fn casts_to_and_from_strings_and_booleans_run() {
    // An int64 label to its text and back to a float, as a label mapping does; an int64
    // mark to a boolean, as skl2onnx's string imputer does.
    let to = |t: DataType| vec![int("to", t as i64)];
    let nodes = vec![
        standard("Cast", &["label"], "text", to(DataType::String)),
        standard("Cast", &["text"], "number", to(DataType::Float)),
        standard("Cast", &["label"], "flag", to(DataType::Bool)),
    ];
    let outputs = vec![
        value("text", DataType::String, &[None]),
        value("number", DataType::Float, &[None]),
        value("flag", DataType::Bool, &[None]),
    ];
    let input = value("label", DataType::Int64, &[None]);
    let proto = model(nodes, vec![input], outputs, vec![], 3);
    let out = through_tract(&proto, vec![tensor1(&[0i64, 42])]).unwrap();
    let text: Vec<String> = vec!["0".into(), "42".into()];
    assert_eq!(out[0], tensors::tensor(&[2], text).unwrap());
    assert_eq!(out[1], tensor1(&[0.0f32, 42.0]));
    assert_eq!(out[2], tensor1(&[false, true]));
}

/// A float scalar initializer.
fn scalar(name: &str, v: f32) -> tract_onnx::pb::TensorProto {
    tract_onnx::pb::TensorProto {
        name: name.into(),
        data_type: DataType::Float as i32,
        float_data: vec![v],
        ..Default::default()
    }
}

fn assert_close(got: &Tensor, want: &[f32]) {
    let got = tensors::slice::<f32>(got).unwrap();
    assert!(
        got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6),
        "{got:?} vs {want:?}"
    );
}
