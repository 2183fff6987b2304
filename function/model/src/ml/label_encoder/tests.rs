//! LabelEncoder's behaviours, one each, with expected values from onnxruntime's
//! `label_encoder.{h,cc}` and the ONNX schema's defaults.

use tract_onnx::pb::AttributeProto;

use super::super::testing::{
    float, float_tensor, floats, int, ints, node, run_1, string, string_tensor, strings,
    tensor_attribute,
};
use super::*;

fn encoder(opset: i64, attributes: Vec<AttributeProto>) -> TractResult<LabelEncoder> {
    let node = node("LabelEncoder", attributes);
    LabelEncoder::new(&Attributes::of("LabelEncoder", &node), opset)
}

fn strs(values: &[&str]) -> Tensor {
    tensor1(&values.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

#[test]
fn opset1_maps_strings_to_their_index_and_unknown_ones_to_minus_one() {
    let encoder = encoder(1, vec![strings("classes_strings", &["a", "b", "c"])]).unwrap();
    assert_eq!(
        run_1(&encoder, strs(&["c", "z", "a"])),
        tensor1(&[2i64, -1, 0])
    );
}

#[test]
fn opset1_maps_indices_to_strings_and_unknown_ones_to_the_default_string() {
    let encoder = encoder(
        1,
        vec![
            strings("classes_strings", &["a", "b"]),
            string("default_string", "?"),
        ],
    )
    .unwrap();
    assert_eq!(
        run_1(&encoder, tensor1(&[1i64, 2, 0])),
        strs(&["b", "?", "a"])
    );
}

#[test]
fn opset2_maps_strings_to_strings_with_unused_as_the_default() {
    let encoder = encoder(
        2,
        vec![
            strings("keys_strings", &["x", "y"]),
            strings("values_strings", &["ex", "why"]),
        ],
    )
    .unwrap();
    assert_eq!(
        run_1(&encoder, strs(&["y", "w"])),
        strs(&["why", "_Unused"])
    );
}

#[test]
fn opset2_maps_ints_to_ints_the_first_of_equal_keys_winning() {
    let encoder = encoder(
        3,
        vec![
            ints("keys_int64s", vec![7, 7, 8]),
            ints("values_int64s", vec![1, 2, 3]),
        ],
    )
    .unwrap();
    let out = run_1(&encoder, tensor2(&[[7i64, 8, 9]]));
    assert_eq!(out, tensor2(&[[1i64, 3, -1]]));
}

#[test]
fn opset2_float_keys_never_match_nan_and_negative_zero_matches_zero() {
    let encoder = encoder(
        2,
        vec![
            floats("keys_floats", vec![0.0, f32::NAN, 1.5]),
            ints("values_int64s", vec![10, 20, 30]),
        ],
    )
    .unwrap();
    let out = run_1(&encoder, tensor1(&[-0.0f32, f32::NAN, 1.5]));
    assert_eq!(out, tensor1(&[10i64, -1, 30]));
}

#[test]
fn opset4_a_nan_key_matches_a_nan_input() {
    let encoder = encoder(
        4,
        vec![
            floats("keys_floats", vec![f32::NAN, 2.0]),
            strings("values_strings", &["missing", "two"]),
        ],
    )
    .unwrap();
    assert_eq!(
        run_1(&encoder, tensor1(&[f32::NAN, 2.0])),
        strs(&["missing", "two"])
    );
}

#[test]
fn the_float_default_is_negative_zero() {
    let encoder = encoder(
        2,
        vec![
            strings("keys_strings", &["a"]),
            floats("values_floats", vec![4.0]),
        ],
    )
    .unwrap();
    let out = run_1(&encoder, strs(&["b"]));
    let value = tensors::slice::<f32>(&out).unwrap()[0];
    assert!(value == 0.0 && value.is_sign_negative(), "{value}");
}

#[test]
fn opset4_reads_tensor_attributes_and_default_tensor_wins_over_default_float() {
    let encoder = encoder(
        4,
        vec![
            tensor_attribute("keys_tensor", string_tensor(&["lo", "hi"])),
            tensor_attribute("values_tensor", float_tensor(vec![0.25, 0.75])),
            tensor_attribute("default_tensor", float_tensor(vec![9.0])),
            float("default_float", 1.0),
        ],
    )
    .unwrap();
    assert_eq!(
        run_1(&encoder, strs(&["hi", "mid"])),
        tensor1(&[0.75f32, 9.0])
    );
}

#[test]
fn tensor_attributes_before_opset4_are_refused() {
    let err = encoder(
        3,
        vec![
            tensor_attribute("keys_tensor", string_tensor(&["a"])),
            ints("values_int64s", vec![1]),
        ],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "LabelEncoder `n`: attribute keys_tensor needs ai.onnx.ml opset 4, the model imports opset 3"
    );
}

#[test]
fn keys_and_values_must_be_one_list_each_of_equal_length() {
    let err = encoder(
        2,
        vec![
            ints("keys_int64s", vec![1, 2]),
            ints("values_int64s", vec![1]),
        ],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("has 2 entries and values 1"),
        "{err}"
    );
    let err = encoder(
        2,
        vec![
            ints("keys_int64s", vec![1]),
            strings("keys_strings", &["a"]),
            ints("values_int64s", vec![1]),
        ],
    )
    .unwrap_err();
    assert!(err.to_string().contains("keys_* is given 2 times"), "{err}");
    let err = encoder(2, vec![int("default_int64", 0)]).unwrap_err();
    assert!(err.to_string().contains("keys_* is given 0 times"), "{err}");
}

#[test]
fn an_input_of_another_type_than_the_keys_is_refused_at_load() {
    let encoder = encoder(
        2,
        vec![
            strings("keys_strings", &["a"]),
            ints("values_int64s", vec![1]),
        ],
    )
    .unwrap();
    let input = f32::fact([1usize]);
    let err = encoder.output_facts(&[&input]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "LabelEncoder `n`: the keys are strings, the input is F32"
    );
}
